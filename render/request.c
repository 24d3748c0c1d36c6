/*
 * Render requests: a plain spec, or an envelope {spec, service, container,
 * image_config, host, options}, plus query/flag parameters that override envelope members.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/jsonx.h"
#include "common/limits.h"
#include "common/strutil.h"
#include "render/cdi.h"
#include "render/seccomp.h"
#include "render/spec.h"

#define END {NULL, NULL, 0, NULL}

/* ---- host facts ---- */

static const struct stype st_uid = {.kind = SK_INT, .what = "an id (0..2147483647)", .min = 0,
                                    .max = 2147483647ll};
static const struct sfield user_fields[] = {
    {"uid", &st_uid, 0, NULL},
    {"gid", &st_uid, 0, NULL},
    {"name", &st_string, 0, NULL},
    END,
};
static const struct stype st_host_user = {.kind = SK_OBJECT, .what = "a user mapping",
                                          .fields = user_fields};
static const struct stype st_id_count = {.kind = SK_INT, .what = "a count (1..4294967295)",
                                         .min = 1, .max = 4294967295ll};
static const struct sfield subid_fields[] = {
    {"start", &st_u32, SF_REQUIRED, NULL},
    {"count", &st_id_count, SF_REQUIRED, NULL},
    END,
};
static const struct stype st_subid = {.kind = SK_OBJECT, .what = "a {start, count} mapping",
                                      .fields = subid_fields};
static const struct stype st_cgroup_version = {.kind = SK_INT, .what = "1 or 2", .min = 1,
                                               .max = 2};
static const struct sfield cgroup_fields[] = {
    {"version", &st_cgroup_version, 0, NULL},
    {"parent", &st_string, 0, NULL},
    END,
};
static const struct stype st_host_cgroup = {.kind = SK_OBJECT, .what = "a cgroup mapping",
                                            .fields = cgroup_fields};

static const char *const device_types[] = {"c", "b", "p", "u", NULL};
static const struct stype st_device_type = {.kind = SK_ENUM, .what = "c, b, p or u",
                                            .enums = device_types};
static const struct stype st_dev_number = {.kind = SK_INT, .what = "a device number", .min = 0,
                                           .max = 4294967295ll};
static int finish_host_device(struct walk *w, json_t *out)
{
    const char *type = jsonx_get_str(out, "type");
    const char *path = jsonx_get_str(out, "path");
    if (path[0] != '/') {
        return walk_error(w, NULL, "device path '%s' must be absolute", path);
    }
    if (type && (type[0] == 'c' || type[0] == 'b') &&
        (!json_object_get(out, "major") || !json_object_get(out, "minor"))) {
        return walk_error(w, NULL, "a %s device needs major and minor", type);
    }
    return 0;
}
static const struct sfield host_device_fields[] = {
    {"path", &st_nonempty_string, SF_REQUIRED, NULL},
    {"type", &st_device_type, SF_REQUIRED, NULL},
    {"major", &st_dev_number, 0, NULL},
    {"minor", &st_dev_number, 0, NULL},
    {"mode", &st_u32, 0, NULL},
    {"uid", &st_u32, 0, NULL},
    {"gid", &st_u32, 0, NULL},
    END,
};
static const struct stype st_host_device = {.kind = SK_OBJECT, .what = "a device mapping",
                                            .fields = host_device_fields,
                                            .finish = finish_host_device};
static const struct stype st_host_devices = {.kind = SK_LIST, .what = "a list of devices",
                                             .elem = &st_host_device};
static const struct sfield rootfs_fields[] = {
    {"passwd", &st_string, 0, NULL},
    {"group", &st_string, 0, NULL},
    END,
};
static const struct stype st_host_rootfs = {.kind = SK_OBJECT, .what = "a rootfs mapping",
                                            .fields = rootfs_fields};
static const struct stype st_host_cdi = {.kind = SK_LIST, .what = "a list of CDI specs",
                                         .elem = &cdi_entry_type};

/* WSL2 (docs/wsl2.md): the library directories are the two the Windows driver provides. */
static const char *const wsl_lib_dirs[] = {"/usr/lib/wsl/lib", "/usr/lib/wsl/drivers", NULL};
static const struct stype st_wsl_lib_dir = {.kind = SK_ENUM,
                                            .what = "/usr/lib/wsl/lib or /usr/lib/wsl/drivers",
                                            .enums = wsl_lib_dirs};
