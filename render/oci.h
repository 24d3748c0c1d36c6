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
#include "common/jw.h"

struct oci_config;

/*
 * A constant part of configs written once at start-up (render_prepared_new(), render/prepared.c)
 * from `n` items at `items`, with the writer at `depth`. The steps attach it to the part of
 * the config they filled from those items; the writer copies `text` when the config still
 * holds exactly those items (the same pointers) and it writes pretty at that depth, and
 * writes the items itself otherwise. The same bytes either way.
 */
struct oci_prepared {
    const void *items;
    size_t n;
    int depth;
    char *text;
    size_t len;
};

/* Growable lists in an arena: `n` items in `v`, room for `cap`. *_push returns the new
 * item, zeroed (strv_push: 0), or NULL (-1) when the arena is exhausted. */
struct strv {
    size_t n, cap;
    const char **v;
};
int strv_push(struct arena *a, struct strv *list, const char *s) WARN_UNUSED;
/* An arena copy of `s` appended. */
int strv_push_copy(struct arena *a, struct strv *list, const char *s) WARN_UNUSED;
/* Index of `s` in the list, or -1. */
long strv_find(const struct strv *list, const char *s);

struct oci_mount {
    const char *destination, *type, *source;
    struct strv options;
};
struct oci_mounts {
    size_t n, cap;
    struct oci_mount *v;
    const struct oci_prepared *prefix; /* the default mounts' elements, or NULL */
};
struct oci_mount *oci_mounts_push(struct arena *a, struct oci_mounts *list) WARN_UNUSED;
/* Remove item `i`; the others keep their order. */
void oci_mounts_remove(struct oci_mounts *list, size_t i);

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
    size_t n, cap;
    struct oci_hook *hooks;
};
#define OCI_HOOK_LISTS_MAX 6 /* prestart, createRuntime, createContainer, startContainer,
                              * poststart, poststop */
/* The list named `name` (appended when new; NULL when the table is full or out of memory)
 * and a new hook in it. */
struct oci_hook *oci_hook_push(struct arena *a, struct oci_config *c, const char *name) WARN_UNUSED;

struct oci_device {
    const char *path, *type;
    bool has_numbers; /* major and minor (not for p devices) */
    long long major, minor;
    long long file_mode, uid, gid;
};
struct oci_devices {
    size_t n, cap;
    struct oci_device *v;
};
struct oci_device *oci_devices_push(struct arena *a, struct oci_devices *list) WARN_UNUSED;

struct oci_dev_rule {
    bool allow;
    const char *type;       /* NULL: every type (and no numbers) */
    bool has_major, has_minor;
    long long major, minor; /* a type without a minor means every minor */
    const char *access;
};
struct oci_dev_rules {
    size_t n, cap;
    struct oci_dev_rule *v;
    const struct oci_prepared *prefix; /* the standard rules' elements, or NULL */
};
struct oci_dev_rule *oci_dev_rules_push(struct arena *a, struct oci_dev_rules *list) WARN_UNUSED;

struct oci_gids {
    size_t n, cap;
    uint32_t *v;
};
int oci_gids_push(struct arena *a, struct oci_gids *list, uint32_t gid) WARN_UNUSED;

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

/*
 * linux.seccomp: nothing (unconfined, privileged), a custom profile given as a document, or
 * the default profile of an architecture list and a capability set, which render/seccomp.c
 * writes from its tables. `text` is that profile already written (pretty, at config.json's
 * depth 2) when it is one of those prepared at start-up (render_prepared_new() in
 * render/render.h); the writer copies it instead.
 */
struct oci_seccomp {
    const json_t *custom;
    bool use_default;
    const char *const *arches; /* SCMP_ARCH_* names, NULL-terminated */
    const struct strv *caps;   /* the bounding set */
    const char *text;
    size_t text_len;
};

struct oci_linux {
    size_t n_uid_mappings, n_gid_mappings;
    struct oci_idmap uid_mappings[2], gid_mappings[2];
    struct oci_dev_rules dev_rules;
    struct oci_memory memory;
    struct oci_cpu cpu;
    bool has_pids, has_blkio_weight;
    long long pids_limit, blkio_weight;
    const char *cgroups_path;
    struct strv namespaces;
    struct oci_devices devices;
    size_t n_sysctls;
    const char **sysctl_keys, **sysctl_values; /* sorted by key */
    struct oci_seccomp seccomp;
    const char *rootfs_propagation;
    struct strv masked_paths, readonly_paths;
    const struct oci_prepared *masked_text, *readonly_text; /* or NULL */
    const json_t *extra; /* intelRdt, netDevices from CDI edits, in the order the edits gave
                          * them (the last members), or NULL */
};

struct oci_process {
    bool terminal;
    uint32_t uid, gid;
    struct oci_gids additional_gids;
    struct strv args, env;
    const char *cwd;
    struct strv capabilities; /* bounding = effective = permitted; inheritable and ambient empty */
    const struct oci_prepared *capabilities_text; /* the default set's list, or NULL */
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
    struct oci_mounts mounts;
    struct oci_process process;
    const char *hostname; /* NULL: not set */
    size_t n_hook_lists;
    struct oci_hook_list hook_lists[OCI_HOOK_LISTS_MAX];
    size_t n_annotations;
    const char **annotation_keys, **annotation_values; /* sorted; stop signal last */
    struct oci_linux linux_;
};

/* What a render result's config is (render/render.h keeps it opaque). */
struct render_config {
    struct arena arena;       /* every part of `oci` the request does not own */
    struct oci_config *oci;
    json_t *linux_extra;      /* what linux_.extra points at */
    json_t *cdi_edits;        /* CDI strings in the config point into it */
};

/* A config is a few tens of KB; the limit stops a pathological spec (thousands of devices or
 * mounts) from taking the process's memory. */
#define RESULT_ARENA_LIMIT (64u << 20)

/* The config object through the writer (jw_finish() then adds the final newline and reports
 * the first error). */
void oci_write_config(struct jw *w, const struct oci_config *c);

/*
 * The writer's depth inside the parts of config.json that render/prepared.c writes at
 * start-up: the members of linux (maskedPaths, seccomp, ...; the config object's members are
 * at depth 1), of process.capabilities, and the elements of mounts and of
 * linux.resources.devices. Every render writes the config pretty at the top level at least
 * once (that text is what the digest covers), so those are the texts worth preparing; the
 * envelope (one level deeper) and compact output are written item by item.
 */
#define OCI_DEPTH_LINUX_MEMBERS 2
#define OCI_DEPTH_CAPABILITY_LISTS 3
#define OCI_DEPTH_MOUNTS 2
#define OCI_DEPTH_DEV_RULES 4

/* The parts render/prepared.c writes at start-up, exactly as oci_write_config() writes them:
 * a mount and a device rule as an array element, a string list as a value. */
void oci_write_mount(struct jw *w, const struct oci_mount *m);
void oci_write_dev_rule(struct jw *w, const struct oci_dev_rule *r);
void oci_write_strings(struct jw *w, const struct strv *list);

/* A jansson value through the writer, for the parts CDI hands over as documents. */
void oci_write_json(struct jw *w, const json_t *v);

#endif
