#define _GNU_SOURCE /* getpwuid_r, syscall, O_NOCTTY */
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
#include <strings.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "common/fileio.h"
#include "common/hostarch.h"
#include "common/jsonx.h"
#include "common/sbuf.h"
#include "common/strutil.h"
#include "render/render.h"

#define CDI_FILE_MAX (4u << 20)
#define PASSWD_MAX (4u << 20)
#define HOST_FILE_MAX (1u << 20) /* subuid, subgid, /proc/self/cgroup, fixture passwd */
#define HOST_PATH_MAX 4096

/* CDI's default spec dirs, lowest priority first (cncf-tags/container-device-interface). */
static const char *const cdi_default_dirs[] = {"/etc/cdi", "/var/run/cdi"};

void facts_sources_default(struct facts_sources *src)
{
    memset(src, 0, sizeof(*src));
    src->root = "";
    src->uid = -1;
    src->gid = -1;
    src->cdi_extra_dirs = getenv("CDI_SPEC_DIRS");
    src->wsl_distro = getenv("WSL_DISTRO_NAME");
}

/* <root><path>; false when it does not fit (the caller treats the path as absent). */
static bool host_path(const struct facts_sources *src, const char *path, char *buf, size_t size)
{
    int n = snprintf(buf, size, "%s%s", src->root ? src->root : "", path);
    return n >= 0 && (size_t)n < size;
}

static int warn(json_t *warnings, const char *path, const char *fmt, ...) PRINTF(3, 4);
static int warn(json_t *warnings, const char *path, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = jsonx_warning_addv(warnings, "HOST_FACTS", path, fmt, ap);
    va_end(ap);
    return rc;
}

static char *read_host_file(const char *path, size_t max, size_t *len)
{
    return file_read_path(path, max, FILE_READ_REGULAR, len);
}

/* Split off the next line of a NUL-terminated buffer (the '\n' becomes NUL). */
static char *next_line(char **cursor)
{
    char *line = *cursor;
    if (!line || !*line) {
        return NULL;
    }
    char *nl = strchr(line, '\n');
    if (nl) {
        *nl = '\0';
        *cursor = nl + 1;
    } else {
        *cursor = line + strlen(line);
    }
    size_t n = strlen(line);
    if (n && line[n - 1] == '\r') {
        line[n - 1] = '\0';
    }
    return line;
}

/* Kernel releases, distro names and cgroup types are short printable ASCII; anything else is
 * no fact. */
static bool printable_ascii(const char *s)
{
    for (; *s; s++) {
        if (*s < 0x21 || *s > 0x7e) {
            return false;
        }
    }
    return true;
}

/* ---- user and subordinate ids ---- */

/* "name:start:count" with plain decimal numbers, 1 <= count, start + count <= 2^32. */
static bool subid_parse(char *line, char **name, unsigned long *start, unsigned long *count)
{
    char *c1 = strchr(line, ':');
    char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
    if (!c2 || strchr(c2 + 1, ':')) {
        return false;
    }
    *c1 = '\0';
    *c2 = '\0';
    uint64_t s, n;
    if (!line[0] || str_to_u64(c1 + 1, &s) || str_to_u64(c2 + 1, &n) || n == 0 ||
        s > 0xffffffffULL || n > 0x100000000ULL - s) {
        return false;
    }
    *name = line;
    *start = (unsigned long)s;
    *count = (unsigned long)n;
    return true;
}

/* A line that mentions the user but does not parse is reported; others are not our business. */
static bool line_names_user(const char *line, const char *user, const char *uidtext)
{
    size_t n = strcspn(line, ":");
    return (user && strlen(user) == n && strncmp(line, user, n) == 0) ||
           (strlen(uidtext) == n && strncmp(line, uidtext, n) == 0);
}

static int subid_lookup(const char *path, const char *shown, const char *user, unsigned long uid,
                        unsigned long *start, unsigned long *count, json_t *warnings)
{
    char *text = read_host_file(path, HOST_FILE_MAX, NULL);
    if (!text) {
        return -1;
    }
    char uidtext[24];
    snprintf(uidtext, sizeof(uidtext), "%lu", uid);
    int rc = -1;
    unsigned lineno = 0;
    char *cursor = text, *line;
    while (rc && (line = next_line(&cursor))) {
        lineno++;
        if (line[0] == '#' || line[0] == '\0') {
            continue;
        }
        bool mine = line_names_user(line, user, uidtext);
        char *name;
        unsigned long s, n;
        if (!subid_parse(line, &name, &s, &n)) {
            if (mine) {
                warn(warnings, shown, "line %u is malformed (expected NAME:START:COUNT), skipped",
                     lineno);
            }
            continue;
        }
        if ((user && strcmp(name, user) == 0) || strcmp(name, uidtext) == 0) {
            *start = s;
            *count = n;
            rc = 0;
        }
    }
    free(text);
    return rc;
}

int facts_subid_lookup(const char *path, const char *user, unsigned long uid,
                       unsigned long *start, unsigned long *count)
{
    return subid_lookup(path, path, user, uid, start, count, NULL);
}

