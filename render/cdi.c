#include "render/cdi.h"

#include <stdio.h>
#include <string.h>

#include "common/jsonx.h"
#include "common/strutil.h"

#define END {NULL, NULL, 0, NULL}

/* ---- schema ---- */

static const char *const node_types[] = {"", "b", "c", "u", "p", NULL};
static const struct stype st_node_type = {.kind = SK_ENUM, .what = "b, c, u or p",
                                          .enums = node_types};
static const struct stype st_dev_num = {.kind = SK_INT, .what = "a device number", .min = 0,
                                        .max = 4294967295ll};
static int finish_permissions(struct walk *w, json_t *out)
{
    const char *p = json_string_value(out);
    if (strcmp(p, "none") == 0) {
        return 0;
    }
    for (const char *c = p; *c; c++) {
        if (!strchr("rwm", *c) || strchr(c + 1, *c)) {
            return walk_error(w, NULL, "permissions '%s' must be a subset of \"rwm\" or \"none\"", p);
        }
    }
    return 0;
}
static const struct stype st_permissions = {.kind = SK_STRING, .what = "a string",
                                            .finish = finish_permissions};
static int finish_abs(struct walk *w, json_t *out)
{
    return json_string_value(out)[0] == '/'
               ? 0
               : walk_error(w, NULL, "'%s' must be an absolute path", json_string_value(out));
}
static const struct stype st_abs = {.kind = SK_STRING, .what = "an absolute path",
                                    .finish = finish_abs};
static const struct sfield node_fields[] = {
    {"path", &st_abs, SF_REQUIRED, NULL},
    {"hostPath", &st_abs, 0, NULL},
    {"type", &st_node_type, 0, NULL},
    {"major", &st_dev_num, 0, NULL},
    {"minor", &st_dev_num, 0, NULL},
    {"fileMode", &st_u32, 0, NULL},
    {"permissions", &st_permissions, 0, NULL},
    {"uid", &st_u32, 0, NULL},
    {"gid", &st_u32, 0, NULL},
    END,
};
static const struct stype st_node = {.kind = SK_OBJECT, .what = "a device node mapping",
                                     .fields = node_fields};
static const struct stype st_nodes = {.kind = SK_LIST, .what = "a list of device nodes",
                                      .elem = &st_node};
static const struct sfield mount_fields[] = {
    {"hostPath", &st_nonempty_string, SF_REQUIRED, NULL},
    {"containerPath", &st_nonempty_string, SF_REQUIRED, NULL},
    {"options", &st_string_list, 0, NULL},
    {"type", &st_string, 0, NULL},
    END,
};
static const struct stype st_mount = {.kind = SK_OBJECT, .what = "a mount mapping",
                                      .fields = mount_fields};
static const struct stype st_mounts = {.kind = SK_LIST, .what = "a list of mounts",
                                       .elem = &st_mount};
static const char *const hook_names[] = {"prestart",        "createRuntime", "createContainer",
                                         "startContainer",  "poststart",     "poststop",
                                         NULL};
static const struct stype st_hook_name = {.kind = SK_ENUM, .what = "a hook name",
                                          .enums = hook_names};
static const struct stype st_timeout = {.kind = SK_INT, .what = "a timeout in seconds", .min = 1,
                                        .max = 2147483647ll};
static const struct sfield hook_fields[] = {
    {"hookName", &st_hook_name, SF_REQUIRED, NULL},
    {"path", &st_abs, SF_REQUIRED, NULL},
    {"args", &st_string_list, 0, NULL},
    {"env", &st_string_list, 0, NULL},
    {"timeout", &st_timeout, 0, NULL},
    END,
};
static const struct stype st_hook = {.kind = SK_OBJECT, .what = "a hook mapping",
                                     .fields = hook_fields};
static const struct stype st_hooks = {.kind = SK_LIST,
                                      .what = "a list of hooks (each with hookName)",
                                      .elem = &st_hook};
static const struct sfield rdt_fields[] = {
    {"closID", &st_string, 0, NULL},
    {"l3CacheSchema", &st_string, 0, NULL},
    {"memBwSchema", &st_string, 0, NULL},
    {"schemata", &st_string_list, 0, NULL},
    {"enableMonitoring", &st_bool, 0, NULL},
    END,
};
static const struct stype st_rdt = {.kind = SK_OBJECT, .what = "an intelRdt mapping",
                                    .fields = rdt_fields};
static const struct stype st_gids = {.kind = SK_LIST, .what = "a list of group ids",
                                     .elem = &st_u32};
