#define _GNU_SOURCE /* renameat2, RENAME_EXCHANGE */
#include "client/bundle.h"
#include "client/cli.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/digest.h"
#include "common/jsonx.h"
#include "common/sbuf.h"
#include "common/strutil.h"

#define BUNDLE_FILES_MAX 256      /* envelope `files` entries */
#define MANIFEST_MAX (128 * 1024) /* BUNDLE_FILES_MAX names of at most NAME_MAX bytes, and more */
#define STAGE_ATTEMPTS 64         /* stage names tried before giving up */
#define STAGE_INFIX ".stage-"

/* ---- envelope ---- */

void bundle_envelope_release(struct bundle_envelope *env)
{
    if (env->config_text) {
        mem_wipe(env->config_text, env->config_len);
        free(env->config_text);
    }
    json_decref(env->root);
    memset(env, 0, sizeof(*env));
}

const char *bundle_file_name_problem(const char *name)
{
    if (!name[0]) {
        return "the name is empty";
    }
    if (strlen(name) > NAME_MAX) {
        return "the name is longer than 255 bytes";
    }
    if (strchr(name, '/')) {
        return "the name contains '/' (bundle files are plain file names)";
    }
    if (strstr(name, "..")) {
        return "the name contains '..'";
    }
    if (strcmp(name, ".") == 0) {
        return "the name is '.'";
    }
    if (strcmp(name, "config.json") == 0 || strcmp(name, "rootfs") == 0) {
        return "the name is reserved for the bundle itself";
    }
    if (strcmp(name, BUNDLE_MANIFEST) == 0) {
        return "the name is reserved for the bundle manifest";
    }
    if (str_has_prefix(name, BUNDLE_TMP_PREFIX)) {
        return "the name is reserved for temporary files";
    }
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        if (*p < 0x20 || *p == 0x7f) {
            return "the name contains a control character";
        }
    }
    return NULL;
}

static bool digest_well_formed(const char *d)
{
    if (!str_has_prefix(d, "sha256:") || strlen(d) != 7 + 64) {
        return false;
    }
    for (const char *p = d + 7; *p; p++) {
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'))) {
            return false;
        }
    }
    return true;
}

static int check_files(json_t *files, struct err *err)
{
    if (!json_is_object(files)) {
        return err_set(err, ERR_SPEC_INVALID, "files", "`files` must be an object of strings");
    }
    if (json_object_size(files) > BUNDLE_FILES_MAX) {
        return err_set(err, ERR_SPEC_INVALID, "files", "more than %d bundle files",
                       BUNDLE_FILES_MAX);
    }
    const char *name;
    json_t *text;
    json_object_foreach(files, name, text)
    {
        const char *path = "files";
        const char *problem = bundle_file_name_problem(name);
        if (problem) {
            err_set(err, ERR_SPEC_INVALID, path, "refusing bundle file '%s': %s", name, problem);
        } else if (!json_is_string(text)) {
            err_set(err, ERR_SPEC_INVALID, path, "the content of '%s' must be a string", name);
        }
    }
    return err_is_set(err) ? -1 : 0;
}

/* The envelope's shape, before any hashing. */
static int check_envelope_shape(json_t *root, struct bundle_envelope *out,
                                struct err *err)
{
    if (!json_is_object(root)) {
        return err_set(err, ERR_SPEC_INVALID, "", "the envelope must be a JSON object");
    }
    const json_t *config = json_object_get(root, "config");
    if (!config && json_object_get(root, "ociVersion")) {
        return err_set(err, ERR_SPEC_INVALID, "",
                       "this is a plain config.json, not an envelope (ask for format=envelope, "
                       "or use `ocirender render --envelope`)");
    }
    if (!config) {
        return err_set(err, ERR_SPEC_INVALID, "config", "the envelope has no `config`");
    }
    if (!json_is_object(config)) {
        return err_set(err, ERR_SPEC_INVALID, "config", "`config` must be an object");
    }
    const char *digest = jsonx_get_str(root, "digest");
    if (!json_object_get(root, "digest")) {
        return err_set(err, ERR_SPEC_INVALID, "digest",
                       "the envelope has no `digest`: refusing an unverifiable config");
    }
    if (!digest || !digest_well_formed(digest)) {
        return err_set(err, ERR_SPEC_INVALID, "digest",
                       "`digest` must be \"sha256:\" followed by 64 lower-case hex digits");
    }
    out->files = json_object_get(root, "files");
    if (out->files && check_files(out->files, err)) {
        return -1;
    }
    out->warnings = json_object_get(root, "warnings");
    if (out->warnings && !json_is_array(out->warnings)) {
        return err_set(err, ERR_SPEC_INVALID, "warnings", "`warnings` must be an array");
    }
    snprintf(out->digest, sizeof(out->digest), "%s", digest);
    return 0;
}