/* The passwd name of `uid` from a passwd-format file (fixture roots). */
static void name_from_passwd_file(const char *path, uid_t uid, char *name, size_t size)
{
    char *text = read_host_file(path, HOST_FILE_MAX, NULL);
    char *cursor = text, *line;
    while (text && (line = next_line(&cursor))) {
        char *c1 = strchr(line, ':');
        char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        char *c3 = c2 ? strchr(c2 + 1, ':') : NULL;
        uint32_t u;
        if (!c3) {
            continue;
        }
        *c1 = '\0';
        *c3 = '\0';
        if (str_to_u32(c2 + 1, &u) == 0 && u == uid) {
            snprintf(name, size, "%s", line);
            break;
        }
    }
    free(text);
}

static void user_name(const struct facts_sources *src, uid_t uid, char *name, size_t size)
{
    name[0] = '\0';
    if (src->user_name) {
        snprintf(name, size, "%s", src->user_name);
        return;
    }
    if (src->root && src->root[0]) {
        char p[HOST_PATH_MAX];
        if (host_path(src, "/etc/passwd", p, sizeof(p))) {
            name_from_passwd_file(p, uid, name, size);
        }
        return;
    }
    long bufsize = sysconf(_SC_GETPW_R_SIZE_MAX);
    size_t n = bufsize > 0 ? (size_t)bufsize : 16384;
    char *buf = malloc(n);
    struct passwd pw, *res = NULL;
    if (buf && getpwuid_r(uid, &pw, buf, n, &res) == 0 && res) {
        snprintf(name, size, "%s", res->pw_name);
    }
    free(buf);
}

static int user_facts(const struct facts_sources *src, json_t *facts, json_t *warnings)
{
    uid_t uid = src->uid >= 0 ? (uid_t)src->uid : geteuid();
    gid_t gid = src->gid >= 0 ? (gid_t)src->gid : getegid();
    char name[256];
    user_name(src, uid, name, sizeof(name));
    json_t *user = json_pack("{s:I, s:I}", "uid", (json_int_t)uid, "gid", (json_int_t)gid);
    if (!user || (name[0] && jsonx_set_str(user, "name", name)) ||
        json_object_set_new(facts, "user", user)) {
        return -1;
    }
    static const char *const files[2] = {"/etc/subuid", "/etc/subgid"};
    static const char *const keys[2] = {"subuid", "subgid"};
    for (int i = 0; i < 2; i++) {
        char p[HOST_PATH_MAX];
        unsigned long start, count;
        if (host_path(src, files[i], p, sizeof(p)) &&
            subid_lookup(p, files[i], name[0] ? name : NULL, uid, &start, &count, warnings) == 0 &&
            json_object_set_new(facts, keys[i], json_pack("{s:I, s:I}", "start", (json_int_t)start,
                                                         "count", (json_int_t)count))) {
            return -1;
        }
    }
    return 0;
}

/* ---- cgroups (read-only: /proc/self/cgroup and the cgroup's files under /sys/fs/cgroup) ---- */

#define CGROUP_HIERARCHIES_MAX 16
#define CGROUP_HIERARCHY_NAME_MAX 64

/* Said with every omitted parent: what happens instead and how to choose one. */
#define PARENT_OMITTED                                                                            \
    "host.cgroup.parent omitted, the runtime's default applies; set cgroup_parent in the spec "  \
    "or --cgroup-parent on the server"

/*
 * The cgroup chosen as parent and where to find it: the hierarchy directories under
 * /sys/fs/cgroup it was read from ("" is /sys/fs/cgroup itself, the v2 hierarchy).
 */
struct cgroup_pick {
    char path[HOST_PATH_MAX]; /* "" when none applies */
    bool disagree;            /* v1 controllers in different cgroups and no name=systemd */
    char hierarchies[CGROUP_HIERARCHIES_MAX][CGROUP_HIERARCHY_NAME_MAX];
    size_t n_hierarchies;
    bool hierarchies_overflow; /* more than fit: cannot be checked */
};

/* Does the comma-separated controller list `list` (length n) contain `want`? */
static bool has_controller(const char *list, size_t n, const char *want)
{
    size_t wl = strlen(want);
    const char *p = list, *end = list + n;
    while (p < end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        size_t len = comma ? (size_t)(comma - p) : (size_t)(end - p);
        if (len == wl && strncmp(p, want, wl) == 0) {
            return true;
        }
        p += len + 1;
    }
    return false;
}

/*
 * Where systemd mounts a v1 hierarchy: /sys/fs/cgroup/<controllers as listed> ("cpu,cpuacct"),
 * /sys/fs/cgroup/<name> for a named one ("name=systemd" is "systemd").
 */
static void add_hierarchy(struct cgroup_pick *pick, const char *list, size_t n)
{
    if (n > 5 && strncmp(list, "name=", 5) == 0) {
        list += 5;
        n -= 5;
    }
    if (pick->n_hierarchies == CGROUP_HIERARCHIES_MAX || n >= CGROUP_HIERARCHY_NAME_MAX) {
        pick->hierarchies_overflow = true;
        return;
    }
    snprintf(pick->hierarchies[pick->n_hierarchies++], CGROUP_HIERARCHY_NAME_MAX, "%.*s", (int)n,
             list);
}

