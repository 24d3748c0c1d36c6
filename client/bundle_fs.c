/* File helpers of bundle materialization: messages, warnings, entry sets, paths. */
#include "client/bundle_impl.h"

#include <dirent.h>
#include <stdarg.h>
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
#include "common/sbuf.h"
#include "common/strutil.h"

/* ---- paths ---- */

int bundle_abs_path(const char *dir, char *out, size_t size, struct err *err)
{
    if (!dir || !dir[0]) {
        return err_set(err, ERR_USAGE, "--bundle", "the bundle directory must not be empty");
    }
    struct sbuf b;
    sbuf_init(&b, size - 1);
    int rc = 0;
    if (dir[0] != '/') {
        char cwd[PATH_MAX];
        if (!getcwd(cwd, sizeof(cwd))) {
            return err_set(err, ERR_IO, "--bundle", "cannot resolve '%s': %s", dir,
                           strerror(errno));
        }
        rc = strcmp(cwd, "/") == 0 ? 0 : sbuf_add(&b, cwd);
    }
    const char *p = dir;
    while (rc == 0 && *p) {
        p += strspn(p, "/");
        size_t n = strcspn(p, "/");
        if (n == 2 && strncmp(p, "..", 2) == 0) {
            sbuf_free(&b);
            return err_set(err, ERR_USAGE, "--bundle",
                           "refusing bundle directory '%s': it contains a '..' component", dir);
        }
        if (n > 0 && !(n == 1 && p[0] == '.')) {
            rc = sbuf_addc(&b, '/') || sbuf_addn(&b, p, n);
        }
        p += n;
    }
    if (rc) {
        return err_set(err, ERR_USAGE, "--bundle", "bundle directory path too long: '%s'", dir);
    }
    if (sbuf_len(&b) == 0) {
        sbuf_free(&b);
        return err_set(err, ERR_USAGE, "--bundle", "the bundle directory cannot be /");
    }
    snprintf(out, size, "%s", sbuf_str(&b));
    sbuf_free(&b);
    return 0;
}

/* ---- small helpers ---- */

int bundle_sys_err(struct err *err, const char *path, const char *what)
{
    int saved = errno;
    err_set(err, ERR_IO, path, "%s: %s", what, strerror(saved));
    if (err) {
        err->sys_errno = saved;
    }
    return -1;
}

/* "<dir>/<name>", for messages. */
const char *bundle_joined(char *buf, size_t size, const char *dir, const char *name)
{
    snprintf(buf, size, "%s/%s", strcmp(dir, "/") == 0 ? "" : dir, name);
    return buf;
}

void bundle_warn_msg(json_t *warnings, const char *path, const char *what)
{
    (void)jsonx_warning_add(warnings, BUNDLE_WARN_CLEANUP, path, "%s", what);
}

void bundle_warn_sys(json_t *warnings, const char *path, const char *what)
{
    const char *why = strerror(errno);
    (void)jsonx_warning_add(warnings, BUNDLE_WARN_CLEANUP, path, "%s: %s", what, why);
}

int bundle_fsync_dir(int fd, const char *shown, struct err *err)
{
    return file_fsync_dir(fd) == 0 ? 0 : bundle_sys_err(err, shown, "cannot fsync the directory");
}

bool bundle_is_dot_or_dotdot(const char *name)
{
    return strcmp(name, ".") == 0 || strcmp(name, "..") == 0;
}

/* ---- sets of entry names ---- */

/*
 * A set of directory entry names is a JSON object keyed by name (jansson does the hashing).
 * Entry names need not be UTF-8, hence the _nocheck setter.
 */
int bundle_names_add(json_t *set, const char *name)
{
    return json_object_set_new_nocheck(set, name, json_true());
}

bool bundle_names_has(const json_t *set, const char *name)
{
    return set && json_object_get(set, name) != NULL;
}

/* `name` in `dfd` opened as a directory stream, or NULL with errno. */
static DIR *dir_stream(int dfd, const char *name, int flags)
{
    int fd = openat(dfd, name, flags);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d && fd >= 0) {
        int saved = errno;
        close(fd);
        errno = saved;
    }
    return d;
}

/* The entries of directory `dfd` (without "." and ".."): a new set, or NULL with errno. */
json_t *bundle_dir_entries(int dfd)
{
    DIR *d = dir_stream(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (!d) {
        return NULL;
    }
    json_t *set = json_object();
    int failure = set ? 0 : ENOMEM;
    while (!failure) {
        errno = 0;
        const struct dirent *e = readdir(d);
        if (!e) {
            failure = errno;
            break;
        }
        if (!bundle_is_dot_or_dotdot(e->d_name) && bundle_names_add(set, e->d_name)) {
            failure = ENOMEM;
        }
    }
    closedir(d);
    if (failure) {
        json_decref(set);
        errno = failure;
        return NULL;
    }
    return set;
}

/* 1 if `name` in `dfd` is an empty directory, 0 if it has entries, -1 with errno. */
int bundle_dir_is_empty(int dfd, const char *name)
{
    DIR *d = dir_stream(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (!d) {
        return -1;
    }
    int empty = 1;
    const struct dirent *e;
    while (empty && (e = readdir(d))) {
        empty = bundle_is_dot_or_dotdot(e->d_name);
    }
    closedir(d);
    return empty;
}

/*
 * May `name` in `dfd` be deleted without losing anyone's data? Yes for a non-directory (a
 * file we wrote, a symlink) and an empty directory; never for a directory with entries,
 * because nothing here deletes recursively. 1 yes, 0 no, -1 with errno (ENOENT: it is gone).
 */
int bundle_entry_disposable(int dfd, const char *name, bool *is_dir)
{
    struct stat st;
    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        return -1;
    }
    *is_dir = S_ISDIR(st.st_mode);
    return *is_dir ? bundle_dir_is_empty(dfd, name) : 1;
}

/* Does `name` exist in `dfd`? When we cannot tell, assume it does: the callers then refrain
 * from putting something in its place. */
bool bundle_entry_exists(int dfd, const char *name)
{
    struct stat st;
    return fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 || errno != ENOENT;
}
