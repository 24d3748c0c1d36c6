/* bundle_remove: delete an ocirender bundle and its secret files (client/bundle.h). */
#include "client/bundle_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/jsonx.h"
#include "common/strutil.h"

/* DIR as it is: 1 an ocirender bundle we may remove, 0 gone, -1 refused with err. */
static int check_bundle(const struct bundle_ctx *c, struct err *err)
{
    struct stat st;
    if (fstatat(c->cur.pfd, c->base, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        return errno == ENOENT ? 0 : bundle_sys_err(err, c->cur.path, "cannot stat");
    }
    if (S_ISLNK(st.st_mode)) {
        return err_set(err, ERR_USAGE, c->cur.path,
                       "refusing to remove a symlink; name the bundle directory itself");
    }
    if (!S_ISDIR(st.st_mode)) {
        return err_set(err, ERR_USAGE, c->cur.path, "not a directory: not an ocirender bundle");
    }
    if (st.st_uid != geteuid()) {
        return err_set(err, ERR_USAGE, c->cur.path,
                       "the directory belongs to uid %lu, not to this user (uid %lu)",
                       (unsigned long)st.st_uid, (unsigned long)geteuid());
    }
    return 1;
}

static int require_manifest(const struct bundle_ctx *c, struct err *err)
{
    struct stat st;
    if (fstatat(c->cur.dfd, BUNDLE_MANIFEST, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
        !S_ISREG(st.st_mode)) {
        return err_set(err, ERR_USAGE, c->cur.path,
                       "not an ocirender bundle (no " BUNDLE_MANIFEST " manifest); nothing was "
                       "removed");
    }
    return 0;
}

/* Delete one entry ocirender wrote; a directory with content is kept (never recursive). */
static bool remove_ours(const struct bundle_ctx *c, const char *name)
{
    char shown[PATH_MAX + NAME_MAX + 16];
    bundle_joined(shown, sizeof(shown), c->cur.path, name);
    bool is_dir = false;
    int disposable = bundle_entry_disposable(c->cur.dfd, name, &is_dir);
    if (disposable < 0) {
        if (errno == ENOENT) {
            return true;
        }
        bundle_warn_sys(c->warnings, shown, "cannot inspect; kept");
        return false;
    }
    if (disposable == 0) {
        bundle_warn_msg(c->warnings, shown, "kept: the directory is not empty (ocirender never "
                                            "deletes content it did not write)");
        return false;
    }
    if (unlinkat(c->cur.dfd, name, is_dir ? AT_REMOVEDIR : 0) != 0) {
        bundle_warn_sys(c->warnings, shown, "cannot remove");
        return false;
    }
    return true;
}

/* Everything ocirender wrote but the manifest, which goes last: until then a rerun still
 * recognizes the bundle. Returns whether DIR is then empty but for the manifest. */
static bool remove_entries(const struct bundle_ctx *c, const json_t *names)
{
    json_t *entries = bundle_dir_entries(c->cur.dfd);
    if (!entries) {
        bundle_warn_sys(c->warnings, c->cur.path, "cannot list the bundle directory");
        return false;
    }
    bool empty = true;
    const char *name;
    json_t *unused;
    json_object_foreach(entries, name, unused)
    {
        if (strcmp(name, BUNDLE_MANIFEST) == 0) {
            continue;
        }
        /* The rootfs is part of the bundle whoever made it: a symlink or an empty directory
         * goes (no data is lost), one with content is kept (remove_ours). */
        bool ours = bundle_name_is_ours(name, names, NULL) || strcmp(name, "rootfs") == 0;
        if (!ours) {
            char shown[PATH_MAX + NAME_MAX + 16];
            bundle_warn_msg(c->warnings, bundle_joined(shown, sizeof(shown), c->cur.path, name),
                            "kept: ocirender did not write it");
        }
        empty = (ours && remove_ours(c, name)) && empty;
    }
    json_decref(entries);
    return empty;
}

static int remove_locked(struct bundle_ctx *c, const char *secrets_root, bool *removed,
                         struct err *err)
{
    int state = check_bundle(c, err);
    if (state <= 0) {
        if (state == 0) {
            bundle_secrets_remove(c->cur.path, NULL, secrets_root, c->warnings);
        }
        return state;
    }
    c->cur.dfd = openat(c->cur.pfd, c->base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (c->cur.dfd < 0) {
        return bundle_sys_err(err, c->cur.path, "cannot open");
    }
    if (require_manifest(c, err)) {
        return -1;
    }
    bundle_recover_stages(c);
    json_t *names = NULL;
    char recorded[PATH_MAX];
    if (bundle_manifest_read(c->cur.dfd, &names) != 0 ||
        bundle_manifest_secrets_dir(c->cur.dfd, recorded, sizeof(recorded)) != 0) {
        json_decref(names);
        return bundle_sys_err(err, c->cur.path, "cannot read the bundle manifest");
    }
    bool empty = remove_entries(c, names);
    json_decref(names);
    bundle_secrets_remove(c->cur.path, recorded, secrets_root, c->warnings);
    if (!empty) {
        return 0; /* the manifest stays, so that a rerun can finish the job */
    }
    if (unlinkat(c->cur.dfd, BUNDLE_MANIFEST, 0) != 0 ||
        unlinkat(c->cur.pfd, c->base, AT_REMOVEDIR) != 0) {
        return bundle_sys_err(err, c->cur.path, "cannot remove the bundle directory");
    }
    *removed = true;
    return bundle_fsync_dir(c->cur.pfd, c->parent, err);
}

int bundle_remove(const char *dir, const char *secrets_root, bool *removed, json_t *warnings,
                  struct err *err)
{
    char path[PATH_MAX];
    *removed = false;
    if (bundle_abs_path(dir, path, sizeof(path), err)) {
        return -1;
    }
    struct bundle_ctx c;
    bundle_ctx_start(&c, path);
    c.warnings = warnings;
    snprintf(c.parent, sizeof(c.parent), "%.*s", (int)(c.base - 1 - path), path);
    if (!c.parent[0]) {
        snprintf(c.parent, sizeof(c.parent), "/");
    }
    secrets_root = secrets_root ? secrets_root : BUNDLE_SECRETS_ROOT;
    c.cur.pfd = open(c.parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc;
    if (c.cur.pfd < 0 && errno == ENOENT) {
        bundle_secrets_remove(path, NULL, secrets_root, warnings);
        rc = 0;
    } else if (c.cur.pfd < 0) {
        rc = bundle_sys_err(err, c.parent, "cannot open the directory");
    } else if ((rc = bundle_lock(&c, err)) == 0) {
        rc = remove_locked(&c, secrets_root, removed, err);
        bundle_unlock(&c);
    }
    int fds[] = {c.cur.dfd, c.cur.pfd, c.lockfd};
    for (size_t i = 0; i < ARRAY_LEN(fds); i++) {
        if (fds[i] >= 0) {
            close(fds[i]);
        }
    }
    return rc;
}