static int finish_wsl_lib_dirs(struct walk *w, json_t *out)
{
    for (size_t i = 1; i < json_array_size(out); i++) {
        const char *dir = json_string_value(json_array_get(out, i));
        for (size_t j = 0; j < i; j++) {
            if (str_eq(dir, json_string_value(json_array_get(out, j)))) {
                size_t saved = walk_push_index(w, i);
                walk_error(w, NULL, "'%s' is listed twice", dir);
                walk_pop(w, saved);
                return -1;
            }
        }
    }
    return 0;
}
static const struct stype st_wsl_lib_dirs = {.kind = SK_LIST, .what = "a list of WSL library "
                                             "directories", .elem = &st_wsl_lib_dir,
                                             .finish = finish_wsl_lib_dirs};
static const struct sfield dxg_fields[] = {
    {"major", &st_dev_number, SF_REQUIRED, NULL},
    {"minor", &st_dev_number, SF_REQUIRED, NULL},
    END,
};
static const struct stype st_dxg = {.kind = SK_OBJECT, .what = "a {major, minor} mapping",
                                    .fields = dxg_fields};
static const struct sfield wsl_fields[] = {
    {"kernel", &st_nonempty_string, SF_REQUIRED, NULL},
    {"distro", &st_nonempty_string, 0, NULL},
    {"dxg", &st_dxg, 0, NULL},
    {"lib_dirs", &st_wsl_lib_dirs, 0, NULL},
    END,
};
static const struct stype st_host_wsl = {.kind = SK_OBJECT, .what = "a WSL2 mapping",
                                         .fields = wsl_fields};
static const struct sfield host_fields[] = {
    {"user", &st_host_user, 0, NULL},
    {"subuid", &st_subid, 0, NULL},
    {"subgid", &st_subid, 0, NULL},
    {"cgroup", &st_host_cgroup, 0, NULL},
    {"devices", &st_host_devices, 0, NULL},
    {"dirs", &st_string_list, 0, NULL},
    {"files", &st_string_list, 0, NULL},
    {"cdi", &st_host_cdi, 0, NULL},
    {"env", &st_string_map, 0, NULL},
    {"rootfs", &st_host_rootfs, 0, NULL},
    {"wsl", &st_host_wsl, 0, NULL},
    {"arch", &st_nonempty_string, 0, NULL},
    END,
};
const struct stype request_host_type = {.kind = SK_OBJECT, .what = "a host facts mapping",
                                        .fields = host_fields};

/* ---- image config ---- */

static const struct sfield image_config_fields[] = {
    {"Entrypoint", &st_string_list, 0, NULL},
    {"Cmd", &st_string_list, 0, NULL},
    {"Env", &st_string_list, 0, NULL},
    {"WorkingDir", &st_string, 0, NULL},
    {"User", &st_string, 0, NULL},
    END,
};
static const struct stype st_image_config_fields = {.kind = SK_OBJECT,
                                                    .what = "an image config mapping",
                                                    .fields = image_config_fields, .open = true};

/* Either the `config` object of an image config, or a whole image config blob holding one. */
static json_t *norm_image_config(struct walk *w, const struct stype *t, const json_t *in)
{
    (void)t;
    const json_t *cfg = json_object_get(in, "config");
    if (json_is_object(in) && cfg) {
        if (walk_is_null(w, cfg)) {
            return json_object();
        }
        size_t saved = walk_push_key(w, "config");
        json_t *out = walk_norm(w, &st_image_config_fields, cfg);
        walk_pop(w, saved);
        return out;
    }
    return walk_norm(w, &st_image_config_fields, in);
}
const struct stype request_image_config_type = {.kind = SK_CUSTOM, .what = "an image config",
                                                .norm = norm_image_config};

/* ---- options, container, envelope ---- */

static json_t *norm_env_pairs(struct walk *w, const struct stype *t, const json_t *in)
{
    if (!json_is_array(in)) {
        walk_error(w, in, "expected %s", t->what);
        return NULL;
    }
    json_t *out = json_array();
    if (!out) {
        return walk_oom(w);
    }
    for (size_t i = 0; i < json_array_size(in); i++) {
        const json_t *pair = json_array_get(in, i);
        size_t saved = walk_push_index(w, i);
        json_t *p = walk_norm(w, &st_string_list, pair);
        if (p && json_array_size(p) != 2) {
            walk_error(w, pair, "expected a [name, value] pair");
        } else if (p && json_string_length(json_array_get(p, 0)) == 0) {
            walk_error(w, pair, "the variable name must not be empty");
        } else if (p && strchr(json_string_value(json_array_get(p, 0)), '=')) {
            walk_error(w, pair, "the variable name must not contain '='");
        } else if (p && json_array_append(out, p)) {
            walk_oom(w);
        }
        json_decref(p);
        walk_pop(w, saved);
    }
    return out;
}
static const struct stype st_env_pairs = {.kind = SK_CUSTOM,
                                          .what = "a list of [name, value] pairs",
                                          .norm = norm_env_pairs};
