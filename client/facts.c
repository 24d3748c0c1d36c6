#define _GNU_SOURCE /* getpwuid_r, syscall */
#include "client/facts.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "client/cli.h"
#include "common/jsonx.h"
#include "common/sbuf.h"
#include "common/strutil.h"
#include "render/render.h"

#define CDI_FILE_MAX (4u << 20)
#define PASSWD_MAX (4u << 20)

static const char *const cdi_dirs[] = {"/etc/cdi", "/var/run/cdi"};

void facts_sources_default(struct facts_sources *src)
{
    memset(src, 0, sizeof(*src));
    src->root = "";
    src->uid = -1;
    src->gid = -1;
}

static void host_path(const struct facts_sources *src, const char *path, char *buf, size_t size)
{
    snprintf(buf, size, "%s%s", src->root ? src->root : "", path);
}

static int warn(json_t *warnings, const char *path, const char *fmt, ...) PRINTF(3, 4);
static int warn(json_t *warnings, const char *path, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return json_array_append_new(warnings, json_pack("{s:s, s:s}", "path", path, "message", msg));
}

/* ---- user and subordinate ids ---- */

int facts_subid_lookup(const char *path, const char *user, unsigned long uid,
                       unsigned long *start, unsigned long *count)
{
    FILE *f = fopen(path, "re");
    if (!f) {
        return -1;
    }
    char uidtext[24];
    snprintf(uidtext, sizeof(uidtext), "%lu", uid);
    char line[1024];
    int rc = -1;
    while (rc && fgets(line, sizeof(line), f)) {
        char *c1 = strchr(line, ':');
        char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2 || line[0] == '#') {
            continue;
        }
        *c1 = '\0';
        *c2 = '\0';
        if (!(user && strcmp(line, user) == 0) && strcmp(line, uidtext) != 0) {
            continue;
        }
        char *end;
        errno = 0;
        unsigned long s = strtoul(c1 + 1, &end, 10);
        bool ok_s = !errno && end != c1 + 1 && *end == '\0';
        unsigned long n = strtoul(c2 + 1, &end, 10);
        bool ok_n = !errno && end != c2 + 1 && (*end == '\n' || *end == '\0') && n > 0;
        if (ok_s && ok_n && s <= 0xffffffffUL && n <= 0xffffffffUL) {
            *start = s;
            *count = n;
            rc = 0;
        }
        /* A malformed matching line is skipped: a later valid line may still match. */
    }
    fclose(f);
    return rc;
}

static int user_facts(const struct facts_sources *src, json_t *facts)
{
    uid_t uid = src->uid >= 0 ? (uid_t)src->uid : geteuid();
    gid_t gid = src->gid >= 0 ? (gid_t)src->gid : getegid();
    char name[256] = "";
    if (src->user_name) {
        snprintf(name, sizeof(name), "%s", src->user_name);
    } else {
        struct passwd pw, *res = NULL;
        char buf[4096];
        if (getpwuid_r(uid, &pw, buf, sizeof(buf), &res) == 0 && res) {
            snprintf(name, sizeof(name), "%s", res->pw_name);
        }
    }
    json_t *user = json_pack("{s:I, s:I}", "uid", (json_int_t)uid, "gid", (json_int_t)gid);
    if (!user || (name[0] && jsonx_set_str(user, "name", name)) ||
        json_object_set_new(facts, "user", user)) {
        return -1;
    }
    const char *files[2] = {"/etc/subuid", "/etc/subgid"};
    const char *keys[2] = {"subuid", "subgid"};
    for (int i = 0; i < 2; i++) {
        char p[4096];
        unsigned long start, count;
        host_path(src, files[i], p, sizeof(p));
        if (facts_subid_lookup(p, name[0] ? name : NULL, uid, &start, &count) == 0 &&
            json_object_set_new(facts, keys[i], json_pack("{s:I, s:I}", "start", (json_int_t)start,
                                                         "count", (json_int_t)count))) {
            return -1;
        }
    }
    return 0;
}

/* ---- cgroups (read-only) ---- */

