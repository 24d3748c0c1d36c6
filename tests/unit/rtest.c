#include "tests/unit/rtest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/jsonx.h"

static char queue_dir[256];
static int queued;

void rt_queue_for_validation(const char *text)
{
    if (!queue_dir[0]) {
        snprintf(queue_dir, sizeof(queue_dir), "/tmp/ocirender-rtest-XXXXXX");
        if (!mkdtemp(queue_dir)) {
            queue_dir[0] = '\0';
            return;
        }
    }
    char path[512];
    snprintf(path, sizeof(path), "%s/%04d.json", queue_dir, queued++);
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static json_t *parse_snippet(const char *text)
{
    json_error_t je;
    json_t *v = json_loads(text, JSON_REJECT_DUPLICATES, &je);
    if (!v) {
        fprintf(stderr, "  rtest: bad JSON snippet: %s: %s\n", je.text, text);
    }
    return v;
}

int rt_render(struct rt *t, const struct rt_in *in)
{
    memset(t, 0, sizeof(*t));
    err_init_issues(&t->err, &t->issues);
    t->rc = -1;
    char *body = NULL;
    size_t len;
    bool envelope = in->host || in->options || in->image || in->container || in->service;
    if (envelope) {
        json_t *env = json_pack("{s:s}", "spec", in->spec);
        const char *keys[] = {"host", "options", "image_config", "container"};
        const char *vals[] = {in->host, in->options, in->image, in->container};
        for (int i = 0; i < 4; i++) {
            if (vals[i]) {
                json_object_set_new(env, keys[i], parse_snippet(vals[i]));
            }
        }
        if (in->service) {
            json_object_set_new(env, "service", json_string(in->service));
        }
        body = json_dumps(env, 0);
        json_decref(env);
        len = strlen(body);
    } else {
        body = strdup(in->spec);
        len = strlen(body);
    }
    struct render_request *req = NULL;
    struct render_result res = {0};
    if (render_request_parse(body, len, RENDER_FMT_AUTO, in->params, &req, &t->err) == 0 &&
        render_execute(req, in->settings, in->secrets, &res, &t->err) == 0) {
        struct render_output out;
        struct err oerr;
        err_init(&oerr);
        CHECK(render_output_text(&res, 0, NULL, &out, &oerr) == 0);
        t->text = strndup(out.text ? out.text : "", out.len);
        render_output_release(&out);
        CHECK(render_output_text(&res, RENDER_OUT_ENVELOPE, NULL, &out, &oerr) == 0);
        t->envelope = strndup(out.text ? out.text : "", out.len);
        render_output_release(&out);
        t->config = jsonx_loadb(t->text, strlen(t->text), NULL);
        CHECK(t->config != NULL);
        t->warnings = render_result_warnings_json(&res);
        CHECK(t->warnings != NULL);
        t->files = res.files ? json_incref(res.files) : json_object(); /* NULL: none */
        t->secret_files = res.secret_files ? json_incref(res.secret_files) : json_object();
        render_result_release(&res);
        rt_queue_for_validation(t->text);
        t->rc = 0;
        /* Every warning of every render in the tests: a code, a message and a spec path. */
        for (size_t i = 0; i < json_array_size(t->warnings); i++) {
            const json_t *w = json_array_get(t->warnings, i);
            const char *fields[] = {"code", "message", "path"};
            for (size_t f = 0; f < 3; f++) {
                const char *v = json_string_value(json_object_get(w, fields[f]));
                CHECK(v && *v);
            }
        }
    }
    render_request_free(req);
    free(body);
    return t->rc;
}

int rt_spec(struct rt *t, const char *spec)
{
    struct rt_in in = {.spec = spec};
    return rt_render(t, &in);
}

void rt_free(struct rt *t)
{
    json_decref(t->config);
    json_decref(t->warnings);
    json_decref(t->files);
    json_decref(t->secret_files);
    free(t->text);
    free(t->envelope);
    memset(t, 0, sizeof(*t));
}

const json_t *rt_get(const json_t *config, const char *dotted)
{
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", dotted);
    const json_t *v = config;
    char *save = NULL;
    for (char *part = strtok_r(buf, ".", &save); v && part; part = strtok_r(NULL, ".", &save)) {
        v = json_object_get(v, part);
    }
    return v;
}

static const char *env_entry_value(const char *entry, const char *key)
{
    size_t n = strlen(key);
    return (strncmp(entry, key, n) == 0 && entry[n] == '=') ? entry + n + 1 : NULL;
}

const char *rt_env(const json_t *config, const char *key)
{
    const json_t *env = rt_get(config, "process.env");
    for (size_t i = 0; i < json_array_size(env); i++) {
        const char *v = env_entry_value(json_string_value(json_array_get(env, i)), key);
        if (v) {
            return v;
        }
    }
    return NULL;
}

int rt_env_count(const json_t *config, const char *key)
{
    const json_t *env = rt_get(config, "process.env");
    int n = 0;
    for (size_t i = 0; i < json_array_size(env); i++) {
        n += env_entry_value(json_string_value(json_array_get(env, i)), key) != NULL;
    }
    return n;
}

int rt_mount_index(const json_t *config, const char *dest)
{
    const json_t *mounts = json_object_get(config, "mounts");
    for (size_t i = 0; i < json_array_size(mounts); i++) {
        const char *d = json_string_value(json_object_get(json_array_get(mounts, i), "destination"));
        if (d && strcmp(d, dest) == 0) {
            return (int)i;
        }
    }
    return -1;
}

const json_t *rt_mount(const json_t *config, const char *dest)
{
    int i = rt_mount_index(config, dest);
    return i < 0 ? NULL : json_array_get(json_object_get(config, "mounts"), (size_t)i);
}

bool rt_has_str(const json_t *array, const char *s)
{
    for (size_t i = 0; i < json_array_size(array); i++) {
        const char *v = json_string_value(json_array_get(array, i));
        if (v && strcmp(v, s) == 0) {
            return true;
        }
    }
    return false;
}

bool rt_has_cap(const json_t *config, const char *set, const char *cap)
{
    char path[64];
    snprintf(path, sizeof(path), "process.capabilities.%s", set);
    return rt_has_str(rt_get(config, path), cap);
}

bool rt_has_ns(const json_t *config, const char *type)
{
    const json_t *ns = rt_get(config, "linux.namespaces");
    for (size_t i = 0; i < json_array_size(ns); i++) {
        const char *t = json_string_value(json_object_get(json_array_get(ns, i), "type"));
        if (t && strcmp(t, type) == 0) {
            return true;
        }
    }
    return false;
}

const json_t *rt_device(const json_t *config, const char *path)
{
    const json_t *devs = rt_get(config, "linux.devices");
    for (size_t i = 0; i < json_array_size(devs); i++) {
        const json_t *d = json_array_get(devs, i);
        const char *p = json_string_value(json_object_get(d, "path"));
        if (p && strcmp(p, path) == 0) {
            return d;
        }
    }
    return NULL;
}

bool rt_has_rule(const json_t *config, const char *type, long long major, long long minor,
                 const char *access)
{
    const json_t *rules = rt_get(config, "linux.resources.devices");
    for (size_t i = 0; i < json_array_size(rules); i++) {
        const json_t *r = json_array_get(rules, i);
        const json_t *mi = json_object_get(r, "minor");
        if (json_is_true(json_object_get(r, "allow")) &&
            strcmp(json_string_value(json_object_get(r, "type")) ? json_string_value(json_object_get(r, "type")) : "", type) == 0 &&
            json_integer_value(json_object_get(r, "major")) == major &&
            (minor < 0 ? mi == NULL : (mi && json_integer_value(mi) == minor)) &&
            strcmp(json_string_value(json_object_get(r, "access")), access) == 0) {
            return true;
        }
    }
    return false;
}

bool rt_has_warning(const struct rt *t, const char *code)
{
    for (size_t i = 0; i < json_array_size(t->warnings); i++) {
        const char *c = json_string_value(json_object_get(json_array_get(t->warnings, i), "code"));
        if (c && strcmp(c, code) == 0) {
            return true;
        }
    }
    return false;
}

const char *rt_err_path(const struct rt *t)
{
    return err_path(&t->err);
}

const char *rt_err_msg(const struct rt *t)
{
    return err_message(&t->err);
}

int rt_finish(int harness_rc)
{
    if (!queued) {
        return harness_rc;
    }
    char validator[512];
    snprintf(validator, sizeof(validator), "%s/tools/validate-oci", OCIRENDER_SHARED_DIR);
    int rc = harness_rc;
    if (access(validator, X_OK) != 0) {
        printf("# NOTICE: %s not found: skipping OCI schema validation of %d documents\n",
               validator, queued);
    } else {
        char cmd[1024];
        snprintf(cmd, sizeof(cmd), "%s --quiet %s/*.json", validator, queue_dir);
        pid_t pid = fork();
        if (pid == 0) {
            execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
            _exit(127);
        }
        int status = 0;
        waitpid(pid, &status, 0);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            printf("not ok - validate-oci rejected rendered documents (kept in %s)\n", queue_dir);
            return 1;
        }
        printf("# validate-oci: %d rendered documents valid\n", queued);
    }
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", queue_dir);
    pid_t pid = fork();
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    waitpid(pid, NULL, 0);
    return rc;
}
