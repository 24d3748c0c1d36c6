#ifndef OCIRENDER_RENDER_OCI_H
#define OCIRENDER_RENDER_OCI_H

/*
 * The rendered OCI runtime config as C data, allocated in the render's arena, and its writer.
 * The render steps fill it in their error precedence (CDI, env, process, mounts, devices,
 * linux); oci_write() then writes it once, in config.json's fixed key order, into one buffer.
 * Absent optional members are NULL / zero / `has_` false; lists are written in their order.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "render/arena.h"
#include "render/jw.h"

/* A growable list of strings in an arena. */
struct strv {
    size_t n, cap;
    const char **v;
};
int strv_push(struct arena *a, struct strv *list, const char *s) WARN_UNUSED;

struct oci_mount {
    const char *destination, *type, *source;
    struct strv options;
};

struct oci_rlimit {
    const char *type;
    unsigned long long hard, soft; /* RLIM_INFINITY is 18446744073709551615, written exactly */
};

struct oci_hook {
    const char *path;
    struct strv args, env;
    bool has_timeout;
    long long timeout;
};

/* The hook lists in the order they were first given (CDI decides it). */
struct oci_hook_list {
    const char *name; /* prestart, createRuntime, ... */
    size_t n;
    struct oci_hook *hooks;
};

struct oci_device {
    const char *path, *type;
    bool has_numbers; /* major and minor (not for p devices) */
    long long major, minor;
    long long file_mode, uid, gid;
};

struct oci_dev_rule {
    bool allow;
    const char *type;       /* NULL: every type (and no numbers) */
    bool has_major, has_minor;
    long long major, minor; /* a type without a minor means every minor */
    const char *access;
};

struct oci_idmap {
    long long host_id, container_id, size;
};

struct oci_memory {
    bool has_limit, has_reservation, has_swap, has_swappiness, disable_oom_killer;
    long long limit, reservation, swap, swappiness;
};

struct oci_cpu {
    bool has_shares, has_quota;
    long long shares, quota, period;
    const char *cpus;
};

struct oci_linux {
    size_t n_uid_mappings, n_gid_mappings;
    struct oci_idmap uid_mappings[2], gid_mappings[2];
    size_t n_dev_rules;
    struct oci_dev_rule *dev_rules;
    struct oci_memory memory;
    struct oci_cpu cpu;
    bool has_pids, has_blkio_weight;
    long long pids_limit, blkio_weight;
    const char *cgroups_path;
    struct strv namespaces;
    size_t n_devices;
    struct oci_device *devices;
    size_t n_sysctls;
    const char **sysctl_keys, **sysctl_values; /* sorted by key */
    const json_t *seccomp;     /* the profile, or NULL (to become text prepared at start-up) */
    const char *rootfs_propagation;
    struct strv masked_paths, readonly_paths;
    const json_t *intel_rdt;   /* from CDI edits, or NULL */
    const json_t *net_devices; /* from CDI edits, or NULL */
};

struct oci_process {
    bool terminal;
    uint32_t uid, gid;
    size_t n_additional_gids;
    const uint32_t *additional_gids;
    struct strv args, env;
    const char *cwd;
    struct strv capabilities; /* bounding = effective = permitted; inheritable and ambient empty */
    size_t n_rlimits;
    const struct oci_rlimit *rlimits;
    bool no_new_privileges;
    const char *apparmor_profile, *selinux_label;
    bool has_oom_score_adj;
    long long oom_score_adj;
};

struct oci_config {
    const char *oci_version;
    const char *root_path;
    bool root_readonly;
    size_t n_mounts;
    struct oci_mount *mounts;
    struct oci_process process;
    const char *hostname; /* NULL: not set */
    size_t n_hook_lists;
    struct oci_hook_list *hook_lists;
    size_t n_annotations;
    const char **annotation_keys, **annotation_values; /* sorted; stop signal last */
    struct oci_linux linux_;
};

/* The config object through the writer (jw_finish() then adds the final newline and reports
 * the first error). */
void oci_write_config(struct jw *w, const struct oci_config *c);

/* A jansson value through the writer, for the parts CDI hands over as documents. */
void oci_write_json(struct jw *w, const json_t *v);

#endif
