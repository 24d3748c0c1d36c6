/*
 * Devices and device-cgroup rules (the original renderer's rules, device numbers from facts, CDI): spec devices from
 * host facts (real major/minor), CDI device nodes, baked-in GPU nodes; CDI hooks and extras.
 *
 * Device paths and types point at the request's strings, the CDI edits (kept alive by the
 * result) and string literals in place; only the numbered GPU candidate paths are built.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "common/strutil.h"
#include "render/cdi.h"
#include "render/ctx.h"
#include "render/prepared.h"

static const char *gpu_vendor(const struct rctx *c)
{
    const char *v = c->gpu->vendor;
    return v ? v : "nvidia";
}

static unsigned gpu_count(const struct rctx *c)
{
    return c->gpu->count.set ? (unsigned)c->gpu->count.v : 1;
}

static long long opt_or(const struct opt_i64 *v, long long fallback)
{
    return v->set ? v->v : fallback;
}

/* A member of a CDI object (jansson by design), or `fallback` when absent. */
static long long json_int_or(const json_t *obj, const char *key, long long fallback)
{
    const json_t *v = json_object_get(obj, key);
    return v ? json_integer_value(v) : fallback;
}

/* GPUs: CDI is authoritative when host.cdi holds a spec of the vendor's kind
 * (docs/rendering.md, "GPUs and CDI"). */
int render_cdi(struct rctx *c)
{
    if (!c->gpu) {
        return 0;
    }
    const char *kind = cdi_vendor_kind(gpu_vendor(c));
    if (!kind) {
        return 0;
    }
    bool present;
    char count_path[ERR_PATH_MAX], prefix[160];
    json_t *const *entries = c->host->cdi.v;
    rctx_path(c, count_path, sizeof(count_path), "resources.gpu.count");
    if (cdi_resolve(entries, c->host->cdi.n, kind, gpu_count(c), count_path, &present,
                            &c->cdi_all, &c->cdi_edits, c->err)) {
        snprintf(prefix, sizeof(prefix), "CDI resolution failed for vendor '%s': ", gpu_vendor(c));
        err_prefix(c->err, prefix);
        return -1;
    }
    if (!c->cdi_all) {
        return 0;
    }
    return rctx_warn(c, "cdi_all_only", c->gpu->count.set ? "resources.gpu.count" : "resources.gpu",
                     "the CDI specs of kind '%s' define only the device 'all' (as nvidia-ctk "
                     "generates on WSL2): %s=all serves gpu.count %u and exposes every GPU of the "
                     "node; the vendor's visibility variables select the first %u",
                     kind, kind, gpu_count(c), gpu_count(c));
}

/* An allow rule for a type and major; a negative minor means every minor. */
static int add_rule(struct rctx *c, const char *type, long long major, long long minor,
                    const char *access)
{
    struct oci_dev_rule *r = oci_dev_rules_push(c->a, &c->cfg->linux_.dev_rules);
    if (!r) {
        return rctx_nomem(c);
    }
    r->allow = true;
    r->type = type;
    r->has_major = true;
    r->major = major;
    r->has_minor = minor >= 0;
    r->minor = minor >= 0 ? minor : 0;
    r->access = access;
    return 0;
}

/* A rule for every device (no type, no numbers). */
static int add_rule_all(struct rctx *c, bool allow)
{
    struct oci_dev_rule *r = oci_dev_rules_push(c->a, &c->cfg->linux_.dev_rules);
    if (!r) {
        return rctx_nomem(c);
    }
    r->allow = allow;
    r->access = "rwm";
    return 0;
}

/* Drop every device at `path`, keeping the order of the others. */
static void remove_device(struct rctx *c, const char *path)
{
    struct oci_devices *ds = &c->cfg->linux_.devices;
    size_t kept = 0;
    for (size_t i = 0; i < ds->n; i++) {
        if (!str_eq(ds->v[i].path, path)) {
            ds->v[kept++] = ds->v[i];
        }
    }
    ds->n = kept;
}

/* A device node, replacing any earlier one at the same path. FIFOs (p) have no numbers. */
static int add_device(struct rctx *c, const char *path, const char *type, long long major,
                      long long minor, long long mode, long long uid, long long gid)
{
    remove_device(c, path);
    struct oci_device *d = oci_devices_push(c->a, &c->cfg->linux_.devices);
    if (!d) {
        return rctx_nomem(c);
    }
    d->path = path;
    d->type = type;
    d->has_numbers = type[0] != 'p';
    d->major = d->has_numbers ? major : 0;
    d->minor = d->has_numbers ? minor : 0;
    d->file_mode = mode;
    d->uid = uid;
    d->gid = gid;
    return 0;
}

