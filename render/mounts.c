/*
 * Mounts (in the original renderer's order): the seven defaults,
 * storage, the API socket, resolv.conf and hosts, CDI, MPS, time-slicing.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/jsonx.h"
#include "common/sbuf.h"
#include "common/strutil.h"
#include "render/ctx.h"
#include "render/units.h"

#define SOCKET_DEST "/var/run/zlayer.sock"
#define TIME_SLICING_DEST "/etc/nvidia/gpu-time-slicing.yaml"

static json_t *mount_new(const char *dest, const char *type, const char *source,
                         const char *const *options)
{
    json_t *opts = jsonx_str_array(options);
    json_t *m = opts ? json_pack("{s:s, s:s, s:s, s:o}", "destination", dest, "type", type,
                                 "source", source, "options", opts)
                     : NULL;
    return m;
}

static int add_mount_new(struct rctx *c, json_t *m)
{
    if (!m || json_array_append_new(c->mounts, m)) {
        return rctx_nomem(c);
    }
    return 0;
}

static int default_mounts(struct rctx *c)
{
    static const char *const proc[] = {"nosuid", "noexec", "nodev", NULL};
    static const char *const dev[] = {"nosuid", "strictatime", "mode=755", "size=65536k", NULL};
    static const char *const pts[] = {"nosuid",   "noexec",    "newinstance", "ptmxmode=0666",
                                      "mode=0620", "gid=5",    NULL};
    static const char *const shm[] = {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k", NULL};
    static const char *const mq[] = {"nosuid", "noexec", "nodev", NULL};
    static const char *const sys_ro[] = {"nosuid", "noexec", "nodev", "ro", NULL};
    static const char *const sys_rw[] = {"nosuid", "noexec", "nodev", NULL};
    static const char *const cg_ro[] = {"nosuid", "noexec", "nodev", "relatime", "ro", NULL};
    static const char *const cg_rw[] = {"nosuid", "noexec", "nodev", "relatime", NULL};
    /* /sys/fs/cgroup matches the host's hierarchy and is read-only unless privileged. */
    const char *cg_type = c->cgroup_version == 2 ? "cgroup2" : "cgroup";
    return add_mount_new(c, mount_new("/proc", "proc", "proc", proc)) ||
           add_mount_new(c, mount_new("/dev", "tmpfs", "tmpfs", dev)) ||
           add_mount_new(c, mount_new("/dev/pts", "devpts", "devpts", pts)) ||
           add_mount_new(c, mount_new("/dev/shm", "tmpfs", "shm", shm)) ||
           add_mount_new(c, mount_new("/dev/mqueue", "mqueue", "mqueue", mq)) ||
           add_mount_new(c, mount_new("/sys", "sysfs", "sysfs", c->privileged ? sys_rw : sys_ro)) ||
           add_mount_new(c, mount_new("/sys/fs/cgroup", cg_type, "cgroup",
                                  c->privileged ? cg_rw : cg_ro));
}

/* Index of the mount with this destination, or -1. */
static long find_mount(const struct rctx *c, const char *dest)
{
    for (size_t i = 0; i < json_array_size(c->mounts); i++) {
        if (str_eq(jsonx_get_str(json_array_get(c->mounts, i), "destination"), dest)) {
            return (long)i;
        }
    }
    return -1;
}

/* Anonymous volume key: "_anon_" + target without leading '/', other '/' as '_'. */
static void anon_key(const char *target, char *buf, size_t size)
{
    while (*target == '/') {
        target++;
    }
    snprintf(buf, size, "_anon_%s", target);
    for (char *p = buf; *p; p++) {
        *p = *p == '/' ? '_' : *p;
    }
}

/* Named volumes follow the storage manager's rule: 1-63 of [a-z0-9-], alnum at both ends. */
static bool valid_volume_name(const char *n)
{
    size_t len = strlen(n);
    if (len < 1 || len > 63) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        bool alnum = (n[i] >= 'a' && n[i] <= 'z') || (n[i] >= '0' && n[i] <= '9');
        if (!alnum && (n[i] != '-' || i == 0 || i == len - 1)) {
            return false;
        }
    }
    return true;
}

