/*
 * Render requests: a plain spec, or an envelope {spec, service, container,
 * image_config, host, options}, plus query/flag parameters that override envelope members.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/strutil.h"
#include "render/cdi.h"
#include "render/spec.h"

/* A request's documents and model: the body's size many times over is plenty; the limit
 * only stops a pathological document from taking the process's memory. */
#define REQUEST_ARENA_LIMIT (256u << 20)

void render_request_free(struct render_request *req)
{
    if (!req) {
        return;
    }
    request_model_release_cdi(req->host_owned);
    request_model_release_options(req->options_owned);
    arena_release(&req->arena); /* the request's strings too */
    render_secret_refs_release(&req->refs);
    free(req->bad_ref_key);
    free(req->bad_ref_msg);
    free(req);
}

static bool looks_like_deployment(const struct dnode *root)
{
    return dom_get(root, "version") || dom_get(root, "deployment") || dom_get(root, "services") ||
           !dom_get(root, "image");
}

/* Check a model value and fill its storage; the walk's errors go to `err`. */
static int fill_model(struct render_request *req, const struct mtype *t, const struct dnode *in,
                      const char *root_path, void *dst, struct err *err)
{
    struct mwalk w;
    mwalk_init(&w, &req->arena, err, root_path);
    if (mwalk_fill(&w, t, in, dst) == 0) {
        return 0;
    }
    return err_is_set(err) ? -1 : err_nomem(err);
}

/* Check a spec document (DeploymentSpec or bare ServiceSpec) into the request's model. */
static int load_spec(struct render_request *req, const struct dnode *root, struct err *err)
{
    if (looks_like_deployment(root) && !dom_get(root, "version") &&
        !dom_get(root, "deployment") && !dom_get(root, "services")) {
        return err_set(err, ERR_SPEC_INVALID, "",
                       "not a ZLayer spec: expected a DeploymentSpec (version, deployment, "
                       "services) or a ServiceSpec (a mapping with `image`)");
    }
    if (!looks_like_deployment(root)) {
        struct spec_service *svc = NULL;
        if (fill_model(req, &spec_service_mtype, root, "", &svc, err)) {
            return -1;
        }
        req->service = svc;
        return 0;
    }
    struct spec_deployment *d = NULL;
    if (fill_model(req, &spec_deployment_mtype, root, "", &d, err)) {
        return -1;
    }
    req->deployment = d;
    req->deployment_name = arena_strndup(&req->arena, d->deployment, strlen(d->deployment));
    return req->deployment_name ? 0 : err_nomem(err);
}

/* A copy of src (NULL stays NULL) in the request's arena, released with the request. */
static int set_str(struct render_request *req, char **dst, const char *src, struct err *err)
{
    *dst = src ? arena_strndup(&req->arena, src, strlen(src)) : NULL;
    return (*dst || !src) ? 0 : err_nomem(err);
}

/* "a, b, c" of the deployment's service names, cut at a whole name. */
static void service_names(const struct mmap *services, char *names, size_t size)
{
    size_t n = 0;
    names[0] = '\0';
    for (size_t i = 0; i < services->n; i++) {
        int w = snprintf(names + n, size - n, "%s%s", n ? ", " : "", services->keys[i]);
        if (w < 0 || (size_t)w >= size - n) {
            names[n] = '\0';
            break;
        }
        n += (size_t)w;
    }
}

/* The service of a deployment the request names (or its only one). */
static int select_service(struct render_request *req, const char **service, struct err *err)
{
    const struct mmap *services = &req->deployment->services;
    if (!*service) {
        if (services->n == 0) {
            return err_set(err, ERR_SPEC_INVALID, "services", "the deployment has no services");
        }
        if (services->n > 1) {
            return err_set(err, ERR_SPEC_INVALID, "service",
                           "the deployment has %zu services: choose one with `service`",
                           services->n);
        }
        *service = services->keys[0];
    }
    for (size_t i = 0; i < services->n; i++) {
        if (strcmp(services->keys[i], *service) == 0) {
            req->service = mmap_ptr(services, i);
            return 0;
        }
    }
    char names[256];
    service_names(services, names, sizeof(names));
    return err_set(err, ERR_SPEC_INVALID, "service",
                   "unknown service '%s' (the deployment defines: %s)", *service,
                   names[0] ? names : "no services");
}

