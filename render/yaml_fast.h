#ifndef OCIRENDER_RENDER_YAML_FAST_H
#define OCIRENDER_RENDER_YAML_FAST_H

/*
 * A fast event source for the plain subset of YAML that spec authors write (see yaml_fast.c
 * for the subset). It produces exactly the events libyaml 0.2.5 would, or says "unsupported"
 * before anything is emitted, so the caller can parse the same bytes with libyaml instead.
 */

#include <stddef.h>
#include <stdint.h>

#include <yaml.h>

struct yfast_event {
    uint8_t type;  /* yaml_event_type_t */
    uint8_t style; /* scalars: yaml_scalar_style_t; collections: block or flow style */
    uint8_t implicit; /* document start: not opened by "---" */
    uint32_t line, column; /* libyaml's 0-based start mark */
    const char *text;      /* scalars: into the input or the scratch buffer; not terminated */
    size_t len;
};

#define YFAST_INLINE_EVENTS 256

struct yfast {
    struct yfast_event *events; /* `inline_events` until it outgrows them */
    size_t count, cap;
    char *scratch; /* unescaped quoted scalars; never larger than the input, never moved */
    size_t scratch_used;
    struct yfast_event inline_events[YFAST_INLINE_EVENTS];
};

enum yfast_result { YFAST_NOMEM = -1, YFAST_UNSUPPORTED = 0, YFAST_OK = 1 };

/* Scan all of buf into f->events. f needs no set-up; release it with yfast_release either way. */
enum yfast_result yfast_scan(struct yfast *f, const char *buf, size_t len);
void yfast_release(struct yfast *f);

/* The event as libyaml would hand it out (value pointers borrow from f; nothing to delete). */
void yfast_to_yaml_event(const struct yfast_event *e, yaml_event_t *out);

#endif
