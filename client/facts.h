#ifndef OCIRENDER_CLIENT_FACTS_H
#define OCIRENDER_CLIENT_FACTS_H

/*
 * Host facts gathering (contract 3 and 8): reads this node, never changes it. Nothing is
 * created, joined or written; cgroups are only read from /proc/self/cgroup.
 */

#include <sys/types.h>

#include <jansson.h>

#include "common/err.h"

struct facts_sources {
    const char *root;      /* prefix for every path read ("" for the real host; tests use a
                            * fixture tree). Reported paths never include it. */
    const char *rootfs;    /* container rootfs for passwd/group, or NULL */
    long uid, gid;         /* -1: geteuid()/getegid() */
    const char *user_name; /* NULL: look up the uid in the passwd database */
};

void facts_sources_default(struct facts_sources *src);

/*
 * Gather the facts `needs` asks for (render_request_fact_needs output; may be NULL for only
 * the basics). Returns a new host-facts object; `*warnings` (new array) lists files skipped
 * (unreadable CDI specs and the like). NULL with `err` on failure.
 */
json_t *facts_gather(const json_t *needs, const struct facts_sources *src, json_t **warnings,
                     struct err *err);

/* Read <rootfs>/<relpath> without letting symlinks leave the rootfs (openat2 RESOLVE_IN_ROOT,
 * or a no-symlinks walk where openat2 is unavailable). Heap buffer or NULL with err. */
char *facts_read_in_root(const char *rootfs, const char *relpath, size_t max, struct err *err);

/* The subordinate id range of `user` (name, or the decimal uid) from a subuid/subgid file.
 * 0 and out params set when found; -1 otherwise. */
int facts_subid_lookup(const char *path, const char *user, unsigned long uid,
                       unsigned long *start, unsigned long *count);

#endif
