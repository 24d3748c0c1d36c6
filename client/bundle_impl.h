#ifndef OCIRENDER_CLIENT_BUNDLE_IMPL_H
#define OCIRENDER_CLIENT_BUNDLE_IMPL_H

/*
 * Internals of bundle materialization (client/bundle.h), shared by its files:
 *   bundle_envelope.c  parsing and verifying the envelope
 *   bundle_fs.c        file helpers: messages, warnings, sets of entry names, directory scans
 *   bundle_manifest.c  the manifest format: which entries of a bundle ocirender wrote
 *   bundle_stage.c     the engine: lock, recovery of killed writers, plan, stage, commit
 *   bundle_fallback.c  the per-file fallback where DIR cannot be swapped whole
 *   bundle.c           bundle_write: the steps in order
 * Problems that do not fail a write (cleaning up after it, a recovered stage, the fallback)
 * are appended to a warnings array as {code, path, message}; the library never prints.
 */

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "client/bundle.h"
#include "common/err.h"

#define BUNDLE_FILES_MAX 256      /* envelope `files` entries */
#define MANIFEST_MAX (128 * 1024) /* BUNDLE_FILES_MAX names of at most NAME_MAX bytes, and more */

/*
 * Beside DIR, in its parent, live two things while a write is under way: the lock file
 * `.<base>.lock` (DIR itself is replaced by every write, so it cannot carry the lock) and the
 * stage `.<base>.stage-<pid>-<n>` where the new bundle is assembled. Both are gone after it.
 */
struct bundle_dir {
    const char *path; /* DIR, absolute, for messages */
    int pfd;          /* its parent directory */
    int dfd;          /* DIR as it is now (O_NOFOLLOW), or -1 when it does not exist */
};

enum rootfs_state { RF_ABSENT, RF_SYMLINK, RF_EMPTY_DIR, RF_DIR, RF_OTHER };

/* The config text again after the bundle writer edited the config (root.path, the secret
 * files' bind source): the old text is wiped. 0 or -1 (NOMEM). */
int bundle_envelope_refresh_text(struct bundle_envelope *env, struct err *err);

struct bundle_ctx {
    struct bundle_dir cur;
    const char *base;          /* DIR's last component */
    char parent[PATH_MAX];     /* DIR's parent, for messages */
    int lockfd;
    const char *target;        /* --rootfs as a real absolute path, or NULL */
    struct bundle_envelope *env; /* the config text changes when secret files are bound */
    enum rootfs_state rootfs;  /* DIR/rootfs as it is now */
    char rootfs_link[PATH_MAX];
    bool make_rootfs;          /* the new bundle gets a rootfs of its own (symlink or empty dir) */
    json_t *new_names;         /* set: the new bundle's manifest */
    json_t *old_names;         /* set: DIR's manifest */
    json_t *carry;             /* set: entries of DIR that move into the new bundle */
    char stage[NAME_MAX + 64]; /* our stage's name in the parent; "" when there is none */
    int sfd;
    bool committed;            /* the new bundle is in place (after the exchange the stage
                                * holds the old one) */
    json_t *warnings;          /* borrowed: problems that do not fail the write go here */
    const char *secrets_root;  /* where per-bundle secret directories live */
    char secrets_dir[PATH_MAX];     /* this write's per-bundle directory; "" without secrets */
    char secrets_gen[32];           /* this write's generation in it; "" when none was made */
    char secrets_old[PATH_MAX];     /* the per-bundle directory DIR's manifest records */
};

/* A context for the bundle at the absolute `path` (its storage must outlive the context),
 * with nothing open yet. */
void bundle_ctx_start(struct bundle_ctx *c, const char *path);

/* ---- file helpers (bundle_fs.c) ---- */

/* ERR_IO "<what>: <strerror(errno)>" naming `path`, with sys_errno. Returns -1. */
int bundle_sys_err(struct err *err, const char *path, const char *what);
/* "<dir>/<name>" into buf, for messages. */
const char *bundle_joined(char *buf, size_t size, const char *dir, const char *name);
/* Append a BUNDLE_WARN_CLEANUP warning (jsonx_warning_add): `what`, and with _sys the errno
 * text. `warnings` may be NULL. */
void bundle_warn_msg(json_t *warnings, const char *path, const char *what);
void bundle_warn_sys(json_t *warnings, const char *path, const char *what);
int bundle_fsync_dir(int fd, const char *shown, struct err *err);
bool bundle_is_dot_or_dotdot(const char *name);

/* Sets of directory entry names (JSON objects keyed by name). */
int bundle_names_add(json_t *set, const char *name);
bool bundle_names_has(const json_t *set, const char *name);
/* The entries of `dfd` without "." and "..": a new set, or NULL with errno. */
json_t *bundle_dir_entries(int dfd);
int bundle_dir_is_empty(int dfd, const char *name);
int bundle_entry_disposable(int dfd, const char *name, bool *is_dir);
bool bundle_entry_exists(int dfd, const char *name);

/* ---- the manifest (bundle_manifest.c) ---- */

int bundle_manifest_read(int dfd, json_t **out);
/* The manifest text; `secrets_dir` (may be NULL or "") is recorded as a comment line. */
char *bundle_manifest_text(json_t *names, const char *secrets_dir, size_t *len);
/* The secrets directory `dfd`'s manifest records: 0 with `out` ("" when none), -1 with errno. */
int bundle_manifest_secrets_dir(int dfd, char *out, size_t size);
bool bundle_name_is_ours(const char *name, const json_t *a, const json_t *b);

/* ---- the engine (bundle_stage.c) ---- */

int bundle_open_parent(const char *path, char *parent, size_t size, int *pfd, struct err *err);
int bundle_lock(struct bundle_ctx *c, struct err *err);
void bundle_unlock(struct bundle_ctx *c);
/* Roll back or clean up every stage a killed writer left (warnings only). */
void bundle_recover_stages(const struct bundle_ctx *c);
/* Check everything before any write: refusals happen here. */
int bundle_plan(struct bundle_ctx *c, struct err *err);
int bundle_stage_build(struct bundle_ctx *c, struct err *err);
int bundle_stage_commit(struct bundle_ctx *c, bool *unsupported, struct err *err);
int bundle_stage_dispose(const struct bundle_ctx *c, const char *sname);
const char *bundle_stage_path(const struct bundle_ctx *c, const char *name, char *buf,
                              size_t size);

/* ---- secret files outside the bundle (bundle_secrets.c) ---- */

/* The envelope's `secret_files` member: names, values, owners, modes, and the bind to fill. */
int bundle_secret_files_check(const json_t *secret_files, const json_t *config,
                              struct err *err);
/* "<DIR's name>-<16 hex of sha256(DIR)>": the name of DIR's per-bundle secrets directory. */
int bundle_secrets_id(const char *abs_dir, char *out, size_t size);
/* Under the lock, after the plan: write a new generation of the secret files (when the
 * envelope has any) and point the config's bind at it. */
int bundle_secrets_write(struct bundle_ctx *c, struct err *err);
/* After the write: on success delete every generation the bundle no longer binds, on failure
 * the new one. Warnings only. */
void bundle_secrets_settle(const struct bundle_ctx *c, bool written);
/* Delete DIR's per-bundle secrets directory: the one its manifest recorded (`recorded`, may
 * be NULL) and the one under `root` (may be NULL). Warnings only. */
void bundle_secrets_remove(const char *abs_dir, const char *recorded, const char *root,
                           json_t *warnings);

/* ---- the per-file fallback (bundle_fallback.c) ---- */

int bundle_write_per_file(struct bundle_ctx *c, struct err *err);

#endif
