/*
 * The engine of bundle_write: the lock beside DIR, recovery of what killed writers left, the
 * plan (every check before any write), the stage (the new bundle, complete, beside DIR) and
 * the commit (one renameat2(RENAME_EXCHANGE)). client/bundle.h tells the whole protocol.
 */
#define _GNU_SOURCE /* renameat2, RENAME_EXCHANGE */
#include "client/bundle_impl.h"

#include <sys/file.h>
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

#define STAGE_ATTEMPTS 64         /* stage names tried before giving up */
#define STAGE_INFIX ".stage-"

/* mkdir -p of the parent (symlinks among the parents are followed: only DIR itself must not
 * be one), then open it. */
int bundle_open_parent(const char *path, char *parent, size_t size, int *pfd, struct err *err)
{
    snprintf(parent, size, "%s", path);
    char *slash = strrchr(parent, '/');
    *slash = '\0';
    if (!parent[0]) {
        snprintf(parent, size, "/");
    }
    for (char *p = parent + 1; *p; p++) {
        if (*p != '/') {
            continue;
        }
        *p = '\0';
        int rc = mkdir(parent, 0755);
        *p = '/';
        if (rc != 0 && errno != EEXIST) {
            return bundle_sys_err(err, parent, "cannot create the directory");
        }
    }
    if (mkdir(parent, 0755) != 0 && errno != EEXIST) {
        return bundle_sys_err(err, parent, "cannot create the directory");
    }
    *pfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    return *pfd < 0 ? bundle_sys_err(err, parent, "cannot open the directory") : 0;
}

/* Is the locked file still the one the name points to? A writer that finished unlinked it. */
static bool lock_file_current(int pfd, const char *name, int fd)
{
    struct stat named, held;
    return fstatat(pfd, name, &named, AT_SYMLINK_NOFOLLOW) == 0 && fstat(fd, &held) == 0 &&
           named.st_dev == held.st_dev && named.st_ino == held.st_ino;
}

static int lock_once(struct bundle_ctx *c, const char *name, const char *shown,
                     struct err *err);

/*
 * Writers take turns on an exclusive flock of `<parent>/.<base>.lock`. The lock makes it safe
 * to treat every stage found in the parent as left by a killed writer. The holder unlinks the
 * file before it lets go (bundle_unlock), so nothing stays beside DIR; a waiter that then gets
 * the lock of the unlinked file sees that the name no longer leads to it and tries again.
 */
int bundle_lock(struct bundle_ctx *c, struct err *err)
{
    char name[NAME_MAX + 16], shown[PATH_MAX + NAME_MAX + 16];
    snprintf(name, sizeof(name), ".%s.lock", c->base);
    bundle_joined(shown, sizeof(shown), c->parent, name);
    for (;;) {
        if (lock_once(c, name, shown, err)) {
            return -1;
        }
        if (lock_file_current(c->cur.pfd, name, c->lockfd)) {
            return 0;
        }
        close(c->lockfd);
        c->lockfd = -1;
    }
}

/* Remove the lock file while still holding it (see bundle_lock); closing then releases it. */
void bundle_unlock(struct bundle_ctx *c)
{
    char name[NAME_MAX + 16];
    snprintf(name, sizeof(name), ".%s.lock", c->base);
    if (c->lockfd >= 0 && lock_file_current(c->cur.pfd, name, c->lockfd)) {
        unlinkat(c->cur.pfd, name, 0);
    }
}

static int lock_once(struct bundle_ctx *c, const char *name, const char *shown,
                     struct err *err)
{
    c->lockfd = openat(c->cur.pfd, name, O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC,
                       0600);
    if (c->lockfd < 0) {
        return errno == ELOOP ? err_set(err, ERR_IO, shown,
                                        "refusing to write the bundle: the lock file is a symlink")
                              : bundle_sys_err(err, shown, "cannot open the lock file");
    }
    struct stat st;
    if (fstat(c->lockfd, &st) != 0) {
        return bundle_sys_err(err, shown, "cannot stat the lock file");
    }
    if (!S_ISREG(st.st_mode) || st.st_uid != geteuid()) {
        return err_set(err, ERR_IO, shown, "refusing to write the bundle: the lock file is not a "
                       "regular file owned by this user");
    }
    while (flock(c->lockfd, LOCK_EX) != 0) {
        if (errno != EINTR) {
            return bundle_sys_err(err, shown, "cannot lock");
        }
    }
    return 0;
}