int bundle_envelope_load(const char *text, size_t len, struct bundle_envelope *out,
                         struct err *err)
{
    memset(out, 0, sizeof(*out));
    json_error_t je;
    out->root = jsonx_loadb(text, len, &je);
    if (!out->root) {
        return err_set(err, ERR_SPEC_SYNTAX, "", "the envelope is not valid JSON: %s (line %d, "
                       "column %d)", je.text, je.line, je.column);
    }
    if (check_envelope_shape(out->root, out, err)) {
        bundle_envelope_release(out);
        return -1;
    }
    out->config_text = jsonx_dump(json_object_get(out->root, "config"), JSONX_PRETTY,
                                  &out->config_len);
    char hex[65];
    if (!out->config_text || digest_sha256_hex(out->config_text, out->config_len, hex)) {
        bundle_envelope_release(out);
        return err_set(err, ERR_NOMEM, "config", "cannot serialize the config (out of memory)");
    }
    if (strcmp(out->digest + 7, hex) != 0) {
        err_set(err, ERR_SPEC_INVALID, "digest",
                "digest mismatch: the envelope says %s but its config hashes to sha256:%s; "
                "refusing to write it", out->digest, hex);
        bundle_envelope_release(out);
        return -1;
    }
    return 0;
}

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

static int sys_err(struct err *err, const char *path, const char *what)
{
    int saved = errno;
    err_set(err, ERR_IO, path, "%s: %s", what, strerror(saved));
    if (err) {
        err->sys_errno = saved;
    }
    return -1;
}

/* "<dir>/<name>", for messages. */
static const char *joined(char *buf, size_t size, const char *dir, const char *name)
{
    snprintf(buf, size, "%s/%s", strcmp(dir, "/") == 0 ? "" : dir, name);
    return buf;
}

/* Problems that do not fail the write (cleaning up after it) are reported, not hidden. */
static void warn_sys(const char *path, const char *what)
{
    fprintf(stderr, "ocirender: warning: %s: %s: %s\n", path, what, strerror(errno));
}

static void warn_msg(const char *path, const char *what)
{
    fprintf(stderr, "ocirender: warning: %s: %s\n", path, what);
}

static int fsync_dir_fd(int fd, const char *shown, struct err *err)
{
    return fsync(fd) == 0 ? 0 : sys_err(err, shown, "cannot fsync the directory");
}

static int write_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            if (n == 0) {
                errno = EIO;
            }
            return -1;
        }
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

static bool is_dot_or_dotdot(const char *name)
{
    return strcmp(name, ".") == 0 || strcmp(name, "..") == 0;
}

/* ---- sets of entry names ---- */

/*
 * A set of directory entry names is a JSON object keyed by name (jansson does the hashing).
 * Entry names need not be UTF-8, hence the _nocheck setter.
 */
static int names_add(json_t *set, const char *name)
{
    return json_object_set_new_nocheck(set, name, json_true());
}

static bool names_has(const json_t *set, const char *name)
{
    return set && json_object_get(set, name) != NULL;
}

/* The entries of directory `dfd` (without "." and ".."): a new set, or NULL with errno. */
static json_t *dir_entries(int dfd)
{
    int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        int saved = errno;
        if (fd >= 0) {
            close(fd);
        }
        errno = saved;
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
        if (!is_dot_or_dotdot(e->d_name) && names_add(set, e->d_name)) {
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
static int dir_is_empty(int dfd, const char *name)
{
    int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        int saved = errno;
        if (fd >= 0) {
            close(fd);
        }
        errno = saved;
        return -1;
    }
    int empty = 1;
    const struct dirent *e;
    while (empty && (e = readdir(d))) {
        empty = is_dot_or_dotdot(e->d_name);
    }
    closedir(d);
    return empty;
}

/*
 * May `name` in `dfd` be deleted without losing anyone's data? Yes for a non-directory (a
 * file we wrote, a symlink) and an empty directory; never for a directory with entries,
 * because nothing here deletes recursively. 1 yes, 0 no, -1 with errno (ENOENT: it is gone).
 */
static int entry_disposable(int dfd, const char *name, bool *is_dir)
{
    struct stat st;
    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        return -1;
    }
    *is_dir = S_ISDIR(st.st_mode);
    return *is_dir ? dir_is_empty(dfd, name) : 1;
}

/* Does `name` exist in `dfd`? When we cannot tell, assume it does: the callers then refrain
 * from putting something in its place. */
static bool entry_exists(int dfd, const char *name)
{
    struct stat st;
    return fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 || errno != ENOENT;
}

/* ---- the manifest: which entries of a bundle ocirender wrote ---- */

/* A manifest line that could not be a bundle entry is ignored. */
static bool plausible_entry_name(const char *name)
{
    return name[0] && strlen(name) <= NAME_MAX && !strchr(name, '/') && !is_dot_or_dotdot(name);
}