static int finish_absolute(struct walk *w, json_t *out)
{
    return json_string_value(out)[0] == '/'
               ? 0
               : walk_error(w, NULL, "'%s' must be an absolute path", json_string_value(out));
}
static const struct stype st_abs_path = {.kind = SK_STRING, .what = "an absolute path",
                                         .finish = finish_absolute};
static const struct stype st_abs_path_map = {.kind = SK_MAP, .what = "a mapping of paths",
                                             .elem = &st_abs_path};
static const struct sfield options_fields[] = {
    {"hostname", &st_string, 0, NULL},
    {"host_network", &st_bool, 0, NULL},
    {"cwd", &st_string, 0, NULL},
    {"args", &st_string_list, 0, NULL},
    {"env", &st_env_pairs, 0, NULL},
    {"volume_paths", &st_abs_path_map, 0, NULL},
    {"socket_path", &st_abs_path, 0, NULL},
    {"bundle_dir", &st_abs_path, 0, NULL},
    {"scope", &st_nonempty_string, 0, NULL},
    {"oci_version", &st_nonempty_string, 0, NULL},
    {"seccomp_profile", &seccomp_profile_type, 0, NULL},
    END,
};
static const struct stype st_options = {.kind = SK_OBJECT, .what = "an options mapping",
                                        .fields = options_fields};

static const struct stype st_replica = {.kind = SK_INT, .what = "a replica number", .min = 0,
                                        .max = 4294967295ll};
static const struct sfield container_fields[] = {
    {"service", &st_nonempty_string, 0, NULL},
    {"replica", &st_replica, 0, NULL},
    {"role", &st_nonempty_string, 0, NULL},
    {"node_id", &st_u64, 0, NULL},
    END,
};
static const struct stype st_container = {.kind = SK_OBJECT, .what = "a container mapping",
                                          .fields = container_fields};

/* The spec member stays raw here: it is normalized separately (it may be a string). */
static const struct sfield envelope_fields[] = {
    {"spec", &st_any, SF_REQUIRED, NULL},
    {"service", &st_nonempty_string, 0, NULL},
    {"container", &st_container, 0, NULL},
    {"image_config", &request_image_config_type, 0, NULL},
    {"host", &request_host_type, 0, NULL},
    {"options", &st_options, 0, NULL},
    END,
};
const struct stype request_envelope_type = {.kind = SK_OBJECT, .what = "an envelope mapping",
                                         .fields = envelope_fields};

/* ---- helpers ---- */

void render_request_free(struct render_request *req)
{
    if (!req) {
        return;
    }
    json_decref(req->spec);
    json_decref(req->image_config);
    json_decref(req->host);
    json_decref(req->options);
    free(req->service_name);
    free(req->deployment_name);
    free(req->container_service);
    free(req->role);
    free(req->container_id);
    free(req->scope);
    free(req->hostname);
    render_secret_refs_release(&req->refs);
    free(req->bad_ref_key);
    free(req->bad_ref_msg);
    free(req);
}

static bool looks_like_deployment(const json_t *root)
{
    return json_object_get(root, "version") || json_object_get(root, "deployment") ||
           json_object_get(root, "services") || !json_object_get(root, "image");
}

/* Normalize a spec document (DeploymentSpec or bare ServiceSpec) into req->spec. */
static int load_spec(struct render_request *req, const struct doc *doc, struct err *err)
{
    struct walk w;
    walk_init(&w, doc, err, "");
    const json_t *root = doc->root;
    if (looks_like_deployment(root) && !json_object_get(root, "version") &&
        !json_object_get(root, "deployment") && !json_object_get(root, "services")) {
        return err_set(err, ERR_SPEC_INVALID, "",
                       "not a ZLayer spec: expected a DeploymentSpec (version, deployment, "
                       "services) or a ServiceSpec (a mapping with `image`)");
    }
    bool deployment = looks_like_deployment(root);
    json_t *spec = walk_norm(&w, deployment ? &spec_deployment_type : &spec_service_type, root);
    if (!spec) {
        return -1;
    }
    req->spec = spec;
    if (deployment) {
        req->deployment_name = str_dup(jsonx_get_str(spec, "deployment"));
        if (!req->deployment_name) {
            return err_nomem(err);
        }
    }
    return 0;
}

static int set_str(char **dst, const char *src, struct err *err)
{
    free(*dst);
    *dst = str_dup(src);
    return (*dst || !src) ? 0 : err_nomem(err);
}

