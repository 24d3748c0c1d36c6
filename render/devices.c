/*
 * Devices and device-cgroup rules (the original renderer's rules, device numbers from facts, CDI): spec devices from
 * host facts (real major/minor), CDI device nodes, baked-in GPU nodes; CDI hooks and extras.
 */
#include <stdio.h>
#include <string.h>

#include "common/jsonx.h"
#include "common/strutil.h"
#include "render/cdi.h"
#include "render/ctx.h"

static const char *gpu_vendor(const struct rctx *c)
{
    const char *v = jsonx_get_str(c->gpu, "vendor");
    return v ? v : "nvidia";
}

static unsigned gpu_count(const struct rctx *c)
{
    const json_t *n = json_object_get(c->gpu, "count");
    return n ? (unsigned)json_integer_value(n) : 1;
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
    rctx_path(c, count_path, sizeof(count_path), "resources.gpu.count");
    if (cdi_resolve(json_object_get(c->req->host, "cdi"), kind, gpu_count(c), count_path,
                    &present, &c->cdi_all, &c->cdi_edits, c->err)) {
        snprintf(prefix, sizeof(prefix), "CDI resolution failed for vendor '%s': ", gpu_vendor(c));
        err_prefix(c->err, prefix);
        return -1;
    }
    if (!c->cdi_all) {
        return 0;
    }
    return rctx_warn(c, "cdi_all_only",
                     json_object_get(c->gpu, "count") ? "resources.gpu.count" : "resources.gpu",
                     "the CDI specs of kind '%s' define only the device 'all' (as nvidia-ctk "
                     "generates on WSL2): %s=all serves gpu.count %u and exposes every GPU of the "
                     "node; the vendor's visibility variables select the first %u",
                     kind, kind, gpu_count(c), gpu_count(c));
}

static json_t *device_entry(const char *path, const char *type, long long major, long long minor,
                            long long mode, long long uid, long long gid)
{
    if (type[0] == 'p') {
        return json_pack("{s:s, s:s, s:I, s:I, s:I}", "path", path, "type", type, "fileMode",
                         (json_int_t)mode, "uid", (json_int_t)uid, "gid", (json_int_t)gid);
    }
    return json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:I}", "path", path, "type", type, "major",
                     (json_int_t)major, "minor", (json_int_t)minor, "fileMode", (json_int_t)mode,
                     "uid", (json_int_t)uid, "gid", (json_int_t)gid);
}

static int add_rule(struct rctx *c, const char *type, long long major, long long minor,
                    const char *access)
{
    json_t *r;
    if (minor < 0) {
        r = json_pack("{s:b, s:s, s:I, s:s}", "allow", 1, "type", type, "major", (json_int_t)major,
                      "access", access);
    } else {
        r = json_pack("{s:b, s:s, s:I, s:I, s:s}", "allow", 1, "type", type, "major",
                      (json_int_t)major, "minor", (json_int_t)minor, "access", access);
    }
    if (!r || json_array_append_new(c->dev_rules, r)) {
        return rctx_nomem(c);
    }
    return 0;
}

static int remove_device(struct rctx *c, const char *path)
{
    for (size_t i = json_array_size(c->devices); i-- > 0;) {
        if (str_eq(jsonx_get_str(json_array_get(c->devices, i), "path"), path)) {
            json_array_remove(c->devices, i);
        }
    }
    return 0;
}

static int add_device_new(struct rctx *c, json_t *d)
{
    if (!d) {
        return rctx_nomem(c);
    }
    remove_device(c, jsonx_get_str(d, "path"));
    return json_array_append_new(c->devices, d) ? rctx_nomem(c) : 0;
}

static long long fact_int(const json_t *fact, const char *key, long long fallback)
{
    const json_t *v = json_object_get(fact, key);
    return v ? json_integer_value(v) : fallback;
}

