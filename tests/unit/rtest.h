#ifndef OCIRENDER_TESTS_RTEST_H
#define OCIRENDER_TESTS_RTEST_H

/*
 * Helpers for render tests: render a spec (optionally inside an envelope built from JSON
 * snippets), look things up in the config, and validate every rendered document with
 * ../shared/tools/validate-oci in one batch at the end of the program (RT_MAIN).
 */

#include <stdbool.h>

#include <jansson.h>

#include "common/err.h"
#include "render/render.h"
#include "tests/harness.h"

struct rt {
    int rc;
    struct err_issues issues; /* every issue of a failed render */
    struct err err;
    json_t *config;
    json_t *warnings;
    json_t *files;
    json_t *secret_files;
    char *text;     /* pretty config text */
    char *envelope; /* the envelope text (pretty, `secrets` []) */
};

struct rt_in {
    const char *spec;      /* YAML or JSON text (required) */
    const char *host;      /* JSON text of host facts, or NULL */
    const char *options;   /* JSON text of options, or NULL */
    const char *image;     /* JSON text of image_config, or NULL */
    const char *container; /* JSON text of container, or NULL */
    const char *service;   /* envelope `service`, or NULL */
    const json_t *secrets; /* secret values, or NULL */
    const struct render_settings *settings;
    const struct render_params *params;
};

/* Render. Returns t->rc (0 or -1). Successful configs are queued for validation. */
int rt_render(struct rt *t, const struct rt_in *in);
/* Shorthand: a plain spec with no envelope. */
int rt_spec(struct rt *t, const char *spec);
void rt_free(struct rt *t);

/* Lookups ("a.b.c" object paths; NULL when absent). */
const json_t *rt_get(const json_t *config, const char *dotted);
const char *rt_env(const json_t *config, const char *key); /* value or NULL */
int rt_env_count(const json_t *config, const char *key);   /* entries with this key */
const json_t *rt_mount(const json_t *config, const char *dest);
int rt_mount_index(const json_t *config, const char *dest);
bool rt_has_str(const json_t *array, const char *s);
bool rt_has_cap(const json_t *config, const char *set, const char *cap);
bool rt_has_ns(const json_t *config, const char *type);
const json_t *rt_device(const json_t *config, const char *path);
bool rt_has_rule(const json_t *config, const char *type, long long major, long long minor,
                 const char *access); /* minor -1: wildcard rule */
bool rt_has_warning(const struct rt *t, const char *code);
/* The first error issue's path and message. */
const char *rt_err_path(const struct rt *t);
const char *rt_err_msg(const struct rt *t);

/* Queue a config text for the end-of-program validate-oci run. */
void rt_queue_for_validation(const char *text);

/* Validate queued documents; returns the harness exit code to use. */
int rt_finish(int harness_rc);

#define RT_MAIN(...)                                                                         \
    int main(void)                                                                           \
    {                                                                                        \
        static const struct test_case cases_[] = {__VA_ARGS__};                              \
        return rt_finish(harness_main(cases_, sizeof(cases_) / sizeof(cases_[0])));          \
    }

#endif
