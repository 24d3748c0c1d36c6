/* bundle_write: lock, recover, plan, stage, commit (or the per-file fallback), release. */
#define _DEFAULT_SOURCE /* realpath */
#include "client/bundle_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/jsonx.h"
#include "common/sbuf.h"
#include "common/strutil.h"

/*
 * Under the lock, with leftovers recovered: check everything (refusals happen here, before
 * any write), stage the new bundle, switch, dispose of the stage (the old bundle after a
 * commit; the uncommitted new one, with carried entries put back, after a failure).
 */
static int write_locked(struct bundle_ctx *c, struct err *err)
{
    if (bundle_plan(c, err) || bundle_secrets_write(c, err)) {
        return -1;
    }
    bool unsupported = false;
    int rc = bundle_stage_build(c, err) || bundle_stage_commit(c, &unsupported, err) ? -1 : 0;
    if (c->sfd >= 0) {
        close(c->sfd);
        c->sfd = -1;
    }
    /* After the commit a stage that cannot be removed only costs disk space (warned about);
     * before it, the stage may hold entries carried out of DIR, so we stop there. */
    if (c->stage[0] && bundle_stage_dispose(c, c->stage) != 0 && !c->committed) {
        char shown[PATH_MAX + NAME_MAX + 16];
        return err_set(err, ERR_IO, bundle_stage_path(c, NULL, shown, sizeof(shown)),
                       "the staged write could not be fully undone; the next write puts back "
                       "what is left (see the warnings above)");
    }
    if (!unsupported) {
        return rc;
    }
    (void)jsonx_warning_add(c->warnings, BUNDLE_WARN_PER_FILE, err_path(err),
                "%s; the bundle cannot be switched as a whole here, so its files are replaced "
                "one at a time",
                err_message(err));
    err_init(err);
    return bundle_write_per_file(c, err);
}

/*
 * runc refuses a rootfs reached through a symlink ("invalid rootfs: not an absolute path, or a
 * symlink"), so with --rootfs the config's bundle-relative root.path becomes the rootfs's real
 * absolute path. The digest was verified on the server's text before this local change.
 */
static int point_root_at(struct bundle_envelope *env, const char *target, struct err *err)
{
    json_t *root = json_object_get(json_object_get(env->root, "config"), "root");
    const char *rp = jsonx_get_str(root, "path");
    if (!str_eq(rp, "rootfs") && !str_eq(rp, "./rootfs")) {
        return 0;
    }
    size_t len;
    char *text = NULL;
    if (jsonx_set_str(root, "path", target) ||
        !(text = jsonx_dump(json_object_get(env->root, "config"), JSONX_PRETTY, &len))) {
        return err_nomem(err);
    }
    mem_wipe(env->config_text, env->config_len);
    free(env->config_text);
    env->config_text = text;
    env->config_len = len;
    env->root_path_set = true;
    return 0;
}

/* The absolute rootfs path the symlink points to; it must be an existing directory. */
static int rootfs_target(const char *rootfs, char *out, struct err *err)
{
    if (!rootfs[0]) {
        return err_set(err, ERR_USAGE, "--rootfs", "the rootfs path must not be empty");
    }
    if (!realpath(rootfs, out)) {
        return bundle_sys_err(err, rootfs, "--rootfs");
    }
    struct stat st;
    if (stat(out, &st) != 0 || !S_ISDIR(st.st_mode)) {
        return err_set(err, ERR_IO, rootfs, "--rootfs: not a directory");
    }
    return 0;
}

/* Without --rootfs, a rootfs symlink already in DIR is kept; runc refuses a symlinked rootfs,
 * so root.path names what it leads to, as with --rootfs. A link that leads to no directory is
 * left alone (runc will say so). */
static int point_root_at_kept_link(const char *dir, struct bundle_envelope *env, char *real,
                                   struct err *err)
{
    char link[PATH_MAX + 8];
    struct stat st;
    snprintf(link, sizeof(link), "%s/rootfs", dir);
    if (lstat(link, &st) != 0 || !S_ISLNK(st.st_mode) || !realpath(link, real) ||
        stat(real, &st) != 0 || !S_ISDIR(st.st_mode)) {
        return 0;
    }
    return point_root_at(env, real, err);
}

static void ctx_release(struct bundle_ctx *c)
{
    json_decref(c->new_names);
    json_decref(c->old_names);
    json_decref(c->carry);
    int fds[] = {c->sfd, c->cur.dfd, c->cur.pfd, c->lockfd}; /* the lock goes last */
    for (size_t i = 0; i < ARRAY_LEN(fds); i++) {
        if (fds[i] >= 0) {
            close(fds[i]);
        }
    }
}

void bundle_ctx_start(struct bundle_ctx *c, const char *path)
{
    memset(c, 0, sizeof(*c));
    c->cur = (struct bundle_dir){.path = path, .pfd = -1, .dfd = -1};
    c->base = strrchr(path, '/') + 1;
    c->lockfd = -1;
    c->sfd = -1;
}

int bundle_write(const char *dir, const char *rootfs, const char *secrets_root,
                 struct bundle_envelope *env, json_t *warnings, struct err *err)
{
    char path[PATH_MAX], target[PATH_MAX];
    if (bundle_abs_path(dir, path, sizeof(path), err) ||
        (rootfs && (rootfs_target(rootfs, target, err) || point_root_at(env, target, err))) ||
        (!rootfs && point_root_at_kept_link(path, env, target, err))) {
        return -1;
    }
    struct bundle_ctx c;
    bundle_ctx_start(&c, path);
    c.target = rootfs ? target : NULL;
    c.env = env;
    c.warnings = warnings;
    c.secrets_root = secrets_root ? secrets_root : BUNDLE_SECRETS_ROOT;
    int rc = bundle_open_parent(path, c.parent, sizeof(c.parent), &c.cur.pfd, err) ||
                     bundle_lock(&c, err)
                 ? -1
                 : 0;
    if (rc == 0) {
        bundle_recover_stages(&c);
        rc = write_locked(&c, err);
        /* The bundle on disk binds the new secret files or the old ones: keep only those. */
        bundle_secrets_settle(&c, rc == 0 || c.committed);
        bundle_unlock(&c);
    }
    ctx_release(&c);
    return rc;
}