/* The device cgroup: deny everything, then allow the standard character devices. */
static int standard_rules(struct rctx *c)
{
    static const int std[][2] = {{1, 3}, {1, 5}, {1, 7}, {1, 8}, {1, 9}, {5, 0}, {5, 1}, {5, 2}};
    if (c->privileged) {
        json_t *r = json_pack("{s:b, s:s}", "allow", 1, "access", "rwm");
        return (!r || json_array_append_new(c->dev_rules, r)) ? rctx_nomem(c) : 0;
    }
    json_t *deny = json_pack("{s:b, s:s}", "allow", 0, "access", "rwm");
    if (!deny || json_array_append_new(c->dev_rules, deny)) {
        return rctx_nomem(c);
    }
    for (size_t i = 0; i < sizeof(std) / sizeof(std[0]); i++) {
        if (add_rule(c, "c", std[i][0], std[i][1], "rwm")) {
            return -1;
        }
    }
    return add_rule(c, "c", 136, -1, "rwm");
}

static int spec_devices(struct rctx *c)
{
    const json_t *list = json_object_get(c->svc, "devices");
    for (size_t i = 0; i < json_array_size(list); i++) {
        const json_t *d = json_array_get(list, i);
        const char *path = jsonx_get_str(d, "path");
        char field[40];
        snprintf(field, sizeof(field), "devices[%zu]", i);
        if (path[0] != '/') {
            return rctx_fail(c, field, "device path '%s' must be absolute", path);
        }
        const json_t *fact = rctx_device_fact(c, path);
        const char *type = jsonx_get_str(fact, "type");
        if (!fact) {
            if (rctx_warn(c, "device_missing", field,
                          "Failed to get device info for %s (not in host.devices), skipping",
                          path)) {
                return -1;
            }
            continue;
        }
        if (type[0] == 'u') {
            if (rctx_warn(c, "device_not_a_device", field,
                          "%s is not a device node on the host, skipping", path)) {
                return -1;
            }
            continue;
        }
        long long major = fact_int(fact, "major", 0), minor = fact_int(fact, "minor", 0);
        if (add_device_new(c, device_entry(path, type, major, minor, 0666, 0, 0))) {
            return -1;
        }
        if (c->privileged || type[0] == 'p') {
            continue;
        }
        char access[4];
        size_t n = 0;
        const json_t *rd = json_object_get(d, "read"), *wr = json_object_get(d, "write");
        if (!rd || json_is_true(rd)) {
            access[n++] = 'r';
        }
        if (!wr || json_is_true(wr)) {
            access[n++] = 'w';
        }
        if (json_is_true(json_object_get(d, "mknod"))) {
            access[n++] = 'm';
        }
        access[n] = '\0';
        if (add_rule(c, type, major, minor, access[0] ? access : "rw")) {
            return -1;
        }
    }
    return 0;
}

/* A CDI device node: spec values first, host facts for what is missing (CDI fillMissingInfo). */
static int cdi_node(struct rctx *c, const json_t *node)
{
    const char *path = jsonx_get_str(node, "path");
    const char *host_path = jsonx_get_str(node, "hostPath");
    const json_t *fact = rctx_device_fact(c, host_path ? host_path : path);
    const char *type = jsonx_get_str(node, "type");
    const char *fact_type = jsonx_get_str(fact, "type");
    char field[64];
    snprintf(field, sizeof(field), "resources.gpu");
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
    bool have_numbers = json_object_get(node, "major") && json_object_get(node, "minor");
    long long major = 0, minor = 0;
    if (have_numbers) {
        major = json_integer_value(json_object_get(node, "major"));
        minor = json_integer_value(json_object_get(node, "minor"));
    } else if (fact && (fact_type[0] == 'c' || fact_type[0] == 'b')) {
        major = fact_int(fact, "major", 0);
        minor = fact_int(fact, "minor", 0);
        have_numbers = true;
    }
    if (!type || (type[0] != 'p' && !have_numbers)) {
        return rctx_fail(c, field,
                         "CDI device node %s has no type/major/minor in its spec and no host facts "
                         "for %s (send host.devices)",
                         path, host_path ? host_path : path);
    }
    long long mode = fact_int(node, "fileMode", fact_int(fact, "mode", 0666) & 07777);
    long long uid = fact_int(node, "uid", c->uid > 0 ? c->uid : 0);
    long long gid = fact_int(node, "gid", c->gid > 0 ? c->gid : 0);
    if (add_device_new(c, device_entry(path, type, major, minor, mode, uid, gid))) {
        return -1;
    }
    const char *perms = jsonx_get_str(node, "permissions");
    if (c->privileged || type[0] == 'p' || str_eq(perms, "none")) {
        return 0;
    }
    return add_rule(c, type, major, minor, perms && *perms ? perms : "rwm");
}

