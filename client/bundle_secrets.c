/*
 * Secrets as files (client/bundle.h): the envelope's `secret_files` are written into a
 * directory on a memory file system, outside the bundle, and the config's /run/secrets bind is
 * pointed at it. Layout:
 *
 *   ROOT/                       --secrets-dir (default BUNDLE_SECRETS_ROOT), 0700
 *   ROOT/<bundle id>/           one per bundle: "<DIR's name>-<16 hex of sha256(DIR)>", 0700
 *   ROOT/<bundle id>/<gen>/     one per write: the bind source; owned by the process user,
 *                               0500, the files in it 0400 (the envelope's mode)
 *
 * A write creates a new generation before the bundle is switched; after the switch every
 * other generation is deleted, and after a failure the new one is, so the bundle on disk and
 * the directory its config binds always go together. The manifest records ROOT/<bundle id>
 * so `ocirender remove` finds it even when ROOT changed. Nothing here deletes recursively
 * beyond that fixed depth, and only a directory named with this bundle's id.
 */
#define _GNU_SOURCE /* fstatfs, getrandom */
#include "client/bundle_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "common/digest.h"
#include "common/fileio.h"
#include "common/jsonx.h"
#include "common/sbuf.h"
#include "common/strutil.h"

#define SECRETS_DEST "/run/secrets"
#define SECRET_FILES_MAX 256
#define ID_NAME_MAX 64 /* bytes of DIR's name kept in the bundle id */

/* ---- the envelope member ---- */

static int check_id(const json_t *v, const char *name, const char *what, struct err *err)
{
    if (!json_is_integer(v) || json_integer_value(v) < 0 ||
        json_integer_value(v) > (json_int_t)UINT32_MAX - 1) {
        return err_set(err, ERR_SPEC_INVALID, "secret_files",
                       "secret file '%s': `%s` must be an integer from 0 to 4294967294", name,
                       what);
    }
    return 0;
}

/* A secret file lives alone in its directory: only a name that is not one is refused. */
static const char *secret_name_problem(const char *name)
{
    if (!name[0] || strlen(name) > NAME_MAX) {
        return "the name is empty or longer than 255 bytes";
    }
    if (strchr(name, '/') || strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
        return "the name is not a plain file name";
    }
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        if (*p < 0x20 || *p == 0x7f) {
            return "the name contains a control character";
        }
    }
    return NULL;
}

static int check_entry(const char *name, const json_t *e, struct err *err)
{
    const char *problem = secret_name_problem(name);
    if (problem) {
        return err_set(err, ERR_SPEC_INVALID, "secret_files", "refusing secret file '%s': %s",
                       name, problem);
    }
    if (!json_is_object(e) || !json_is_string(json_object_get(e, "value"))) {
        return err_set(err, ERR_SPEC_INVALID, "secret_files",
                       "secret file '%s' must be an object with a string `value`", name);
    }
    const json_t *mode = json_object_get(e, "mode");
    if (check_id(json_object_get(e, "uid"), name, "uid", err) ||
        check_id(json_object_get(e, "gid"), name, "gid", err)) {
        return -1;
    }
    /* Only the owner may ever read a secret: a mode for group or others is refused. */
    if (!json_is_integer(mode) || json_integer_value(mode) < 0 ||
        (json_integer_value(mode) & ~(json_int_t)0700) != 0) {
        return err_set(err, ERR_SPEC_INVALID, "secret_files",
                       "secret file '%s': `mode` must be an integer with owner bits only "
                       "(such as 256, which is 0400)",
                       name);
    }
    return 0;
}

/* The config's bind at /run/secrets, the one mount whose source the node chooses. */
static json_t *secrets_mount(const json_t *config)
{
    const json_t *mounts = json_object_get(config, "mounts");
    for (size_t i = json_array_size(mounts); i-- > 0;) {
        json_t *m = json_array_get(mounts, i);
        if (str_eq(jsonx_get_str(m, "destination"), SECRETS_DEST) &&
            str_eq(jsonx_get_str(m, "type"), "bind")) {
            return m;
        }
    }
    return NULL;
}

int bundle_secret_files_check(const json_t *secret_files, const json_t *config, struct err *err)
{
    if (!json_is_object(secret_files)) {
        return err_set(err, ERR_SPEC_INVALID, "secret_files",
                       "`secret_files` must be an object of {value, uid, gid, mode}");
    }
    if (json_object_size(secret_files) > SECRET_FILES_MAX) {
        return err_set(err, ERR_SPEC_INVALID, "secret_files", "more than %d secret files",
                       SECRET_FILES_MAX);
    }
    const char *name;
    json_t *e;
    json_object_foreach((json_t *)(uintptr_t)secret_files, name, e)
    {
        if (check_entry(name, e, err)) {
            return -1;
        }
    }
    if (json_object_size(secret_files) && !secrets_mount(config)) {
        return err_set(err, ERR_SPEC_INVALID, "config.mounts",
                       "the envelope has secret files but its config has no bind mount at "
                       SECRETS_DEST " to deliver them");
    }
    return 0;
}