static void pick_one(struct cgroup_pick *pick, const char *path, const char *hierarchy)
{
    snprintf(pick->path, sizeof(pick->path), "%s", path);
    pick->n_hierarchies = 0;
    pick->hierarchies_overflow = false;
    add_hierarchy(pick, hierarchy, strlen(hierarchy));
}

/*
 * The cgroup this process runs in. v2: the "0::" line. v1/hybrid: the name=systemd hierarchy
 * (what systemd and runc's systemd driver use), else the unified "0::" line of a hybrid host,
 * else the path the controller hierarchies agree on.
 */
static void cgroup_parent(char *text, int version, struct cgroup_pick *pick)
{
    char systemd[HOST_PATH_MAX] = "", systemd_h[CGROUP_HIERARCHY_NAME_MAX] = "";
    char unified[HOST_PATH_MAX] = "", common[HOST_PATH_MAX] = "";
    bool have_unified = false, have_systemd = false, mixed = false, any = false;
    struct cgroup_pick controllers = {0};
    char *cursor = text, *line;
    while ((line = next_line(&cursor))) {
        char *c1 = strchr(line, ':');
        char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2) {
            continue;
        }
        const char *path = c2 + 1;
        size_t clen = (size_t)(c2 - c1 - 1);
        if (clen == 0 && strncmp(line, "0:", 2) == 0) {
            snprintf(unified, sizeof(unified), "%s", path);
            have_unified = true;
        } else if (has_controller(c1 + 1, clen, "name=systemd")) {
            snprintf(systemd, sizeof(systemd), "%s", path);
            snprintf(systemd_h, sizeof(systemd_h), "%s", "systemd");
            have_systemd = true;
        } else if (clen > 0) {
            if (!any) {
                snprintf(common, sizeof(common), "%s", path);
                any = true;
            } else if (strcmp(common, path) != 0) {
                mixed = true;
            }
            add_hierarchy(&controllers, c1 + 1, clen);
        }
    }
    memset(pick, 0, sizeof(*pick));
    if (version == 2) {
        pick_one(pick, have_unified ? unified : "", "");
    } else if (have_systemd) {
        pick_one(pick, systemd, systemd_h);
    } else if (have_unified) {
        pick_one(pick, unified, "unified"); /* a hybrid host's cgroup2 mount */
    } else if (any && !mixed) {
        *pick = controllers;
        snprintf(pick->path, sizeof(pick->path), "%s", common);
    } else if (mixed) {
        pick->disagree = true;
    }
}

/* /sys/fs/cgroup[/<hierarchy>]<cgroup>[/<file>], as shown in warnings (no host root). */
static bool cgroup_file(const char *hierarchy, const char *cgroup, const char *file, char *buf,
                        size_t size)
{
    if (strchr(hierarchy, '/') || strcmp(hierarchy, ".") == 0 || strcmp(hierarchy, "..") == 0) {
        return false; /* not a mount directory name: nothing of ours to look at */
    }
    int n = snprintf(buf, size, "/sys/fs/cgroup%s%s%s%s%s", hierarchy[0] ? "/" : "", hierarchy,
                     strcmp(cgroup, "/") == 0 ? "" : cgroup, file ? "/" : "", file ? file : "");
    return n >= 0 && (size_t)n < size;
}

/* Is <hierarchy><cgroup> a directory? If not, a warning says so; -1 only on OOM. */
static int cgroup_dir_exists(const struct facts_sources *src, const char *hierarchy,
                             const char *cgroup, bool *ok, json_t *warnings)
{
    char shown[HOST_PATH_MAX], p[HOST_PATH_MAX];
    *ok = false;
    if (!cgroup_file(hierarchy, cgroup, NULL, shown, sizeof(shown))) {
        return warn(warnings, "/proc/self/cgroup",
                    "cgroup %s: its hierarchy '%s' names no directory under /sys/fs/cgroup: %s",
                    cgroup, hierarchy, PARENT_OMITTED);
    }
    struct stat st;
    const char *why = NULL;
    if (!host_path(src, shown, p, sizeof(p))) {
        why = "path too long";
    } else if (stat(p, &st) != 0) {
        why = errno == ENOENT ? "it does not exist" : strerror(errno);
    } else if (!S_ISDIR(st.st_mode)) {
        why = "not a directory";
    }
    if (why) {
        return warn(warnings, shown, "cgroup %s cannot be used there (%s): %s", cgroup, why,
                    PARENT_OMITTED);
    }
    *ok = true;
    return 0;
}

/* A v2 cgroup's type: only a "domain" cgroup can have the domain child a container needs
 * (threaded subtrees hold threads, not containers). Absent file (old kernel): fine. */