static const char *volume_path(const struct rctx *c, const char *key)
{
    return jsonx_get_str(json_object_get(c->req->options, "volume_paths"), key);
}

static int storage_source(struct rctx *c, const json_t *s, const char *field, const char **src,
                          char *keybuf, size_t keysize)
{
    const char *type = jsonx_get_str(s, "type");
    const char *target = jsonx_get_str(s, "target");
    if (strcmp(type, "bind") == 0) {
        *src = jsonx_get_str(s, "source");
        if ((*src)[0] != '/') {
            return rctx_fail(c, field, "bind source '%s' must be an absolute host path", *src);
        }
        return 0;
    }
    if (strcmp(type, "named") == 0) {
        const char *name = jsonx_get_str(s, "name");
        if (!valid_volume_name(name)) {
            return rctx_fail(c, field,
                             "volume name '%s' must be 1-63 lowercase letters, digits and '-', "
                             "starting and ending with a letter or digit",
                             name);
        }
        *src = volume_path(c, name);
        if (!*src) {
            return rctx_fail(c, field,
                             "volume '%s' not prepared - ensure StorageManager.ensure_volume() "
                             "was called (options.volume_paths has no '%s')",
                             name, name);
        }
        return 0;
    }
    if (strcmp(type, "anonymous") == 0) {
        anon_key(target, keybuf, keysize);
        *src = volume_path(c, keybuf);
        if (!*src) {
            return rctx_fail(c, field,
                             "anonymous volume for '%s' not prepared (options.volume_paths has "
                             "no '%s')",
                             target, keybuf);
        }
        return 0;
    }
    /* s3 */
    const char *bucket = jsonx_get_str(s, "bucket");
    const char *prefix = jsonx_get_str(s, "prefix");
    snprintf(keybuf, keysize, "_s3_%s_%s", bucket, prefix ? prefix : "");
    *src = volume_path(c, keybuf);
    if (!*src) {
        return rctx_fail(c, field,
                         "S3 volume for bucket '%s' not mounted - ensure StorageManager.mount_s3() "
                         "was called (options.volume_paths has no '%s')",
                         bucket, keybuf);
    }
    return 0;
}

static json_t *tmpfs_mount(const json_t *s)
{
    json_t *opts = jsonx_str_array((const char *const[]){"nosuid", "nodev", NULL});
    char buf[64];
    const char *size = jsonx_get_str(s, "size");
    const json_t *mode = json_object_get(s, "mode");
    if (opts && size) {
        uint64_t bytes = 0;
        char why[160];
        if (units_parse_memory(size, &bytes, why, sizeof(why)) == 0) {
            snprintf(buf, sizeof(buf), "size=%llu", (unsigned long long)bytes);
            if (jsonx_append_str(opts, buf)) {
                json_decref(opts);
                opts = NULL;
            }
        }
    }
    if (opts) {
        /* Without a mode runc copies the mount point's mode from the rootfs (often 0755), and a
         * non-root process could not write to its own scratch space: Docker's 1777 instead. */
        snprintf(buf, sizeof(buf), "mode=%llo",
                 mode ? (unsigned long long)json_integer_value(mode) : 01777ull);
        if (jsonx_append_str(opts, buf)) {
            json_decref(opts);
            opts = NULL;
        }
    }
    if (!opts) {
        return NULL;
    }
    return json_pack("{s:s, s:s, s:s, s:o}", "destination", jsonx_get_str(s, "target"), "type",
                     "tmpfs", "source", "tmpfs", "options", opts);
}