/* Pick the service, fill ContainerId, scope, hostname and host_network. */
static int resolve_identity(struct render_request *req, const struct envelope *envelope,
                            const struct render_params *p, struct err *err)
{
    const struct container_ref *container = envelope ? envelope->container : NULL;
    const char *service = p->service ? p->service : envelope ? envelope->service : NULL;
    if (!service && container) {
        service = container->service;
    }
    if (req->deployment) {
        if (select_service(req, &service, err)) {
            return -1;
        }
    } else if (!service) {
        service = "service";
    }
    if (!spec_valid_service_name(service)) {
        return err_set(err, ERR_SPEC_INVALID, "service", "invalid service name '%s'", service);
    }
    if (set_str(req, &req->service_name, service, err)) {
        return -1;
    }

    const char *csvc = container ? container->service : NULL;
    const char *container_service = p->service ? p->service : csvc ? csvc : service;
    if (set_str(req, &req->container_service, container_service, err)) {
        return -1;
    }
    if (!spec_valid_service_name(req->container_service)) {
        return err_set(err, ERR_SPEC_INVALID, "container.service", "invalid service name '%s'",
                       req->container_service);
    }

    uint64_t v = 1;
    if (p->has_replica) {
        v = p->replica;
    } else if (container && container->replica.set) {
        v = (uint64_t)container->replica.v;
    }
    req->replica = (uint32_t)v;

    const char *role = p->role ? p->role : container ? container->role : NULL;
    if (!role) {
        role = "default";
    }
    if (strcmp(role, "default") != 0 && !spec_valid_role(role)) {
        return err_set(err, p->role ? ERR_BAD_REQUEST : ERR_SPEC_INVALID, "role",
                       "role '%s' must match ^[a-z]([a-z0-9-]{0,28}[a-z0-9])?$", role);
    }
    if (set_str(req, &req->role, role, err)) {
        return -1;
    }
    v = 0;
    if (p->has_node_id && p->node_id > RENDER_NODE_ID_MAX) {
        return err_set(err, ERR_SPEC_INVALID, "node_id", "node_id must be at most %llu",
                       (unsigned long long)RENDER_NODE_ID_MAX);
    }
    if (p->has_node_id) {
        v = p->node_id;
    } else if (container && container->node_id.set) {
        v = (uint64_t)container->node_id.v;
    }
    req->node_id = v;

    char id[256], replica[21], node[21];
    str_from_u64(req->replica, replica);
    if (strcmp(req->role, "default") == 0 && req->node_id == 0) {
        str_concat(id, sizeof(id), req->container_service, "-rep-", replica, NULL);
    } else {
        str_concat(id, sizeof(id), req->container_service, "-", req->role, "-", replica, "-on-",
                   str_from_u64(req->node_id, node), NULL);
    }
    return set_str(req, &req->container_id, id, err);
}

static int resolve_overrides(struct render_request *req, const struct render_params *p,
                             struct err *err)
{
    const struct render_options *o = req->options;
    const char *scope = p->scope ? p->scope : o->scope;
    if (!scope) {
        scope = req->deployment_name ? req->deployment_name : "default";
    }
    if (!*scope) {
        return err_set(err, ERR_BAD_REQUEST, "scope", "scope must not be empty");
    }
    if (set_str(req, &req->scope, scope, err)) {
        return -1;
    }
    const char *hostname = p->hostname ? p->hostname : o->hostname;
    if (hostname && set_str(req, &req->hostname, hostname, err)) {
        return -1;
    }
    req->host_network = -1;
    if (p->host_network != RENDER_FLAG_UNSET) {
        req->host_network = p->host_network == RENDER_FLAG_TRUE;
    } else if (o->host_network.set) {
        req->host_network = o->host_network.v;
    }
    return 0;
}