static int cgroup_v2_type_ok(const struct facts_sources *src, const char *cgroup, bool *ok,
                             json_t *warnings)
{
    char shown[HOST_PATH_MAX], p[HOST_PATH_MAX];
    *ok = true;
    if (!cgroup_file("", cgroup, "cgroup.type", shown, sizeof(shown)) ||
        !host_path(src, shown, p, sizeof(p))) {
        return 0;
    }
    char *type = read_host_file(p, HOST_FILE_MAX, NULL);
    if (!type) {
        return 0;
    }
    type[strcspn(type, "\r\n")] = '\0';
    int rc = 0;
    if (strcmp(type, "domain") != 0) {
        *ok = false;
        rc = warn(warnings, shown,
                  "cgroup %s is of type '%.40s' (only a domain cgroup can hold a container's "
                  "cgroup): %s",
                  cgroup, printable_ascii(type) ? type : "(unprintable)", PARENT_OMITTED);
    }
    free(type);
    return rc;
}

/* The count of pids in a cgroup.procs text: one decimal number a line. */
static size_t count_pids(const char *text)
{
    size_t n = 0;
    for (const char *p = text; *p;) {
        size_t len = strcspn(p, "\n");
        if (strspn(p, " \t\r") < len) {
            n++;
        }
        p += len + (p[len] == '\n');
    }
    return n;
}

/*
 * cgroup v2's "no internal processes" rule: a non-root cgroup with processes in cgroup.procs
 * cannot enable controllers for child cgroups, so the runtime cannot create the container's
 * cgroup under it. ocirender's own process counts: it is in this cgroup while it reads it, and
 * so are, as a rule, the agent that started it and the runtime that follows.
 */
static int cgroup_v2_empty(const struct facts_sources *src, const char *cgroup, bool *ok,
                           json_t *warnings)
{
    char shown[HOST_PATH_MAX], p[HOST_PATH_MAX];
    *ok = false;
    if (!cgroup_file("", cgroup, "cgroup.procs", shown, sizeof(shown)) ||
        !host_path(src, shown, p, sizeof(p))) {
        return warn(warnings, "/proc/self/cgroup", "cgroup %s: path too long: %s", cgroup,
                    PARENT_OMITTED);
    }
    char *procs = read_host_file(p, HOST_FILE_MAX, NULL);
    if (!procs && errno != EFBIG) {
        return warn(warnings, shown, "cannot read it (%s), so whether cgroup %s holds processes "
                    "is unknown: %s",
                    errno == EINVAL ? "not a regular file" : strerror(errno), cgroup,
                    PARENT_OMITTED);
    }
    bool read_whole = procs != NULL; /* else too large to read: many processes */
    size_t n = read_whole ? count_pids(procs) : 0;
    free(procs);
    if (read_whole && n == 0) {
        *ok = true;
        return 0;
    }
    char count[48];
    if (read_whole) {
        snprintf(count, sizeof(count), "%zu process%s", n, n == 1 ? "" : "es");
    } else {
        snprintf(count, sizeof(count), "more processes than fit in %u bytes", HOST_FILE_MAX);
    }
    return warn(warnings, shown,
                "cgroup %s holds %s (cgroup v2 allows no child cgroups with controllers in a "
                "cgroup that holds processes): %s",
                cgroup, count, PARENT_OMITTED);
}

/*
 * Can `pick` hold the container's cgroup? v2: the cgroup is a directory under /sys/fs/cgroup,
 * of type domain, with no processes. v1/hybrid (no internal-process rule): it is a directory in
 * every hierarchy its path was read from. Each "no" leaves a warning that says why.
 */
static int cgroup_parent_usable(const struct facts_sources *src, int version,
                                const struct cgroup_pick *pick, bool *ok, json_t *warnings)
{
    *ok = false;
    if (pick->hierarchies_overflow) {
        return warn(warnings, "/proc/self/cgroup",
                    "cgroup %s: too many or too long hierarchy names to check: %s", pick->path,
                    PARENT_OMITTED);
    }
    for (size_t i = 0; i < pick->n_hierarchies; i++) {
        if (cgroup_dir_exists(src, pick->hierarchies[i], pick->path, ok, warnings)) {
            return -1;
        }
        if (!*ok) {
            return 0;
        }
    }
    if (version != 2) {
        return 0;
    }
    if (cgroup_v2_type_ok(src, pick->path, ok, warnings)) {
        return -1;
    }
    return *ok ? cgroup_v2_empty(src, pick->path, ok, warnings) : 0;
}

