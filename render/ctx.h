#ifndef OCIRENDER_RENDER_CTX_H
#define OCIRENDER_RENDER_CTX_H

/*
 * State of one render_execute() call, shared by the step files (env.c, process.c, ...).
 *
 * Steps read the request's typed model (render/spec_model.h, render/request_model.h) and fill
 * the typed config (render/oci.h). Everything a step allocates comes from `a`, the result's
 * arena: nothing is freed one by one, and strings of the request are used in place (the
 * result borrows from the request, which the caller frees last).
 */

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "common/err.h"
#include "render/arena.h"
#include "render/oci.h"
#include "render/render.h"
#include "render/request_model.h"
#include "render/spec.h"
#include "render/spec_model.h"

struct rctx {
    const struct render_request *req;
    const struct render_settings *set;
    const json_t *secret_values;
    struct err *err;
    struct arena *a; /* the result's arena */

    /* Inputs. */
    const struct spec_service *svc;       /* the selected service */
    const struct spec_resources *res;     /* svc->resources, or all-absent */
    const struct spec_gpu *gpu;           /* resources.gpu or NULL */
    const struct host_facts *host;        /* host facts (all-absent when none were given) */
    const struct image_config *image;     /* the image config, or NULL */
    const struct render_options *opt;     /* options (all-absent when none were given) */
    const struct host_wsl *wsl;           /* host.wsl: the node runs under WSL2; else NULL */
    char spath[ERR_PATH_MAX];             /* "services.web" or "" for a bare ServiceSpec */
    json_t *cdi_edits;                    /* merged CDI edits when CDI is active, else NULL */
    bool cdi_all;                         /* CDI serves the request with the device `all` */
    bool host_network;
    bool privileged;
    bool rootless;
    int cgroup_version;
    uint32_t uid, gid;
    struct strv caps;                     /* the bounding capability set */
    bool seccomp_unconfined;              /* security_opt seccomp=unconfined */

    /* Output under construction. The config lives in `a`; the three documents are new
     * references that render_execute hands to the result, created on first use
     * (rctx_document): most renders need none of them. */
    struct oci_config *cfg;
    struct render_warning *warnings; /* in `a`, handed to the result */
    size_t n_warnings, warnings_cap;
    json_t *files;        /* {"resolv.conf": "...", "hosts": "..."} */
    json_t *secret_files; /* {NAME: {value, uid, gid, mode}}: secrets as files */
    json_t *linux_extra;  /* {intelRdt, netDevices} from CDI edits: c->cfg->linux_.extra */
};

/* Set up the context of one render. 0, or -1 (NOMEM in `err`; rctx_release() is still due). */
int rctx_init(struct rctx *c, const struct render_request *req, const struct render_settings *set,
              const json_t *secrets, struct arena *a, struct err *err);
/* Release what the context still owns (the documents render_execute did not hand over). */
void rctx_release(struct rctx *c);

/* The document in `slot` (c->files, c->secret_files, c->linux_extra), created empty on first
 * use. NULL when out of memory (reported in c->err). */
json_t *rctx_document(struct rctx *c, json_t **slot);
/* c->spath from the request: "services.web", or "" for a bare ServiceSpec. */
void rctx_set_service_path(struct rctx *c, const struct render_request *req);
/* Spec path of a field of the selected service: "services.web.resources.memory". */
const char *rctx_path(struct rctx *c, char *buf, size_t size, const char *field);
/* 422 at a service field. Returns -1. */
int rctx_fail(struct rctx *c, const char *field, const char *fmt, ...) PRINTF(3, 4);
int rctx_fail_code(struct rctx *c, enum err_code code, const char *field, const char *fmt, ...)
    PRINTF(4, 5);
/* Append a warning {code, message, path} at a service field. `code` is a string constant.
 * Returns -1 only when out of memory. */
int rctx_warn(struct rctx *c, const char *code, const char *field, const char *fmt, ...)
    PRINTF(4, 5);
/* The same at a path given whole: a request member, not a spec field. */
int rctx_warn_at(struct rctx *c, const char *code, const char *path, const char *message);
int rctx_nomem(struct rctx *c);

/* Arena helpers that report out of memory in c->err: a copy of `s`, a formatted string. */
char *rctx_strdup(struct rctx *c, const char *s);
char *rctx_printf(struct rctx *c, const char *fmt, ...) PRINTF(2, 3);

/* Host facts. */
const struct host_device *rctx_device_fact(const struct rctx *c, const char *path);
bool rctx_has_facts(const struct rctx *c, const char *list); /* "dirs" / "files" given */
bool rctx_fact_listed(const struct rctx *c, const char *list, const char *path);

/* Steps, in the order render_execute runs them. Each returns 0 or -1 with c->err set. */
int render_cdi(struct rctx *c);
int render_env(struct rctx *c);
int render_gpu_sharing_env(struct rctx *c);
int render_process(struct rctx *c);
int render_mounts(struct rctx *c);
int render_devices(struct rctx *c);
int render_linux(struct rctx *c);
int render_hooks_and_cdi_extras(struct rctx *c);
/* Warnings for container fields the config cannot carry (unrendered.c). */
int render_warn_unrendered(struct rctx *c);

/* The default seccomp profile (seccomp.c): fills c->cfg->linux_.seccomp, or leaves it empty
 * when there is none. */
int render_seccomp(struct rctx *c);

/* Baked-in GPU device paths for a vendor (devices.c), appended to `out`. -1 on OOM. */
int render_gpu_candidates(struct arena *a, const char *vendor, unsigned count, struct strv *out);

/* Secrets as files (secret_files.c): is KEY=VALUE one (KEY ends in _FILE, VALUE is $S:)?
 * secret_file_add records the resolved value and sets KEY=/run/secrets/NAME;
 * render_secret_files completes the entries with the process user and binds the directory. */
bool secret_file_key(const char *key, const char *value);
int secret_file_add(struct rctx *c, const char *key, const char *value, const char *path);
int render_secret_files(struct rctx *c);

/* Env list helpers (env.c), on c->cfg->process.env. */
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
/* Append the gids of groups listing `user` as a member to `gids`, skipping `primary` and
 * duplicates. -1 on OOM. */
int userdb_supplementary(struct arena *a, const char *group, const char *user, uint32_t primary,
                         struct oci_gids *gids);

#endif