/* Pick the service, fill ContainerId, scope, hostname and host_network. */
static int resolve_identity(struct render_request *req, const json_t *envelope,
                            const struct render_params *p, struct err *err)
{
    const json_t *container = json_object_get(envelope, "container");
    const char *service = p->service ? p->service : jsonx_get_str(envelope, "service");
    if (!service) {
        service = jsonx_get_str(container, "service");
    }

    if (req->deployment_name) {
        json_t *services = json_object_get(req->spec, "services");
        if (!service) {
            if (json_object_size(services) == 0) {
                return err_set(err, ERR_SPEC_INVALID, "services", "the deployment has no services");
            }
            if (json_object_size(services) > 1) {
                return err_set(err, ERR_SPEC_INVALID, "service",
                               "the deployment has %zu services: choose one with `service`",
                               json_object_size(services));
            }
            service = json_object_iter_key(json_object_iter(services));
        }
        req->service = json_object_get(services, service);
        if (!req->service) {
            char names[256] = "";
            size_t n = 0;
            const char *name;
            json_t *svc;
            json_object_foreach(services, name, svc)
            {
                int w = snprintf(names + n, sizeof(names) - n, "%s%s", n ? ", " : "", name);
                if (w < 0 || (size_t)w >= sizeof(names) - n) {
                    break;
                }
                n += (size_t)w;
            }
            return err_set(err, ERR_SPEC_INVALID, "service",
                           "unknown service '%s' (the deployment defines: %s)", service,
                           n ? names : "no services");
        }
    } else {
        req->service = req->spec;
        if (!service) {
            service = "service";
        }
    }
    if (!spec_valid_service_name(service)) {
        return err_set(err, ERR_SPEC_INVALID, "service", "invalid service name '%s'", service);
    }
    if (set_str(&req->service_name, service, err)) {
        return -1;
    }

    const char *csvc = jsonx_get_str(container, "service");
    if (set_str(&req->container_service, csvc ? csvc : service, err)) {
        return -1;
    }
    if (p->service) {
        if (set_str(&req->container_service, p->service, err)) {
            return -1;
        }
    }
    if (!spec_valid_service_name(req->container_service)) {
        return err_set(err, ERR_SPEC_INVALID, "container.service", "invalid service name '%s'",
                       req->container_service);
    }

    uint64_t v = 1;
    if (p->has_replica) {
        v = p->replica;
    } else if (json_object_get(container, "replica")) {
        v = (uint64_t)json_integer_value(json_object_get(container, "replica"));
    }
    req->replica = (uint32_t)v;

    const char *role = p->role ? p->role : jsonx_get_str(container, "role");
    if (!role) {
        role = "default";
    }
    if (strcmp(role, "default") != 0 && !spec_valid_role(role)) {
        return err_set(err, p->role ? ERR_BAD_REQUEST : ERR_SPEC_INVALID, "role",
                       "role '%s' must match ^[a-z]([a-z0-9-]{0,28}[a-z0-9])?$", role);
    }
    if (set_str(&req->role, role, err)) {
        return -1;
    }
    v = 0;
    if (p->has_node_id && p->node_id > RENDER_NODE_ID_MAX) {
        return err_set(err, ERR_SPEC_INVALID, "node_id", "node_id must be at most %llu",
                       (unsigned long long)RENDER_NODE_ID_MAX);
    }
    if (p->has_node_id) {
        v = p->node_id;
    } else if (json_object_get(container, "node_id")) {
        v = (uint64_t)json_integer_value(json_object_get(container, "node_id"));
    }
    req->node_id = v;

    char id[256];
    if (strcmp(req->role, "default") == 0 && req->node_id == 0) {
        snprintf(id, sizeof(id), "%s-rep-%u", req->container_service, req->replica);
    } else {
        snprintf(id, sizeof(id), "%s-%s-%u-on-%llu", req->container_service, req->role,
                 req->replica, (unsigned long long)req->node_id);
    }
    return set_str(&req->container_id, id, err);
}

static int resolve_overrides(struct render_request *req, const struct render_params *p,
                             struct err *err)
{
    const char *scope = p->scope ? p->scope : jsonx_get_str(req->options, "scope");
    if (!scope) {
        scope = req->deployment_name ? req->deployment_name : "default";
    }
    if (!*scope) {
        return err_set(err, ERR_BAD_REQUEST, "scope", "scope must not be empty");
    }
    if (set_str(&req->scope, scope, err)) {
        return -1;
    }
    const char *hostname = p->hostname ? p->hostname : jsonx_get_str(req->options, "hostname");
    if (hostname && set_str(&req->hostname, hostname, err)) {
        return -1;
    }
    req->host_network = -1;
    if (p->host_network != RENDER_FLAG_UNSET) {
        req->host_network = p->host_network == RENDER_FLAG_TRUE;
    } else if (json_object_get(req->options, "host_network")) {
        req->host_network = json_is_true(json_object_get(req->options, "host_network"));
    }
    return 0;
}