static int cgroup_facts(const struct facts_sources *src, json_t *facts, json_t *warnings)
{
    char p[HOST_PATH_MAX];
    struct stat st;
    int version = host_path(src, "/sys/fs/cgroup/cgroup.controllers", p, sizeof(p)) &&
                          stat(p, &st) == 0
                      ? 2
                      : 1;
    json_t *cg = json_pack("{s:i}", "version", version);
    if (!cg || json_object_set_new(facts, "cgroup", cg)) {
        return -1;
    }
    char *text = host_path(src, "/proc/self/cgroup", p, sizeof(p))
                     ? read_host_file(p, HOST_FILE_MAX, NULL)
                     : NULL;
    if (!text) {
        return warn(warnings, "/proc/self/cgroup", "cannot read it (%s): no cgroup parent",
                    strerror(errno));
    }
    struct cgroup_pick *pick = malloc(sizeof(*pick));
    if (!pick) {
        free(text);
        return -1;
    }
    cgroup_parent(text, version, pick);
    free(text);
    int rc = 0;
    bool ok = false;
    if (pick->disagree) {
        rc = warn(warnings, "/proc/self/cgroup",
                  "the cgroup v1 hierarchies place this process in different cgroups and there "
                  "is no name=systemd hierarchy: no cgroup parent");
    } else if (pick->path[0] != '/' || strstr(pick->path, "/..") ||
               strstr(pick->path, " (deleted)")) {
        /* Outside our cgroup namespace, or gone: no usable parent. */
        rc = pick->path[0] ? warn(warnings, "/proc/self/cgroup",
                                  "cgroup path '%s' is not usable as a parent", pick->path)
                           : 0;
    } else if (strcmp(pick->path, "/") != 0) {
        /* The root is no parent: cgroupsPath then comes from the spec, the server setting or
         * the runtime's default, which for the root is the same place. */
        rc = cgroup_parent_usable(src, version, pick, &ok, warnings);
        if (rc == 0 && ok) {
            rc = jsonx_set_str(cg, "parent", pick->path);
        }
    }
    free(pick);
    return rc;
}

/* ---- WSL2 (docs/wsl2.md) ---- */

/*
 * WSL2 kernels, Microsoft's and custom builds of its tree, call themselves
 * "<version>-microsoft-standard[-WSL2]"; WSL1 reports "<version>-Microsoft" and runs no Linux
 * containers (no namespaces or cgroups of its own).
 */
static bool wsl2_release(const char *release)
{
    size_t n = strlen(release);
    return strcasestr(release, "microsoft-standard") != NULL ||
           (n >= 5 && strcasecmp(release + n - 5, "-WSL2") == 0);
}

/* /dev/dxg, the paravirtual GPU: its numbers when it is a character device. */
static int wsl_dxg(const struct facts_sources *src, json_t *wsl, json_t *warnings)
{
    char p[HOST_PATH_MAX];
    struct stat st;
    if (!host_path(src, "/dev/dxg", p, sizeof(p)) || stat(p, &st) != 0) {
        return 0; /* no GPU support in this distro: the renderer says so if a GPU is asked for */
    }
    if (!S_ISCHR(st.st_mode)) {
        return warn(warnings, "/dev/dxg", "not a character device, not reported");
    }
    return json_object_set_new(wsl, "dxg",
                               json_pack("{s:I, s:I}", "major", (json_int_t)major(st.st_rdev),
                                         "minor", (json_int_t)minor(st.st_rdev)));
}

static int wsl_lib_dirs(const struct facts_sources *src, json_t *wsl)
{
    static const char *const dirs[] = {"/usr/lib/wsl/lib", "/usr/lib/wsl/drivers"};
    json_t *present = json_array();
    if (!present || json_object_set_new(wsl, "lib_dirs", present)) {
        return -1;
    }
    for (size_t i = 0; i < ARRAY_LEN(dirs); i++) {
        char p[HOST_PATH_MAX];
        struct stat st;
        if (host_path(src, dirs[i], p, sizeof(p)) && stat(p, &st) == 0 && S_ISDIR(st.st_mode) &&
            jsonx_append_str(present, dirs[i])) {
            return -1;
        }
    }
    return 0;
}

/* host.wsl on a WSL2 node; nothing at all elsewhere. -1 only on OOM. */
static int wsl_facts(const struct facts_sources *src, json_t *facts, json_t *warnings)
{
    static const char osrelease[] = "/proc/sys/kernel/osrelease";
    char p[HOST_PATH_MAX];
    char *release = host_path(src, osrelease, p, sizeof(p))
                        ? read_host_file(p, HOST_FILE_MAX, NULL)
                        : NULL;
    if (!release) {
        return 0;
    }
    release[strcspn(release, "\r\n")] = '\0';
    int rc = 0;
    if (!release[0] || !printable_ascii(release) || !wsl2_release(release)) {
        if (strcasestr(release, "microsoft")) {
            rc = warn(warnings, osrelease,
                      "kernel '%.100s' is not a WSL2 kernel (WSL1 runs no Linux containers): no "
                      "WSL facts reported",
                      printable_ascii(release) ? release : "(unprintable)");
        }
        free(release);
        return rc;
    }
    json_t *wsl = json_object();
    if (!wsl || json_object_set_new(facts, "wsl", wsl) || jsonx_set_str(wsl, "kernel", release)) {
        free(release);
        return -1;
    }
    free(release);
    const char *distro = src->wsl_distro;
    if (distro && distro[0] && !printable_ascii(distro)) {
        rc = warn(warnings, "WSL_DISTRO_NAME", "not printable ASCII, not reported");
    } else if (distro && distro[0]) {
        rc = jsonx_set_str(wsl, "distro", distro);
    }
    if (rc || wsl_dxg(src, wsl, warnings) || wsl_lib_dirs(src, wsl)) {
        return -1;
    }
    return 0;
}