static int storage_mount(struct rctx *c, const json_t *s, size_t i, json_t *seen_keys)
{
    char field[48], key[1200] = "";
    snprintf(field, sizeof(field), "storage[%zu]", i);
    const char *type = jsonx_get_str(s, "type");
    const char *target = jsonx_get_str(s, "target");
    if (target[0] != '/') {
        return rctx_fail(c, field, "mount target '%s' must be an absolute path", target);
    }
    for (size_t j = 0; j < i; j++) {
        const json_t *prev = json_array_get(json_object_get(c->svc, "storage"), j);
        if (str_eq(jsonx_get_str(prev, "target"), target)) {
            return rctx_fail(c, field, "mount target '%s' is also used by storage[%zu]", target, j);
        }
    }
    long existing = find_mount(c, target);
    if (existing >= 0) {
        json_array_remove(c->mounts, (size_t)existing); /* a storage mount replaces a default */
    }
    if (strcmp(type, "tmpfs") == 0) {
        return add_mount_new(c, tmpfs_mount(s));
    }
    const char *src = NULL;
    if (storage_source(c, s, field, &src, key, sizeof(key))) {
        return -1;
    }
    if (key[0]) {
        if (json_object_get(seen_keys, key)) {
            return rctx_fail(c, field,
                             "volume key '%s' collides with another storage entry; choose targets "
                             "that differ in more than '/' versus '_'",
                             key);
        }
        if (json_object_set_new(seen_keys, key, json_true())) {
            return rctx_nomem(c);
        }
    }
    const char *tier = jsonx_get_str(s, "tier");
    if (tier && strcmp(tier, "network") == 0 &&
        rctx_warn(c, "storage_network_tier", field,
                  "Network storage tier is NOT SQLite-safe; do not put SQLite databases on %s",
                  target)) {
        return -1;
    }
    if (strcmp(type, "s3") == 0 &&
        rctx_warn(c, "storage_s3", field,
                  "S3 storage is NOT SQLite-safe; do not put SQLite databases on %s", target)) {
        return -1;
    }
    bool ro = json_is_true(json_object_get(s, "readonly"));
    return add_mount_new(c, mount_new(target, "none", src,
                                  (const char *const[]){"rbind", ro ? "ro" : "rw", NULL}));
}

static int storage_mounts(struct rctx *c)
{
    const json_t *list = json_object_get(c->svc, "storage");
    json_t *keys = json_object();
    if (!keys) {
        return rctx_nomem(c);
    }
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < json_array_size(list); i++) {
        rc = storage_mount(c, json_array_get(list, i), i, keys);
    }
    json_decref(keys);
    return rc;
}

/* Source of a generated bundle file: {bundle_dir}/NAME, or NAME relative to the bundle. */
static int bundle_file_mount(struct rctx *c, const char *name, const char *dest, const char *text)
{
    const char *dir = jsonx_get_str(c->req->options, "bundle_dir");
    char src[4200];
    snprintf(src, sizeof(src), "%s%s%s", dir ? dir : "", dir ? "/" : "", name);
    if (json_object_set_new(c->files, name, json_string(text))) {
        return rctx_nomem(c);
    }
    long existing = find_mount(c, dest);
    if (existing >= 0) {
        json_array_remove(c->mounts, (size_t)existing);
    }
    return add_mount_new(c,
                         mount_new(dest, "bind", src, (const char *const[]){"rbind", "ro", NULL}));
}

static bool valid_ip(const char *s)
{
    unsigned char buf[16];
    return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

/* resolv.conf from `dns` (HEAD): nameserver lines, then `options edns0`. */
static int dns_file(struct rctx *c)
{
    const json_t *dns = json_object_get(c->svc, "dns");
    if (json_array_size(dns) == 0 || c->host_network) {
        return 0;
    }
    struct sbuf b;
    sbuf_init(&b, 65536);
    for (size_t i = 0; i < json_array_size(dns); i++) {
        const char *ns = json_string_value(json_array_get(dns, i));
        if (!valid_ip(ns)) {
            char f[32];
            snprintf(f, sizeof(f), "dns[%zu]", i);
            sbuf_free(&b);
            return rctx_fail(c, f, "'%s' is not an IPv4 or IPv6 address", ns);
        }
        if (sbuf_addf(&b, "nameserver %s\n", ns)) {
            return rctx_nomem(c);
        }
    }
    if (sbuf_add(&b, "options edns0\n")) {
        return rctx_nomem(c);
    }
    int rc = bundle_file_mount(c, "resolv.conf", "/etc/resolv.conf", sbuf_str(&b));
    sbuf_free(&b);
    return rc;
}

static bool valid_host_alias(const char *s, size_t n)
{
    if (n == 0 || n > 253) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '-' || ch == '.' || ch == '_')) {
            return false;
        }
    }
    return true;
}