/* Normalize a borrowed override object (CLI --facts / --image-config). */
static json_t *norm_override(const struct stype *t, const json_t *in, const char *path,
                             struct err *err)
{
    struct walk w;
    walk_init(&w, NULL, err, path);
    return walk_norm(&w, t, in);
}

int render_cdi_entry_check(const json_t *entry, const char *path, struct err *err)
{
    json_t *norm = norm_override(&cdi_entry_type, entry, path, err);
    if (!norm && !err_is_set(err)) {
        err_nomem(err);
    }
    json_decref(norm);
    return norm ? 0 : -1;
}

static int load_envelope(struct render_request *req, const struct doc *doc, json_t **envelope,
                         struct err *err)
{
    struct walk w;
    walk_init(&w, doc, err, "");
    json_t *env = walk_norm(&w, &request_envelope_type, doc->root);
    if (!env) {
        return -1;
    }
    *envelope = env;
    const json_t *raw_spec = json_object_get(doc->root, "spec");
    int rc;
    if (json_is_string(raw_spec) && !walk_is_plain(&w, raw_spec)) {
        struct doc inner;
        if (doc_parse(json_string_value(raw_spec), json_string_length(raw_spec), 0, &inner, err)) {
            /* Positions are inside the spec text, not the envelope. */
            err_prefix_paths(err, "spec", ", ");
            return -1;
        }
        rc = load_spec(req, &inner, err);
        doc_release(&inner);
    } else if (json_is_object(raw_spec)) {
        struct doc view = *doc;
        view.root = (json_t *)(uintptr_t)raw_spec;
        rc = load_spec(req, &view, err);
    } else {
        rc = err_set(err, ERR_SPEC_INVALID, "spec",
                     "expected the spec as a mapping or as a string holding YAML or JSON");
    }
    return rc;
}

int render_request_parse(const char *body, size_t len, enum render_format fmt,
                         const struct render_params *params, struct render_request **out,
                         struct err *err)
{
    static const struct render_params no_params;
    const struct render_params *p = params ? params : &no_params;
    struct doc doc;
    int dfmt = fmt == RENDER_FMT_JSON ? DOC_JSON : fmt == RENDER_FMT_YAML ? DOC_YAML : 0;
    if (doc_parse(body, len, dfmt, &doc, err)) {
        return -1;
    }
    struct render_request *req = calloc(1, sizeof(*req));
    json_t *envelope = NULL;
    int rc = -1;
    if (!req) {
        err_nomem(err);
        goto out;
    }
    req->envelope = json_object_get(doc.root, "spec") != NULL;
    if (req->envelope ? load_envelope(req, &doc, &envelope, err) : load_spec(req, &doc, err)) {
        goto out;
    }
    json_t *host = json_object_get(envelope, "host");
    json_t *image = json_object_get(envelope, "image_config");
    req->host = p->host ? norm_override(&request_host_type, p->host, "host", err)
                        : (host ? json_incref(host) : json_object());
    req->image_config = p->image_config
                            ? norm_override(&request_image_config_type, p->image_config,
                                            "image_config", err)
                            : json_incref(image);
    json_t *options = json_object_get(envelope, "options");
    req->options = options ? json_incref(options) : json_object();
    if (!req->host || (p->image_config && !req->image_config) || !req->options) {
        if (!err_is_set(err)) {
            err_nomem(err);
        }
        goto out;
    }
    if (resolve_identity(req, envelope, p, err) || resolve_overrides(req, p, err) ||
        request_parse_secret_refs(req, err)) {
        goto out;
    }
    *out = req;
    req = NULL;
    rc = 0;
out:
    json_decref(envelope);
    render_request_free(req);
    doc_release(&doc);
    return rc;
}

const char *render_request_service(const struct render_request *req)
{
    return req->service_name;
}

const char *render_request_scope(const struct render_request *req)
{
    return req->scope;
}

const char *render_request_container_id(const struct render_request *req)
{
    return req->container_id;
}

bool render_request_is_envelope(const struct render_request *req)
{
    return req->envelope;
}

const json_t *render_request_host_env(const struct render_request *req)
{
    return json_object_get(req->host, "env");
}