/* A small regular file, whole (NUL-terminated, heap), or NULL with errno. */
static char *read_small_file(int fd, size_t max, size_t *len)
{
    struct stat st;
    if (fstat(fd, &st) != 0) {
        return NULL;
    }
    if (!S_ISREG(st.st_mode) || (size_t)st.st_size > max) {
        errno = S_ISREG(st.st_mode) ? EFBIG : EINVAL;
        return NULL;
    }
    size_t size = (size_t)st.st_size, n = 0;
    char *buf = malloc(size + 1);
    if (!buf) {
        return NULL;
    }
    while (n < size) {
        ssize_t r = read(fd, buf + n, size - n);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r < 0) {
            free(buf);
            return NULL;
        }
        if (r == 0) {
            break;
        }
        n += (size_t)r;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

/*
 * The names `dfd`'s manifest lists, as a new set in *out. A missing manifest is an empty set:
 * a bundle written before manifests existed, a directory the operator made, or a stage killed
 * before its manifest was complete (it is written first, under a temporary name). 0, or -1
 * with errno.
 */
static int manifest_read(int dfd, json_t **out)
{
    json_t *set = json_object();
    if (!set) {
        errno = ENOMEM;
        return -1;
    }
    int fd = openat(dfd, BUNDLE_MANIFEST, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
        *out = set;
        return 0;
    }
    size_t len = 0;
    char *text = fd >= 0 ? read_small_file(fd, MANIFEST_MAX, &len) : NULL;
    int saved = errno;
    if (fd >= 0) {
        close(fd);
    }
    int rc = text ? 0 : -1;
    for (char *line = text, *next; rc == 0 && line; line = next) {
        next = strchr(line, '\n');
        if (next) {
            *next++ = '\0';
        }
        if (line[0] != '#' && plausible_entry_name(line) && names_add(set, line)) {
            rc = -1;
            saved = ENOMEM;
        }
    }
    free(text);
    if (rc) {
        json_decref(set);
        errno = saved;
        return -1;
    }
    *out = set;
    return 0;
}

static char *manifest_text(json_t *names, size_t *len)
{
    struct sbuf b;
    sbuf_init(&b, MANIFEST_MAX);
    int rc = sbuf_add(&b, "# Written by ocirender: the entries of this bundle it manages. They are\n"
                          "# replaced when the bundle is written again; anything else is kept.\n");
    const char *name;
    json_t *v;
    json_object_foreach(names, name, v)
    {
        rc = rc || sbuf_add(&b, name) || sbuf_addc(&b, '\n');
    }
    return rc ? NULL : sbuf_take(&b, len);
}

/*
 * Is `name` an entry ocirender writes? config.json, the manifest, temporary files, and what
 * either manifest lists. Given the manifests of the two bundles around an exchange, the answer
 * is the same before it (new stage, old DIR) and after it (old bundle at the stage path, new
 * DIR): that is what lets one routine, stage_dispose, both roll back and clean up. The rootfs
 * has its own rule (see settle_rootfs).
 */
static bool name_is_ours(const char *name, const json_t *a, const json_t *b)
{
    return strcmp(name, "config.json") == 0 || strcmp(name, BUNDLE_MANIFEST) == 0 ||
           str_has_prefix(name, BUNDLE_TMP_PREFIX) || names_has(a, name) || names_has(b, name);
}

/* ---- the bundle directory and what lies beside it ---- */

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

struct bundle_ctx {
    struct bundle_dir cur;
    const char *base;          /* DIR's last component */
    char parent[PATH_MAX];     /* DIR's parent, for messages */
    int lockfd;
    const char *target;        /* --rootfs as a real absolute path, or NULL */
    const struct bundle_envelope *env;
    enum rootfs_state rootfs;  /* DIR/rootfs as it is now */
    char rootfs_link[PATH_MAX];
    bool make_rootfs;          /* the new bundle gets a rootfs of its own (symlink or empty dir) */
    json_t *new_names;         /* set: the new bundle's manifest */
    json_t *old_names;         /* set: DIR's manifest */
    json_t *carry;             /* set: entries of DIR that move into the new bundle */
    char stage[NAME_MAX + 64]; /* our stage's name in the parent; "" when there is none */
    int sfd;
    bool committed;            /* the exchange happened: the stage holds the old bundle */
};

/* mkdir -p of the parent (symlinks among the parents are followed: only DIR itself must not
 * be one), then open it. */
static int open_parent(const char *path, char *parent, size_t size, int *pfd, struct err *err)
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
            return sys_err(err, parent, "cannot create the directory");
        }
    }
    if (mkdir(parent, 0755) != 0 && errno != EEXIST) {
        return sys_err(err, parent, "cannot create the directory");
    }
    *pfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    return *pfd < 0 ? sys_err(err, parent, "cannot open the directory") : 0;
}

/* Is the locked file still the one the name points to? A writer that finished unlinked it. */
static bool lock_file_current(int pfd, const char *name, int fd)
{
    struct stat named, held;
    return fstatat(pfd, name, &named, AT_SYMLINK_NOFOLLOW) == 0 && fstat(fd, &held) == 0 &&
           named.st_dev == held.st_dev && named.st_ino == held.st_ino;
}