/* The device cgroup of an unprivileged container: deny everything, then allow the standard
 * character devices (136: every pts). The same call gives the same pointers, which is how the
 * writer recognizes them in a config (render/prepared.h). */
static void standard_rule_set(struct oci_dev_rule out[STANDARD_DEV_RULES])
{
    static const int std[][2] = {{1, 3}, {1, 5}, {1, 7}, {1, 8}, {1, 9},
                                 {5, 0}, {5, 1}, {5, 2}, {136, -1}};
    _Static_assert(1 + sizeof(std) / sizeof(std[0]) == STANDARD_DEV_RULES, "rule count");
    out[0] = (struct oci_dev_rule){.allow = false, .access = "rwm"};
    for (size_t i = 0; i < sizeof(std) / sizeof(std[0]); i++) {
        out[i + 1] = (struct oci_dev_rule){.allow = true, .type = "c", .has_major = true,
                                           .major = std[i][0], .has_minor = std[i][1] >= 0,
                                           .minor = std[i][1] >= 0 ? std[i][1] : 0,
                                           .access = "rwm"};
    }
}

int devices_prepare(struct render_prepared *p)
{
    standard_rule_set(p->dev_rule_items);
    return prepare_dev_rules(&p->dev_rules, p->dev_rule_items, STANDARD_DEV_RULES);
}

/* A privileged container may use every device. */
static int standard_rules(struct rctx *c)
{
    if (c->privileged) {
        return add_rule_all(c, true);
    }
    struct oci_dev_rule set[STANDARD_DEV_RULES];
    standard_rule_set(set);
    for (size_t i = 0; i < STANDARD_DEV_RULES; i++) {
        struct oci_dev_rule *r = oci_dev_rules_push(c->a, &c->cfg->linux_.dev_rules);
        if (!r) {
            return rctx_nomem(c);
        }
        *r = set[i];
    }
    const struct render_prepared *p = c->set->prepared;
    c->cfg->linux_.dev_rules.prefix = p ? &p->dev_rules : NULL;
    return 0;
}

/* The cgroup access of a spec device: r and w unless turned off, m when asked for; none of
 * them means the default "rw". Indexed by r=1, w=2, m=4, so no string is built. */
static const char *spec_device_access(const struct spec_device *d)
{
    static const char *const access[] = {"rw", "r", "w", "rw", "m", "rm", "wm", "rwm"};
    unsigned bits = 0;
    if (!d->read.set || d->read.v) {
        bits |= 1;
    }
    if (!d->write.set || d->write.v) {
        bits |= 2;
    }
    if (d->mknod.set && d->mknod.v) {
        bits |= 4;
    }
    return access[bits];
}

static int spec_devices(struct rctx *c)
{
    const struct mlist *list = &c->svc->devices;
    for (size_t i = 0; i < list->n; i++) {
        const struct spec_device *d = mlist_ptr(list, i);
        const char *path = d->path;
        char field[40];
        snprintf(field, sizeof(field), "devices[%zu]", i);
        if (path[0] != '/') {
            return rctx_fail(c, field, "device path '%s' must be absolute", path);
        }
        const struct host_device *fact = rctx_device_fact(c, path);
        if (!fact) {
            if (rctx_warn(c, "device_missing", field,
                          "Failed to get device info for %s (not in host.devices), skipping",
                          path)) {
                return -1;
            }
            continue;
        }
        const char *type = fact->type;
        if (type[0] == 'u') {
            if (rctx_warn(c, "device_not_a_device", field,
                          "%s is not a device node on the host, skipping", path)) {
                return -1;
            }
            continue;
        }
        long long major = opt_or(&fact->major, 0), minor = opt_or(&fact->minor, 0);
        if (add_device(c, path, type, major, minor, 0666, 0, 0)) {
            return -1;
        }
        if (c->privileged || type[0] == 'p') {
            continue;
        }
        if (add_rule(c, type, major, minor, spec_device_access(d))) {
            return -1;
        }
    }
    return 0;
}

