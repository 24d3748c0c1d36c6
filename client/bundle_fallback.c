/* The per-file fallback: where DIR cannot be swapped whole, its files are replaced one
 * at a time, config.json last. */
#define _GNU_SOURCE /* renameat2, RENAME_EXCHANGE */
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

#include "common/fileio.h"
#include "common/jsonx.h"
#include "common/strutil.h"

/* ---- the per-file fallback ---- */

static void tmp_name(char *buf, size_t size)
{
    static unsigned counter;
    snprintf(buf, size, "%s%ld-%u", BUNDLE_TMP_PREFIX, (long)getpid(), counter++);
}

/* Remove what an interrupted per-file write left in DIR: safe because we hold the lock. */
static void clean_stale_temps(int dfd)
{
    json_t *entries = bundle_dir_entries(dfd);
    const char *name;
    json_t *unused;
    json_object_foreach(entries, name, unused)
    {
        bool is_dir;
        /* A leftover directory is an emptied old rootfs; never remove a populated one. */
        if (str_has_prefix(name, BUNDLE_TMP_PREFIX) && bundle_entry_disposable(dfd, name, &is_dir) == 1) {
            (void)unlinkat(dfd, name, is_dir ? AT_REMOVEDIR : 0);
        }
    }
    json_decref(entries);
}

/* Temporary file in DIR, then rename over `name` (file_write_atomic). */
static int write_file_atomic(const struct bundle_dir *bd, const char *name, const char *data,
                             size_t len, mode_t mode, struct err *err)
{
    char shown[PATH_MAX + 64], tmp[64];
    const char *step = NULL;
    bundle_joined(shown, sizeof(shown), bd->path, name);
    tmp_name(tmp, sizeof(tmp));
    if (file_write_atomic(bd->dfd, name, tmp, data, len, mode, &step)) {
        return bundle_sys_err(err, shown, step);
    }
    return 0;
}

/*
 * Put `tmp` (a new symlink or empty directory) in place of "rootfs": an atomic exchange, then
 * the old one (a symlink or an empty directory, now at `tmp`) is removed.
 */
static int swap_in_rootfs(const struct bundle_dir *bd, const char *tmp, bool old_is_dir,
                          struct err *err)
{
    char shown[PATH_MAX + 16];
    snprintf(shown, sizeof(shown), "%s/rootfs", bd->path);
    if (renameat2(bd->dfd, tmp, bd->dfd, "rootfs", RENAME_EXCHANGE) == 0) {
        if (unlinkat(bd->dfd, tmp, old_is_dir ? AT_REMOVEDIR : 0) != 0) {
            return bundle_sys_err(err, shown, "cannot remove the previous rootfs");
        }
        return 0;
    }
    if (errno != EINVAL && errno != ENOSYS) {
        int saved = errno;
        (void)unlinkat(bd->dfd, tmp, old_is_dir ? 0 : AT_REMOVEDIR);
        errno = saved;
        return bundle_sys_err(err, shown, "cannot replace");
    }
    /* The file system cannot exchange: remove, then rename (a short window without rootfs). */
    if (unlinkat(bd->dfd, "rootfs", old_is_dir ? AT_REMOVEDIR : 0) != 0 ||
        renameat(bd->dfd, tmp, bd->dfd, "rootfs") != 0) {
        return bundle_sys_err(err, shown, "cannot replace");
    }
    return 0;
}

static int rootfs_apply(const struct bundle_dir *bd, enum rootfs_state state, const char *link,
                        const char *target, struct err *err)
{
    char shown[PATH_MAX + 16], tmp[64];
    snprintf(shown, sizeof(shown), "%s/rootfs", bd->path);
    tmp_name(tmp, sizeof(tmp));
    if (!target) {
        if (state == RF_ABSENT) {
            return mkdirat(bd->dfd, "rootfs", 0755) == 0 ? 0
                                                         : bundle_sys_err(err, shown, "cannot create");
        }
        if (state != RF_SYMLINK) {
            return 0; /* an existing directory is kept, populated or not */
        }
        if (mkdirat(bd->dfd, tmp, 0755) != 0) {
            return bundle_sys_err(err, shown, "cannot create");
        }
        return swap_in_rootfs(bd, tmp, false, err);
    }
    if (state == RF_SYMLINK && strcmp(link, target) == 0) {
        return 0;
    }
    if (symlinkat(target, bd->dfd, tmp) != 0) {
        return bundle_sys_err(err, shown, "cannot create the symlink");
    }
    if (state == RF_EMPTY_DIR) {
        return swap_in_rootfs(bd, tmp, true, err);
    }
    if (renameat(bd->dfd, tmp, bd->dfd, "rootfs") != 0) {
        int saved = errno;
        (void)unlinkat(bd->dfd, tmp, 0);
        errno = saved;
        return bundle_sys_err(err, shown, "cannot rename into place");
    }
    return 0;
}

