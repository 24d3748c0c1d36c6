/*
 * The render context (render/ctx.h): the state one render_execute() call shares with its step
 * files, and the helpers they report through. It lives apart from render.c, which runs the
 * steps, so a step file depends on the context and never on the file that calls it.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/jsonx.h"
#include "common/strutil.h"
#include "render/ctx.h"

int rctx_init(struct rctx *c, const struct render_request *req, const struct render_settings *set,
              const json_t *secrets, struct err *err)
{
    memset(c, 0, sizeof(*c));
    c->req = req;
    c->set = set;
    c->secret_values = secrets;
    c->err = err;
    c->svc = req->service;
    c->gpu = json_object_get(json_object_get(c->svc, "resources"), "gpu");
    c->wsl = json_object_get(req->host, "wsl");
    if (req->deployment_name) {
        char seg[ERR_PATH_MAX];
        path_key_segment(seg, sizeof(seg), req->service_name);
        snprintf(c->spath, sizeof(c->spath), "services%s", seg);
    }
    c->host_network = req->host_network >= 0
                          ? req->host_network == 1
                          : json_is_true(json_object_get(c->svc, "host_network"));
    c->privileged = json_is_true(json_object_get(c->svc, "privileged"));
    const json_t *user = json_object_get(req->host, "user");
    c->rootless = json_integer_value(json_object_get(user, "uid")) != 0;
    const json_t *version = json_object_get(json_object_get(req->host, "cgroup"), "version");
    c->cgroup_version = version ? (int)json_integer_value(version) : 2;
    c->warnings = json_array();
    c->files = json_object();
    c->secret_files = json_object();
    c->env = json_array();
    c->mounts = json_array();
    c->devices = json_array();
    c->dev_rules = json_array();
    c->additional_gids = json_array();
    c->hooks = json_object();
    c->linux_extra = json_object();
    if (!c->warnings || !c->files || !c->secret_files || !c->env || !c->mounts || !c->devices ||
        !c->dev_rules || !c->additional_gids || !c->hooks || !c->linux_extra) {
        return rctx_nomem(c);
    }
    return 0;
}

void rctx_release(struct rctx *c)
{
    json_decref(c->cdi_edits);
    json_decref(c->warnings);
    json_decref(c->files);
    jsonx_wipe_strings(c->secret_files);
    json_decref(c->secret_files);
    json_decref(c->env);
    json_decref(c->mounts);
    json_decref(c->devices);
    json_decref(c->dev_rules);
    json_decref(c->additional_gids);
    json_decref(c->hooks);
    json_decref(c->linux_extra);
    json_decref(c->caps);
}

const char *rctx_path(struct rctx *c, char *buf, size_t size, const char *field)
{
    if (!field || !*field) {
        snprintf(buf, size, "%s", c->spath);
    } else if (c->spath[0]) {
        snprintf(buf, size, "%s.%s", c->spath, field);
    } else {
        snprintf(buf, size, "%s", field);
    }
    return buf;
}

static int rctx_vfail(struct rctx *c, enum err_code code, const char *field, const char *fmt,
                      va_list ap)
{
    char path[ERR_PATH_MAX];
    return err_setv(c->err, code, rctx_path(c, path, sizeof(path), field), fmt, ap);
}

int rctx_fail(struct rctx *c, const char *field, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    rctx_vfail(c, ERR_SPEC_INVALID, field, fmt, ap);
    va_end(ap);
    return -1;
}

int rctx_fail_code(struct rctx *c, enum err_code code, const char *field, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    rctx_vfail(c, code, field, fmt, ap);
    va_end(ap);
    return -1;
}

int rctx_nomem(struct rctx *c)
{
    return err_nomem(c->err);
}

int rctx_warn(struct rctx *c, const char *code, const char *field, const char *fmt, ...)
{
    char msg[ERR_MSG_MAX], path[ERR_PATH_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    json_t *w = json_object();
    if (!w || jsonx_set_str(w, "code", code) || jsonx_set_str(w, "message", msg) ||
        jsonx_set_str(w, "path", rctx_path(c, path, sizeof(path), field)) ||
        json_array_append_new(c->warnings, jsonx_steal(&w))) {
        json_decref(w);
        return rctx_nomem(c);
    }
    return 0;
}

const json_t *rctx_device_fact(const struct rctx *c, const char *path)
{
    const json_t *devs = json_object_get(c->req->host, "devices");
    for (size_t i = 0; i < json_array_size(devs); i++) {
        const json_t *d = json_array_get(devs, i);
        if (str_eq(jsonx_get_str(d, "path"), path)) {
            return d;
        }
    }
    return NULL;
}

bool rctx_has_facts(const struct rctx *c, const char *list)
{
    return json_object_get(c->req->host, list) != NULL;
}

bool rctx_fact_listed(const struct rctx *c, const char *list, const char *path)
{
    const json_t *items = json_object_get(c->req->host, list);
    for (size_t i = 0; i < json_array_size(items); i++) {
        if (str_eq(json_string_value(json_array_get(items, i)), path)) {
            return true;
        }
    }
    return false;
}