/* A CDI device node: spec values first, host facts for what is missing (CDI fillMissingInfo). */
static int cdi_node(struct rctx *c, const json_t *node)
{
    const char *path = json_string_value(json_object_get(node, "path"));
    const char *host_path = json_string_value(json_object_get(node, "hostPath"));
    const struct host_device *fact = rctx_device_fact(c, host_path ? host_path : path);
    const char *type = json_string_value(json_object_get(node, "type"));
    const char *fact_type = fact ? fact->type : NULL;
    const char *field = "resources.gpu";
    if (type && !*type) {
        type = NULL;
    }
    if (type && fact_type && strcmp(type, "u") != 0 && strcmp(type, fact_type) != 0) {
        return rctx_fail(c, field, "CDI device node %s is type %s in the spec but %s on the host",
                         path, type, fact_type);
    }
    if (!type) {
        type = fact_type;
    }
    if (type && strcmp(type, "u") == 0) {
        type = "c";
    }
    const json_t *node_major = json_object_get(node, "major");
    const json_t *node_minor = json_object_get(node, "minor");
    bool have_numbers = node_major && node_minor;
    long long major = 0, minor = 0;
    if (have_numbers) {
        major = json_integer_value(node_major);
        minor = json_integer_value(node_minor);
    } else if (fact && (fact_type[0] == 'c' || fact_type[0] == 'b')) {
        major = opt_or(&fact->major, 0);
        minor = opt_or(&fact->minor, 0);
        have_numbers = true;
    }
    if (!type || (type[0] != 'p' && !have_numbers)) {
        return rctx_fail(c, field,
                         "CDI device node %s has no type/major/minor in its spec and no host facts "
                         "for %s (send host.devices)",
                         path, host_path ? host_path : path);
    }
    long long fact_mode = fact ? opt_or(&fact->mode, 0666) : 0666;
    long long mode = json_int_or(node, "fileMode", fact_mode & 07777);
    long long uid = json_int_or(node, "uid", c->uid > 0 ? c->uid : 0);
    long long gid = json_int_or(node, "gid", c->gid > 0 ? c->gid : 0);
    if (add_device(c, path, type, major, minor, mode, uid, gid)) {
        return -1;
    }
    const char *perms = json_string_value(json_object_get(node, "permissions"));
    if (c->privileged || type[0] == 'p' || str_eq(perms, "none")) {
        return 0;
    }
    return add_rule(c, type, major, minor, perms && *perms ? perms : "rwm");
}

/* "PREFIX<n>", built in the arena. */
static int push_numbered(struct arena *a, struct strv *out, const char *prefix, unsigned n)
{
    char p[64];
    snprintf(p, sizeof(p), "%s%u", prefix, n);
    return strv_push_copy(a, out, p);
}

/* Baked-in device candidates per vendor, as the original renderer has them. */
int render_gpu_candidates(struct arena *a, const char *vendor, unsigned n, struct strv *out)
{
    int rc = 0;
    if (strcmp(vendor, "nvidia") == 0) {
        rc = strv_push(a, out, "/dev/nvidiactl") || strv_push(a, out, "/dev/nvidia-uvm") ||
             strv_push(a, out, "/dev/nvidia-uvm-tools");
        for (unsigned i = 0; !rc && i < n; i++) {
            rc = push_numbered(a, out, "/dev/nvidia", i);
        }
        return rc ? -1 : 0;
    }
    if (strcmp(vendor, "amd") == 0) {
        rc = strv_push(a, out, "/dev/kfd");
    }
    for (unsigned i = 0; !rc && i < n; i++) {
        rc = push_numbered(a, out, "/dev/dri/renderD", 128 + i);
    }
    if (strcmp(vendor, "amd") == 0 || strcmp(vendor, "intel") == 0) {
        for (unsigned i = 0; !rc && i < n; i++) {
            rc = push_numbered(a, out, "/dev/dri/card", i);
        }
    }
    return rc ? -1 : 0;
}

static int gpu_rules(struct rctx *c)
{
    const char *vendor = gpu_vendor(c);
    if (strcmp(vendor, "nvidia") == 0) {
        return add_rule(c, "c", 195, -1, "rwm") || add_rule(c, "c", 510, -1, "rwm");
    }
    if (strcmp(vendor, "amd") == 0) {
        return add_rule(c, "c", 226, -1, "rwm") || add_rule(c, "c", 234, -1, "rwm");
    }
    if (strcmp(vendor, "intel") != 0 &&
        rctx_warn(c, "gpu_vendor_unknown", "resources.gpu.vendor",
                  "unknown GPU vendor '%s': passing through DRI render nodes only", vendor)) {
        return -1;
    }
    return add_rule(c, "c", 226, -1, "rwm");
}