static int cgroup_facts(const struct facts_sources *src, json_t *facts)
{
    char p[4096];
    struct stat st;
    host_path(src, "/sys/fs/cgroup/cgroup.controllers", p, sizeof(p));
    int version = stat(p, &st) == 0 ? 2 : 1;
    json_t *cg = json_pack("{s:i}", "version", version);
    if (!cg || json_object_set_new(facts, "cgroup", cg)) {
        return -1;
    }
    host_path(src, "/proc/self/cgroup", p, sizeof(p));
    FILE *f = fopen(p, "re");
    if (!f) {
        return 0;
    }
    char line[4096], parent[4096] = "";
    while (fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\n")] = '\0';
        const char *path = NULL;
        if (version == 2 && str_has_prefix(line, "0::")) {
            path = line + 3;
        } else if (version == 1) {
            char *c1 = strchr(line, ':');
            char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
            if (c2 && strncmp(c1 + 1, "name=systemd", (size_t)(c2 - c1 - 1)) == 0) {
                path = c2 + 1;
            }
        }
        if (path) {
            snprintf(parent, sizeof(parent), "%s", path);
        }
    }
    fclose(f);
    if (parent[0] && strcmp(parent, "/") != 0 && jsonx_set_str(cg, "parent", parent)) {
        return -1;
    }
    return 0;
}

/* ---- devices, dirs, files ---- */

static int stat_device(const struct facts_sources *src, const char *path, json_t *devices)
{
    char p[4096];
    struct stat st;
    host_path(src, path, p, sizeof(p));
    if (stat(p, &st) != 0) {
        return 0; /* missing: the renderer warns and skips it */
    }
    const char *type = S_ISCHR(st.st_mode) ? "c" : S_ISBLK(st.st_mode) ? "b"
                                         : S_ISFIFO(st.st_mode) ? "p" : "u";
    json_t *d = json_pack("{s:s, s:s}", "path", path, "type", type);
    if (d && (type[0] == 'c' || type[0] == 'b')) {
        if (json_object_set_new(d, "major", json_integer((json_int_t)major(st.st_rdev))) ||
            json_object_set_new(d, "minor", json_integer((json_int_t)minor(st.st_rdev)))) {
            json_decref(d);
            return -1;
        }
    }
    if (!d || json_object_set_new(d, "mode", json_integer(st.st_mode & 07777)) ||
        json_object_set_new(d, "uid", json_integer(st.st_uid)) ||
        json_object_set_new(d, "gid", json_integer(st.st_gid)) ||
        json_array_append_new(devices, d)) {
        return -1;
    }
    return 0;
}

static int stat_paths(const struct facts_sources *src, const json_t *paths, bool dirs,
                      json_t *out)
{
    for (size_t i = 0; i < json_array_size(paths); i++) {
        const char *path = json_string_value(json_array_get(paths, i));
        char p[4096];
        struct stat st;
        host_path(src, path, p, sizeof(p));
        if (stat(p, &st) == 0 && (dirs ? S_ISDIR(st.st_mode) : S_ISREG(st.st_mode)) &&
            jsonx_append_str(out, path)) {
            return -1;
        }
    }
    return 0;
}

/* ---- CDI specs ---- */

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool cdi_file_name(const char *n)
{
    size_t len = strlen(n);
    return (len > 5 && strcmp(n + len - 5, ".json") == 0) ||
           (len > 5 && strcmp(n + len - 5, ".yaml") == 0) ||
           (len > 4 && strcmp(n + len - 4, ".yml") == 0);
}

static bool wanted_kind(const json_t *kinds, const char *kind)
{
    for (size_t i = 0; i < json_array_size(kinds); i++) {
        if (str_eq(json_string_value(json_array_get(kinds, i)), kind)) {
            return true;
        }
    }
    return false;
}

