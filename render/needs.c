/* What a render will ask of the host facts, so the node gathers exactly that. */
#include <string.h>

#include "common/jsonx.h"
#include "common/strutil.h"
#include "render/cdi.h"
#include "render/ctx.h"
#include "render/doc.h"
#include "render/dom.h"
#include "render/internal.h"

static int add_unique(json_t *list, const char *s)
{
    for (size_t i = 0; i < json_array_size(list); i++) {
        if (str_eq(json_string_value(json_array_get(list, i)), s)) {
            return 0;
        }
    }
    return jsonx_append_str(list, s);
}

/* The vendor's baked-in device paths, through a scratch arena (the result is a document). */
static int gpu_candidate_needs(const char *vendor, unsigned count, json_t *devices)
{
    struct arena a;
    struct strv cands = {0};
    arena_init(&a, 1u << 20); /* 1024 GPUs (LIMIT_GPU_COUNT) take a few tens of KB */
    int rc = render_gpu_candidates(&a, vendor, count, &cands);
    for (size_t i = 0; rc == 0 && i < cands.n; i++) {
        rc = jsonx_append_str(devices, cands.v[i]);
    }
    arena_release(&a);
    return rc ? -1 : 0;
}

static int gpu_needs(const struct spec_gpu *gpu, json_t *devices, json_t *dirs, json_t *files,
                     json_t *kinds)
{
    const char *vendor = gpu->vendor;
    vendor = vendor ? vendor : "nvidia";
    unsigned count = gpu->count.set ? (unsigned)gpu->count.v : 1;
    const char *kind = cdi_vendor_kind(vendor);
    if ((kind && add_unique(kinds, kind)) || gpu_candidate_needs(vendor, count, devices)) {
        return -1;
    }
    const char *sharing = gpu->sharing;
    if (str_eq(sharing, "mps")) {
        const char *pipe = gpu->mps_pipe_dir;
        const char *log = gpu->mps_log_dir;
        if (add_unique(dirs, pipe ? pipe : "/tmp/nvidia-mps") ||
            add_unique(dirs, log ? log : "/tmp/nvidia-log")) {
            return -1;
        }
    }
    const char *cfg = gpu->time_slicing_config_path;
    if (str_eq(sharing, "time-slice") && cfg && add_unique(files, cfg)) {
        return -1;
    }
    return 0;
}

/* The service's own needs: its devices, its GPU's and the $E: names of its env. */
static int service_needs(const struct spec_service *svc, json_t *devices, json_t *dirs,
                         json_t *files, json_t *env, json_t *kinds)
{
    const struct mlist *devs = &svc->devices;
    for (size_t i = 0; i < devs->n; i++) {
        const struct spec_device *d = mlist_ptr(devs, i);
        if (add_unique(devices, d->path)) {
            return -1;
        }
    }
    const struct spec_gpu *gpu = svc->resources ? svc->resources->gpu : NULL;
    if (gpu && gpu_needs(gpu, devices, dirs, files, kinds)) {
        return -1;
    }
    const struct mmap *vars = &svc->env;
    for (size_t i = 0; i < vars->n; i++) {
        const char *v = mmap_str(vars, i);
        if (str_has_prefix(v, "$E:") && add_unique(env, v + 3)) {
            return -1;
        }
    }
    return 0;
}

json_t *render_request_fact_needs(const struct render_request *req, struct err *err)
{
    json_t *devices = json_array(), *dirs = json_array(), *files = json_array();
    json_t *env = json_array(), *kinds = json_array();
    json_t *out = NULL;
    if (!devices || !dirs || !files || !env || !kinds) {
        goto fail;
    }
    if (req->service && service_needs(req->service, devices, dirs, files, env, kinds)) {
        goto fail;
    }
    out = json_pack("{s:o, s:o, s:o, s:o, s:o}", "devices", devices, "dirs", dirs, "files",
                    files, "env", env, "cdi_kinds", kinds);
    if (!out) {
        err_nomem(err);
    }
    return out;
fail:
    json_decref(devices);
    json_decref(dirs);
    json_decref(files);
    json_decref(env);
    json_decref(kinds);
    err_nomem(err);
    return NULL;
}

/* Big enough for any document the node loads (facts, CDI specs, image configs); the
 * parsers' own limits (LIMIT_SPEC_NODES, LIMIT_SPEC_DEPTH) bound it well before. */
#define LOAD_ARENA_LIMIT (256u << 20)

json_t *render_load_document(const char *buf, size_t len, enum render_format fmt, struct err *err)
{
    struct arena a;
    arena_init(&a, LOAD_ARENA_LIMIT);
    int dfmt = fmt == RENDER_FMT_JSON ? DOM_JSON : fmt == RENDER_FMT_YAML ? DOM_YAML : 0;
    json_t *out = NULL;
    int parsed_as = 0;
    const struct dnode *root = dom_parse(&a, buf, len, dfmt, &parsed_as, err);
    if (root) {
        struct doc doc = {.format = parsed_as == DOM_YAML ? DOC_YAML : DOC_JSON};
        doc.root = doc_from_dom(root, &doc);
        if (doc.root) {
            struct walk w;
            walk_init(&w, &doc, err, "");
            out = walk_norm(&w, &st_any, doc.root);
        } else {
            err_nomem(err);
        }
        doc_release(&doc);
    }
    arena_release(&a);
    return out;
}