/* An allow "rwm" rule of this type and major that covers `minor` (one without a minor covers
 * them all). */
static bool rule_exists(const struct rctx *c, const char *type, long long major, long long minor)
{
    const struct oci_dev_rules *rules = &c->cfg->linux_.dev_rules;
    for (size_t i = 0; i < rules->n; i++) {
        const struct oci_dev_rule *r = &rules->v[i];
        if (r->allow && str_eq(r->type, type) && (r->has_major ? r->major : -1) == major &&
            (!r->has_minor || r->minor == minor) && str_eq(r->access, "rwm")) {
            return true;
        }
    }
    return false;
}

static bool have_device(const struct rctx *c, const char *path)
{
    const struct oci_devices *ds = &c->cfg->linux_.devices;
    for (size_t i = 0; i < ds->n; i++) {
        if (str_eq(ds->v[i].path, path)) {
            return true;
        }
    }
    return false;
}

/*
 * WSL2 (docs/wsl2.md): every GPU is behind the paravirtual /dev/dxg, whatever the vendor; the
 * node sends its numbers in host.wsl.dxg. It needs its own device-cgroup rule, or runc creates
 * the node and the container cannot open it. A /dev/dxg a CDI spec already added (with its
 * rule and permissions) stays as the spec has it.
 */
static int wsl_dxg_device(struct rctx *c)
{
    if (have_device(c, "/dev/dxg")) {
        return 0;
    }
    const struct host_dxg *dxg = c->wsl->dxg; /* gpu_devices checked it is there */
    long long major = opt_or(&dxg->major, 0), minor = opt_or(&dxg->minor, 0);
    if (add_device(c, "/dev/dxg", "c", major, minor, 0666, 0, 0)) {
        return -1;
    }
    if (c->privileged || rule_exists(c, "c", major, minor)) {
        return 0;
    }
    return add_rule(c, "c", major, minor, "rwm");
}

static int cdi_devices(struct rctx *c)
{
    for (size_t i = 0; i < json_array_size(c->cdi_edits); i++) {
        const json_t *nodes = json_object_get(json_array_get(c->cdi_edits, i), "deviceNodes");
        for (size_t j = 0; j < json_array_size(nodes); j++) {
            if (cdi_node(c, json_array_get(nodes, j))) {
                return -1;
            }
        }
    }
    return c->wsl ? wsl_dxg_device(c) : 0;
}

/* The vendor's baked-in nodes that the host has, each with an exact rule. */
static int candidate_devices(struct rctx *c)
{
    struct strv cands = {0};
    if (render_gpu_candidates(c->a, gpu_vendor(c), gpu_count(c), &cands)) {
        return rctx_nomem(c);
    }
    for (size_t i = 0; i < cands.n; i++) {
        const char *path = cands.v[i];
        const struct host_device *fact = rctx_device_fact(c, path);
        if (!fact || (fact->type[0] != 'c' && fact->type[0] != 'b')) {
            /* on WSL2 their absence is normal: /dev/dxg serves instead */
            if (!c->wsl && rctx_warn(c, "gpu_device_missing", "resources.gpu",
                                     "GPU device %s not found on host, skipping", path)) {
                return -1;
            }
            continue;
        }
        long long major = opt_or(&fact->major, 0), minor = opt_or(&fact->minor, 0);
        if (add_device(c, path, fact->type, major, minor, 0666, 0, 0)) {
            return -1;
        }
        /* An exact rule too: nvidia-uvm's major is dynamic, not one of the fixed majors. */
        if (!c->privileged && add_rule(c, fact->type, major, minor, "rwm")) {
            return -1;
        }
    }
    return 0;
}

static int gpu_devices(struct rctx *c)
{
    if (!c->gpu) {
        return 0;
    }
    if (c->wsl && !c->wsl->dxg) {
        return rctx_fail(c, "resources.gpu",
                         "GPU requested but WSL2 GPU support not available on this host: "
                         "/dev/dxg is not exposed by the WSL2 kernel inside the configured "
                         "distro; enable WSL2 GPU support (Windows 11 + a recent WSL kernel) or "
                         "drop `resources.gpu` from the service spec");
    }
    if (c->cdi_edits) {
        return cdi_devices(c);
    }
    /* WSL2 has no vendor device nodes and so no use for the vendors' blanket majors. */
    if (!c->privileged && !c->wsl && gpu_rules(c)) {
        return -1;
    }
    if (candidate_devices(c)) {
        return -1;
    }
    return c->wsl ? wsl_dxg_device(c) : 0;
}