/* Device node paths a CDI spec needs stat()ed: hostPath, else path. */
static int cdi_node_paths(const json_t *spec, json_t *paths)
{
    const json_t *devices = json_object_get(spec, "devices");
    for (size_t i = 0; i <= json_array_size(devices); i++) {
        const json_t *edits = i == json_array_size(devices)
                                  ? json_object_get(spec, "containerEdits")
                                  : json_object_get(json_array_get(devices, i), "containerEdits");
        const json_t *nodes = json_object_get(edits, "deviceNodes");
        for (size_t j = 0; j < json_array_size(nodes); j++) {
            const json_t *n = json_array_get(nodes, j);
            const char *p = jsonx_get_str(n, "hostPath");
            p = p ? p : jsonx_get_str(n, "path");
            if (p && jsonx_append_str(paths, p)) {
                return -1;
            }
        }
    }
    return 0;
}

static int scan_cdi_dir(const struct facts_sources *src, int priority, const json_t *kinds,
                        json_t *cdi, json_t *node_paths, json_t *warnings)
{
    char dir[4096];
    host_path(src, cdi_dirs[priority], dir, sizeof(dir));
    DIR *d = opendir(dir);
    if (!d) {
        return 0;
    }
    char *names[1024];
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < sizeof(names) / sizeof(names[0])) {
        if (cdi_file_name(e->d_name)) {
            names[n] = strdup(e->d_name);
            if (!names[n]) {
                break;
            }
            n++;
        }
    }
    closedir(d);
    qsort(names, n, sizeof(names[0]), cmp_names);
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        char path[4096], full[8200];
        snprintf(path, sizeof(path), "%s/%s", cdi_dirs[priority], names[i]);
        snprintf(full, sizeof(full), "%s/%s", dir, names[i]);
        struct stat st;
        struct err err;
        err_init(&err);
        json_t *spec = NULL;
        if (rc == 0 && stat(full, &st) == 0 && S_ISREG(st.st_mode)) {
            spec = cli_load_json_file(full, &err);
            if (!spec) {
                rc = warn(warnings, path, "skipped unreadable CDI spec: %s", err_message(&err));
            }
        }
        if (spec && wanted_kind(kinds, jsonx_get_str(spec, "kind"))) {
            json_t *entry = json_pack("{s:i, s:s, s:O}", "priority", priority, "path", path,
                                      "spec", spec);
            if (!entry || json_array_append_new(cdi, entry) || cdi_node_paths(spec, node_paths)) {
                rc = -1;
            }
        }
        json_decref(spec);
        free(names[i]);
    }
    return rc;
}

/* ---- rootfs files ---- */

