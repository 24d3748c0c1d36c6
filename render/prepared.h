#ifndef OCIRENDER_RENDER_PREPARED_H
#define OCIRENDER_RENDER_PREPARED_H

/*
 * What render_prepared_new() (render/render.h) makes: the constant parts of configs, written
 * once at start-up with the writer a render uses, each kept with the items it was written from
 * (struct oci_prepared, render/oci.h). Every step prepares its own parts from the same
 * functions that fill a config, so the items a render holds are the very pointers the texts
 * were written from. Internal to render/ and its unit tests.
 */

#include <stdint.h>

#include "render/oci.h"

#define SECCOMP_ABI_SETS 4      /* render/seccomp.c's architecture lists */
#define DEFAULT_MOUNTS 7        /* render/mounts.c's default_mount_set() */
#define STANDARD_DEV_RULES 10   /* render/devices.c's standard_rule_set(), unprivileged */
#define DEFAULT_CAPABILITIES 14 /* render/process.c's default set */

struct prepared_text {
    char *text;
    size_t len;
};

struct render_prepared {
    /* The default seccomp profile of each architecture list with the default capability
     * set, and the capability-gated groups that set opens (a set opening the same ones gets
     * the same profile). */
    struct prepared_text seccomp[SECCOMP_ABI_SETS];
    uint64_t lifted;
    /* The default mounts, by [privileged][cgroup v2]. */
    struct oci_mount mount_items[2][2][DEFAULT_MOUNTS];
    struct oci_prepared mounts[2][2];
    /* The device cgroup's standard rules (unprivileged: a privileged container has one). */
    struct oci_dev_rule dev_rule_items[STANDARD_DEV_RULES];
    struct oci_prepared dev_rules;
    struct oci_prepared masked_paths, readonly_paths;
    const char *capability_items[DEFAULT_CAPABILITIES];
    struct oci_prepared capabilities;
};

/* Each step's parts; 0, or -1 when out of memory. seccomp_prepare() uses the capability
 * list process_prepare() fills. */
int seccomp_prepare(struct render_prepared *p);
int mounts_prepare(struct render_prepared *p);
int devices_prepare(struct render_prepared *p);
int linux_prepare(struct render_prepared *p);
int process_prepare(struct render_prepared *p);

/*
 * The texts, written as oci_write_config() writes these parts of a pretty config.json at the
 * top level (render/oci.h: OCI_DEPTH_*): a string list as a member's value, and mounts and
 * device rules as the first elements of their array. 0, or -1 when out of memory.
 */
int prepare_strings(struct oci_prepared *out, int depth, const char *const *items, size_t n);
int prepare_mounts(struct oci_prepared *out, const struct oci_mount *items, size_t n);
int prepare_dev_rules(struct oci_prepared *out, const struct oci_dev_rule *items, size_t n);

#endif
