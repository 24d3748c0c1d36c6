/*
 * Mounts (in the original renderer's order): the seven defaults,
 * storage, the API socket, resolv.conf and hosts, CDI, MPS, time-slicing.
 *
 * Mount fields and option lists point at string literals, static option arrays, the
 * request's strings and the CDI edits (kept alive by the result) in place; only strings that
 * are new (tmpfs size and mode, bundle file paths) are built in the arena.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/sbuf.h"
#include "common/strutil.h"
#include "render/ctx.h"
#include "render/prepared.h"
#include "render/units.h"

#define SOCKET_DEST "/var/run/zlayer.sock"
#define TIME_SLICING_DEST "/etc/nvidia/gpu-time-slicing.yaml"

/*
 * Constant option lists. A mount borrows them with `cap` 0: they are never written through
 * (a push onto such a list copies it into the arena first, see arena_grow), which is why they
 * can be shared by every render although the type does not say const.
 */
static const char *opts_proc[] = {"nosuid", "noexec", "nodev"};
static const char *opts_dev[] = {"nosuid", "strictatime", "mode=755", "size=65536k"};
static const char *opts_pts[] = {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620",
                                 "gid=5"};
static const char *opts_shm[] = {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"};
static const char *opts_mq[] = {"nosuid", "noexec", "nodev"};
static const char *opts_sys_ro[] = {"nosuid", "noexec", "nodev", "ro"};
static const char *opts_sys_rw[] = {"nosuid", "noexec", "nodev"};
static const char *opts_cg_ro[] = {"nosuid", "noexec", "nodev", "relatime", "ro"};
static const char *opts_cg_rw[] = {"nosuid", "noexec", "nodev", "relatime"};
static const char *opts_rbind_ro[] = {"rbind", "ro"};
static const char *opts_rbind_rw[] = {"rbind", "rw"};
static const char *opts_wsl_ro[] = {"rbind", "ro", "nosuid", "nodev"};

#define OPTS(arr) (struct strv){.n = sizeof(arr) / sizeof((arr)[0]), .cap = 0, .v = (arr)}

static int add_mount(struct rctx *c, const char *dest, const char *type, const char *source,
                     struct strv options)
{
    struct oci_mount *m = oci_mounts_push(c->a, &c->cfg->mounts);
    if (!m) {
        return rctx_nomem(c);
    }
    m->destination = dest;
    m->type = type;
    m->source = source;
    m->options = options;
    return 0;
}

/* The mounts every container gets, in order. The same call gives the same pointers, which is
 * how the writer recognizes them in a config (render/prepared.h). */
static void default_mount_set(bool privileged, bool cgroup_v2, struct oci_mount out[DEFAULT_MOUNTS])
{
    /* /sys/fs/cgroup matches the host's hierarchy and is read-only unless privileged. */
    const struct oci_mount set[DEFAULT_MOUNTS] = {
        {"/proc", "proc", "proc", OPTS(opts_proc)},
        {"/dev", "tmpfs", "tmpfs", OPTS(opts_dev)},
        {"/dev/pts", "devpts", "devpts", OPTS(opts_pts)},
        {"/dev/shm", "tmpfs", "shm", OPTS(opts_shm)},
        {"/dev/mqueue", "mqueue", "mqueue", OPTS(opts_mq)},
        {"/sys", "sysfs", "sysfs", privileged ? OPTS(opts_sys_rw) : OPTS(opts_sys_ro)},
        {"/sys/fs/cgroup", cgroup_v2 ? "cgroup2" : "cgroup", "cgroup",
         privileged ? OPTS(opts_cg_rw) : OPTS(opts_cg_ro)},
    };
    memcpy(out, set, sizeof(set));
}

int mounts_prepare(struct render_prepared *p)
{
    for (int privileged = 0; privileged < 2; privileged++) {
        for (int v2 = 0; v2 < 2; v2++) {
            struct oci_mount *items = p->mount_items[privileged][v2];
            default_mount_set(privileged, v2, items);
            if (prepare_mounts(&p->mounts[privileged][v2], items, DEFAULT_MOUNTS)) {
                return -1;
            }
        }
    }
    return 0;
}

static int default_mounts(struct rctx *c)
{
    struct oci_mount set[DEFAULT_MOUNTS];
    bool v2 = c->cgroup_version == 2;
    default_mount_set(c->privileged, v2, set);
    for (size_t i = 0; i < DEFAULT_MOUNTS; i++) {
        if (add_mount(c, set[i].destination, set[i].type, set[i].source, set[i].options)) {
            return -1;
        }
    }
    const struct render_prepared *p = c->set->prepared;
    c->cfg->mounts.prefix = p ? &p->mounts[c->privileged][v2] : NULL;
    return 0;
}

/* Index of the mount with this destination, or -1. */
static long find_mount(const struct rctx *c, const char *dest)
{
    const struct oci_mounts *ms = &c->cfg->mounts;
    for (size_t i = 0; i < ms->n; i++) {
        if (str_eq(ms->v[i].destination, dest)) {
            return (long)i;
        }
    }
    return -1;
}

/* Drop the mount at `dest`, if any, keeping the order of the others: a later mount at the same
 * destination replaces it. */
static void remove_mount(struct rctx *c, const char *dest)
{
    long at = find_mount(c, dest);
    if (at < 0) {
        return;
    }
    oci_mounts_remove(&c->cfg->mounts, (size_t)at);
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

/* options.volume_paths[key], or NULL (the keys are unique: the parsers reject duplicates). */
static const char *volume_path(const struct rctx *c, const char *key)
{
    const struct mmap *paths = &c->opt->volume_paths;
    for (size_t i = 0; i < paths->n; i++) {
        if (strcmp(paths->keys[i], key) == 0) {
            return mmap_str(paths, i);
        }
    }
    return NULL;
}

static int storage_source(struct rctx *c, const struct spec_storage *s, const char *field,
                          const char **src, char *keybuf, size_t keysize)
{
    const char *type = s->type;
    const char *target = s->target;
    if (strcmp(type, "bind") == 0) {
        *src = s->source;
        if ((*src)[0] != '/') {
            return rctx_fail(c, field, "bind source '%s' must be an absolute host path", *src);
        }
        return 0;
    }
    if (strcmp(type, "named") == 0) {
        const char *name = s->name;
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
    const char *bucket = s->bucket;
    const char *prefix = s->prefix;
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

static int tmpfs_mount(struct rctx *c, const struct spec_storage *s)
{
    struct strv opts = {.cap = 4};
    opts.v = arena_alloc(c->a, opts.cap * sizeof(*opts.v));
    if (!opts.v) {
        return rctx_nomem(c);
    }
    opts.v[opts.n++] = "nosuid";
    opts.v[opts.n++] = "nodev";
    if (s->size) {
        uint64_t bytes = 0;
        char why[160];
        /* The walk checked the size; a value it let through that does not parse is left out,
         * as it always was. */
        if (units_parse_memory(s->size, &bytes, why, sizeof(why)) == 0) {
            opts.v[opts.n] = rctx_printf(c, "size=%llu", (unsigned long long)bytes);
            if (!opts.v[opts.n++]) {
                return -1;
            }
        }
    }
    /* Without a mode runc copies the mount point's mode from the rootfs (often 0755), and a
     * non-root process could not write to its own scratch space: Docker's 1777 instead. */
    opts.v[opts.n] = rctx_printf(c, "mode=%llo",
                                 s->mode.set ? (unsigned long long)s->mode.v : 01777ull);
    if (!opts.v[opts.n++]) {
        return -1;
    }
    return add_mount(c, s->target, "tmpfs", "tmpfs", opts);
}

/* Volume keys (anonymous and s3) of the storage entries so far: two entries must not share
 * one, or they would share the volume. */
static int claim_volume_key(struct rctx *c, const char *field, const char *key,
                            struct strv *seen_keys)
{
    if (strv_find(seen_keys, key) >= 0) {
        return rctx_fail(c, field,
                         "volume key '%s' collides with another storage entry; choose targets "
                         "that differ in more than '/' versus '_'",
                         key);
    }
    return strv_push_copy(c->a, seen_keys, key) ? rctx_nomem(c) : 0;
}

static int storage_mount(struct rctx *c, size_t i, struct strv *seen_keys)
{
    const struct mlist *list = &c->svc->storage;
    const struct spec_storage *s = mlist_ptr(list, i);
    char field[48], key[1200] = "";
    snprintf(field, sizeof(field), "storage[%zu]", i);
    const char *type = s->type;
    const char *target = s->target;
    if (target[0] != '/') {
        return rctx_fail(c, field, "mount target '%s' must be an absolute path", target);
    }
    for (size_t j = 0; j < i; j++) {
        const struct spec_storage *prev = mlist_ptr(list, j);
        if (str_eq(prev->target, target)) {
            return rctx_fail(c, field, "mount target '%s' is also used by storage[%zu]", target, j);
        }
    }
    remove_mount(c, target); /* a storage mount replaces a default */
    if (strcmp(type, "tmpfs") == 0) {
        return tmpfs_mount(c, s);
    }
    const char *src = NULL;
    if (storage_source(c, s, field, &src, key, sizeof(key))) {
        return -1;
    }
    if (key[0] && claim_volume_key(c, field, key, seen_keys)) {
        return -1;
    }
    const char *tier = s->tier;
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
    bool ro = s->readonly.set && s->readonly.v;
    return add_mount(c, target, "none", src, ro ? OPTS(opts_rbind_ro) : OPTS(opts_rbind_rw));
}

static int storage_mounts(struct rctx *c)
{
    struct strv keys = {0};
    for (size_t i = 0; i < c->svc->storage.n; i++) {
        if (storage_mount(c, i, &keys)) {
            return -1;
        }
    }
    return 0;
}

/* Source of a generated bundle file: {bundle_dir}/NAME, or NAME relative to the bundle. */
static int bundle_file_mount(struct rctx *c, const char *name, const char *dest, const char *text)
{
    const char *dir = c->opt->bundle_dir;
    char buf[4200]; /* the bound the path always had: a longer bundle_dir is cut */
    snprintf(buf, sizeof(buf), "%s%s%s", dir ? dir : "", dir ? "/" : "", name);
    json_t *files = rctx_document(c, &c->files);
    if (!files || json_object_set_new(files, name, json_string(text))) {
        return rctx_nomem(c);
    }
    const char *src = dir ? rctx_strdup(c, buf) : name;
    if (!src) {
        return -1;
    }
    remove_mount(c, dest);
    return add_mount(c, dest, "bind", src, OPTS(opts_rbind_ro));
}

static bool valid_ip(const char *s)
{
    unsigned char buf[16];
    return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

/* resolv.conf from `dns` (HEAD): nameserver lines, then `options edns0`. */
static int dns_file(struct rctx *c)
{
    const struct mlist *dns = &c->svc->dns;
    if (dns->n == 0 || c->host_network) {
        return 0;
    }
    struct sbuf b;
    sbuf_init(&b, 65536);
    for (size_t i = 0; i < dns->n; i++) {
        const char *ns = mlist_str(dns, i);
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
    const struct mlist *extra = &c->svc->extra_hosts;
    if (extra->n == 0) {
        return 0;
    }
    struct sbuf b;
    sbuf_init(&b, 1 << 20);
    if (sbuf_add(&b, "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")) {
        return rctx_nomem(c);
    }
    for (size_t i = 0; i < extra->n; i++) {
        const char *e = mlist_str(extra, i);
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
    const char *sock = c->opt->socket_path;
    if (!sock) {
        return 0;
    }
    return add_mount(c, SOCKET_DEST, "bind", sock, OPTS(opts_rbind_ro));
}

static bool wsl_lib_dir_listed(const struct mlist *present, const char *dir)
{
    for (size_t i = 0; i < present->n; i++) {
        if (str_eq(mlist_str(present, i), dir)) {
            return true;
        }
    }
    return false;
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
    static const char *const dirs[] = {"/usr/lib/wsl/lib", "/usr/lib/wsl/drivers"};
    if (!c->gpu || !c->wsl) {
        return 0;
    }
    const struct mlist *present = &c->wsl->lib_dirs;
    if (present->n == 0) {
        return rctx_warn(c, "wsl_libs_missing", "resources.gpu",
                         "the WSL2 distro has neither /usr/lib/wsl/lib nor /usr/lib/wsl/drivers "
                         "(host.wsl.lib_dirs): the GPU's user-space libraries are not mounted");
    }
    if (find_mount(c, "/usr/lib/wsl") < 0 &&
        add_mount(c, "/usr/lib/wsl", "bind", "/usr/lib/wsl", OPTS(opts_wsl_ro))) {
        return -1;
    }
    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
        if (wsl_lib_dir_listed(present, dirs[i]) && find_mount(c, dirs[i]) < 0 &&
            add_mount(c, dirs[i], "bind", dirs[i], OPTS(opts_wsl_ro))) {
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

/* A CDI mount's options: the spec's own (used in place), plus "rbind" for a bind mount that
 * names neither bind nor rbind. */
static int cdi_mount_options(struct rctx *c, const json_t *given, bool bind, struct strv *out)
{
    size_t n = json_array_size(given);
    bool has_bind = false;
    for (size_t k = 0; k < n; k++) {
        const char *o = json_string_value(json_array_get(given, k));
        has_bind = has_bind || strcmp(o, "bind") == 0 || strcmp(o, "rbind") == 0;
    }
    size_t total = n + (bind && !has_bind);
    *out = (struct strv){0};
    if (total == 0) {
        return 0;
    }
    out->v = arena_alloc(c->a, total * sizeof(*out->v));
    if (!out->v) {
        return rctx_nomem(c);
    }
    for (size_t k = 0; k < n; k++) {
        out->v[out->n++] = json_string_value(json_array_get(given, k));
    }
    if (out->n < total) {
        out->v[out->n++] = "rbind";
    }
    out->cap = total;
    return 0;
}

static int cdi_mount(struct rctx *c, const json_t *m)
{
    const char *dest = json_string_value(json_object_get(m, "containerPath"));
    const char *type = json_string_value(json_object_get(m, "type"));
    bool bind = !type || !*type || strcmp(type, "bind") == 0;
    struct strv opts;
    if (cdi_mount_options(c, json_object_get(m, "options"), bind, &opts)) {
        return -1;
    }
    remove_mount(c, dest);
    return add_mount(c, dest, bind ? "bind" : type,
                     json_string_value(json_object_get(m, "hostPath")), opts);
}

/* Stable sort by destination depth, so that parents mount before what is mounted inside. */
static int sort_mounts_by_depth(struct rctx *c)
{
    struct oci_mounts *ms = &c->cfg->mounts;
    size_t n = ms->n;
    struct oci_mount *sorted = arena_alloc(c->a, n * sizeof(*sorted));
    size_t *depth = arena_alloc(c->a, n * sizeof(*depth));
    if (!sorted || !depth) {
        return rctx_nomem(c);
    }
    for (size_t i = 0; i < n; i++) {
        depth[i] = path_depth(ms->v[i].destination);
    }
    size_t done = 0;
    for (size_t d = 0; done < n; d++) {
        for (size_t i = 0; i < n; i++) {
            if (depth[i] == d) {
                sorted[done++] = ms->v[i];
            }
        }
    }
    ms->v = sorted;
    ms->cap = n;
    return 0;
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
            if (cdi_mount(c, json_array_get(list, j))) {
                return -1;
            }
        }
    }
    return sort_mounts_by_depth(c);
}

static int gpu_sharing_mounts(struct rctx *c, bool mps_only)
{
    if (!c->gpu) {
        return 0;
    }
    const char *sharing = c->gpu->sharing;
    if (mps_only) {
        if (!str_eq(sharing, "mps")) {
            return 0;
        }
        const char *pipe = c->gpu->mps_pipe_dir;
        const char *log = c->gpu->mps_log_dir;
        pipe = pipe ? pipe : "/tmp/nvidia-mps";
        log = log ? log : "/tmp/nvidia-log";
        return add_mount(c, pipe, "bind", pipe, OPTS(opts_rbind_rw)) ||
               add_mount(c, log, "bind", log, OPTS(opts_rbind_rw));
    }
    const char *cfg = c->gpu->time_slicing_config_path;
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
    return add_mount(c, TIME_SLICING_DEST, "bind", cfg, OPTS(opts_rbind_ro));
}

int render_mounts(struct rctx *c)
{
    return default_mounts(c) || storage_mounts(c) || socket_mount(c) || dns_file(c) ||
           hosts_file(c) || wsl_lib_mounts(c) || cdi_mounts(c) || gpu_sharing_mounts(c, true) ||
           gpu_sharing_mounts(c, false);
}