/* ---- devices, dirs, files ---- */

static int stat_device(const struct facts_sources *src, const char *path, json_t *devices,
                       json_t *warnings)
{
    char p[HOST_PATH_MAX];
    struct stat st;
    if (!host_path(src, path, p, sizeof(p)) || stat(p, &st) != 0) {
        return 0; /* missing: the renderer warns and skips it */
    }
    const char *type = S_ISCHR(st.st_mode)    ? "c"
                       : S_ISBLK(st.st_mode)  ? "b"
                       : S_ISFIFO(st.st_mode) ? "p"
                                              : NULL;
    if (!type) {
        return warn(warnings, path, "not a device node, not reported");
    }
    json_t *d = json_pack("{s:s, s:s}", "path", path, "type", type);
    if (!d) {
        return -1;
    }
    if ((type[0] == 'c' || type[0] == 'b') &&
        (json_object_set_new(d, "major", json_integer((json_int_t)major(st.st_rdev))) ||
         json_object_set_new(d, "minor", json_integer((json_int_t)minor(st.st_rdev))))) {
        json_decref(d);
        return -1;
    }
    if (json_object_set_new(d, "mode", json_integer(st.st_mode & 07777)) ||
        json_object_set_new(d, "uid", json_integer(st.st_uid)) ||
        json_object_set_new(d, "gid", json_integer(st.st_gid))) {
        json_decref(d);
        return -1;
    }
    return json_array_append_new(devices, d);
}

static int stat_paths(const struct facts_sources *src, const json_t *paths, bool dirs,
                      json_t *out)
{
    for (size_t i = 0; i < json_array_size(paths); i++) {
        const char *path = json_string_value(json_array_get(paths, i));
        char p[HOST_PATH_MAX];
        struct stat st;
        if (path && host_path(src, path, p, sizeof(p)) && stat(p, &st) == 0 &&
            (dirs ? S_ISDIR(st.st_mode) : S_ISREG(st.st_mode)) && jsonx_append_str(out, path)) {
            return -1;
        }
    }
    return 0;
}

/* ---- CDI specs ---- */

struct name_list {
    char **v;
    size_t n, cap;
};

static void name_list_free(struct name_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i]);
    }
    free(l->v);
    memset(l, 0, sizeof(*l));
}

static int name_list_add(struct name_list *l, const char *name)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 16;
        char **v = realloc(l->v, cap * sizeof(*v));
        if (!v) {
            return -1;
        }
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n] = strdup(name);
    if (!l->v[l->n]) {
        return -1;
    }
    l->n++;
    return 0;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The CDI library reads *.json and *.yaml files only (no recursion). */