/* /etc/hosts from `extra_hosts` ("name:ip", Docker's --add-host). */
static int hosts_file(struct rctx *c)
{
    const json_t *extra = json_object_get(c->svc, "extra_hosts");
    if (json_array_size(extra) == 0) {
        return 0;
    }
    struct sbuf b;
    sbuf_init(&b, 1 << 20);
    if (sbuf_add(&b, "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")) {
        return rctx_nomem(c);
    }
    for (size_t i = 0; i < json_array_size(extra); i++) {
        const char *e = json_string_value(json_array_get(extra, i));
        const char *colon = strchr(e, ':');
        char f[40];
        snprintf(f, sizeof(f), "extra_hosts[%zu]", i);
        if (!colon || !valid_host_alias(e, (size_t)(colon - e))) {
            sbuf_free(&b);
            return rctx_fail(c, f, "'%s' is not of the form hostname:ip", e);
        }
        if (strcmp(colon + 1, "host-gateway") == 0) {
            sbuf_free(&b);
            return rctx_fail(c, f,
                             "'host-gateway' needs the node's gateway address, which ocirender "
                             "does not know; give the IP address");
        }
        if (!valid_ip(colon + 1)) {
            sbuf_free(&b);
            return rctx_fail(c, f, "'%s' is not an IPv4 or IPv6 address", colon + 1);
        }
        if (sbuf_addf(&b, "%s\t%.*s\n", colon + 1, (int)(colon - e), e)) {
            return rctx_nomem(c);
        }
    }
    int rc = bundle_file_mount(c, "hosts", "/etc/hosts", sbuf_str(&b));
    sbuf_free(&b);
    return rc;
}

static int socket_mount(struct rctx *c)
{
    const char *sock = jsonx_get_str(c->req->options, "socket_path");
    if (!sock) {
        return 0;
    }
    return add_mount_new(c, mount_new(SOCKET_DEST, "bind", sock,
                                  (const char *const[]){"rbind", "ro", NULL}));
}

/*
 * WSL2 (docs/wsl2.md): the GPU's user-space libraries, read-only. In the distro
 * /usr/lib/wsl/lib and /usr/lib/wsl/drivers are mounts of their own (an overlay and a 9p
 * share), so /usr/lib/wsl is bound recursively and each directory gets its own read-only bind
 * on top: "ro" on a recursive bind leaves the submounts writable. A mount the spec already
 * puts at one of these paths is kept.
 */
static int wsl_lib_mounts(struct rctx *c)
{
    static const char *const ro[] = {"rbind", "ro", "nosuid", "nodev", NULL};
    static const char *const dirs[] = {"/usr/lib/wsl/lib", "/usr/lib/wsl/drivers"};
    if (!c->gpu || !c->wsl) {
        return 0;
    }
    const json_t *present = json_object_get(c->wsl, "lib_dirs");
    if (json_array_size(present) == 0) {
        return rctx_warn(c, "wsl_libs_missing", "resources.gpu",
                         "the WSL2 distro has neither /usr/lib/wsl/lib nor /usr/lib/wsl/drivers "
                         "(host.wsl.lib_dirs): the GPU's user-space libraries are not mounted");
    }
    if (find_mount(c, "/usr/lib/wsl") < 0 &&
        add_mount_new(c, mount_new("/usr/lib/wsl", "bind", "/usr/lib/wsl", ro))) {
        return -1;
    }
    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
        bool listed = false;
        for (size_t j = 0; j < json_array_size(present); j++) {
            listed = listed || str_eq(json_string_value(json_array_get(present, j)), dirs[i]);
        }
        if (listed && find_mount(c, dirs[i]) < 0 &&
            add_mount_new(c, mount_new(dirs[i], "bind", dirs[i], ro))) {
            return -1;
        }
    }
    return 0;
}

static size_t path_depth(const char *p)
{
    size_t d = 0;
    for (; *p; p++) {
        if (*p == '/' && p[1] && p[1] != '/') {
            d++;
        }
    }
    return d;
}