static bool skip_digits(const char **p)
{
    const char *start = *p;
    while (**p >= '0' && **p <= '9') {
        (*p)++;
    }
    return *p > start;
}

/* `.<base>.stage-<digits>-<digits>` exactly, so that the stages of a bundle named, say,
 * "<base>.stage-1" are never taken for ours. */
static bool is_stage_of(const char *name, const char *base)
{
    size_t n = strlen(base);
    if (name[0] != '.' || strncmp(name + 1, base, n) != 0 ||
        !str_has_prefix(name + 1 + n, STAGE_INFIX)) {
        return false;
    }
    const char *p = name + 1 + n + strlen(STAGE_INFIX);
    return skip_digits(&p) && *p++ == '-' && skip_digits(&p) && *p == '\0';
}

/* ---- disposing of a stage: roll back, or clean up ---- */

struct stage_view {
    const char *shown; /* the stage's path, for messages */
    const char *dir;   /* DIR's path, for messages */
    int sfd;           /* the stage */
    int dfd;           /* DIR, or -1 when it is missing or not a directory */
    json_t *stage_names, *dir_names;
    bool moved;        /* something went back into DIR: fsync it */
    json_t *warnings;  /* what could not be settled is reported here */
};

/* Put `name` back into DIR, where it came from (never over something that is there). */
static bool restore_entry(struct stage_view *v, const char *name)
{
    char shown[PATH_MAX + NAME_MAX + 80];
    bundle_joined(shown, sizeof(shown), v->shown, name);
    if (v->dfd < 0 || bundle_entry_exists(v->dfd, name)) {
        bundle_warn_msg(v->warnings, shown, v->dfd < 0 ? "kept here: the bundle directory is missing or unusable"
                                   : "kept here: the bundle directory has an entry of that name");
        return false;
    }
    if (renameat(v->sfd, name, v->dfd, name) != 0) {
        bundle_warn_sys(v->warnings, shown, "cannot move back into the bundle directory");
        return false;
    }
    v->moved = true;
    return true;
}

static bool remove_entry(const struct stage_view *v, const char *name, bool is_dir)
{
    if (unlinkat(v->sfd, name, is_dir ? AT_REMOVEDIR : 0) == 0 || errno == ENOENT) {
        return true;
    }
    char shown[PATH_MAX + NAME_MAX + 80];
    bundle_warn_sys(v->warnings, bundle_joined(shown, sizeof(shown), v->shown, name), "cannot remove");
    return false;
}

/*
 * The rootfs: one the stage does not list was carried out of DIR, so it goes back when DIR has
 * none (before the exchange; also after it, should the carry not have reached the disk). One
 * the stage lists, or one DIR has a replacement for, was made by ocirender or replaced by the
 * new bundle: deleted if disposable. A populated rootfs is never deleted.
 */
static bool settle_rootfs(struct stage_view *v, int disposable, bool is_dir)
{
    bool dir_has_one = v->dfd < 0 || bundle_entry_exists(v->dfd, "rootfs");
    if (!dir_has_one && (!bundle_names_has(v->stage_names, "rootfs") || !disposable)) {
        return restore_entry(v, "rootfs");
    }
    if (disposable) {
        return remove_entry(v, "rootfs", is_dir);
    }
    char shown[PATH_MAX + NAME_MAX + 80];
    bundle_warn_msg(v->warnings, bundle_joined(shown, sizeof(shown), v->shown, "rootfs"),
             "kept here: a populated rootfs is never deleted, and the bundle has one");
    return false;
}

/* One entry of a stage: deleted if ocirender wrote it, otherwise put back into DIR. True when
 * it has left the stage. */
static bool settle_entry(struct stage_view *v, const char *name)
{
    bool is_dir = false;
    int disposable = bundle_entry_disposable(v->sfd, name, &is_dir);
    if (disposable < 0) {
        char shown[PATH_MAX + NAME_MAX + 80];
        if (errno == ENOENT) {
            return true;
        }
        bundle_warn_sys(v->warnings, bundle_joined(shown, sizeof(shown), v->shown, name), "cannot stat");
        return false;
    }
    if (strcmp(name, "rootfs") == 0) {
        return settle_rootfs(v, disposable, is_dir);
    }
    if (disposable && bundle_name_is_ours(name, v->stage_names, v->dir_names)) {
        return remove_entry(v, name, is_dir);
    }
    return restore_entry(v, name);
}