static const struct sfield netdev_fields[] = {
    {"hostInterfaceName", &st_nonempty_string, SF_REQUIRED, NULL},
    {"name", &st_nonempty_string, SF_REQUIRED, NULL},
    END,
};
static const struct stype st_netdev = {.kind = SK_OBJECT, .what = "a net device mapping",
                                       .fields = netdev_fields};
static const struct stype st_netdevs = {.kind = SK_LIST, .what = "a list of net devices",
                                        .elem = &st_netdev};
static int finish_edits(struct walk *w, json_t *out)
{
    json_t *env = json_object_get(out, "env");
    for (size_t i = 0; i < json_array_size(env); i++) {
        const char *e = json_string_value(json_array_get(env, i));
        const char *eq = strchr(e, '=');
        if (!eq || eq == e) {
            size_t saved = walk_push_key(w, "env");
            walk_push_index(w, i);
            walk_error(w, NULL, "CDI env entry '%s' is not KEY=VALUE", e);
            walk_pop(w, saved);
            return -1;
        }
    }
    return 0;
}
static const struct sfield edits_fields[] = {
    {"env", &st_string_list, 0, NULL},
    {"deviceNodes", &st_nodes, 0, NULL},
    {"mounts", &st_mounts, 0, NULL},
    {"hooks", &st_hooks, 0, NULL},
    {"intelRdt", &st_rdt, 0, NULL},
    {"additionalGids", &st_gids, 0, NULL},
    {"netDevices", &st_netdevs, 0, NULL},
    END,
};
static const struct stype st_edits = {.kind = SK_OBJECT, .what = "a containerEdits mapping",
                                      .fields = edits_fields, .finish = finish_edits};
static const struct sfield device_fields[] = {
    {"name", &st_nonempty_string, SF_REQUIRED, NULL},
    {"annotations", &st_string_map, 0, NULL},
    {"containerEdits", &st_edits, SF_REQUIRED, NULL},
    END,
};
static const struct stype st_device = {.kind = SK_OBJECT, .what = "a CDI device mapping",
                                       .fields = device_fields};
static const struct stype st_devices = {.kind = SK_LIST, .what = "a list of CDI devices",
                                        .elem = &st_device};

static const char *const known_versions[] = {"0.1.0", "0.2.0", "0.3.0", "0.4.0", "0.5.0",
                                             "0.6.0", "0.7.0", "0.8.0", "1.0.0", "1.1.0",
                                             NULL};

static int version_index(const char *v)
{
    if (v[0] == 'v') {
        v++;
    }
    for (int i = 0; known_versions[i]; i++) {
        if (strcmp(known_versions[i], v) == 0) {
            return i;
        }
    }
    return -1;
}

static bool edits_use(const json_t *edits, const char *what)
{
    if (!edits) {
        return false;
    }
    if (strcmp(what, "hostPath") == 0 || strcmp(what, "type") == 0) {
        const char *list = what[0] == 'h' ? "deviceNodes" : "mounts";
        json_t *items = json_object_get(edits, list);
        for (size_t i = 0; i < json_array_size(items); i++) {
            if (json_object_get(json_array_get(items, i), what)) {
                return true;
            }
        }
        return false;
    }
    if (strcmp(what, "schemata") == 0 || strcmp(what, "enableMonitoring") == 0) {
        return json_object_get(json_object_get(edits, "intelRdt"), what) != NULL;
    }
    return json_object_get(edits, what) != NULL;
}

/* The CDI library's minimum-version rules (anchors 3.1). */
static int required_version(const json_t *spec)
{
    static const struct {
        const char *feature;
        const char *version;
    } rules[] = {
        {"netDevices", "1.1.0"},  {"schemata", "1.1.0"},         {"enableMonitoring", "1.1.0"},
        {"intelRdt", "0.7.0"},    {"additionalGids", "0.7.0"},   {"hostPath", "0.5.0"},
        {"type", "0.4.0"},
    };
    int need = version_index("0.3.0");
    json_t *devices = json_object_get(spec, "devices");
    bool annotations = json_object_get(spec, "annotations") != NULL;
    for (size_t i = 0; i < json_array_size(devices); i++) {
        const json_t *d = json_array_get(devices, i);
        const char *name = jsonx_get_str(d, "name");
        if (name && name[0] >= '0' && name[0] <= '9') {
            need = need > version_index("0.5.0") ? need : version_index("0.5.0");
        }
        annotations = annotations || json_object_get(d, "annotations");
    }
    if (annotations) {
        need = need > version_index("0.6.0") ? need : version_index("0.6.0");
    }
    for (size_t r = 0; r < sizeof(rules) / sizeof(rules[0]); r++) {
        bool used = edits_use(json_object_get(spec, "containerEdits"), rules[r].feature);
        for (size_t i = 0; !used && i < json_array_size(devices); i++) {
            used = edits_use(json_object_get(json_array_get(devices, i), "containerEdits"),
                             rules[r].feature);
        }
        int v = version_index(rules[r].version);
        if (used && v > need) {
            need = v;
        }
    }
    return need;
}