/* ---- names ---- */

int bundle_secrets_id(const char *abs_dir, char *out, size_t size)
{
    char hex[65];
    if (digest_sha256_hex(abs_dir, strlen(abs_dir), hex)) {
        return -1;
    }
    const char *base = strrchr(abs_dir, '/');
    base = base ? base + 1 : abs_dir;
    int n = snprintf(out, size, "%.*s-%.16s", ID_NAME_MAX, base, hex);
    return n > 0 && (size_t)n < size ? 0 : -1;
}

/* The per-bundle directory for DIR under `root`. */
static int per_bundle_dir(const char *root, const char *abs_dir, char *out, size_t size)
{
    char id[ID_NAME_MAX + 32];
    if (bundle_secrets_id(abs_dir, id, sizeof(id))) {
        return -1;
    }
    int n = snprintf(out, size, "%s/%s", root, id);
    return n > 0 && (size_t)n < size ? 0 : -1;
}

/* Is `path` (from a manifest) this bundle's per-bundle directory? Only such a path is ever
 * deleted: an edited manifest cannot point the deletion anywhere else. */
static bool is_per_bundle_dir_of(const char *path, const char *abs_dir)
{
    char id[ID_NAME_MAX + 32];
    const char *slash = strrchr(path, '/');
    return path[0] == '/' && slash && slash != path && !strstr(path, "/../") &&
           bundle_secrets_id(abs_dir, id, sizeof(id)) == 0 && strcmp(slash + 1, id) == 0;
}

/* ---- deleting a per-bundle directory (fixed depth: generations of plain files) ---- */

static int remove_generation(int pdfd, const char *gen)
{
    int fd = openat(pdfd, gen, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        return errno == ENOTDIR || errno == ELOOP ? unlinkat(pdfd, gen, 0) : -1;
    }
    json_t *names = bundle_dir_entries(fd);
    int rc = names ? 0 : -1;
    const char *name;
    json_t *unused;
    json_object_foreach(names, name, unused)
    {
        if (unlinkat(fd, name, 0) != 0) {
            rc = -1; /* a directory inside a generation is not ours: it stays, and so do we */
        }
    }
    json_decref(names);
    close(fd);
    return rc == 0 ? unlinkat(pdfd, gen, AT_REMOVEDIR) : -1;
}

/* Delete the generations in `dir` but `keep` (may be NULL), then `dir` itself when nothing is
 * kept. Problems are warnings: a leftover costs memory, never correctness. */
static void remove_generations(const char *dir, const char *keep, json_t *warnings)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        if (errno != ENOENT) {
            bundle_warn_sys(warnings, dir, "cannot open the secrets directory to clean it");
        }
        return;
    }
    json_t *names = bundle_dir_entries(fd);
    const char *name;
    json_t *unused;
    json_object_foreach(names, name, unused)
    {
        if ((!keep || strcmp(name, keep) != 0) && remove_generation(fd, name) != 0) {
            char shown[PATH_MAX + NAME_MAX + 16];
            bundle_warn_sys(warnings, bundle_joined(shown, sizeof(shown), dir, name),
                            "cannot remove the old secret files");
        }
    }
    json_decref(names);
    close(fd);
    if (!keep && rmdir(dir) != 0 && errno != ENOENT) {
        bundle_warn_sys(warnings, dir, "cannot remove the secrets directory");
    }
}

/* ---- writing a generation ---- */

/* mkdir -p with 0700 for what it creates; an existing directory is used as it is. */
static int make_dirs(const char *path, struct err *err)
{
    char buf[PATH_MAX];
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *p = buf + 1;; p++) {
        if (*p != '/' && *p != '\0') {
            continue;
        }
        char saved = *p;
        *p = '\0';
        if (mkdir(buf, 0700) != 0 && errno != EEXIST) {
            return bundle_sys_err(err, buf, "cannot create the secrets directory");
        }
        *p = saved;
        if (!saved) {
            return 0;
        }
    }
}

/* Secret files live in memory only: a disk would keep them after a reboot or a removal. */
static int require_memory_fs(int fd, const char *shown, struct err *err)
{
    struct statfs sf;
    if (fstatfs(fd, &sf) != 0) {
        return bundle_sys_err(err, shown, "cannot tell which file system holds it");
    }
    if ((unsigned long)sf.f_type != (unsigned long)TMPFS_MAGIC &&
        (unsigned long)sf.f_type != (unsigned long)RAMFS_MAGIC) {
        return err_set(err, ERR_USAGE, shown,
                       "secret files are kept on a memory file system only, and this directory "
                       "is not on tmpfs or ramfs; choose one that is with --secrets-dir or "
                       "OCIRENDER_SECRETS_DIR (for example under /dev/shm or a tmpfs /run)");
    }
    return 0;
}

