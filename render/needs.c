/* What a render will ask of the host facts, so the node gathers exactly that. */
#include <string.h>

#include "common/jsonx.h"
#include "common/strutil.h"
#include "render/cdi.h"
#include "render/ctx.h"

static int add_unique(json_t *list, const char *s)
{
    for (size_t i = 0; i < json_array_size(list); i++) {
        if (str_eq(json_string_value(json_array_get(list, i)), s)) {
            return 0;
        }
    }
    return jsonx_append_str(list, s);
}

static int gpu_needs(const json_t *gpu, json_t *devices, json_t *dirs, json_t *files, json_t *kinds)
{
    const char *vendor = jsonx_get_str(gpu, "vendor");
    vendor = vendor ? vendor : "nvidia";
    const json_t *cj = json_object_get(gpu, "count");
    unsigned count = cj ? (unsigned)json_integer_value(cj) : 1;
    const char *kind = cdi_vendor_kind(vendor);
    if ((kind && add_unique(kinds, kind)) || render_gpu_candidates(vendor, count, devices)) {
        return -1;
    }
    const char *sharing = jsonx_get_str(gpu, "sharing");
    if (str_eq(sharing, "mps")) {
        const char *pipe = jsonx_get_str(gpu, "mps_pipe_dir");
        const char *log = jsonx_get_str(gpu, "mps_log_dir");
        if (add_unique(dirs, pipe ? pipe : "/tmp/nvidia-mps") ||
            add_unique(dirs, log ? log : "/tmp/nvidia-log")) {
            return -1;
        }
    }
    const char *cfg = jsonx_get_str(gpu, "time_slicing_config_path");
    if (str_eq(sharing, "time-slice") && cfg && add_unique(files, cfg)) {
        return -1;
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
    const json_t *svc = req->service;
    const json_t *devs = json_object_get(svc, "devices");
    for (size_t i = 0; i < json_array_size(devs); i++) {
        if (add_unique(devices, jsonx_get_str(json_array_get(devs, i), "path"))) {
            goto fail;
        }
    }
    const json_t *gpu = json_object_get(json_object_get(svc, "resources"), "gpu");
    if (gpu && gpu_needs(gpu, devices, dirs, files, kinds)) {
        goto fail;
    }
    const char *key;
    json_t *value;
    json_object_foreach(json_object_get(svc, "env"), key, value)
    {
        const char *v = json_string_value(value);
        if (str_has_prefix(v, "$E:") && add_unique(env, v + 3)) {
            goto fail;
        }
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

json_t *render_load_document(const char *buf, size_t len, enum render_format fmt, struct err *err)
{
    struct doc doc;
    int dfmt = fmt == RENDER_FMT_JSON ? DOC_JSON : fmt == RENDER_FMT_YAML ? DOC_YAML : 0;
    if (doc_parse(buf, len, dfmt, &doc, err)) {
        return NULL;
    }
    struct walk w;
    walk_init(&w, &doc, err, "");
    json_t *out = walk_norm(&w, &st_any, doc.root);
    doc_release(&doc);
    return out;
}