static int lock_bundle_once(struct bundle_ctx *c, const char *name, const char *shown,
                            struct err *err);

/*
 * Writers take turns on an exclusive flock of `<parent>/.<base>.lock`. The lock makes it safe
 * to treat every stage found in the parent as left by a killed writer. The holder unlinks the
 * file before it lets go (unlock_bundle), so nothing stays beside DIR; a waiter that then gets
 * the lock of the unlinked file sees that the name no longer leads to it and tries again.
 */
static int lock_bundle(struct bundle_ctx *c, struct err *err)
{
    char name[NAME_MAX + 16], shown[PATH_MAX + NAME_MAX + 16];
    snprintf(name, sizeof(name), ".%s.lock", c->base);
    joined(shown, sizeof(shown), c->parent, name);
    for (;;) {
        if (lock_bundle_once(c, name, shown, err)) {
            return -1;
        }
        if (lock_file_current(c->cur.pfd, name, c->lockfd)) {
            return 0;
        }
        close(c->lockfd);
        c->lockfd = -1;
    }
}

/* Remove the lock file while still holding it (see lock_bundle); closing then releases it. */
static void unlock_bundle(struct bundle_ctx *c)
{
    char name[NAME_MAX + 16];
    snprintf(name, sizeof(name), ".%s.lock", c->base);
    if (c->lockfd >= 0 && lock_file_current(c->cur.pfd, name, c->lockfd)) {
        unlinkat(c->cur.pfd, name, 0);
    }
}

