/*
 * Golden test driver: renders one case directory and compares the exact bytes with
 * expected.json (the config) and expected-extras.json (warnings and bundle files), renders
 * again with the constant parts prepared at start-up to prove the output is byte-identical
 * either way, and queues the config for validate-oci.
 *
 * A case directory holds:
 *   spec            first line: a spec file path relative to the repository (e.g. examples/...)
 *   spec.yaml|json  or the spec itself
 *   params          optional key=value lines: service, replica, role, node_id, hostname,
 *                   host_network, scope
 *   host.json options.json image_config.json container.json   optional envelope members
 *   secrets.json    optional secret values {"$S:ref": "value"}
 *   settings        optional key=value lines: cgroup_parent, native_arch (the server's
 *                   architecture, default x86_64)
 * Set OCIRENDER_UPDATE_GOLDEN=1 to (re)write the expected files.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/jsonx.h"
#include "common/param.h"
#include "render/render.h"
#include "tests/unit/rtest.h"

static char case_dir[1024];

static char *slurp(const char *dir, const char *name)
{
    char path[2048];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    return harness_slurp(path, NULL);
}

static void spit(const char *name, const char *text)
{
    char path[2048];
    snprintf(path, sizeof(path), "%s/%s", case_dir, name);
    FILE *f = fopen(path, "wb");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static char *spec_text(void)
{
    char *ref = slurp(case_dir, "spec");
    if (ref) {
        ref[strcspn(ref, "\n")] = '\0';
        char *text = slurp(OCIRENDER_SOURCE_DIR, ref);
        free(ref);
        return text;
    }
    char *t = slurp(case_dir, "spec.yaml");
    return t ? t : slurp(case_dir, "spec.json");
}

/* key=value lines into a JSON object (missing file: empty object). */
static json_t *kv_file(const char *name)
{
    json_t *out = json_object();
    char *text = slurp(case_dir, name);
    for (char *line = text; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl) {
            *nl = '\0';
        }
        char *eq = strchr(line, '=');
        if (eq) {
            *eq = '\0';
            json_object_set_new(out, line, json_string(eq + 1));
        }
        line = nl ? nl + 1 : NULL;
    }
    free(text);
    return out;
}

static char *build_body(char *spec)
{
    static const char *const members[][2] = {{"host.json", "host"},
                                             {"options.json", "options"},
                                             {"image_config.json", "image_config"},
                                             {"container.json", "container"}};
    json_t *env = NULL;
    for (size_t i = 0; i < 4; i++) {
        char *text = slurp(case_dir, members[i][0]);
        if (!text) {
            continue;
        }
        if (!env) {
            env = json_pack("{s:s}", "spec", spec);
        }
        json_error_t je;
        json_t *v = json_loads(text, JSON_REJECT_DUPLICATES, &je);
        free(text);
        CHECK(v != NULL);
        json_object_set_new(env, members[i][1], v);
    }
    if (!env) {
        return strdup(spec);
    }
    char *body = json_dumps(env, 0);
    json_decref(env);
    return body;
}

/* The typed parameters of a case, read as the server reads its query. */
static int case_params(const json_t *params, struct render_params *p, struct err *err)
{
    const char *replica = jsonx_get_str(params, "replica");
    const char *node_id = jsonx_get_str(params, "node_id");
    const char *host_network = jsonx_get_str(params, "host_network");
    uint64_t n = 0;
    bool b = false;
    *p = (struct render_params){.service = jsonx_get_str(params, "service"),
                                .role = jsonx_get_str(params, "role"),
                                .hostname = jsonx_get_str(params, "hostname"),
                                .scope = jsonx_get_str(params, "scope")};
    if (replica && param_u64("replica", replica, RENDER_REPLICA_MAX, &n, err)) {
        return -1;
    }
    p->has_replica = replica != NULL;
    p->replica = replica ? (uint32_t)n : 0;
    if (node_id && param_u64("node_id", node_id, RENDER_NODE_ID_MAX, &p->node_id, err)) {
        return -1;
    }
    p->has_node_id = node_id != NULL;
    if (host_network && param_bool("host_network", host_network, &b, err)) {
        return -1;
    }
    p->host_network = !host_network ? RENDER_FLAG_UNSET : b ? RENDER_FLAG_TRUE : RENDER_FLAG_FALSE;
    return 0;
}