static bool valid_kind(const char *kind)
{
    const char *slash = strchr(kind, '/');
    if (!slash || slash == kind || !slash[1] || strchr(slash + 1, '/')) {
        return false;
    }
    for (const char *p = kind; *p; p++) {
        bool ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                  (*p >= '0' && *p <= '9') || strchr("-_./", *p);
        if (!ok) {
            return false;
        }
    }
    return true;
}

static bool valid_device_name(const char *n)
{
    size_t len = strlen(n);
    if (!len) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        char c = n[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && ((i == 0 || i == len - 1) || !strchr("_-.:", c))) {
            return false;
        }
    }
    return true;
}

static int finish_spec(struct walk *w, json_t *out)
{
    const char *version = jsonx_get_str(out, "cdiVersion");
    int have = version_index(version);
    if (have < 0) {
        return walk_error(w, NULL, "unknown cdiVersion '%s'", version);
    }
    int need = required_version(out);
    if (have < need) {
        return walk_error(w, NULL, "the spec uses features of CDI %s but declares cdiVersion %s",
                          known_versions[need], version);
    }
    const char *kind = jsonx_get_str(out, "kind");
    if (!valid_kind(kind)) {
        return walk_error(w, NULL, "invalid CDI kind '%s' (expected vendor.com/class)", kind);
    }
    json_t *devices = json_object_get(out, "devices");
    if (json_array_size(devices) == 0) {
        return walk_error(w, NULL, "a CDI spec must declare at least one device");
    }
    for (size_t i = 0; i < json_array_size(devices); i++) {
        const json_t *d = json_array_get(devices, i);
        const char *name = jsonx_get_str(d, "name");
        size_t saved = walk_push_key(w, "devices");
        walk_push_index(w, i);
        if (!valid_device_name(name)) {
            walk_error(w, NULL, "invalid CDI device name '%s'", name);
        } else if (json_object_size(json_object_get(d, "containerEdits")) == 0) {
            walk_error(w, NULL, "CDI device '%s' has no container edits", name);
        }
        for (size_t j = 0; j < i; j++) {
            if (str_eq(name, jsonx_get_str(json_array_get(devices, j), "name"))) {
                walk_error(w, NULL, "CDI device '%s' is declared twice", name);
            }
        }
        walk_pop(w, saved);
    }
    return w->failed ? -1 : 0;
}
static const struct sfield spec_fields[] = {
    {"cdiVersion", &st_nonempty_string, SF_REQUIRED, NULL},
    {"kind", &st_nonempty_string, SF_REQUIRED, NULL},
    {"annotations", &st_string_map, 0, NULL},
    {"devices", &st_devices, SF_REQUIRED, NULL},
    {"containerEdits", &st_edits, 0, NULL},
    END,
};
static const struct stype st_cdi_spec = {.kind = SK_OBJECT, .what = "a CDI spec",
                                         .fields = spec_fields, .finish = finish_spec};
static const struct stype st_priority = {.kind = SK_INT, .what = "a priority", .min = 0,
                                         .max = 1000000};
static const struct sfield wrapper_fields[] = {
    {"priority", &st_priority, SF_REQUIRED, NULL},
    {"path", &st_string, 0, NULL},
    {"spec", &st_cdi_spec, SF_REQUIRED, NULL},
    END,
};
static const struct stype st_wrapper = {.kind = SK_OBJECT, .what = "a CDI entry",
                                        .fields = wrapper_fields};

static json_t *norm_entry(struct walk *w, const struct stype *t, const json_t *in)
{
    (void)t;
    if (json_is_object(in) && json_object_get(in, "spec") && !json_object_get(in, "cdiVersion")) {
        return walk_norm(w, &st_wrapper, in);
    }
    return walk_norm(w, &st_cdi_spec, in);
}
const struct stype cdi_entry_type = {.kind = SK_CUSTOM, .what = "a CDI spec",
                                     .norm = norm_entry};

/* ---- resolution ---- */

const char *cdi_vendor_kind(const char *vendor)
{
    if (strcmp(vendor, "nvidia") == 0) {
        return "nvidia.com/gpu";
    }
    if (strcmp(vendor, "amd") == 0) {
        return "amd.com/gpu";
    }
    if (strcmp(vendor, "intel") == 0) {
        return "intel.com/gpu";
    }
    return NULL;
}