/* Normalize a borrowed override object (CLI --facts / --image-config) at `path`. */
static int load_override(struct render_request *req, const struct mtype *t, const json_t *in,
                         const char *path, void *dst, struct err *err)
{
    const struct dnode *root = dom_from_json(&req->arena, in, err);
    return root ? fill_model(req, t, root, path, dst, err) : -1;
}

int render_cdi_entry_check(const json_t *entry, const char *path, struct err *err)
{
    struct walk w;
    walk_init(&w, NULL, err, path);
    json_t *norm = walk_norm(&w, &cdi_entry_type, entry);
    if (!norm && !err_is_set(err)) {
        err_nomem(err);
    }
    json_decref(norm);
    return norm ? 0 : -1;
}

/* The envelope's spec member: a mapping, or a string holding YAML or JSON (a quoted or block
 * scalar; a plain one is a mistake). */
static int load_envelope_spec(struct render_request *req, const struct dnode *raw,
                              struct err *err)
{
    if (raw->kind == DN_STR && !raw->plain) {
        const struct dnode *inner = dom_parse(&req->arena, raw->u.str, raw->len, 0, NULL, err);
        if (!inner) {
            /* Positions are inside the spec text, not the envelope. */
            err_prefix_paths(err, "spec", ", ");
            return -1;
        }
        return load_spec(req, inner, err);
    }
    if (raw->kind == DN_MAP) {
        return load_spec(req, raw, err);
    }
    return err_set(err, ERR_SPEC_INVALID, "spec",
                   "expected the spec as a mapping or as a string holding YAML or JSON");
}

/* Host facts, image config and options: the parameters' overrides, else the envelope's,
 * else all-absent. */
static int load_inputs(struct render_request *req, const struct envelope *env,
                       const struct render_params *p, struct err *err)
{
    struct host_facts *host = req->host_owned;
    if (p->host) {
        request_model_release_cdi(req->host_owned);
        req->host_owned = host = NULL;
        int rc = load_override(req, &request_host_mtype, p->host, "host", &host, err);
        req->host_owned = host;
        if (rc) {
            return -1;
        }
    }
    if (!host) {
        host = arena_calloc(&req->arena, 1, sizeof(*host));
    }
    req->host = host;
    struct image_config *image = env ? env->image_config : NULL;
    if (p->image_config) {
        image = NULL;
        if (load_override(req, &request_image_config_mtype, p->image_config, "image_config",
                          &image, err)) {
            return -1;
        }
    }
    req->image_config = image;
    struct render_options *options = req->options_owned;
    if (!options) {
        options = arena_calloc(&req->arena, 1, sizeof(*options));
    }
    req->options = options;
    return host && options ? 0 : err_nomem(err);
}

int render_request_parse(const char *body, size_t len, enum render_format fmt,
                         const struct render_params *params, struct render_request **out,
                         struct err *err)
{
    static const struct render_params no_params;
    const struct render_params *p = params ? params : &no_params;
    struct render_request *req = calloc(1, sizeof(*req));
    if (!req) {
        return err_nomem(err);
    }
    arena_init(&req->arena, REQUEST_ARENA_LIMIT);
    int dfmt = fmt == RENDER_FMT_JSON ? DOM_JSON : fmt == RENDER_FMT_YAML ? DOM_YAML : 0;
    const struct dnode *root = dom_parse(&req->arena, body, len, dfmt, NULL, err);
    struct envelope *env = NULL;
    int rc = -1;
    if (!root) {
        goto out;
    }
    req->envelope = dom_get(root, "spec") != NULL;
    if (req->envelope) {
        int filled = fill_model(req, &request_envelope_mtype, root, "", &env, err);
        if (env) {
            req->host_owned = env->host;
            req->options_owned = env->options;
        }
        if (filled) {
            goto out;
        }
        if (load_envelope_spec(req, env->spec, err)) {
            goto out;
        }
    } else if (load_spec(req, root, err)) {
        goto out;
    }
    if (load_inputs(req, env, p, err) || resolve_identity(req, env, p, err) ||
        resolve_overrides(req, p, err) || request_parse_secret_refs(req, err)) {
        goto out;
    }
    *out = req;
    req = NULL;
    rc = 0;
out:
    render_request_free(req);
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