static int lock_bundle_once(struct bundle_ctx *c, const char *name, const char *shown,
                            struct err *err)
{
    c->lockfd = openat(c->cur.pfd, name, O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC,
                       0600);
    if (c->lockfd < 0) {
        return errno == ELOOP ? err_set(err, ERR_IO, shown,
                                        "refusing to write the bundle: the lock file is a symlink")
                              : sys_err(err, shown, "cannot open the lock file");
    }
    struct stat st;
    if (fstat(c->lockfd, &st) != 0) {
        return sys_err(err, shown, "cannot stat the lock file");
    }
    if (!S_ISREG(st.st_mode) || st.st_uid != geteuid()) {
        return err_set(err, ERR_IO, shown, "refusing to write the bundle: the lock file is not a "
                       "regular file owned by this user");
    }
    while (flock(c->lockfd, LOCK_EX) != 0) {
        if (errno != EINTR) {
            return sys_err(err, shown, "cannot lock");
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
};

/* Put `name` back into DIR, where it came from (never over something that is there). */
static bool restore_entry(struct stage_view *v, const char *name)
{
    char shown[PATH_MAX + NAME_MAX + 80];
    joined(shown, sizeof(shown), v->shown, name);
    if (v->dfd < 0 || entry_exists(v->dfd, name)) {
        warn_msg(shown, v->dfd < 0 ? "kept here: the bundle directory is missing or unusable"
                                   : "kept here: the bundle directory has an entry of that name");
        return false;
    }
    if (renameat(v->sfd, name, v->dfd, name) != 0) {
        warn_sys(shown, "cannot move back into the bundle directory");
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
    warn_sys(joined(shown, sizeof(shown), v->shown, name), "cannot remove");
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
    bool dir_has_one = v->dfd < 0 || entry_exists(v->dfd, "rootfs");
    if (!dir_has_one && (!names_has(v->stage_names, "rootfs") || !disposable)) {
        return restore_entry(v, "rootfs");
    }
    if (disposable) {
        return remove_entry(v, "rootfs", is_dir);
    }
    char shown[PATH_MAX + NAME_MAX + 80];
    warn_msg(joined(shown, sizeof(shown), v->shown, "rootfs"),
             "kept here: a populated rootfs is never deleted, and the bundle has one");
    return false;
}

/* One entry of a stage: deleted if ocirender wrote it, otherwise put back into DIR. True when
 * it has left the stage. */
static bool settle_entry(struct stage_view *v, const char *name)
{
    bool is_dir = false;
    int disposable = entry_disposable(v->sfd, name, &is_dir);
    if (disposable < 0) {
        char shown[PATH_MAX + NAME_MAX + 80];
        if (errno == ENOENT) {
            return true;
        }
        warn_sys(joined(shown, sizeof(shown), v->shown, name), "cannot stat");
        return false;
    }
    if (strcmp(name, "rootfs") == 0) {
        return settle_rootfs(v, disposable, is_dir);
    }
    if (disposable && name_is_ours(name, v->stage_names, v->dir_names)) {
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
            warn_sys(v->shown, "cannot stat");
        }
        return -1;
    }
    if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid()) {
        warn_msg(v->shown, "left alone: named like a stage of this bundle, but not a directory "
                 "of this user");
        return -1;
    }
    v->sfd = openat(c->cur.pfd, sname, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    v->dfd = openat(c->cur.pfd, c->base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (v->sfd < 0 || manifest_read(v->sfd, &v->stage_names) != 0) {
        warn_sys(v->shown, "left alone: cannot read it or its manifest");
        return -1;
    }
    if (v->dfd >= 0 && manifest_read(v->dfd, &v->dir_names) != 0) {
        warn_sys(v->dir, "left the stage alone: cannot read the bundle manifest");
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
static int stage_dispose(const struct bundle_ctx *c, const char *sname)
{
    char shown[PATH_MAX + NAME_MAX + 16];
    joined(shown, sizeof(shown), c->parent, sname);
    struct stage_view v = {.shown = shown, .dir = c->cur.path, .sfd = -1, .dfd = -1};
    json_t *entries = NULL;
    bool gone = false;
    if (stage_view_open(c, sname, &v) == 0) {
        if (!(entries = dir_entries(v.sfd))) {
            warn_sys(shown, "left alone: cannot list it");
        } else if (settle_all(&v, entries)) {
            gone = unlinkat(c->cur.pfd, sname, AT_REMOVEDIR) == 0;
            if (!gone) {
                warn_sys(shown, "cannot remove");
            }
        } else {
            warn_msg(shown, "left in place with what could not be settled (see above)");
        }
        if (v.moved && fsync(v.dfd) != 0) {
            warn_sys(c->cur.path, "cannot fsync the directory");
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
static void recover_stages(const struct bundle_ctx *c)
{
    json_t *entries = dir_entries(c->cur.pfd);
    if (!entries) {
        warn_sys(c->parent, "cannot list the directory to look for interrupted writes");
        return;
    }
    const char *name;
    json_t *unused;
    json_object_foreach(entries, name, unused)
    {
        if (is_stage_of(name, c->base) && stage_dispose(c, name) == 0) {
            char shown[PATH_MAX + NAME_MAX + 16];
            fprintf(stderr, "ocirender: cleaned up %s, left by an interrupted write (anything "
                    "it had moved out of the bundle is back in place)\n",
                    joined(shown, sizeof(shown), c->parent, name));
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
        return errno == ENOENT ? 0 : sys_err(err, c->cur.path, "cannot stat the bundle directory");
    }
    if (!S_ISDIR(st.st_mode)) {
        return refuse_existing(c->cur.path, &st, err);
    }
    c->cur.dfd = openat(c->cur.pfd, c->base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (c->cur.dfd < 0) {
        return errno == ELOOP ? err_set(err, ERR_IO, c->cur.path,
                                        "refusing to write the bundle: the directory is a symlink")
                              : sys_err(err, c->cur.path, "cannot open the bundle directory");
    }
    if (fstat(c->cur.dfd, &st) != 0) {
        return sys_err(err, c->cur.path, "cannot stat the bundle directory");
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
            return sys_err(err, shown, "cannot stat");
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
    int empty = dir_is_empty(bd->dfd, "rootfs");
    if (empty < 0) {
        return sys_err(err, shown, "cannot read the directory");
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
    int rc = !c->new_names || names_add(c->new_names, "config.json") ||
             (c->make_rootfs && names_add(c->new_names, "rootfs"));
    const char *name;
    json_t *unused;
    json_object_foreach(c->env->files, name, unused)
    {
        rc = rc || names_add(c->new_names, name);
    }
    return rc ? err_nomem(err) : 0;
}

/* A directory where a file must go cannot be replaced by rename: refuse before writing. */
static int check_target_not_dir(const struct bundle_dir *bd, const char *name, struct err *err)
{
    struct stat st;
    if (fstatat(bd->dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode)) {
        char shown[PATH_MAX + 300];
        return err_set(err, ERR_IO, joined(shown, sizeof(shown), bd->path, name),
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
    if (manifest_read(c->cur.dfd, &c->old_names) != 0) {
        return sys_err(err, joined(shown, sizeof(shown), c->cur.path, BUNDLE_MANIFEST),
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
    json_t *entries = dir_entries(c->cur.dfd);
    if (!entries) {
        return sys_err(err, c->cur.path, "cannot list the directory");
    }
    int rc = 0;
    const char *name;
    json_t *unused;
    json_object_foreach(entries, name, unused)
    {
        bool is_dir = false, carry = !c->make_rootfs;
        if (strcmp(name, "rootfs") != 0) {
            int disposable = entry_disposable(c->cur.dfd, name, &is_dir);
            if (disposable < 0 && errno != ENOENT) {
                char shown[PATH_MAX + NAME_MAX + 16];
                rc = sys_err(err, joined(shown, sizeof(shown), c->cur.path, name), "cannot stat");
                break;
            }
            carry = disposable == 0 ||
                    (disposable == 1 && !name_is_ours(name, c->old_names, c->new_names));
        }
        if (carry && names_add(c->carry, name)) {
            rc = err_nomem(err);
            break;
        }
    }
    json_decref(entries);
    return rc;
}

/* ---- the stage: the new bundle, complete, beside DIR ---- */

static const char *stage_path(const struct bundle_ctx *c, const char *name, char *buf,
                              size_t size)
{
    char stage[PATH_MAX + NAME_MAX + 16];
    joined(stage, sizeof(stage), c->parent, c->stage);
    return name ? joined(buf, size, stage, name) : joined(buf, size, c->parent, c->stage);
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
    joined(shown, sizeof(shown), c->parent, name);
    if (rc != 0) {
        return sys_err(err, shown, "cannot create the staging directory");
    }
    snprintf(c->stage, sizeof(c->stage), "%s", name);
    c->sfd = openat(c->cur.pfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (c->sfd < 0) {
        return sys_err(err, shown, "cannot open the staging directory");
    }
    return fchmod(c->sfd, 0700) == 0 ? 0 : sys_err(err, shown, "cannot set mode 0700");
}

/* A new file `name` in directory `dfd`: exclusive create (never through a symlink), complete
 * write, final mode, fsync. On failure the partial file is removed. */
static int write_new_file(int dfd, const char *name, const char *data, size_t len, mode_t mode,
                          const char *shown, struct err *err)
{
    int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        return sys_err(err, shown, "cannot create");
    }
    const char *what = NULL;
    if (write_all(fd, data, len) != 0) {
        what = "cannot write";
    } else if (fchmod(fd, mode) != 0) {
        what = "cannot set the file mode";
    } else if (fsync(fd) != 0) {
        what = "cannot fsync";
    }
    int saved = errno;
    if (close(fd) != 0 && !what) {
        what = "cannot close";
        saved = errno;
    }
    if (what) {
        (void)unlinkat(dfd, name, 0);
        errno = saved;
        return sys_err(err, shown, what);
    }
    return 0;
}

/* A new file in the stage. */
static int stage_write(const struct bundle_ctx *c, const char *name, const char *data,
                       size_t len, mode_t mode, struct err *err)
{
    char shown[PATH_MAX + 2 * NAME_MAX + 32];
    stage_path(c, name, shown, sizeof(shown));
    return write_new_file(c->sfd, name, data, len, mode, shown, err);
}

/* The manifest comes first and complete (a temporary name, then rename, then fsync of the
 * stage): from then on every entry of the stage is known to be ours or carried. */
static int stage_manifest(const struct bundle_ctx *c, struct err *err)
{
    static const char tmp[] = BUNDLE_TMP_PREFIX "manifest";
    size_t len;
    char *text = manifest_text(c->new_names, &len);
    if (!text) {
        return err_nomem(err);
    }
    int rc = stage_write(c, tmp, text, len, 0600, err);
    free(text);
    char shown[PATH_MAX + 2 * NAME_MAX + 32];
    if (rc == 0 && renameat(c->sfd, tmp, c->sfd, BUNDLE_MANIFEST) != 0) {
        rc = sys_err(err, stage_path(c, BUNDLE_MANIFEST, shown, sizeof(shown)),
                     "cannot rename into place");
    }
    return rc || fsync_dir_fd(c->sfd, stage_path(c, NULL, shown, sizeof(shown)), err);
}

static int stage_rootfs(const struct bundle_ctx *c, struct err *err)
{
    char shown[PATH_MAX + 2 * NAME_MAX + 32];
    stage_path(c, "rootfs", shown, sizeof(shown));
    if (!c->make_rootfs) {
        return 0; /* DIR's rootfs directory is carried over */
    }
    if (c->target) {
        return symlinkat(c->target, c->sfd, "rootfs") == 0
                   ? 0
                   : sys_err(err, shown, "cannot create the symlink");
    }
    return mkdirat(c->sfd, "rootfs", 0755) == 0 ? 0 : sys_err(err, shown, "cannot create");
}

static int stage_build(struct bundle_ctx *c, struct err *err)
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
           stage_rootfs(c, err) || fsync_dir_fd(c->sfd, stage_path(c, NULL, shown, sizeof(shown)),
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
            return sys_err(err, joined(shown, sizeof(shown), c->cur.path, name),
                           "cannot move into the new bundle");
        }
    }
    return 0;
}

/*
 * One atomic step switches the whole bundle: rename of the stage to DIR when there is no DIR
 * yet, else an exchange of the two, after which the old bundle sits at the stage path.
 */
static int stage_commit(struct bundle_ctx *c, bool *unsupported, struct err *err)
{
    char shown[PATH_MAX + NAME_MAX + 16];
    stage_path(c, NULL, shown, sizeof(shown));
    if (c->cur.dfd < 0) {
        if (renameat(c->cur.pfd, c->stage, c->cur.pfd, c->base) != 0) {
            return sys_err(err, c->cur.path, "cannot rename the staged bundle into place");
        }
        c->stage[0] = '\0';
        return fsync_dir_fd(c->cur.pfd, c->parent, err);
    }
    if (carry_into_stage(c, unsupported, err) || fsync_dir_fd(c->sfd, shown, err) ||
        fsync_dir_fd(c->cur.dfd, c->cur.path, err)) {
        return -1;
    }
    if (exchange_dirs(c->cur.pfd, c->stage, c->base) != 0) {
        *unsupported = swap_unsupported(errno);
        return sys_err(err, c->cur.path, "cannot exchange the bundle directory with the staged one");
    }
    c->committed = true;
    return fsync_dir_fd(c->cur.pfd, c->parent, err);
}

/* ---- the per-file fallback ---- */

static void tmp_name(char *buf, size_t size)
{
    static unsigned counter;
    snprintf(buf, size, "%s%ld-%u", BUNDLE_TMP_PREFIX, (long)getpid(), counter++);
}

/* Remove what an interrupted per-file write left in DIR: safe because we hold the lock. */
static void clean_stale_temps(int dfd)
{
    json_t *entries = dir_entries(dfd);
    const char *name;
    json_t *unused;
    json_object_foreach(entries, name, unused)
    {
        bool is_dir;
        /* A leftover directory is an emptied old rootfs; never remove a populated one. */
        if (str_has_prefix(name, BUNDLE_TMP_PREFIX) && entry_disposable(dfd, name, &is_dir) == 1) {
            (void)unlinkat(dfd, name, is_dir ? AT_REMOVEDIR : 0);
        }
    }
    json_decref(entries);
}

/* Temporary file in DIR, complete write, final mode, fsync, rename over `name`. */
static int write_file_atomic(const struct bundle_dir *bd, const char *name, const char *data,
                             size_t len, mode_t mode, struct err *err)
{
    char shown[PATH_MAX + 64], tmp[64];
    joined(shown, sizeof(shown), bd->path, name);
    tmp_name(tmp, sizeof(tmp));
    if (write_new_file(bd->dfd, tmp, data, len, mode, shown, err)) {
        return -1;
    }
    if (renameat(bd->dfd, tmp, bd->dfd, name) != 0) {
        int saved = errno;
        (void)unlinkat(bd->dfd, tmp, 0);
        errno = saved;
        return sys_err(err, shown, "cannot rename into place");
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
            return sys_err(err, shown, "cannot remove the previous rootfs");
        }
        return 0;
    }
    if (errno != EINVAL && errno != ENOSYS) {
        int saved = errno;
        (void)unlinkat(bd->dfd, tmp, old_is_dir ? 0 : AT_REMOVEDIR);
        errno = saved;
        return sys_err(err, shown, "cannot replace");
    }
    /* The file system cannot exchange: remove, then rename (a short window without rootfs). */
    if (unlinkat(bd->dfd, "rootfs", old_is_dir ? AT_REMOVEDIR : 0) != 0 ||
        renameat(bd->dfd, tmp, bd->dfd, "rootfs") != 0) {
        return sys_err(err, shown, "cannot replace");
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
                                                         : sys_err(err, shown, "cannot create");
        }
        if (state != RF_SYMLINK) {
            return 0; /* an existing directory is kept, populated or not */
        }
        if (mkdirat(bd->dfd, tmp, 0755) != 0) {
            return sys_err(err, shown, "cannot create");
        }
        return swap_in_rootfs(bd, tmp, false, err);
    }
    if (state == RF_SYMLINK && strcmp(link, target) == 0) {
        return 0;
    }
    if (symlinkat(target, bd->dfd, tmp) != 0) {
        return sys_err(err, shown, "cannot create the symlink");
    }
    if (state == RF_EMPTY_DIR) {
        return swap_in_rootfs(bd, tmp, true, err);
    }
    if (renameat(bd->dfd, tmp, bd->dfd, "rootfs") != 0) {
        int saved = errno;
        (void)unlinkat(bd->dfd, tmp, 0);
        errno = saved;
        return sys_err(err, shown, "cannot rename into place");
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
        if (rc == 0 && entry_exists(c->cur.dfd, name)) {
            rc = names_add(names, name);
        }
    }
    char *text = rc == 0 ? manifest_text(names, len) : NULL;
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
        if (strcmp(name, "rootfs") != 0 && !names_has(c->new_names, name) &&
            entry_disposable(c->cur.dfd, name, &is_dir) == 1 && !is_dir &&
            unlinkat(c->cur.dfd, name, 0) != 0) {
            char shown[PATH_MAX + NAME_MAX + 16];
            warn_sys(joined(shown, sizeof(shown), c->cur.path, name), "cannot remove");
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
 * config.json: the contract's "never a mix" holds only where the exchange works (ext4, xfs,
 * btrfs, tmpfs and overlayfs all support it).
 */
static int write_per_file(const struct bundle_ctx *c, struct err *err)
{
    const struct bundle_dir *bd = &c->cur;
    struct stat st;
    if (fstat(bd->dfd, &st) != 0) {
        return sys_err(err, bd->path, "cannot stat the bundle directory");
    }
    /* config.json holds secrets: nobody else may even list the directory. */
    if ((st.st_mode & 07777) != 0700 && fchmod(bd->dfd, 0700) != 0) {
        return sys_err(err, bd->path, "cannot set mode 0700");
    }
    clean_stale_temps(bd->dfd);
    size_t len;
    char *manifest = fallback_manifest(c, &len);
    if (!manifest) {
        return err_nomem(err);
    }
    int rc = write_envelope_files(bd, c->env->files, err) ||
             rootfs_apply(bd, c->rootfs, c->rootfs_link, c->target, err) ||
             fsync_dir_fd(bd->dfd, bd->path, err) ||
             write_file_atomic(bd, BUNDLE_MANIFEST, manifest, len, 0600, err) ||
             write_file_atomic(bd, "config.json", c->env->config_text, c->env->config_len, 0600,
                               err) ||
             fsync_dir_fd(bd->dfd, bd->path, err);
    free(manifest);
    if (rc == 0) {
        remove_stale_files(c);
    }
    return rc ? -1 : 0;
}

/* ---- all together ---- */

static int plan(struct bundle_ctx *c, struct err *err)
{
    return inspect_current(c, err) || plan_rootfs(c, err) || plan_new_names(c, err) ||
                   check_targets(c, err) || read_old_manifest(c, err) || plan_carry(c, err)
               ? -1
               : 0;
}

/*
 * Under the lock, with leftovers recovered: check everything (refusals happen here, before
 * any write), stage the new bundle, switch, dispose of the stage (the old bundle after a
 * commit; the uncommitted new one, with carried entries put back, after a failure).
 */
static int write_locked(struct bundle_ctx *c, struct err *err)
{
    if (plan(c, err)) {
        return -1;
    }
    bool unsupported = false;
    int rc = stage_build(c, err) || stage_commit(c, &unsupported, err) ? -1 : 0;
    if (c->sfd >= 0) {
        close(c->sfd);
        c->sfd = -1;
    }
    /* After the commit a stage that cannot be removed only costs disk space (warned about);
     * before it, the stage may hold entries carried out of DIR, so we stop there. */
    if (c->stage[0] && stage_dispose(c, c->stage) != 0 && !c->committed) {
        char shown[PATH_MAX + NAME_MAX + 16];
        return err_set(err, ERR_IO, stage_path(c, NULL, shown, sizeof(shown)),
                       "the staged write could not be fully undone; the next write puts back "
                       "what is left (see the warnings above)");
    }
    if (!unsupported) {
        return rc;
    }
    fprintf(stderr, "ocirender: note: %s: %s; the bundle cannot be switched as a whole here, so "
            "its files are replaced one at a time\n", err_path(err), err_message(err));
    err_init(err);
    return write_per_file(c, err);
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
        return sys_err(err, rootfs, "--rootfs");
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

int bundle_write(const char *dir, const char *rootfs, struct bundle_envelope *env,
                 struct err *err)
{
    char path[PATH_MAX], target[PATH_MAX];
    if (bundle_abs_path(dir, path, sizeof(path), err) ||
        (rootfs && (rootfs_target(rootfs, target, err) || point_root_at(env, target, err))) ||
        (!rootfs && point_root_at_kept_link(path, env, target, err))) {
        return -1;
    }
    struct bundle_ctx c = {
        .cur = {.path = path, .pfd = -1, .dfd = -1},
        .base = strrchr(path, '/') + 1,
        .lockfd = -1,
        .sfd = -1,
        .target = rootfs ? target : NULL,
        .env = env,
    };
    int rc = open_parent(path, c.parent, sizeof(c.parent), &c.cur.pfd, err) ||
                     lock_bundle(&c, err)
                 ? -1
                 : 0;
    if (rc == 0) {
        recover_stages(&c);
        rc = write_locked(&c, err);
        unlock_bundle(&c);
    }
    ctx_release(&c);
    return rc;
}

int bundle_materialize_text(const char *text, size_t len, const char *dir, const char *rootfs,
                            bool *bad_envelope, struct err *err)
{
    struct bundle_envelope env;
    *bad_envelope = true;
    if (bundle_envelope_load(text, len, &env, err)) {
        return -1;
    }
    *bad_envelope = false;
    cli_print_warnings(env.warnings);
    int rc = bundle_write(dir, rootfs, &env, err);
    char path[PATH_MAX];
    if (rc == 0 && bundle_abs_path(dir, path, sizeof(path), NULL) == 0) {
        fprintf(stderr, "ocirender: bundle %s written (config %s%s, %zu other file%s)\n", path,
                env.digest, env.root_path_set ? ", root.path set to the real rootfs path" : "",
                json_object_size(env.files), json_object_size(env.files) == 1 ? "" : "s");
    }
    bundle_envelope_release(&env);
    return rc;
}