static const json_t *entry_spec(const json_t *entry, long long index, long long *priority)
{
    const json_t *spec = json_object_get(entry, "spec");
    if (spec) {
        *priority = json_integer_value(json_object_get(entry, "priority"));
        return spec;
    }
    *priority = index;
    return entry;
}

static const char *entry_label(const json_t *entry, size_t index, char *buf, size_t size)
{
    const char *path = jsonx_get_str(entry, "path");
    if (path) {
        snprintf(buf, size, "%s", path);
    } else {
        snprintf(buf, size, "host.cdi[%zu]", index);
    }
    return buf;
}

/* True when the specs of `kind` define the device `all` and no other (nvidia-ctk's WSL mode). */
static bool kind_defines_only_all(json_t *const *entries, size_t n_entries, const char *kind)
{
    bool all = false;
    for (size_t i = 0; i < n_entries; i++) {
        long long prio;
        const json_t *spec = entry_spec(entries[i], (long long)i, &prio);
        if (!str_eq(jsonx_get_str(spec, "kind"), kind)) {
            continue;
        }
        const json_t *devs = json_object_get(spec, "devices");
        for (size_t d = 0; d < json_array_size(devs); d++) {
            if (!str_eq(jsonx_get_str(json_array_get(devs, d), "name"), "all")) {
                return false;
            }
            all = true;
        }
    }
    return all;
}

int cdi_resolve(json_t *const *entries, size_t n_entries, const char *kind, unsigned count,
                const char *count_path, bool *present, bool *all_only, json_t **edits,
                struct err *err)
{
    *present = false;
    *all_only = false;
    for (size_t i = 0; i < n_entries; i++) {
        long long prio;
        const json_t *spec = entry_spec(entries[i], (long long)i, &prio);
        if (str_eq(jsonx_get_str(spec, "kind"), kind)) {
            *present = true;
        }
    }
    if (!*present) {
        *edits = NULL;
        return 0;
    }
    *all_only = kind_defines_only_all(entries, n_entries, kind);
    unsigned wanted = *all_only ? 1 : count;
    json_t *out = json_array();
    json_t *touched = json_array(); /* specs whose own edits were already added */
    if (!out || !touched) {
        goto nomem;
    }
    for (unsigned n = 0; n < wanted; n++) {
        char name[16];
        if (*all_only) {
            snprintf(name, sizeof(name), "all");
        } else {
            snprintf(name, sizeof(name), "%u", n);
        }
        const json_t *best_spec = NULL, *best_dev = NULL;
        long long best_prio = -1;
        size_t best_index = 0;
        for (size_t i = 0; i < n_entries; i++) {
            long long prio;
            const json_t *entry = entries[i];
            const json_t *spec = entry_spec(entry, (long long)i, &prio);
            if (!str_eq(jsonx_get_str(spec, "kind"), kind)) {
                continue;
            }
            json_t *devs = json_object_get(spec, "devices");
            for (size_t d = 0; d < json_array_size(devs); d++) {
                const json_t *dev = json_array_get(devs, d);
                if (!str_eq(jsonx_get_str(dev, "name"), name)) {
                    continue;
                }
                if (best_dev && prio == best_prio) {
                    char a[128], b[128];
                    err_set(err, ERR_SPEC_INVALID, "host.cdi",
                            "CDI device %s=%s is defined twice at the same priority (%s and %s)",
                            kind, name, entry_label(entries[best_index], best_index, a,
                                                    sizeof(a)),
                            entry_label(entry, i, b, sizeof(b)));
                    goto fail;
                }
                if (prio > best_prio) {
                    best_prio = prio;
                    best_spec = spec;
                    best_dev = dev;
                    best_index = i;
                }
            }
        }
        if (!best_dev) {
            err_set(err, ERR_SPEC_INVALID, count_path,
                    "CDI device '%s=%s' is not declared by the CDI specs for kind '%s' "
                    "(gpu.count asks for %u)",
                    kind, name, kind, count);
            goto fail;
        }
        bool seen = false;
        for (size_t t = 0; t < json_array_size(touched); t++) {
            seen = seen || json_array_get(touched, t) == best_spec;
        }
        if (!seen) {
            const json_t *spec_edits = json_object_get(best_spec, "containerEdits");
            if (json_array_append(touched, (json_t *)(uintptr_t)best_spec) ||
                (spec_edits && json_array_append(out, (json_t *)(uintptr_t)spec_edits))) {
                goto nomem;
            }
        }
        if (json_array_append(out, json_object_get(best_dev, "containerEdits"))) {
            goto nomem;
        }
    }
    json_decref(touched);
    *edits = out;
    return 0;
nomem:
    err_nomem(err);
fail:
    json_decref(out);
    json_decref(touched);
    return -1;
}