static bool settle_all(struct stage_view *v, json_t *entries)
{
    bool all = true;
    const char *name;
    json_t *unused;
    json_object_foreach(entries, name, unused)
    {
        if (strcmp(name, BUNDLE_MANIFEST) != 0) {
            all = settle_entry(v, name) && all;
        }
    }
    /* The manifest decides what the other entries are: it goes last, and only when they have
     * all gone, so that a disposal cut short is finished correctly by the next one. */
    return all && settle_entry(v, BUNDLE_MANIFEST);
}

/* Open the stage (a directory of ours) and DIR, and read both manifests. */
static int stage_view_open(const struct bundle_ctx *c, const char *sname, struct stage_view *v)
{
    struct stat st;
    if (fstatat(c->cur.pfd, sname, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno != ENOENT) {
            bundle_warn_sys(v->warnings, v->shown, "cannot stat");
        }
        return -1;
    }
    if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid()) {
        bundle_warn_msg(v->warnings, v->shown, "left alone: named like a stage of this bundle, but not a directory "
                 "of this user");
        return -1;
    }
    v->sfd = openat(c->cur.pfd, sname, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    v->dfd = openat(c->cur.pfd, c->base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (v->sfd < 0 || bundle_manifest_read(v->sfd, &v->stage_names) != 0) {
        bundle_warn_sys(v->warnings, v->shown, "left alone: cannot read it or its manifest");
        return -1;
    }
    if (v->dfd >= 0 && bundle_manifest_read(v->dfd, &v->dir_names) != 0) {
        bundle_warn_sys(v->warnings, v->dir, "left the stage alone: cannot read the bundle manifest");
        return -1;
    }
    return 0;
}

static void stage_view_close(struct stage_view *v)
{
    if (v->sfd >= 0) {
        close(v->sfd);
    }
    if (v->dfd >= 0) {
        close(v->dfd);
    }
    json_decref(v->stage_names);
    json_decref(v->dir_names);
}

/*
 * Empty the stage `sname` and remove it. Before the exchange it is the uncommitted new bundle,
 * with the entries carried out of DIR: those go back (a rollback). After the exchange it is
 * the old bundle, of which only ocirender's entries are left: those are deleted (a cleanup).
 * One rule does both (settle_entry). Nothing is deleted recursively: whatever cannot be
 * placed stays in the stage, with a warning. 0 when the stage is gone, -1 when it is not.
 */
int bundle_stage_dispose(const struct bundle_ctx *c, const char *sname)
{
    char shown[PATH_MAX + NAME_MAX + 16];
    bundle_joined(shown, sizeof(shown), c->parent, sname);
    struct stage_view v = {.shown = shown, .dir = c->cur.path, .sfd = -1, .dfd = -1,
                           .warnings = c->warnings};
    json_t *entries = NULL;
    bool gone = false;
    if (stage_view_open(c, sname, &v) == 0) {
        if (!(entries = bundle_dir_entries(v.sfd))) {
            bundle_warn_sys(v.warnings, shown, "left alone: cannot list it");
        } else if (settle_all(&v, entries)) {
            gone = unlinkat(c->cur.pfd, sname, AT_REMOVEDIR) == 0;
            if (!gone) {
                bundle_warn_sys(v.warnings, shown, "cannot remove");
            }
        } else {
            bundle_warn_msg(v.warnings, shown, "left in place with what could not be settled (see above)");
        }
        if (v.moved && file_fsync_dir(v.dfd) != 0) {
            bundle_warn_sys(v.warnings, c->cur.path, "cannot fsync the directory");
        }
    }
    json_decref(entries);
    stage_view_close(&v);
    return gone ? 0 : -1;
}

/*
 * Before any new work, under the lock: every stage of this bundle in the parent was left by a
 * killed writer, so it is rolled back or cleaned up.
 */
void bundle_recover_stages(const struct bundle_ctx *c)
{
    json_t *entries = bundle_dir_entries(c->cur.pfd);
    if (!entries) {
        bundle_warn_sys(c->warnings, c->parent, "cannot list the directory to look for interrupted writes");
        return;
    }
    const char *name;
    json_t *unused;
    json_object_foreach(entries, name, unused)
    {
        if (is_stage_of(name, c->base) && bundle_stage_dispose(c, name) == 0) {
            char shown[PATH_MAX + NAME_MAX + 16];
            (void)jsonx_warning_add(c->warnings, BUNDLE_WARN_RECOVERED, c->cur.path,
                        "cleaned up %s, left by an interrupted write (anything it had moved out "
                        "of the bundle is back in place)",
                        bundle_joined(shown, sizeof(shown), c->parent, name));
        }
    }
    json_decref(entries);
}

/* ---- DIR as it is now ---- */

static int refuse_existing(const char *path, const struct stat *st, struct err *err)
{
    if (S_ISLNK(st->st_mode)) {
        return err_set(err, ERR_IO, path,
                       "refusing to write the bundle: the directory is a symlink");
    }
    return err_set(err, ERR_IO, path,
                   "refusing to write the bundle: it exists and is not a directory");
}

/* DIR: absent (dfd stays -1), or a directory of ours, opened without following a symlink. */
static int inspect_current(struct bundle_ctx *c, struct err *err)
{
    struct stat st;
    if (fstatat(c->cur.pfd, c->base, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        return errno == ENOENT ? 0 : bundle_sys_err(err, c->cur.path, "cannot stat the bundle directory");
    }
    if (!S_ISDIR(st.st_mode)) {
        return refuse_existing(c->cur.path, &st, err);
    }
    c->cur.dfd = openat(c->cur.pfd, c->base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (c->cur.dfd < 0) {
        return errno == ELOOP ? err_set(err, ERR_IO, c->cur.path,
                                        "refusing to write the bundle: the directory is a symlink")
                              : bundle_sys_err(err, c->cur.path, "cannot open the bundle directory");
    }
    if (fstat(c->cur.dfd, &st) != 0) {
        return bundle_sys_err(err, c->cur.path, "cannot stat the bundle directory");
    }
    if (st.st_uid != geteuid()) {
        return err_set(err, ERR_IO, c->cur.path,
                       "refusing to write the bundle: the directory is owned by uid %lu, not by "
                       "this user (uid %lu)", (unsigned long)st.st_uid, (unsigned long)geteuid());
    }
    return 0;
}

static int rootfs_state(const struct bundle_dir *bd, enum rootfs_state *state, char *link,
                        size_t link_size, struct err *err)
{
    char shown[PATH_MAX + 16];
    snprintf(shown, sizeof(shown), "%s/rootfs", bd->path);
    struct stat st;
    link[0] = '\0';
    if (fstatat(bd->dfd, "rootfs", &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno != ENOENT) {
            return bundle_sys_err(err, shown, "cannot stat");
        }
        *state = RF_ABSENT;
        return 0;
    }
    if (S_ISLNK(st.st_mode)) {
        ssize_t n = readlinkat(bd->dfd, "rootfs", link, link_size - 1);
        link[n > 0 ? (size_t)n : 0] = '\0';
        *state = RF_SYMLINK;
        return 0;
    }
    if (!S_ISDIR(st.st_mode)) {
        *state = RF_OTHER;
        return 0;
    }
    int empty = bundle_dir_is_empty(bd->dfd, "rootfs");
    if (empty < 0) {
        return bundle_sys_err(err, shown, "cannot read the directory");
    }
    *state = empty ? RF_EMPTY_DIR : RF_DIR;
    return 0;
}

/* Refusals about the rootfs, decided before anything is written. */
static int rootfs_check(const struct bundle_dir *bd, enum rootfs_state state, const char *target,
                        struct err *err)
{
    char shown[PATH_MAX + 16];
    snprintf(shown, sizeof(shown), "%s/rootfs", bd->path);
    if (state == RF_OTHER) {
        return err_set(err, ERR_IO, shown,
                       "refusing to write the bundle: rootfs exists and is neither a directory "
                       "nor a symlink");
    }
    if (target && state == RF_DIR) {
        return err_set(err, ERR_IO, shown,
                       "refusing to replace a non-empty rootfs directory with a symlink to %s "
                       "(it is not ours to delete: remove it, or materialize without --rootfs "
                       "to use it as the rootfs)", target);
    }
    return 0;
}

static int plan_rootfs(struct bundle_ctx *c, struct err *err)
{
    c->rootfs = RF_ABSENT;
    if (c->cur.dfd >= 0 && (rootfs_state(&c->cur, &c->rootfs, c->rootfs_link,
                                         sizeof(c->rootfs_link), err) ||
                            rootfs_check(&c->cur, c->rootfs, c->target, err))) {
        return -1;
    }
    /* Without --rootfs an existing rootfs, a directory (populated or not) or a symlink, is the
     * operator's: it is carried into the new bundle. Otherwise the new bundle makes its own. */
    c->make_rootfs = c->target || c->rootfs == RF_ABSENT;
    return 0;
}

/* What the new bundle's manifest lists: config.json, the envelope's files, and the rootfs
 * when it makes one. */
static int plan_new_names(struct bundle_ctx *c, struct err *err)
{
    c->new_names = json_object();
    int rc = !c->new_names || bundle_names_add(c->new_names, "config.json") ||
             (c->make_rootfs && bundle_names_add(c->new_names, "rootfs"));
    const char *name;
    json_t *unused;
    json_object_foreach(c->env->files, name, unused)
    {
        rc = rc || bundle_names_add(c->new_names, name);
    }
    return rc ? err_nomem(err) : 0;
}

/* A directory where a file must go cannot be replaced by rename: refuse before writing. */
static int check_target_not_dir(const struct bundle_dir *bd, const char *name, struct err *err)
{
    struct stat st;
    if (fstatat(bd->dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode)) {
        char shown[PATH_MAX + 300];
        return err_set(err, ERR_IO, bundle_joined(shown, sizeof(shown), bd->path, name),
                       "refusing to write the bundle: a directory is in the way of this file");
    }
    return 0;
}

static int check_targets(const struct bundle_ctx *c, struct err *err)
{
    if (c->cur.dfd < 0) {
        return 0;
    }
    if (check_target_not_dir(&c->cur, BUNDLE_MANIFEST, err)) {
        return -1;
    }
    const char *name;
    json_t *unused;
    json_object_foreach(c->new_names, name, unused)
    {
        if (strcmp(name, "rootfs") != 0 && check_target_not_dir(&c->cur, name, err)) {
            return -1;
        }
    }
    return 0;
}

static int read_old_manifest(struct bundle_ctx *c, struct err *err)
{
    char shown[PATH_MAX + 32];
    if (c->cur.dfd < 0) {
        c->old_names = json_object();
        return c->old_names ? 0 : err_nomem(err);
    }
    if (bundle_manifest_read(c->cur.dfd, &c->old_names) != 0) {
        return bundle_sys_err(err, bundle_joined(shown, sizeof(shown), c->cur.path, BUNDLE_MANIFEST),
                       "cannot read the bundle manifest");
    }
    return 0;
}

/*
 * Which entries of DIR move into the new bundle: all but ocirender's own, which stay behind
 * and are deleted with the old bundle. Ours: what name_is_ours says, when disposable; and the
 * rootfs when the new bundle makes its own (the refusals made sure it is disposable then).
 */
static int plan_carry(struct bundle_ctx *c, struct err *err)
{
    if (!(c->carry = json_object())) {
        return err_nomem(err);
    }
    if (c->cur.dfd < 0) {
        return 0;
    }
    json_t *entries = bundle_dir_entries(c->cur.dfd);
    if (!entries) {
        return bundle_sys_err(err, c->cur.path, "cannot list the directory");
    }
    int rc = 0;
    const char *name;
    json_t *unused;
    json_object_foreach(entries, name, unused)
    {
        bool is_dir = false, carry = !c->make_rootfs;
        if (strcmp(name, "rootfs") != 0) {
            int disposable = bundle_entry_disposable(c->cur.dfd, name, &is_dir);
            if (disposable < 0 && errno != ENOENT) {
                char shown[PATH_MAX + NAME_MAX + 16];
                rc = bundle_sys_err(err, bundle_joined(shown, sizeof(shown), c->cur.path, name), "cannot stat");
                break;
            }
            carry = disposable == 0 ||
                    (disposable == 1 && !bundle_name_is_ours(name, c->old_names, c->new_names));
        }
        if (carry && bundle_names_add(c->carry, name)) {
            rc = err_nomem(err);
            break;
        }
    }
    json_decref(entries);
    return rc;
}

int bundle_plan(struct bundle_ctx *c, struct err *err)
{
    return inspect_current(c, err) || plan_rootfs(c, err) || plan_new_names(c, err) ||
                   check_targets(c, err) || read_old_manifest(c, err) || plan_carry(c, err)
               ? -1
               : 0;
}

/* ---- the stage: the new bundle, complete, beside DIR ---- */

const char *bundle_stage_path(const struct bundle_ctx *c, const char *name, char *buf,
                              size_t size)
{
    char stage[PATH_MAX + NAME_MAX + 16];
    bundle_joined(stage, sizeof(stage), c->parent, c->stage);
    return name ? bundle_joined(buf, size, stage, name) : bundle_joined(buf, size, c->parent, c->stage);
}

/* A fresh `.<base>.stage-<pid>-<n>`, mode 0700 whatever the umask (it will become DIR). */
static int stage_create(struct bundle_ctx *c, struct err *err)
{
    static unsigned counter;
    char name[sizeof(c->stage)], shown[PATH_MAX + NAME_MAX + 16];
    int rc = -1;
    for (int i = 0; i < STAGE_ATTEMPTS && rc != 0; i++) {
        snprintf(name, sizeof(name), ".%s" STAGE_INFIX "%ld-%u", c->base, (long)getpid(),
                 counter++);
        rc = mkdirat(c->cur.pfd, name, 0700);
        if (rc != 0 && errno != EEXIST) {
            break;
        }
    }
    bundle_joined(shown, sizeof(shown), c->parent, name);
    if (rc != 0) {
        return bundle_sys_err(err, shown, "cannot create the staging directory");
    }
    snprintf(c->stage, sizeof(c->stage), "%s", name);
    c->sfd = openat(c->cur.pfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (c->sfd < 0) {
        return bundle_sys_err(err, shown, "cannot open the staging directory");
    }
    return fchmod(c->sfd, 0700) == 0 ? 0 : bundle_sys_err(err, shown, "cannot set mode 0700");
}

/* A new file `name` in directory `dfd` (file_write_new); errors name `shown`. */
static int write_new_file(int dfd, const char *name, const char *data, size_t len, mode_t mode,
                          const char *shown, struct err *err)
{
    const char *step = NULL;
    if (file_write_new(dfd, name, data, len, mode, &step)) {
        return bundle_sys_err(err, shown, step);
    }
    return 0;
}

/* A new file in the stage. */
static int stage_write(const struct bundle_ctx *c, const char *name, const char *data,
                       size_t len, mode_t mode, struct err *err)
{
    char shown[PATH_MAX + 2 * NAME_MAX + 32];
    bundle_stage_path(c, name, shown, sizeof(shown));
    return write_new_file(c->sfd, name, data, len, mode, shown, err);
}

/* The manifest comes first and complete (a temporary name, then rename, then fsync of the
 * stage): from then on every entry of the stage is known to be ours or carried. */
static int stage_manifest(const struct bundle_ctx *c, struct err *err)
{
    static const char tmp[] = BUNDLE_TMP_PREFIX "manifest";
    size_t len;
    char *text = bundle_manifest_text(c->new_names, c->secrets_dir, &len);
    if (!text) {
        return err_nomem(err);
    }
    int rc = stage_write(c, tmp, text, len, 0600, err);
    free(text);
    char shown[PATH_MAX + 2 * NAME_MAX + 32];
    if (rc == 0 && renameat(c->sfd, tmp, c->sfd, BUNDLE_MANIFEST) != 0) {
        rc = bundle_sys_err(err, bundle_stage_path(c, BUNDLE_MANIFEST, shown, sizeof(shown)),
                     "cannot rename into place");
    }
    return rc || bundle_fsync_dir(c->sfd, bundle_stage_path(c, NULL, shown, sizeof(shown)), err);
}

static int stage_rootfs(const struct bundle_ctx *c, struct err *err)
{
    char shown[PATH_MAX + 2 * NAME_MAX + 32];
    bundle_stage_path(c, "rootfs", shown, sizeof(shown));
    if (!c->make_rootfs) {
        return 0; /* DIR's rootfs directory is carried over */
    }
    if (c->target) {
        return symlinkat(c->target, c->sfd, "rootfs") == 0
                   ? 0
                   : bundle_sys_err(err, shown, "cannot create the symlink");
    }
    return mkdirat(c->sfd, "rootfs", 0755) == 0 ? 0 : bundle_sys_err(err, shown, "cannot create");
}

int bundle_stage_build(struct bundle_ctx *c, struct err *err)
{
    if (stage_create(c, err) || stage_manifest(c, err)) {
        return -1;
    }
    const char *name;
    json_t *text;
    json_object_foreach(c->env->files, name, text)
    {
        if (stage_write(c, name, json_string_value(text), json_string_length(text), 0644, err)) {
            return -1;
        }
    }
    char shown[PATH_MAX + NAME_MAX + 16];
    return stage_write(c, "config.json", c->env->config_text, c->env->config_len, 0600, err) ||
           stage_rootfs(c, err) || bundle_fsync_dir(c->sfd, bundle_stage_path(c, NULL, shown, sizeof(shown)),
                                                err);
}

/* ---- the commit ---- */

/*
 * Errors that mean "this directory cannot be swapped here", not "something broke": the file
 * system has no RENAME_EXCHANGE (EINVAL, ENOSYS), or DIR or an entry to carry is a mount
 * point (EBUSY, EXDEV). The per-file method still works then.
 */
static bool swap_unsupported(int e)
{
    return e == EINVAL || e == ENOSYS || e == EBUSY || e == EXDEV;
}

/* OCIRENDER_TEST_NO_EXCHANGE=1 makes the exchange fail as on a file system without
 * RENAME_EXCHANGE, so that tests reach the fallback (as crun's no-openat2 job does). */
static int exchange_dirs(int pfd, const char *a, const char *b)
{
    const char *hook = getenv("OCIRENDER_TEST_NO_EXCHANGE");
    if (hook && strcmp(hook, "1") == 0) {
        errno = EINVAL;
        return -1;
    }
    return renameat2(pfd, a, pfd, b, RENAME_EXCHANGE);
}

/* Move the foreign entries of DIR into the stage: each rename is atomic, and a crash from
 * here to the exchange is rolled back by the next writer (recover_stages). */
static int carry_into_stage(const struct bundle_ctx *c, bool *unsupported, struct err *err)
{
    const char *name;
    json_t *unused;
    json_object_foreach(c->carry, name, unused)
    {
        if (renameat(c->cur.dfd, name, c->sfd, name) != 0 && errno != ENOENT) {
            char shown[PATH_MAX + NAME_MAX + 16];
            *unsupported = swap_unsupported(errno);
            return bundle_sys_err(err, bundle_joined(shown, sizeof(shown), c->cur.path, name),
                           "cannot move into the new bundle");
        }
    }
    return 0;
}

/*
 * One atomic step switches the whole bundle: rename of the stage to DIR when there is no DIR
 * yet, else an exchange of the two, after which the old bundle sits at the stage path.
 */
int bundle_stage_commit(struct bundle_ctx *c, bool *unsupported, struct err *err)
{
    char shown[PATH_MAX + NAME_MAX + 16];
    bundle_stage_path(c, NULL, shown, sizeof(shown));
    if (c->cur.dfd < 0) {
        if (renameat(c->cur.pfd, c->stage, c->cur.pfd, c->base) != 0) {
            return bundle_sys_err(err, c->cur.path, "cannot rename the staged bundle into place");
        }
        c->stage[0] = '\0';
        c->committed = true;
        return bundle_fsync_dir(c->cur.pfd, c->parent, err);
    }
    if (carry_into_stage(c, unsupported, err) || bundle_fsync_dir(c->sfd, shown, err) ||
        bundle_fsync_dir(c->cur.dfd, c->cur.path, err)) {
        return -1;
    }
    if (exchange_dirs(c->cur.pfd, c->stage, c->base) != 0) {
        *unsupported = swap_unsupported(errno);
        return bundle_sys_err(err, c->cur.path, "cannot exchange the bundle directory with the staged one");
    }
    c->committed = true;
    return bundle_fsync_dir(c->cur.pfd, c->parent, err);
}