/* CDI: replace by container path, then stable-sort by depth so parents mount first. */
static int cdi_mounts(struct rctx *c)
{
    if (!c->cdi_edits) {
        return 0;
    }
    for (size_t i = 0; i < json_array_size(c->cdi_edits); i++) {
        const json_t *list = json_object_get(json_array_get(c->cdi_edits, i), "mounts");
        for (size_t j = 0; j < json_array_size(list); j++) {
            const json_t *m = json_array_get(list, j);
            const char *dest = jsonx_get_str(m, "containerPath");
            const char *type = jsonx_get_str(m, "type");
            bool bind = !type || !*type || strcmp(type, "bind") == 0;
            const json_t *given = json_object_get(m, "options");
            json_t *opts = given ? json_deep_copy(given) : json_array();
            bool has_bind = false;
            for (size_t k = 0; opts && k < json_array_size(opts); k++) {
                const char *o = json_string_value(json_array_get(opts, k));
                has_bind = has_bind || strcmp(o, "bind") == 0 || strcmp(o, "rbind") == 0;
            }
            if (!opts || (bind && !has_bind && jsonx_append_str(opts, "rbind"))) {
                json_decref(opts);
                return rctx_nomem(c);
            }
            long existing = find_mount(c, dest);
            if (existing >= 0) {
                json_array_remove(c->mounts, (size_t)existing);
            }
            if (add_mount_new(c, json_pack("{s:s, s:s, s:s, s:o}", "destination", dest, "type",
                                       bind ? "bind" : type, "source",
                                       jsonx_get_str(m, "hostPath"), "options", opts))) {
                return -1;
            }
        }
    }
    size_t n = json_array_size(c->mounts);
    json_t *sorted = json_array();
    if (!sorted) {
        return rctx_nomem(c);
    }
    for (size_t depth = 0; json_array_size(sorted) < n; depth++) {
        for (size_t i = 0; i < n; i++) {
            json_t *m = json_array_get(c->mounts, i);
            if (path_depth(jsonx_get_str(m, "destination")) == depth &&
                json_array_append(sorted, m)) {
                json_decref(sorted);
                return rctx_nomem(c);
            }
        }
    }
    json_decref(c->mounts);
    c->mounts = sorted;
    return 0;
}

static int gpu_sharing_mounts(struct rctx *c, bool mps_only)
{
    if (!c->gpu) {
        return 0;
    }
    const char *sharing = jsonx_get_str(c->gpu, "sharing");
    if (mps_only) {
        if (!str_eq(sharing, "mps")) {
            return 0;
        }
        const char *pipe = jsonx_get_str(c->gpu, "mps_pipe_dir");
        const char *log = jsonx_get_str(c->gpu, "mps_log_dir");
        pipe = pipe ? pipe : "/tmp/nvidia-mps";
        log = log ? log : "/tmp/nvidia-log";
        static const char *const rw[] = {"rbind", "rw", NULL};
        return add_mount_new(c, mount_new(pipe, "bind", pipe, rw)) ||
               add_mount_new(c, mount_new(log, "bind", log, rw));
    }
    const char *cfg = jsonx_get_str(c->gpu, "time_slicing_config_path");
    if (!str_eq(sharing, "time-slice") || !cfg) {
        return 0;
    }
    const char *field = "resources.gpu.time_slicing_config_path";
    if (cfg[0] != '/') {
        return rctx_fail(c, field, "time-slicing config '%s' must be an absolute path", cfg);
    }
    if (!rctx_has_facts(c, "files")) {
        if (rctx_warn(c, "time_slicing_unverified", field,
                      "time-slicing config %s was not verified on the node (no host.files facts)",
                      cfg)) {
            return -1;
        }
    } else if (!rctx_fact_listed(c, "files", cfg)) {
        return rctx_fail(c, field,
                         "GPU sharing mode 'time-slice' is unavailable: time-slicing config %s is "
                         "not a regular file on the host",
                         cfg);
    }
    return add_mount_new(c, mount_new(TIME_SLICING_DEST, "bind", cfg,
                                  (const char *const[]){"rbind", "ro", NULL}));
}

int render_mounts(struct rctx *c)
{
    return default_mounts(c) || storage_mounts(c) || socket_mount(c) || dns_file(c) ||
           hosts_file(c) || wsl_lib_mounts(c) || cdi_mounts(c) || gpu_sharing_mounts(c, true) ||
           gpu_sharing_mounts(c, false);
}