static bool cdi_file_name(const char *n)
{
    size_t len = strlen(n);
    return len > 5 && (strcmp(n + len - 5, ".json") == 0 || strcmp(n + len - 5, ".yaml") == 0);
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

/* Validate an entry with the renderer's own CDI rules (so a broken spec is skipped here, as
 * the CDI library skips it, instead of failing the whole render on the server). Errors are
 * named as the server would name the first host.cdi entry. */
static int cdi_entry_check(const json_t *entry, struct err *err)
{
    return render_cdi_entry_check(entry, "host.cdi[0]", err);
}

static json_t *load_cdi_file(const char *full, struct err *err)
{
    size_t len;
    char *text = read_host_file(full, CDI_FILE_MAX, &len);
    if (!text) {
        err_set(err, ERR_IO, NULL, "%s", errno == EINVAL ? "not a regular file" : strerror(errno));
        return NULL;
    }
    json_t *spec = render_load_document(text, len, RENDER_FMT_AUTO, err);
    free(text);
    return spec;
}

struct cdi_scan {
    const struct facts_sources *src;
    const json_t *kinds;
    json_t *cdi;        /* the entries */
    json_t *node_paths; /* device paths the entries need */
    json_t *warnings;
};

/* One candidate file: load, keep when of a wanted kind and valid. -1 only on OOM. */
static int scan_cdi_file(struct cdi_scan *s, int priority, const char *shown, const char *full)
{
    struct err e;
    err_init(&e);
    json_t *spec = load_cdi_file(full, &e);
    if (!spec) {
        return warn(s->warnings, shown, "skipped CDI spec: %s%s%s", err_path(&e),
                    err_path(&e)[0] ? ": " : "", err_message(&e));
    }
    int rc = 0;
    if (wanted_kind(s->kinds, jsonx_get_str(spec, "kind"))) {
        json_t *entry = json_pack("{s:i, s:s, s:O}", "priority", priority, "path", shown, "spec",
                                  spec);
        if (!entry) {
            rc = -1;
        } else if (cdi_entry_check(entry, &e)) {
            rc = e.code == ERR_NOMEM ? -1
                                     : warn(s->warnings, shown, "skipped invalid CDI spec: %s%s%s",
                                            err_path(&e), err_path(&e)[0] ? ": " : "",
                                            err_message(&e));
            json_decref(entry);
        } else if (json_array_append_new(s->cdi, entry) || cdi_node_paths(spec, s->node_paths)) {
            rc = -1;
        }
    }
    json_decref(spec);
    return rc;
}

static int scan_cdi_dir(struct cdi_scan *s, int priority, const char *dirpath)
{
    char dir[HOST_PATH_MAX];
    if (!host_path(s->src, dirpath, dir, sizeof(dir))) {
        return warn(s->warnings, dirpath, "path too long, skipped");
    }
    DIR *d = opendir(dir);
    if (!d) {
        return errno == ENOENT ? 0
                               : warn(s->warnings, dirpath, "cannot read the CDI directory: %s",
                                      strerror(errno));
    }
    struct name_list names = {0};
    struct dirent *e;
    int rc = 0;
    while (rc == 0 && (e = readdir(d))) {
        if (cdi_file_name(e->d_name)) {
            rc = name_list_add(&names, e->d_name);
        }
    }
    closedir(d);
    if (names.n) {
        qsort(names.v, names.n, sizeof(names.v[0]), cmp_names);
    }
    for (size_t i = 0; rc == 0 && i < names.n; i++) {
        char shown[HOST_PATH_MAX], full[2 * HOST_PATH_MAX];
        snprintf(shown, sizeof(shown), "%s/%s", dirpath, names.v[i]);
        snprintf(full, sizeof(full), "%s/%s", dir, names.v[i]);
        struct stat st;
        if (stat(full, &st) == 0 && S_ISDIR(st.st_mode)) {
            continue; /* the CDI library does not recurse */
        }
        rc = scan_cdi_file(s, priority, shown, full);
    }
    name_list_free(&names);
    return rc;
}

/* Default dirs, then each absolute entry of the extra list, in increasing priority. */
static int scan_cdi(struct cdi_scan *s)
{
    int priority = 0;
    for (size_t i = 0; i < ARRAY_LEN(cdi_default_dirs); i++) {
        if (scan_cdi_dir(s, priority++, cdi_default_dirs[i])) {
            return -1;
        }
    }
    const char *p = s->src->cdi_extra_dirs;
    while (p && *p) {
        size_t n = strcspn(p, ":");
        if (n > 0) {
            char dir[HOST_PATH_MAX];
            snprintf(dir, sizeof(dir), "%.*s", (int)(n < sizeof(dir) ? n : sizeof(dir) - 1), p);
            int rc = dir[0] == '/' ? scan_cdi_dir(s, priority++, dir)
                                   : warn(s->warnings, dir,
                                          "CDI_SPEC_DIRS entry is not an absolute path, ignored");
            if (rc) {
                return -1;
            }
        }
        p += n;
        p += *p == ':';
    }
    return 0;
}

/* ---- rootfs files ---- */

/* Fallback without openat2: open each component with O_NOFOLLOW, so any symlink is refused. */
static int open_no_symlinks(int dirfd, const char *relpath)
{
    int fd = dup(dirfd);
    const char *p = relpath;
    while (fd >= 0 && *p) {
        p += strspn(p, "/");
        size_t n = strcspn(p, "/");
        if (n == 0) {
            break;
        }
        char part[256];
        if (n >= sizeof(part) || (n == 2 && strncmp(p, "..", 2) == 0)) {
            close(fd);
            errno = n >= sizeof(part) ? ENAMETOOLONG : EPERM;
            return -1;
        }
        memcpy(part, p, n);
        part[n] = '\0';
        p += n;
        bool last = p[strspn(p, "/")] == '\0';
        int flags = O_RDONLY | O_NOFOLLOW | O_CLOEXEC |
                    (last ? O_NONBLOCK | O_NOCTTY : O_DIRECTORY);
        int next = openat(fd, part, flags);
        int saved = errno;
        close(fd);
        errno = saved;
        fd = next;
    }
    return fd;
}

char *facts_read_in_root(const char *rootfs, const char *relpath, size_t max, struct err *err)
{
    int root = open(rootfs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (root < 0) {
        int saved = errno;
        err_set(err, ERR_IO, rootfs, "cannot open the rootfs: %s", strerror(saved));
        if (err) {
            err->sys_errno = saved;
        }
        return NULL;
    }
    /* RESOLVE_IN_ROOT: absolute symlinks and ".." are resolved inside the rootfs. */
    struct open_how how = {.flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY,
                           .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
    int fd = (int)syscall(SYS_openat2, root, relpath, &how, sizeof(how));
    if (fd < 0 && (errno == ENOSYS || errno == EPERM)) {
        fd = open_no_symlinks(root, relpath);
    }
    int saved = errno;
    close(root);
    char *text = NULL;
    size_t len;
    if (fd >= 0) {
        text = file_read_fd(fd, max, FILE_READ_REGULAR, &len);
        saved = errno;
        close(fd);
    }
    if (!text) {
        if (saved == EFBIG) {
            err_set(err, ERR_TOO_LARGE, relpath, "file is larger than %zu bytes", max);
        } else {
            err_set(err, ERR_IO, relpath, "cannot read in the rootfs: %s",
                    saved == EINVAL ? "not a regular file" : strerror(saved));
        }
        if (err) {
            err->sys_errno = saved;
        }
    }
    return text;
}

/* A rootfs that cannot be opened is an error; a missing or unsafe passwd/group is a warning
 * (numeric users need neither; names then fail to resolve on the server, naming the user). */
static int rootfs_facts(const struct facts_sources *src, json_t *facts, json_t *warnings,
                        struct err *err)
{
    if (!src->rootfs) {
        return 0;
    }
    int fd = open(src->rootfs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        int saved = errno;
        err_set(err, ERR_IO, src->rootfs, "cannot open the rootfs: %s",
                saved == ENOTDIR ? "not a directory" : strerror(saved));
        if (err) {
            err->sys_errno = saved;
        }
        return -1;
    }
    close(fd);
    json_t *r = json_object();
    if (!r || json_object_set_new(facts, "rootfs", r)) {
        return err_nomem(err);
    }
    static const char *const files[2][2] = {{"etc/passwd", "passwd"}, {"etc/group", "group"}};
    for (int i = 0; i < 2; i++) {
        struct err e;
        err_init(&e);
        char *text = facts_read_in_root(src->rootfs, files[i][0], PASSWD_MAX, &e);
        if (!text) {
            if (warn(warnings, files[i][0], "rootfs %s: %s, not sent", src->rootfs,
                     err_message(&e))) {
                return err_nomem(err);
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
        const char *v = name ? getenv(name) : NULL;
        if (v && jsonx_set_str(env, name, v)) {
            return -1;
        }
    }
    return 0;
}

/* Spec device paths and CDI node paths, each stat()ed once. */
static int device_facts(const struct facts_sources *src, const json_t *needs, json_t *paths,
                        json_t *facts, json_t *warnings)
{
    json_t *devices = json_array();
    if (!devices || json_object_set_new(facts, "devices", devices)) {
        return -1;
    }
    const json_t *wanted = json_object_get(needs, "devices");
    for (size_t i = 0; i < json_array_size(wanted); i++) {
        const char *p = json_string_value(json_array_get(wanted, i));
        if (p && jsonx_append_str(paths, p)) {
            return -1;
        }
    }
    for (size_t i = 0; i < json_array_size(paths); i++) {
        const char *p = json_string_value(json_array_get(paths, i));
        bool seen = !p;
        for (size_t j = 0; j < i && !seen; j++) {
            seen = str_eq(p, json_string_value(json_array_get(paths, j)));
        }
        if (!seen && stat_device(src, p, devices, warnings)) {
            return -1;
        }
    }
    return 0;
}

static int path_facts(const struct facts_sources *src, const json_t *needs, json_t *facts)
{
    json_t *dirs = json_array(), *files = json_array();
    if (json_object_set_new(facts, "dirs", dirs)) {
        json_decref(files); /* the first steal failed: the second never ran */
        return -1;
    }
    if (json_object_set_new(facts, "files", files)) {
        return -1;
    }
    return stat_paths(src, json_object_get(needs, "dirs"), true, dirs) ||
           stat_paths(src, json_object_get(needs, "files"), false, files);
}

/* host.arch: the machine name as the kernel reports it (the renderer knows its spellings). */
static int arch_facts(const struct facts_sources *src, json_t *facts, json_t *warnings)
{
    char buf[65];
    const char *machine = src->machine ? src->machine : host_machine(buf, sizeof(buf));
    if (!machine || !machine[0] || !printable_ascii(machine)) {
        return warn(warnings, "host.arch",
                    "the machine name is unavailable (uname failed): the server assumes its own "
                    "architecture for the seccomp profile");
    }
    return jsonx_set_str(facts, "arch", machine);
}

json_t *facts_gather(const json_t *needs, const struct facts_sources *src, json_t **warnings,
                     struct err *err)
{
    json_t *facts = json_object(), *paths = json_array(), *cdi = json_array();
    *warnings = json_array();
    if (!facts || !paths || !cdi || !*warnings || arch_facts(src, facts, *warnings) ||
        user_facts(src, facts, *warnings) ||
        cgroup_facts(src, facts, *warnings) || wsl_facts(src, facts, *warnings)) {
        goto nomem;
    }
    const json_t *kinds = json_object_get(needs, "cdi_kinds");
    if (json_array_size(kinds)) {
        struct cdi_scan scan = {.src = src, .kinds = kinds, .cdi = cdi, .node_paths = paths,
                                .warnings = *warnings};
        if (scan_cdi(&scan) || json_object_set(facts, "cdi", cdi)) {
            goto nomem;
        }
    }
    if (device_facts(src, needs, paths, facts, *warnings) || path_facts(src, needs, facts) ||
        env_facts(needs, facts)) {
        goto nomem;
    }
    if (rootfs_facts(src, facts, *warnings, err)) {
        goto fail;
    }
    json_decref(paths);
    json_decref(cdi);
    return facts;
nomem:
    err_nomem(err);
fail:
    json_decref(facts);
    json_decref(paths);
    json_decref(cdi);
    json_decref(*warnings);
    *warnings = NULL;
    return NULL;
}