static int open_dir_nofollow(const char *path, struct err *err)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    return fd >= 0 ? fd : bundle_sys_err(err, path, "cannot open the secrets directory");
}

/* The host ids of a container id: the config's user namespace mapping, if it has one. */
static int host_id(const json_t *config, const char *list, uint32_t id, uint32_t *out)
{
    const json_t *maps = json_object_get(json_object_get(config, "linux"), list);
    if (json_array_size(maps) == 0) {
        *out = id;
        return 0;
    }
    for (size_t i = 0; i < json_array_size(maps); i++) {
        const json_t *m = json_array_get(maps, i);
        json_int_t c = json_integer_value(json_object_get(m, "containerID"));
        json_int_t h = json_integer_value(json_object_get(m, "hostID"));
        json_int_t n = json_integer_value(json_object_get(m, "size"));
        if ((json_int_t)id >= c && (json_int_t)id < c + n) {
            *out = (uint32_t)(h + ((json_int_t)id - c));
            return 0;
        }
    }
    return -1;
}

struct owner {
    uint32_t uid, gid;
};

static int file_owner(const json_t *config, const char *name, const json_t *e, struct owner *o,
                      struct err *err)
{
    uint32_t uid = (uint32_t)json_integer_value(json_object_get(e, "uid"));
    uint32_t gid = (uint32_t)json_integer_value(json_object_get(e, "gid"));
    if (host_id(config, "uidMappings", uid, &o->uid) ||
        host_id(config, "gidMappings", gid, &o->gid)) {
        return err_set(err, ERR_SPEC_INVALID, "secret_files",
                       "secret file '%s': owner %u:%u is outside the config's user namespace "
                       "mappings",
                       name, uid, gid);
    }
    return 0;
}

static int write_secret_file(int gfd, const char *gen_path, const char *name, const json_t *e,
                             const struct owner *o, struct err *err)
{
    char shown[PATH_MAX + NAME_MAX + 16];
    bundle_joined(shown, sizeof(shown), gen_path, name);
    const json_t *v = json_object_get(e, "value");
    mode_t mode = (mode_t)json_integer_value(json_object_get(e, "mode"));
    const char *step = NULL;
    if (file_write_new(gfd, name, json_string_value(v), json_string_length(v), mode, &step)) {
        return bundle_sys_err(err, shown, step);
    }
    if (fchownat(gfd, name, o->uid, o->gid, AT_SYMLINK_NOFOLLOW) != 0) {
        return bundle_sys_err(err, shown, "cannot give the secret file to the process user");
    }
    return 0;
}

/* A fresh generation name: 16 random hex digits, so that no two writes share one. */
static int generation_name(char *out, size_t size, struct err *err)
{
    uint64_t r;
    if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
        return bundle_sys_err(err, "getrandom", "cannot name the secrets directory");
    }
    snprintf(out, size, "%016llx", (unsigned long long)r);
    return 0;
}

/* Every file of the generation, then the directory handed to the process user (0500): until
 * then it is root's and private, so nobody sees a half-written set. */
static int fill_generation(const struct bundle_ctx *c, int gfd, const char *gen_path,
                           struct err *err)
{
    const json_t *config = json_object_get(c->env->root, "config");
    const char *name;
    json_t *e;
    struct owner o = {0}, dir_owner = {0};
    bool first = true, shared = true;
    json_object_foreach(c->env->secret_files, name, e)
    {
        if (file_owner(config, name, e, &o, err) ||
            write_secret_file(gfd, gen_path, name, e, &o, err)) {
            return -1;
        }
        shared = shared && (first || (o.uid == dir_owner.uid && o.gid == dir_owner.gid));
        dir_owner = first ? o : dir_owner;
        first = false;
    }
    /* Files of different owners (not something the renderer makes): a directory everyone can
     * enter but not list; each file is still readable by its owner alone. */
    if (!shared) {
        dir_owner = (struct owner){0, 0};
    }
    if (fchown(gfd, dir_owner.uid, dir_owner.gid) != 0 || fchmod(gfd, shared ? 0500 : 0711)) {
        return bundle_sys_err(err, gen_path, "cannot give the secrets directory to the process user");
    }
    return file_fsync_dir(gfd) == 0 ? 0
                                    : bundle_sys_err(err, gen_path, "cannot fsync the directory");
}