static int render_once(const char *body, json_t *secrets, const struct render_prepared *prepared,
                       char **config, char **extras, struct err *err)
{
    json_t *params = kv_file("params");
    json_t *settings = kv_file("settings");
    struct render_params p;
    /* The server's arch is fixed so the expected files do not depend on the build machine. */
    const char *arch = jsonx_get_str(settings, "native_arch");
    struct render_settings s = {.default_cgroup_parent = jsonx_get_str(settings, "cgroup_parent"),
                                .native_arch = arch ? arch : "x86_64",
                                .prepared = prepared};
    struct render_request *req = NULL;
    struct render_result res = {0};
    int rc = case_params(params, &p, err);
    if (rc == 0) {
        rc = render_request_parse(body, strlen(body), RENDER_FMT_AUTO, &p, &req, err);
    }
    if (rc == 0) {
        rc = render_execute(req, &s, secrets, &res, err);
    }
    if (rc == 0) {
        struct render_output out;
        rc = render_output_text(&res, 0, NULL, &out, err);
        *config = rc == 0 ? strndup(out.text, out.len) : NULL;
        render_output_release(&out);
        json_t *ex = json_pack("{s:o, s:o}", "warnings", render_result_warnings_json(&res),
                               "files", res.files ? json_incref(res.files) : json_object());
        *extras = jsonx_dump(ex, JSONX_PRETTY, NULL);
        json_decref(ex);
    }
    render_result_release(&res);
    render_request_free(req);
    json_decref(params);
    json_decref(settings);
    return rc;
}

static void golden_case(void)
{
    char *spec = spec_text();
    CHECK(spec != NULL);
    if (!spec) {
        return;
    }
    char *body = build_body(spec);
    char *secrets_text = slurp(case_dir, "secrets.json");
    json_t *secrets = secrets_text ? json_loads(secrets_text, 0, NULL) : NULL;
    char *c1 = NULL, *e1 = NULL, *c2 = NULL, *e2 = NULL;
    struct err err;
    err_init(&err);
    int rc = render_once(body, secrets, NULL, &c1, &e1, &err);
    if (rc) {
        fprintf(stderr, "  render failed: %s: %s\n", err_path(&err), err_message(&err));
    }
    CHECK_INT(rc, 0);
    if (rc == 0) {
        err_init(&err);
        /* Deterministic, and the same with the constant parts prepared at start-up (as the
         * server and the CLI render) as without (every part written item by item). */
        struct render_prepared *prepared = render_prepared_new();
        CHECK(prepared != NULL);
        CHECK_INT(render_once(body, secrets, prepared, &c2, &e2, &err), 0);
        render_prepared_free(prepared);
        CHECK_STR(c1, c2);
        CHECK_STR(e1, e2);
        if (getenv("OCIRENDER_UPDATE_GOLDEN")) {
            spit("expected.json", c1);
            spit("expected-extras.json", e1);
        }
        char *want = slurp(case_dir, "expected.json");
        char *want_extras = slurp(case_dir, "expected-extras.json");
        CHECK_STR(c1, want);
        CHECK_STR(e1, want_extras);
        json_error_t je;
        json_t *doc = c1 ? jsonx_loadb(c1, strlen(c1), &je) : NULL;
        CHECK(doc != NULL);
        json_decref(doc);
        free(want);
        free(want_extras);
        if (c1) {
            rt_queue_for_validation(c1);
        }
    }
    free(c1);
    free(e1);
    free(c2);
    free(e2);
    json_decref(secrets);
    free(secrets_text);
    free(body);
    free(spec);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: golden CASE_DIR\n");
        return 2;
    }
    snprintf(case_dir, sizeof(case_dir), "%s", argv[1]);
    static const struct test_case cases[] = {{"golden", golden_case}};
    return rt_finish(harness_main(cases, 1));
}