/* The fallback's manifest keeps listing the old bundle's entries that are still there: the
 * per-file method does not delete them, and the next swap should know they are ours. */
static char *fallback_manifest(const struct bundle_ctx *c, size_t *len)
{
    json_t *names = json_deep_copy(c->new_names);
    const char *name;
    json_t *unused;
    int rc = names ? 0 : -1;
    json_object_foreach(c->old_names, name, unused)
    {
        if (rc == 0 && bundle_entry_exists(c->cur.dfd, name)) {
            rc = bundle_names_add(names, name);
        }
    }
    char *text = rc == 0 ? bundle_manifest_text(names, c->secrets_dir, len) : NULL;
    json_decref(names);
    return text;
}

/* After the fallback's commit point: the previous envelope's files that the new one does not
 * have. Best effort: the manifest still lists them, so the next write removes what is left. */
static void remove_stale_files(const struct bundle_ctx *c)
{
    const char *name;
    json_t *unused;
    json_object_foreach(c->old_names, name, unused)
    {
        bool is_dir = false;
        if (strcmp(name, "rootfs") != 0 && !bundle_names_has(c->new_names, name) &&
            bundle_entry_disposable(c->cur.dfd, name, &is_dir) == 1 && !is_dir &&
            unlinkat(c->cur.dfd, name, 0) != 0) {
            char shown[PATH_MAX + NAME_MAX + 16];
            bundle_warn_sys(c->warnings, bundle_joined(shown, sizeof(shown), c->cur.path, name), "cannot remove");
        }
    }
}

static int write_envelope_files(const struct bundle_dir *bd, json_t *files, struct err *err)
{
    const char *name;
    json_t *text;
    json_object_foreach(files, name, text)
    {
        if (write_file_atomic(bd, name, json_string_value(text), json_string_length(text), 0644,
                              err)) {
            return -1;
        }
    }
    return 0;
}

/*
 * Where DIR cannot be swapped (see swap_unsupported) the bundle is written in place, one file
 * at a time, as before the stage existed: each file is replaced atomically (temporary file in
 * DIR, fsync, rename) and config.json goes last, as the commit point. A crash then leaves each
 * file old or new, never truncated, but it can leave new envelope files next to the old
 * config.json: README's "never a mix" holds only where the exchange works (ext4, xfs,
 * btrfs, tmpfs and overlayfs all support it).
 */
int bundle_write_per_file(struct bundle_ctx *c, struct err *err)
{
    const struct bundle_dir *bd = &c->cur;
    struct stat st;
    if (fstat(bd->dfd, &st) != 0) {
        return bundle_sys_err(err, bd->path, "cannot stat the bundle directory");
    }
    /* config.json holds secrets: nobody else may even list the directory. */
    if ((st.st_mode & 07777) != 0700 && fchmod(bd->dfd, 0700) != 0) {
        return bundle_sys_err(err, bd->path, "cannot set mode 0700");
    }
    clean_stale_temps(bd->dfd);
    size_t len;
    char *manifest = fallback_manifest(c, &len);
    if (!manifest) {
        return err_nomem(err);
    }
    int rc = write_envelope_files(bd, c->env->files, err) ||
             rootfs_apply(bd, c->rootfs, c->rootfs_link, c->target, err) ||
             bundle_fsync_dir(bd->dfd, bd->path, err) ||
             write_file_atomic(bd, BUNDLE_MANIFEST, manifest, len, 0600, err) ||
             write_file_atomic(bd, "config.json", c->env->config_text, c->env->config_len, 0600,
                               err);
    c->committed = rc == 0; /* config.json is the commit point: it binds the new secrets */
    rc = rc || bundle_fsync_dir(bd->dfd, bd->path, err);
    free(manifest);
    if (rc == 0) {
        remove_stale_files(c);
    }
    return rc ? -1 : 0;
}