/* Baked-in device candidates per vendor, as the original renderer has them. */
int render_gpu_candidates(const char *vendor, unsigned n, json_t *out)
{
    char p[64];
    int rc = 0;
    if (strcmp(vendor, "nvidia") == 0) {
        rc = jsonx_append_str(out, "/dev/nvidiactl") || jsonx_append_str(out, "/dev/nvidia-uvm") ||
             jsonx_append_str(out, "/dev/nvidia-uvm-tools");
        for (unsigned i = 0; !rc && i < n; i++) {
            snprintf(p, sizeof(p), "/dev/nvidia%u", i);
            rc = jsonx_append_str(out, p);
        }
        return rc;
    }
    if (strcmp(vendor, "amd") == 0) {
        rc = jsonx_append_str(out, "/dev/kfd");
    }
    for (unsigned i = 0; !rc && i < n; i++) {
        snprintf(p, sizeof(p), "/dev/dri/renderD%u", 128 + i);
        rc = jsonx_append_str(out, p);
    }
    if (strcmp(vendor, "amd") == 0 || strcmp(vendor, "intel") == 0) {
        for (unsigned i = 0; !rc && i < n; i++) {
            snprintf(p, sizeof(p), "/dev/dri/card%u", i);
            rc = jsonx_append_str(out, p);
        }
    }
    return rc;
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

static bool rule_exists(const struct rctx *c, const char *type, long long major, long long minor)
{
    for (size_t i = 0; i < json_array_size(c->dev_rules); i++) {
        const json_t *r = json_array_get(c->dev_rules, i);
        const json_t *mi = json_object_get(r, "minor");
        if (json_is_true(json_object_get(r, "allow")) && str_eq(jsonx_get_str(r, "type"), type) &&
            fact_int(r, "major", -1) == major && (!mi || json_integer_value(mi) == minor) &&
            str_eq(jsonx_get_str(r, "access"), "rwm")) {
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
    for (size_t i = 0; i < json_array_size(c->devices); i++) {
        if (str_eq(jsonx_get_str(json_array_get(c->devices, i), "path"), "/dev/dxg")) {
            return 0;
        }
    }
    const json_t *dxg = json_object_get(c->wsl, "dxg");
    long long major = fact_int(dxg, "major", 0), minor = fact_int(dxg, "minor", 0);
    if (add_device_new(c, device_entry("/dev/dxg", "c", major, minor, 0666, 0, 0))) {
        return -1;
    }
    if (c->privileged || rule_exists(c, "c", major, minor)) {
        return 0;
    }
    return add_rule(c, "c", major, minor, "rwm");
}

static int gpu_devices(struct rctx *c)
{
    if (!c->gpu) {
        return 0;
    }
    if (c->wsl && !json_object_get(c->wsl, "dxg")) {
        return rctx_fail(c, "resources.gpu",
                         "GPU requested but WSL2 GPU support not available on this host: "
                         "/dev/dxg is not exposed by the WSL2 kernel inside the configured "
                         "distro; enable WSL2 GPU support (Windows 11 + a recent WSL kernel) or "
                         "drop `resources.gpu` from the service spec");
    }
    if (c->cdi_edits) {
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
    /* WSL2 has no vendor device nodes and so no use for the vendors' blanket majors. */
    if (!c->privileged && !c->wsl && gpu_rules(c)) {
        return -1;
    }
    json_t *cands = json_array();
    if (!cands || render_gpu_candidates(gpu_vendor(c), gpu_count(c), cands)) {
        json_decref(cands);
        return rctx_nomem(c);
    }
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < json_array_size(cands); i++) {
        const char *path = json_string_value(json_array_get(cands, i));
        const json_t *fact = rctx_device_fact(c, path);
        const char *type = jsonx_get_str(fact, "type");
        if (!fact || (type[0] != 'c' && type[0] != 'b')) {
            if (!c->wsl) { /* on WSL2 their absence is normal: /dev/dxg serves instead */
                rc = rctx_warn(c, "gpu_device_missing", "resources.gpu",
                               "GPU device %s not found on host, skipping", path);
            }
            continue;
        }
        long long major = fact_int(fact, "major", 0), minor = fact_int(fact, "minor", 0);
        rc = add_device_new(c, device_entry(path, type, major, minor, 0666, 0, 0));
        /* An exact rule too: nvidia-uvm's major is dynamic, not one of the fixed majors. */
        if (rc == 0 && !c->privileged) {
            rc = add_rule(c, type, major, minor, "rwm");
        }
    }
    json_decref(cands);
    if (rc || !c->wsl) {
        return rc;
    }
    return wsl_dxg_device(c);
}

int render_devices(struct rctx *c)
{
    return standard_rules(c) || spec_devices(c) || gpu_devices(c);
}

/* CDI hooks (a list with hookName), additionalGids, intelRdt, netDevices. */
int render_hooks_and_cdi_extras(struct rctx *c)
{
    for (size_t i = 0; c->cdi_edits && i < json_array_size(c->cdi_edits); i++) {
        const json_t *e = json_array_get(c->cdi_edits, i);
        const json_t *hooks = json_object_get(e, "hooks");
        for (size_t j = 0; j < json_array_size(hooks); j++) {
            const json_t *h = json_array_get(hooks, j);
            const char *name = jsonx_get_str(h, "hookName");
            json_t *list = json_object_get(c->hooks, name);
            json_t *hook = json_pack("{s:s}", "path", jsonx_get_str(h, "path"));
            const json_t *args = json_object_get(h, "args");
            const json_t *env = json_object_get(h, "env");
            const json_t *timeout = json_object_get(h, "timeout");
            if (!list) {
                list = json_array();
                if (!list || json_object_set_new(c->hooks, name, list)) {
                    json_decref(hook);
                    return rctx_nomem(c);
                }
            }
            if (!hook || (json_array_size(args) && json_object_set(hook, "args", (json_t *)(uintptr_t)args)) ||
                (json_array_size(env) && json_object_set(hook, "env", (json_t *)(uintptr_t)env)) ||
                (timeout && json_object_set(hook, "timeout", (json_t *)(uintptr_t)timeout)) ||
                json_array_append_new(list, hook)) {
                return rctx_nomem(c);
            }
        }
        const json_t *gids = json_object_get(e, "additionalGids");
        for (size_t j = 0; j < json_array_size(gids); j++) {
            json_int_t g = json_integer_value(json_array_get(gids, j));
            bool dup = g == 0;
            for (size_t k = 0; k < json_array_size(c->additional_gids); k++) {
                dup = dup || json_integer_value(json_array_get(c->additional_gids, k)) == g;
            }
            if (!dup && json_array_append_new(c->additional_gids, json_integer(g))) {
                return rctx_nomem(c);
            }
        }
        const json_t *rdt = json_object_get(e, "intelRdt");
        if (rdt && json_object_set(c->linux_extra, "intelRdt", (json_t *)(uintptr_t)rdt)) {
            return rctx_nomem(c);
        }
        const json_t *netdevs = json_object_get(e, "netDevices");
        for (size_t j = 0; j < json_array_size(netdevs); j++) {
            const json_t *nd = json_array_get(netdevs, j);
            json_t *all = json_object_get(c->linux_extra, "netDevices");
            if (!all) {
                all = json_object();
                if (!all || json_object_set_new(c->linux_extra, "netDevices", all)) {
                    return rctx_nomem(c);
                }
            }
            if (json_object_set_new(all, jsonx_get_str(nd, "hostInterfaceName"),
                                    json_pack("{s:s}", "name", jsonx_get_str(nd, "name")))) {
                return rctx_nomem(c);
            }
        }
    }
    return 0;
}