static int open_no_symlinks(int dirfd, const char *relpath)
{
    char buf[4096];
    snprintf(buf, sizeof(buf), "%s", relpath);
    int fd = dup(dirfd);
    char *save = NULL;
    for (char *part = strtok_r(buf, "/", &save); part && fd >= 0;
         part = strtok_r(NULL, "/", &save)) {
        if (strcmp(part, "..") == 0) {
            close(fd);
            errno = EPERM;
            return -1;
        }
        int next = openat(fd, part, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        close(fd);
        fd = next;
    }
    return fd;
}

char *facts_read_in_root(const char *rootfs, const char *relpath, size_t max, struct err *err)
{
    int root = open(rootfs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (root < 0) {
        err_set(err, ERR_IO, rootfs, "cannot open the rootfs: %s", strerror(errno));
        return NULL;
    }
    struct open_how how = {.flags = O_RDONLY | O_CLOEXEC, .resolve = RESOLVE_IN_ROOT};
    int fd = (int)syscall(SYS_openat2, root, relpath, &how, sizeof(how));
    if (fd < 0 && (errno == ENOSYS || errno == EPERM)) {
        fd = open_no_symlinks(root, relpath);
    }
    int saved = errno;
    close(root);
    if (fd < 0) {
        err_set(err, ERR_IO, relpath, "cannot open in the rootfs: %s", strerror(saved));
        return NULL;
    }
    struct sbuf b;
    sbuf_init(&b, max);
    char chunk[16384];
    ssize_t n;
    while ((n = read(fd, chunk, sizeof(chunk))) > 0) {
        if (sbuf_addn(&b, chunk, (size_t)n)) {
            close(fd);
            err_set(err, ERR_TOO_LARGE, relpath, "file is larger than %zu bytes", max);
            return NULL;
        }
    }
    close(fd);
    if (n < 0) {
        sbuf_free(&b);
        err_set(err, ERR_IO, relpath, "cannot read: %s", strerror(errno));
        return NULL;
    }
    return sbuf_take(&b, NULL);
}

static int rootfs_facts(const struct facts_sources *src, json_t *facts, struct err *err)
{
    if (!src->rootfs) {
        return 0;
    }
    json_t *r = json_object();
    if (!r || json_object_set_new(facts, "rootfs", r)) {
        return err_nomem(err);
    }
    const char *files[2][2] = {{"etc/passwd", "passwd"}, {"etc/group", "group"}};
    for (int i = 0; i < 2; i++) {
        struct err e;
        err_init(&e);
        char *text = facts_read_in_root(src->rootfs, files[i][0], PASSWD_MAX, &e);
        if (!text) {
            if (e.sys_errno == 0 && e.code == ERR_IO) {
                continue; /* an image without /etc/group is fine; names then fail to resolve */
            }
            continue;
        }
        int rc = jsonx_set_str(r, files[i][1], text);
        free(text);
        if (rc) {
            return err_nomem(err);
        }
    }
    return 0;
}

/* ---- all together ---- */

static int env_facts(const json_t *needs, json_t *facts)
{
    json_t *env = json_object();
    if (!env || json_object_set_new(facts, "env", env)) {
        return -1;
    }
    const json_t *names = json_object_get(needs, "env");
    for (size_t i = 0; i < json_array_size(names); i++) {
        const char *name = json_string_value(json_array_get(names, i));
        const char *v = getenv(name);
        if (v && jsonx_set_str(env, name, v)) {
            return -1;
        }
    }
    return 0;
}

json_t *facts_gather(const json_t *needs, const struct facts_sources *src, json_t **warnings,
                     struct err *err)
{
    json_t *facts = json_object();
    json_t *devices = json_array(), *dirs = json_array(), *files = json_array();
    json_t *cdi = json_array(), *paths = json_array();
    *warnings = json_array();
    if (!facts || !devices || !dirs || !files || !cdi || !paths || !*warnings ||
        user_facts(src, facts) || cgroup_facts(src, facts)) {
        goto nomem;
    }
    const json_t *kinds = json_object_get(needs, "cdi_kinds");
    if (json_array_size(kinds)) {
        for (int p = 0; p < 2; p++) {
            if (scan_cdi_dir(src, p, kinds, cdi, paths, *warnings)) {
                goto nomem;
            }
        }
    }
    if (json_array_extend(paths, json_object_get(needs, "devices"))) {
        goto nomem;
    }
    for (size_t i = 0; i < json_array_size(paths); i++) {
        const char *p = json_string_value(json_array_get(paths, i));
        bool seen = false;
        for (size_t j = 0; j < i; j++) {
            seen = seen || str_eq(p, json_string_value(json_array_get(paths, j)));
        }
        if (!seen && stat_device(src, p, devices)) {
            goto nomem;
        }
    }
    if (stat_paths(src, json_object_get(needs, "dirs"), true, dirs) ||
        stat_paths(src, json_object_get(needs, "files"), false, files) ||
        json_object_set(facts, "devices", devices) || json_object_set(facts, "dirs", dirs) ||
        json_object_set(facts, "files", files) ||
        (json_array_size(kinds) && json_object_set(facts, "cdi", cdi)) ||
        env_facts(needs, facts)) {
        goto nomem;
    }
    if (rootfs_facts(src, facts, err)) {
        goto fail;
    }
    json_decref(devices);
    json_decref(dirs);
    json_decref(files);
    json_decref(cdi);
    json_decref(paths);
    return facts;
nomem:
    err_nomem(err);
fail:
    json_decref(facts);
    json_decref(devices);
    json_decref(dirs);
    json_decref(files);
    json_decref(cdi);
    json_decref(paths);
    json_decref(*warnings);
    *warnings = NULL;
    return NULL;
}