int render_devices(struct rctx *c)
{
    return standard_rules(c) || spec_devices(c) || gpu_devices(c);
}

/* A CDI list of strings as a string list whose items point into the CDI edits. */
static int json_strv(struct rctx *c, const json_t *list, struct strv *out)
{
    size_t n = json_array_size(list);
    *out = (struct strv){0};
    if (n == 0) {
        return 0;
    }
    out->v = arena_alloc(c->a, n * sizeof(*out->v));
    if (!out->v) {
        return rctx_nomem(c);
    }
    for (size_t i = 0; i < n; i++) {
        out->v[i] = json_string_value(json_array_get(list, i));
    }
    out->n = out->cap = n;
    return 0;
}

/* A CDI hook appended to its hookName's list; empty args and env are left out. */
static int cdi_hook(struct rctx *c, const json_t *h)
{
    struct oci_hook *hook =
        oci_hook_push(c->a, c->cfg, json_string_value(json_object_get(h, "hookName")));
    if (!hook) {
        return rctx_nomem(c); /* the six hook names fit the table: only OOM gets here */
    }
    hook->path = json_string_value(json_object_get(h, "path"));
    if (json_strv(c, json_object_get(h, "args"), &hook->args) ||
        json_strv(c, json_object_get(h, "env"), &hook->env)) {
        return -1;
    }
    const json_t *timeout = json_object_get(h, "timeout");
    if (timeout) {
        hook->has_timeout = true;
        hook->timeout = json_integer_value(timeout);
    }
    return 0;
}

/* CDI additionalGids: neither root's group 0 nor a gid already listed. */
static int cdi_gids(struct rctx *c, const json_t *gids)
{
    struct oci_gids *have = &c->cfg->process.additional_gids;
    for (size_t j = 0; j < json_array_size(gids); j++) {
        json_int_t g = json_integer_value(json_array_get(gids, j));
        bool dup = g == 0;
        for (size_t k = 0; k < have->n; k++) {
            dup = dup || have->v[k] == g;
        }
        if (!dup && oci_gids_push(c->a, have, (uint32_t)g)) {
            return rctx_nomem(c);
        }
    }
    return 0;
}

/* CDI intelRdt (the last edit that has one wins) and netDevices (merged into one object
 * {hostInterfaceName: {name}}), into c->linux_extra in the order the edits give them: that
 * order is the order of the last members of `linux`. */
static int cdi_linux_extra(struct rctx *c, const json_t *e)
{
    const json_t *rdt = json_object_get(e, "intelRdt");
    const json_t *netdevs = json_object_get(e, "netDevices");
    if (!rdt && json_array_size(netdevs) == 0) {
        return 0;
    }
    json_t *extra = rctx_document(c, &c->linux_extra);
    if (!extra) {
        return -1;
    }
    if (rdt && json_object_set(extra, "intelRdt", (json_t *)(uintptr_t)rdt)) {
        return rctx_nomem(c);
    }
    for (size_t j = 0; j < json_array_size(netdevs); j++) {
        const json_t *nd = json_array_get(netdevs, j);
        json_t *all = json_object_get(extra, "netDevices");
        if (!all) {
            all = json_object();
            if (!all || json_object_set_new(extra, "netDevices", all)) {
                return rctx_nomem(c);
            }
        }
        if (json_object_set_new(all, json_string_value(json_object_get(nd, "hostInterfaceName")),
                                json_pack("{s:s}", "name",
                                          json_string_value(json_object_get(nd, "name"))))) {
            return rctx_nomem(c);
        }
    }
    return 0;
}

/* CDI hooks (a list with hookName), additionalGids, intelRdt, netDevices. */
int render_hooks_and_cdi_extras(struct rctx *c)
{
    for (size_t i = 0; c->cdi_edits && i < json_array_size(c->cdi_edits); i++) {
        const json_t *e = json_array_get(c->cdi_edits, i);
        const json_t *hooks = json_object_get(e, "hooks");
        for (size_t j = 0; j < json_array_size(hooks); j++) {
            if (cdi_hook(c, json_array_get(hooks, j))) {
                return -1;
            }
        }
        if (cdi_gids(c, json_object_get(e, "additionalGids")) || cdi_linux_extra(c, e)) {
            return -1;
        }
    }
    return 0;
}