/* Point the config's /run/secrets bind at the generation. Like root.path, a local change made
 * after the digest was verified on the server's text. */
static int point_bind_at(struct bundle_envelope *env, const char *source, struct err *err)
{
    json_t *m = secrets_mount(json_object_get(env->root, "config"));
    if (!m || jsonx_set_str(m, "source", source)) {
        return err_nomem(err);
    }
    return bundle_envelope_refresh_text(env, err);
}

/* The per-bundle directory DIR's current manifest records, into c->secrets_old ("" none). */
static void read_recorded_dir(struct bundle_ctx *c)
{
    c->secrets_old[0] = '\0';
    if (c->cur.dfd >= 0 &&
        bundle_manifest_secrets_dir(c->cur.dfd, c->secrets_old, sizeof(c->secrets_old)) == 0 &&
        !is_per_bundle_dir_of(c->secrets_old, c->cur.path)) {
        c->secrets_old[0] = '\0';
    }
}

int bundle_secrets_write(struct bundle_ctx *c, struct err *err)
{
    read_recorded_dir(c);
    if (json_object_size(c->env->secret_files) == 0) {
        return 0;
    }
    if (per_bundle_dir(c->secrets_root, c->cur.path, c->secrets_dir, sizeof(c->secrets_dir))) {
        return err_set(err, ERR_USAGE, c->secrets_root, "the secrets directory path is too long");
    }
    int rfd = -1, bfd = -1, gfd = -1;
    char gen_path[PATH_MAX + 32];
    int rc = make_dirs(c->secrets_root, err) || (rfd = open_dir_nofollow(c->secrets_root, err)) < 0 ||
             require_memory_fs(rfd, c->secrets_root, err) ||
             (mkdirat(rfd, strrchr(c->secrets_dir, '/') + 1, 0700) != 0 && errno != EEXIST &&
              bundle_sys_err(err, c->secrets_dir, "cannot create the secrets directory")) ||
             (bfd = open_dir_nofollow(c->secrets_dir, err)) < 0 ||
             require_memory_fs(bfd, c->secrets_dir, err) ||
             generation_name(c->secrets_gen, sizeof(c->secrets_gen), err)
                 ? -1
                 : 0;
    if (rc == 0) {
        snprintf(gen_path, sizeof(gen_path), "%s/%s", c->secrets_dir, c->secrets_gen);
        if (mkdirat(bfd, c->secrets_gen, 0700) != 0) {
            c->secrets_gen[0] = '\0';
            rc = bundle_sys_err(err, gen_path, "cannot create the secrets directory");
        }
    }
    if (rc == 0) {
        gfd = openat(bfd, c->secrets_gen, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        rc = gfd < 0 ? bundle_sys_err(err, gen_path, "cannot open the secrets directory")
                     : fill_generation(c, gfd, gen_path, err) ||
                               bundle_fsync_dir(bfd, c->secrets_dir, err) ||
                               point_bind_at(c->env, gen_path, err)
                           ? -1
                           : 0;
    }
    int fds[] = {gfd, bfd, rfd};
    for (size_t i = 0; i < ARRAY_LEN(fds); i++) {
        if (fds[i] >= 0) {
            close(fds[i]);
        }
    }
    return rc;
}

void bundle_secrets_settle(const struct bundle_ctx *c, bool written)
{
    const char *gen = c->secrets_gen[0] ? c->secrets_gen : NULL;
    if (!written) {
        if (gen) {
            char shown[PATH_MAX + 32];
            int fd = open(c->secrets_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (fd < 0 || remove_generation(fd, gen) != 0) {
                snprintf(shown, sizeof(shown), "%s/%s", c->secrets_dir, gen);
                bundle_warn_sys(c->warnings, shown, "cannot remove the unused secret files");
            }
            if (fd >= 0) {
                close(fd);
            }
        }
        return;
    }
    /* The bundle now binds `gen` (or nothing): every other generation is stale. */
    if (c->secrets_dir[0]) {
        remove_generations(c->secrets_dir, gen, c->warnings);
    }
    if (c->secrets_old[0] && strcmp(c->secrets_old, c->secrets_dir) != 0) {
        remove_generations(c->secrets_old, NULL, c->warnings);
    }
}

void bundle_secrets_remove(const char *abs_dir, const char *recorded, const char *root,
                           json_t *warnings)
{
    char dir[PATH_MAX];
    if (recorded && recorded[0] && is_per_bundle_dir_of(recorded, abs_dir)) {
        remove_generations(recorded, NULL, warnings);
    }
    if (root && per_bundle_dir(root, abs_dir, dir, sizeof(dir)) == 0 &&
        !str_eq(dir, recorded)) {
        remove_generations(dir, NULL, warnings);
    }
}
