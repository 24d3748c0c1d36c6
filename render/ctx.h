#ifndef OCIRENDER_RENDER_CTX_H
#define OCIRENDER_RENDER_CTX_H

/* State of one render_execute() call, shared by the step files (env.c, process.c, ...). */

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "common/err.h"
#include "render/render.h"
#include "render/spec.h"

struct rctx {
    const struct render_request *req;
    const struct render_settings *set;
    const json_t *secret_values;
    struct err *err;

    const json_t *svc;       /* selected, normalized ServiceSpec */
    const json_t *gpu;       /* resources.gpu or NULL */
    char spath[ERR_PATH_MAX];/* "services.web" or "" for a bare ServiceSpec */
    json_t *cdi_edits;       /* merged CDI edits when CDI is active, else NULL */
    bool cdi_all;            /* CDI serves the request with the vendor's device `all` */
    const json_t *wsl;       /* host.wsl: the node runs under WSL2; else NULL */
    bool host_network;
    bool privileged;
    bool rootless;
    int cgroup_version;
    uint32_t uid, gid;
    json_t *caps;            /* the bounding capability set (new reference) */
    bool seccomp_unconfined; /* security_opt seccomp=unconfined */

    /* Output under construction (new references, freed by render_execute). */
    json_t *warnings;
    json_t *files;
    json_t *secret_files;    /* {NAME: {value, uid, gid, mode}}: secrets as files */
    json_t *env;             /* ["K=V", ...] */
    json_t *mounts;
    json_t *devices;         /* linux.devices */
    json_t *dev_rules;       /* linux.resources.devices */
    json_t *additional_gids;
    json_t *hooks;           /* {prestart: [...], ...} */
    json_t *linux_extra;     /* intelRdt, netDevices from CDI */
};

/* Set up the context of one render (the lists it builds start empty). 0, or -1 (NOMEM in
 * `err`; rctx_release() is still due). */
int rctx_init(struct rctx *c, const struct render_request *req, const struct render_settings *set,
              const json_t *secrets, struct err *err);
/* Release what the context still owns (the lists render_execute did not hand over). */
void rctx_release(struct rctx *c);

/* Spec path of a field of the selected service: "services.web.resources.memory". */
const char *rctx_path(struct rctx *c, char *buf, size_t size, const char *field);
/* 422 at a service field. Returns -1. */
int rctx_fail(struct rctx *c, const char *field, const char *fmt, ...) PRINTF(3, 4);
int rctx_fail_code(struct rctx *c, enum err_code code, const char *field, const char *fmt, ...)
    PRINTF(4, 5);
/* Append a warning {code, message, path}. Returns -1 only when out of memory. */
int rctx_warn(struct rctx *c, const char *code, const char *field, const char *fmt, ...)
    PRINTF(4, 5);
int rctx_nomem(struct rctx *c);

/* Host facts. */
const json_t *rctx_device_fact(const struct rctx *c, const char *path);
bool rctx_has_facts(const struct rctx *c, const char *list); /* host.dirs / host.files given */
bool rctx_fact_listed(const struct rctx *c, const char *list, const char *path);

/* Steps, in the order render_execute runs them. Each returns 0 or -1 with c->err set. */
int render_cdi(struct rctx *c);
int render_env(struct rctx *c);
int render_gpu_sharing_env(struct rctx *c);
json_t *render_process(struct rctx *c);
int render_mounts(struct rctx *c);
int render_devices(struct rctx *c);
json_t *render_linux(struct rctx *c);
int render_hooks_and_cdi_extras(struct rctx *c);
/* Warnings for container fields the config cannot carry (unrendered.c). */
int render_warn_unrendered(struct rctx *c);

/* The default seccomp profile (seccomp.c): NULL without error when there is none. */
json_t *render_seccomp(struct rctx *c, const json_t *caps, bool unconfined);

/* Baked-in GPU device paths for a vendor (devices.c). -1 on OOM. */
int render_gpu_candidates(const char *vendor, unsigned count, json_t *out);

/* Secrets as files (secret_files.c): is KEY=VALUE one (KEY ends in _FILE, VALUE is $S:)?
 * secret_file_add records the resolved value and sets KEY=/run/secrets/NAME;
 * render_secret_files completes the entries with the process user and binds the directory. */
bool secret_file_key(const char *key, const char *value);
int secret_file_add(struct rctx *c, const char *key, const char *value, const char *path);
int render_secret_files(struct rctx *c);

/* Env list helpers (env.c). */
int env_set(struct rctx *c, const char *key, size_t key_len, const char *value);
int env_set_default(struct rctx *c, const char *key, const char *value);

/* User database (userdb.c): /etc/passwd and /etc/group text from host.rootfs. */
struct userdb_user {
    uint32_t uid, gid;
    char name[256];
};
int userdb_find_user(const char *passwd, const char *name, const uint32_t *uid,
                     struct userdb_user *out);
int userdb_find_group(const char *group, const char *name, uint32_t *gid);
/* Append (as integers) the gids of groups listing `user` as a member to `gids`, skipping
 * `primary` and duplicates. -1 on OOM. */
int userdb_supplementary(const char *group, const char *user, uint32_t primary, json_t *gids);

#endif
