/* Input layers: YAML core-schema scalars, the YAML loader, schema normalization, requests,
 * and the $S: reference grammar. */
#include <stdlib.h>
#include <string.h>

#include "common/jsonx.h"
#include "common/param.h"
#include "common/limits.h"
#include "common/sbuf.h"
#include "render/doc.h"
#include "render/dom.h"
#include "render/render.h"
#include "render/internal.h"
#include "render/spec.h"
#include "tests/unit/rtest.h"

#define SVC_WEB "version: v1\ndeployment: shop\nservices:\n  web:\n    image: {name: \"x:1\"}\n"

static void core_schema_scalars(void)
{
    static const struct {
        const char *text;
        enum yscalar kind;
    } cases[] = {
        {"", YS_NULL},        {"~", YS_NULL},        {"null", YS_NULL},   {"NULL", YS_NULL},
        {"true", YS_BOOL},    {"False", YS_BOOL},    {"yes", YS_STR},     {"on", YS_STR},
        {"off", YS_STR},      {"y", YS_STR},         {"42", YS_INT},      {"-7", YS_INT},
        {"0x1F", YS_INT},     {"0o17", YS_INT},      {"01777", YS_INT},   {"0b1", YS_STR},
        {"1.5", YS_FLOAT},    {".5", YS_FLOAT},      {"1e3", YS_FLOAT},   {".inf", YS_FLOAT},
        {".nan", YS_FLOAT},   {"1.2.3", YS_STR},     {"08:00", YS_STR},   {"nginx:1", YS_STR},
        {"18446744073709551616", YS_INT_RANGE},      {"-9223372036854775809", YS_INT_RANGE},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct yvalue v;
        enum yscalar k = yscalar_resolve(cases[i].text, &v);
        if (k != cases[i].kind) {
            fprintf(stderr, "  scalar '%s'\n", cases[i].text);
        }
        CHECK_INT(k, cases[i].kind);
    }
    struct yvalue v;
    yscalar_resolve("0x1F", &v);
    CHECK_INT(v.i, 31);
    yscalar_resolve("-9223372036854775808", &v);
    CHECK(v.i == INT64_MIN);
}

static void yaml_loader_marks_and_plainness(void)
{
    const char *text = "a: 1\nb: '1'\nc:\n  - x\n  - \"y\"\n";
    struct arena a;
    arena_init(&a, 1u << 20);
    struct err err;
    err_init(&err);
    const struct dnode *root = dom_parse(&a, text, strlen(text), 0, NULL, &err);
    CHECK(root != NULL);
    struct doc d = {.format = DOC_YAML};
    d.root = root ? doc_from_dom(root, &d) : NULL;
    CHECK(d.root != NULL);
    const json_t *av = json_object_get(d.root, "a");
    const json_t *bv = json_object_get(d.root, "b");
    CHECK(doc_is_plain(&d, av));
    CHECK(!doc_is_plain(&d, bv));
    const struct doc_mark *m = doc_mark_get(&d, json_array_get(json_object_get(d.root, "c"), 1));
    CHECK(m != NULL);
    CHECK_INT(m ? m->line : 0, 5);
    CHECK_INT(m ? m->column : 0, 5);
    /* keys are marked at their own position */
    const char *key = json_object_iter_key(json_object_iter_at(d.root, "c"));
    const struct doc_mark *km = key ? doc_mark_get(&d, doc_key_node(key)) : NULL;
    CHECK(km != NULL);
    CHECK_INT(km ? km->line : 0, 3);
    CHECK_INT(km ? km->column : 0, 1);
    doc_release(&d);
    arena_release(&a);
}

/* render_load_document: YAML plain scalars take their core-schema types, quoted or tagged
 * !!str ones stay strings, JSON keeps its own types. */
static void loaded_documents_type_plain_scalars(void)
{
    const char *text = "i: 8080\nq: '8080'\nt: !!str 8080\nb: true\nno: no\nn: ~\nf: 1.5\n"
                       "hex: 0x10\ninf: .inf\nbig: 18446744073709551616\n"
                       "l: [1, x, null]\nm: {k: false}\n";
    struct err err;
    err_init(&err);
    json_t *v = render_load_document(text, strlen(text), RENDER_FMT_AUTO, &err);
    CHECK(v != NULL);
    CHECK_INT(json_integer_value(json_object_get(v, "i")), 8080);
    CHECK(json_is_integer(json_object_get(v, "i")));
    CHECK_STR(json_string_value(json_object_get(v, "q")), "8080");
    CHECK_STR(json_string_value(json_object_get(v, "t")), "8080");
    CHECK(json_is_true(json_object_get(v, "b")));
    CHECK_STR(json_string_value(json_object_get(v, "no")), "no");
    CHECK(json_is_null(json_object_get(v, "n")));
    CHECK(json_is_real(json_object_get(v, "f")));
    CHECK_INT(json_integer_value(json_object_get(v, "hex")), 16);
    CHECK_STR(json_string_value(json_object_get(v, "inf")), ".inf");
    /* out of the int64 range: kept as the text, never wrapped or rounded */
    CHECK_STR(json_string_value(json_object_get(v, "big")), "18446744073709551616");
    const json_t *l = json_object_get(v, "l");
    CHECK(json_is_integer(json_array_get(l, 0)));
    CHECK_STR(json_string_value(json_array_get(l, 1)), "x");
    CHECK(json_is_null(json_array_get(l, 2)));
    CHECK(json_is_false(json_object_get(json_object_get(v, "m"), "k")));
    json_decref(v);
    const char *js = "{\"i\": 1, \"s\": \"1\", \"r\": 2.5, \"a\": [true, null]}";
    v = render_load_document(js, strlen(js), RENDER_FMT_AUTO, &err);
    CHECK(v != NULL);
    CHECK(json_is_integer(json_object_get(v, "i")));
    CHECK_STR(json_string_value(json_object_get(v, "s")), "1");
    CHECK(json_is_real(json_object_get(v, "r")));
    CHECK(json_is_true(json_array_get(json_object_get(v, "a"), 0)));
    json_decref(v);
}

static void check_load_fails(const char *text, size_t len, enum err_code code, const char *path,
                             const char *msg_part)
{
    struct err err;
    err_init(&err);
    json_t *v = render_load_document(text, len, RENDER_FMT_AUTO, &err);
    CHECK(v == NULL);
    json_decref(v);
    CHECK_INT(err.code, code);
    CHECK_STR(err_path(&err), path);
    if (!strstr(err_message(&err), msg_part)) {
        fprintf(stderr, "  '%s' lacks '%s'\n", err_message(&err), msg_part);
        CHECK(false);
    }
}

/* The loader's safety rules, each with the line and column of the offending node. */
static void loaded_documents_refuse_unsafe_yaml(void)
{
    static const struct {
        const char *text, *path, *part;
    } cases[] = {
        {"a: &x 1\nb: *x\n", "line 1, column 4", "anchors (&x)"},
        {"a: *x\n", "line 1, column 4", "aliases (*x)"},
        {"a: !custom 1\n", "line 1, column 4", "tag '!custom'"},
        {"a: 1\nb: 2\na: 3\n", "line 3, column 1", "duplicate key 'a'"},
        {"<<: {a: 1}\n", "line 1, column 1", "merge keys"},
        {"? [a]\n: b\n", "line 1, column 3", "mapping keys must be scalars"},
        {"a: \"x\\0y\"\n", "line 1, column 4", "NUL characters"},
        {"a: b\xff\n", "line 1, column 5", "YAML syntax error"},
        {"- 1\n", "line 1, column 1", "must be a mapping"},
        {"---\na: 1\n---\nb: 2\n", "line 3, column 1", "only one YAML document"},
        {"{\"a\": 1, \"a\": 2}", "line 1, column 12", "JSON syntax error"},
        {"[1]", "", "must be a JSON object"},
        {"", "", "empty"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        check_load_fails(cases[i].text, strlen(cases[i].text), ERR_SPEC_SYNTAX, cases[i].path,
                         cases[i].part);
    }
    /* nesting: 64 levels load, 65 do not */
    struct sbuf b;
    for (int levels = LIMIT_SPEC_DEPTH; levels <= LIMIT_SPEC_DEPTH + 1; levels++) {
        sbuf_init(&b, 1u << 16);
        for (int i = 0; i < levels; i++) {
            CHECK_INT(sbuf_add(&b, "{a: "), 0);
        }
        CHECK_INT(sbuf_add(&b, "1"), 0);
        for (int i = 0; i < levels; i++) {
            CHECK_INT(sbuf_add(&b, "}"), 0);
        }
        struct err err;
        err_init(&err);
        json_t *v = render_load_document(sbuf_str(&b), sbuf_len(&b), RENDER_FMT_YAML, &err);
        if (levels == LIMIT_SPEC_DEPTH) {
            CHECK(v != NULL);
        } else {
            CHECK(v == NULL);
            CHECK(strstr(err_message(&err), "nests deeper") != NULL);
        }
        json_decref(v);
        sbuf_free(&b);
    }
}

static void yaml_plain_scalars_take_field_types(void)
{
    struct rt t;
    CHECK_INT(rt_spec(&t, "image: {name: \"x:1\"}\n"
                          "env: {PORT: 8080, DEBUG: true, NORWAY: no, HEX: 0x10, F: 1.50, "
                          "OCT: 0o17, EMPTYQ: \"\"}\n"
                          "privileged: false\nresources: {cpu: 2, pids_limit: 0x10}\n"),
              0);
    CHECK_STR(rt_env(t.config, "PORT"), "8080");
    CHECK_STR(rt_env(t.config, "DEBUG"), "true");
    CHECK_STR(rt_env(t.config, "NORWAY"), "no");
    CHECK_STR(rt_env(t.config, "HEX"), "0x10");
    CHECK_STR(rt_env(t.config, "F"), "1.50");
    CHECK_STR(rt_env(t.config, "OCT"), "0o17");
    CHECK_STR(rt_env(t.config, "EMPTYQ"), "");
    CHECK_INT(json_integer_value(rt_get(t.config, "linux.resources.cpu.quota")), 200000);
    CHECK_INT(json_integer_value(rt_get(t.config, "linux.resources.pids.limit")), 16);
    rt_free(&t);
    /* a null env value is not a string */
    CHECK_INT(rt_spec(&t, "image: {name: \"x:1\"}\nenv: {A: ~}\n"), -1);
    CHECK_STR(rt_err_path(&t), "env.A");
    CHECK_CONTAINS(rt_err_msg(&t), "found null");
    rt_free(&t);
    /* quoted booleans are strings: not a boolean field value */
    CHECK_INT(rt_spec(&t, "image: {name: \"x:1\"}\nprivileged: \"true\"\n"), -1);
    CHECK_STR(rt_err_path(&t), "privileged");
    rt_free(&t);
    CHECK_INT(rt_spec(&t, "image: {name: \"x:1\"}\nprivileged: yes\n"), -1);
    rt_free(&t);
    /* JSON is strict: env values must be strings, cpu a number */
    CHECK_INT(rt_spec(&t, "{\"image\": {\"name\": \"x:1\"}, \"env\": {\"A\": true}}"), -1);
    CHECK_STR(rt_err_path(&t), "env.A");
    rt_free(&t);
    /* an explicit null for an optional field means absent */
    CHECK_INT(rt_spec(&t, "{\"image\": {\"name\": \"x:1\"}, \"resources\": {\"cpu\": null}, "
                          "\"hostname\": null}"),
              0);
    CHECK(rt_get(t.config, "linux.resources.cpu") == NULL);
    rt_free(&t);
    CHECK_INT(rt_spec(&t, "image: ~\n"), -1);
    CHECK_CONTAINS(rt_err_msg(&t), "must not be null");
    rt_free(&t);
}

static void schema_reports_every_problem_with_paths(void)
{
    struct rt t;
    CHECK_INT(rt_spec(&t, "version: v1\ndeployment: d-1\nservices:\n  a:\n    image: {name: \"x:1\"}\n"
                          "    bogus: 1\n    resources: {cpu: -1, memory: lots}\n"
                          "    endpoints:\n      - {name: h, protocol: http, port: 0}\n"
                          "      - {name: h, protocol: gopher, port: 80}\n"
                          "    depends: [{service: nothere}]\n"
                          "    scale: {mode: adaptive, min: 5, max: 2}\n"),
              -1);
    CHECK(err_issue_count(&t.err) >= 6);
    const char *want[] = {"services.a.bogus", "services.a.resources.cpu",
                          "services.a.resources.memory", "services.a.endpoints[0].port",
                          "services.a.endpoints[1].protocol", "services.a.scale"};
    for (size_t w = 0; w < sizeof(want) / sizeof(want[0]); w++) {
        bool found = false;
        for (unsigned i = 0; i < err_issue_count(&t.err); i++) {
            found = found || strcmp(err_issue_at(&t.err, i)->path, want[w]) == 0;
        }
        if (!found) {
            fprintf(stderr, "  missing issue at %s\n", want[w]);
        }
        CHECK(found);
    }
    rt_free(&t);
}

/* The whole message of every issue: it ends as written, never cut mid-word. */
static void check_whole(const char *msg, const char *ending)
{
    size_t n = strlen(msg), e = strlen(ending);
    CHECK(n < ERR_MSG_MAX - 1);
    CHECK(n >= e && strcmp(msg + n - e, ending) == 0);
    if (n < e || strcmp(msg + n - e, ending) != 0) {
        fprintf(stderr, "  message: %s\n  wanted the ending: %s\n", msg, ending);
    }
}

static void unknown_keys_name_the_nearest_field(void)
{
    static const struct {
        const char *spec, *path, *msg;
    } cases[] = {
        /* a typo: the nearest valid key, at the key's own line and column */
        {SVC_WEB "    platfor: {os: linux, arch: amd64}\n", "services.web.platfor",
         "unknown field `platfor`, did you mean `platform`? (line 6, column 5)"},
        {SVC_WEB "    platfor:\n      os: linux\n", "services.web.platfor",
         "unknown field `platfor`, did you mean `platform`? (line 6, column 5)"},
        {SVC_WEB "    Image: {name: \"x:1\"}\n", "services.web.Image",
         "unknown field `Image`, did you mean `image`? (line 6, column 5)"},
        {SVC_WEB "    cap_ad: [NET_ADMIN]\n", "services.web.cap_ad",
         "unknown field `cap_ad`, did you mean `cap_add`? (line 6, column 5)"},
        {SVC_WEB "    comand: {args: [x]}\n", "services.web.comand",
         "unknown field `comand`, did you mean `command`? (line 6, column 5)"},
        {SVC_WEB "    resources: {cpu: 1, memroy: 1Gi}\n", "services.web.resources.memroy",
         "unknown field `memroy`, did you mean `memory`? (line 6, column 25)"},
        /* a value of an enumeration */
        {SVC_WEB "    rtype: servce\n", "services.web.rtype",
         "unknown value `servce`, did you mean `service`? (line 6, column 12)"},
        {SVC_WEB "    rtype: zzz\n", "services.web.rtype",
         "unknown value `zzz`, expected one of `service`, `job`, `cron` (line 6, column 12)"},
        {"version: v1\ndeployment: shop\nservices:\n  web:\n    image: {name: \"x:1\", "
         "pull_policy: if_not_presnt}\n",
         "services.web.image.pull_policy", "did you mean `if_not_present`? (line 5, column 39)"},
        /* JSON has no positions, but the same hint */
        {"{\"image\": {\"name\": \"x:1\"}, \"platfrom\": {}}", "platfrom",
         "unknown field `platfrom`, did you mean `platform`?"},
        /* a short list is given whole */
        {SVC_WEB "    command: {zzz: 1}\n", "services.web.command.zzz",
         "unknown field `zzz`, expected one of `entrypoint`, `args`, `workdir` (line 6, column 15)"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct rt t;
        CHECK_INT(rt_spec(&t, cases[i].spec), -1);
        CHECK_STR(rt_err_path(&t), cases[i].path);
        check_whole(rt_err_msg(&t), cases[i].msg);
        rt_free(&t);
    }
    /* Nothing close and too many fields to list: as many whole names as fit, how many more,
     * then the line and column. */
    struct rt t;
    CHECK_INT(rt_spec(&t, SVC_WEB "    zzzzqqq: 1\n"), -1);
    const char *msg = rt_err_msg(&t);
    const char *head = "unknown field `zzzzqqq`, expected one of `rtype`, `schedule`, `image`, ";
    CHECK(strncmp(msg, head, strlen(head)) == 0);
    CHECK(strstr(msg, "did you mean") == NULL);
    CHECK(strstr(msg, "more (line 6, column 5)") != NULL);
    check_whole(msg, " more (line 6, column 5)");
    /* every listed name is whole: an even number of backticks, each name a real field */
    size_t ticks = 0;
    for (const char *p = msg; *p; p++) {
        ticks += *p == '`';
    }
    CHECK(ticks % 2 == 0);
    CHECK(strstr(msg, "`network_mode`") != NULL);
    rt_free(&t);
    /* an absurdly long key is shown shortened, and the message stays whole */
    char spec[1024], key[401];
    memset(key, 'k', sizeof(key) - 1);
    key[sizeof(key) - 1] = '\0';
    snprintf(spec, sizeof(spec), SVC_WEB "    %s: 1\n", key);
    CHECK_INT(rt_spec(&t, spec), -1);
    check_whole(rt_err_msg(&t), " more (line 6, column 5)");
    rt_free(&t);
}

static void deployment_rules(void)
{
    struct rt t;
    static const struct {
        const char *yaml, *path;
    } bad[] = {
        {"version: v1\ndeployment: ab\nservices: {}\n", "deployment"},
        {"version: v1\ndeployment: -abc\nservices: {}\n", "deployment"},
        {"version: v1\ndeployment: abc\nservices:\n  a:\n    image: {name: \"x:1\"}\n"
         "    depends: [{service: b}]\n",
         "services.a.depends[0].service"},
        {"version: v1\ndeployment: abc\nservices:\n  a:\n    image: {name: \"x:1\"}\n"
         "    rtype: cron\n",
         "services.a"},
        {"version: v1\ndeployment: abc\nservices:\n  a:\n    image: {name: \"x:1\"}\n"
         "    schedule: \"0 0 * * * *\"\n",
         "services.a"},
        {"version: v1\ndeployment: abc\nservices:\n  a:\n    image: {name: \"x:1\"}\n"
         "    health: {interval: soon, check: {type: tcp, port: 80}}\n",
         "services.a.health.interval"},
        {"version: v1\ndeployment: abc\nservices:\n  \"bad/name\":\n    image: {name: \"x:1\"}\n",
         "services[\"bad/name\"]"},
        {"version: v1\ndeployment: abc\nexternals:\n  e: {backends: []}\n", "externals.e.backends"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CHECK_INT(rt_spec(&t, bad[i].yaml), -1);
        CHECK_STR(rt_err_path(&t), bad[i].path);
        rt_free(&t);
    }
    CHECK_INT(rt_spec(&t, "version: v1\ndeployment: abc\nservices:\n  a:\n    image: {name: \"x:1\"}\n"
                          "    rtype: cron\n    schedule: \"0 */5 * * * * *\"\n"),
              0);
    rt_free(&t);
}

static void image_references(void)
{
    const char *good[] = {"nginx", "nginx:1.25", "library/nginx:alpine",
                          "ghcr.io/org/app:v1.2.3", "localhost:5000/a/b",
                          "registry.example.com:443/team/app@sha256:"
                          "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                          "a__b/c-d.e:tag_1"};
    const char *bad[] = {"", "UPPER/case", "nginx:", "nginx@sha256:short", "-lead", "a//b",
                         "a:b:c", "nginx:tag with space"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        if (!spec_valid_image_ref(good[i])) {
            fprintf(stderr, "  rejected good ref %s\n", good[i]);
        }
        CHECK(spec_valid_image_ref(good[i]));
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (spec_valid_image_ref(bad[i])) {
            fprintf(stderr, "  accepted bad ref %s\n", bad[i]);
        }
        CHECK(!spec_valid_image_ref(bad[i]));
    }
}

static void network_mode_forms(void)
{
    static const struct {
        const char *yaml;
        bool host;
        bool ok;
    } cases[] = {
        {"network_mode: host", true, true},
        {"network_mode: {bridge: {name: br0}}", false, true},
        {"network_mode: \"container:abc\"", false, true},
        {"network_mode: none", false, true},
        {"host_network: true", true, true},
        {"host_network: true\nnetwork_mode: bridge", true, true},
        {"network_mode: {bridge: {}}", false, false},
        {"network_mode: wormhole", false, false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char spec[256];
        snprintf(spec, sizeof(spec), "image: {name: \"x:1\"}\n%s\n", cases[i].yaml);
        struct rt t;
        CHECK_INT(rt_spec(&t, spec), cases[i].ok ? 0 : -1);
        if (cases[i].ok) {
            CHECK(rt_has_ns(t.config, "network") != cases[i].host);
        }
        rt_free(&t);
    }
}

static void request_selection_and_identity(void)
{
    const char *two = "version: v1\ndeployment: shop\nservices:\n  web: {image: {name: \"w:1\"}}\n"
                      "  worker: {image: {name: \"k:1\"}}\n";
    struct rt t;
    CHECK_INT(rt_spec(&t, two), -1);
    CHECK_STR(rt_err_path(&t), "service");
    CHECK_CONTAINS(rt_err_msg(&t), "2 services");
    rt_free(&t);
    struct render_params p = {.service = "worker", .has_replica = true, .replica = 3};
    struct rt_in in = {.spec = two, .params = &p};
    CHECK_INT(rt_render(&t, &in), 0);
    CHECK_STR(json_string_value(json_object_get(t.config, "hostname")), "worker-rep-3");
    rt_free(&t);
    p.service = "nope";
    CHECK_INT(rt_render(&t, &in), -1);
    CHECK_CONTAINS(rt_err_msg(&t), "unknown service 'nope'");
    rt_free(&t);
    /* a replica that is not a number is refused where the text is read, as a bad request */
    uint64_t replica;
    err_init(&t.err);
    CHECK_INT(param_u64("replica", "abc", RENDER_REPLICA_MAX, &replica, &t.err), -1);
    CHECK_INT(t.err.code, ERR_BAD_REQUEST);
    /* role and node id give the long ContainerId form */
    struct rt_in env = {.spec = two, .service = "web",
                        .container = "{\"replica\": 2, \"role\": \"gpu\", \"node_id\": 7}"};
    CHECK_INT(rt_render(&t, &env), 0);
    CHECK_STR(json_string_value(json_object_get(t.config, "hostname")), "web-gpu-2-on-7");
    rt_free(&t);
    /* hostname precedence: params/options > spec.hostname > ContainerId */
    struct render_params hp = {.service = "web", .hostname = "override"};
    struct rt_in hin = {.spec = two, .params = &hp, .options = "{\"hostname\": \"opt\"}"};
    CHECK_INT(rt_render(&t, &hin), 0);
    CHECK_STR(json_string_value(json_object_get(t.config, "hostname")), "override");
    rt_free(&t);
    hp.hostname = NULL;
    CHECK_INT(rt_render(&t, &hin), 0);
    CHECK_STR(json_string_value(json_object_get(t.config, "hostname")), "opt");
    rt_free(&t);
    /* a bare ServiceSpec renders as service "service" with scope "default" */
    struct render_request *req = NULL;
    struct err err;
    err_init(&err);
    const char *bare = "image: {name: \"x:1\"}\n";
    CHECK_INT(render_request_parse(bare, strlen(bare), RENDER_FMT_AUTO, NULL, &req, &err), 0);
    CHECK_STR(render_request_scope(req), "default");
    CHECK_STR(render_request_container_id(req), "service-rep-1");
    CHECK(!render_request_is_envelope(req));
    render_request_free(req);
}

static void envelope_forms(void)
{
    /* spec as a string, image config as a whole blob, YAML envelope */
    const char *yaml_env = "spec: |\n  image: {name: \"x:1\"}\n  env: {A: \"1\"}\n"
                           "image_config:\n  config: {Cmd: [sleep, \"5\"], WorkingDir: /w}\n"
                           "options: {args: [/bin/true]}\n";
    struct rt t;
    CHECK_INT(rt_spec(&t, yaml_env), 0);
    CHECK_STR(json_string_value(json_array_get(rt_get(t.config, "process.args"), 0)), "/bin/true");
    CHECK_STR(json_string_value(rt_get(t.config, "process.cwd")), "/w");
    CHECK_STR(rt_env(t.config, "A"), "1");
    rt_free(&t);
    CHECK_INT(rt_spec(&t, "{\"spec\": {\"image\": {\"name\": \"x:1\"}}, \"extra\": 1}"), -1);
    CHECK_STR(rt_err_path(&t), "extra");
    rt_free(&t);
    CHECK_INT(rt_spec(&t, "{\"spec\": {\"image\": {\"name\": \"x:1\"}}, \"options\": {\"env\": "
                          "[[\"A=B\", \"x\"]]}}"),
              -1);
    CHECK_STR(rt_err_path(&t), "options.env[0]");
    rt_free(&t);
    CHECK_INT(rt_spec(&t, "{\"spec\": {\"image\": {\"name\": \"x:1\"}}, \"options\": "
                          "{\"volume_paths\": {\"v\": \"relative\"}}}"),
              -1);
    CHECK_STR(rt_err_path(&t), "options.volume_paths.v");
    rt_free(&t);
    /* argv from the image: Entrypoint ++ Cmd; empty everywhere -> /bin/sh */
    struct rt_in in = {.spec = "image: {name: \"x:1\"}\n",
                       .image = "{\"Entrypoint\": [\"/init\"], \"Cmd\": [\"--serve\"], \"Env\": null}"};
    CHECK_INT(rt_render(&t, &in), 0);
    CHECK_INT(json_array_size(rt_get(t.config, "process.args")), 2);
    rt_free(&t);
    in.spec = "image: {name: \"x:1\"}\ncommand: {args: [run]}\n";
    CHECK_INT(rt_render(&t, &in), 0);
    /* args without entrypoint follow the image ENTRYPOINT (Kubernetes and Compose) */
    CHECK_INT(json_array_size(rt_get(t.config, "process.args")), 2);
    CHECK_STR(json_string_value(json_array_get(rt_get(t.config, "process.args"), 0)), "/init");
    CHECK_STR(json_string_value(json_array_get(rt_get(t.config, "process.args"), 1)), "run");
    rt_free(&t);
}

/* Every spec field, each stored one with a value to check, and the cross-field rules. */
static const char every_field[] =
    "version: v1\n"
    "deployment: every\n"
    "services:\n"
    "  web:\n"
    "    rtype: cron\n"
    "    schedule: 0 0 * * * *\n"
    "    image: {name: ghcr.io/acme/web:1.2}\n"
    "    resources:\n"
    "      cpu: 0.5\n"
    "      memory: 512Mi\n"
    "      pids_limit: 100\n"
    "      cpuset: 0-1\n"
    "      cpu_shares: 512\n"
    "      memory_swap: -1\n"
    "      memory_reservation: 256Mi\n"
    "      memory_swappiness: 10\n"
    "      oom_score_adj: -5\n"
    "      oom_kill_disable: true\n"
    "      blkio_weight: 300\n"
    "      gpu: {count: 2, vendor: nvidia, mode: x, model: a100, sharing: mps,\n"
    "            distributed: {backend: nccl, master_port: 29500}, mps_pipe_dir: /p,\n"
    "            mps_log_dir: /l, time_slice_index: 1, time_slicing_config_path: /t}\n"
    "    env: {A: '1', B: two, C: 3}\n"
    "    command: {entrypoint: [/bin/app], args: [--x, '1'], workdir: /srv}\n"
    "    endpoints: [{name: http, protocol: http, port: 80}, {name: grpc, protocol: tcp, port: 81}]\n"
    "    scale: {mode: adaptive, min: 1, max: 3}\n"
    "    replica_groups: [{role: leader, count: 1}]\n"
    "    depends: [{service: db, condition: healthy}]\n"
    "    devices: [{path: /dev/fuse, read: true, write: false, mknod: true}]\n"
    "    storage:\n"
    "      - {type: bind, source: /a, target: /b, readonly: true}\n"
    "      - {type: named, name: data, target: /d, tier: cached, size: 1Gi}\n"
    "      - {type: anonymous, target: /e}\n"
    "      - {type: tmpfs, target: /t, size: 64Mi, mode: 1777}\n"
    "      - {type: s3, bucket: b, prefix: p, target: /s, readonly: false}\n"
    "    capabilities: [NET_ADMIN]\n"
    "    cap_drop: [MKNOD]\n"
    "    privileged: false\n"
    "    host_network: true\n"
    "    cgroup_parent: /x\n"
    "    hostname: web-1\n"
    "    dns: [1.1.1.1]\n"
    "    extra_hosts: ['db:10.0.0.2']\n"
    "    labels: {team: a, tier: web}\n"
    "    user: '1000:1000'\n"
    "    stop_signal: SIGTERM\n"
    "    sysctls: {net.ipv4.ip_forward: '1'}\n"
    "    ulimits: {nofile: {soft: 10}, nproc: {hard: 20}, core: {soft: 1, hard: 2}}\n"
    "    security_opt: [no-new-privileges]\n"
    "    pid_mode: host\n"
    "    ipc_mode: host\n"
    "    extra_groups: [video]\n"
    "    read_only_root_fs: true\n"
    "    tty: true\n"
    "    stdin_open: false\n"
    "    userns_mode: host\n"
    "  db:\n"
    "    image: {name: postgres}\n"
    "    network_mode: {bridge: {name: b0}}\n"
    "  side:\n"
    "    image: {name: busybox}\n"
    "    network_mode: {container: {id: abc}}\n";

/* Every envelope member: host facts of every kind, options, container, image config. */
static const char every_envelope_field[] =
    "spec: {image: {name: busybox}}\n"
    "service: web\n"
    "container: {service: web, replica: 2, role: leader, node_id: 7}\n"
    "image_config: {config: {Entrypoint: [/e], Cmd: [c], Env: ['A=1'], WorkingDir: /w,\n"
    "               User: '1:1', Labels: {x: y}}}\n"
    "options:\n"
    "  hostname: h\n"
    "  host_network: false\n"
    "  cwd: /c\n"
    "  args: [a, b]\n"
    "  env: [[K, v], [L, '2']]\n"
    "  volume_paths: {data: /v}\n"
    "  socket_path: /run/s.sock\n"
    "  bundle_dir: /b\n"
    "  scope: s\n"
    "  oci_version: 1.0.2\n"
    "  seccomp_profile: {defaultAction: SCMP_ACT_ERRNO, architectures: [SCMP_ARCH_X86_64],\n"
    "                    syscalls: [{names: [read, write], action: SCMP_ACT_ALLOW}]}\n"
    "host:\n"
    "  arch: x86_64\n"
    "  user: {uid: 1000, gid: 1000, name: u}\n"
    "  subuid: {start: 100000, count: 65536}\n"
    "  subgid: {start: 100000, count: 65536}\n"
    "  cgroup: {version: 2, parent: /p}\n"
    "  devices: [{path: /dev/nvidia0, type: c, major: 195, minor: 0, mode: 438, uid: 0, gid: 0}]\n"
    "  dirs: []\n"
    "  files: [/etc/x]\n"
    "  env: {HOME: /root}\n"
    "  rootfs: {passwd: 'root:x:0:0::/root:/bin/sh', group: 'root:x:0:'}\n"
    "  wsl: {kernel: 5.15.0-microsoft-standard-WSL2, distro: Debian, dxg: {major: 10, minor: 63},\n"
    "        lib_dirs: [/usr/lib/wsl/lib]}\n"
    "  cdi:\n"
    "    - {priority: 1, path: /etc/cdi/n.yaml, spec: {cdiVersion: 0.6.0, kind: nvidia.com/gpu,\n"
    "       devices: [{name: '0', containerEdits: {deviceNodes: [{path: /dev/nvidia0}]}}]}}\n";

static const void *model_get(const struct mmap *m, const char *key)
{
    for (size_t i = 0; i < m->n; i++) {
        if (strcmp(m->keys[i], key) == 0) {
            return mmap_ptr(m, i);
        }
    }
    return NULL;
}

static const struct spec_service *parse_service(const char *text, const char *service,
                                                struct render_request **req)
{
    struct render_params p = {.service = service};
    struct err err;
    err_init(&err);
    int rc = render_request_parse(text, strlen(text), RENDER_FMT_AUTO, &p, req, &err);
    if (rc) {
        fprintf(stderr, "  %s: %s\n", err_path(&err), err_message(&err));
    }
    CHECK_INT(rc, 0);
    return rc ? NULL : (*req)->service;
}

/* Every field of the spec is accepted; what the renderer reads is stored as written, with
 * the walk's fill-ins (ulimit halves, host_network folded into network_mode). */
static void every_spec_field_is_stored(void)
{
    struct render_request *req = NULL;
    const struct spec_service *s = parse_service(every_field, "web", &req);
    if (!s) {
        return;
    }
    CHECK_STR(s->rtype, "cron");
    CHECK_STR(s->schedule, "0 0 * * * *");
    CHECK_STR(s->image->name, "ghcr.io/acme/web:1.2");
    const struct spec_resources *r = s->resources;
    CHECK(r->cpu.set && r->cpu.v == 0.5);
    CHECK_STR(r->memory, "512Mi");
    CHECK_STR(r->memory_swap, "-1");
    CHECK_STR(r->memory_reservation, "256Mi");
    CHECK_INT(r->pids_limit.v, 100);
    CHECK_INT(r->memory_swappiness.v, 10);
    CHECK_INT(r->oom_score_adj.v, -5);
    CHECK(r->oom_kill_disable.set && r->oom_kill_disable.v);
    CHECK_INT(r->blkio_weight.v, 300);
    CHECK_INT(r->gpu->count.v, 2);
    CHECK_STR(r->gpu->sharing, "mps");
    CHECK_INT(r->gpu->distributed->master_port.v, 29500);
    CHECK_STR(model_get(&s->env, "A"), "1");
    CHECK_STR(model_get(&s->env, "C"), "3"); /* a plain scalar in a string field stays text */
    CHECK(s->command->entrypoint.set);
    CHECK_STR(mlist_str(&s->command->args, 1), "1");
    CHECK_INT(s->endpoints.n, 2);
    CHECK_STR(((const struct spec_dependency *)mlist_ptr(&s->depends, 0))->service, "db");
    const struct spec_device *dev = mlist_ptr(&s->devices, 0);
    CHECK(dev->mknod.set && dev->mknod.v && dev->write.set && !dev->write.v);
    CHECK_INT(s->storage.n, 5);
    const struct spec_storage *tmpfs = mlist_ptr(&s->storage, 3);
    CHECK_STR(tmpfs->type, "tmpfs");
    CHECK_INT(tmpfs->mode.v, 01777);
    CHECK_STR(((const struct spec_storage *)mlist_ptr(&s->storage, 1))->size, "1Gi");
    CHECK_STR(mlist_str(&s->capabilities, 0), "NET_ADMIN");
    CHECK(s->host_network);
    CHECK_STR(s->network_mode, "host");
    const struct spec_ulimit *nofile = model_get(&s->ulimits, "nofile");
    const struct spec_ulimit *nproc = model_get(&s->ulimits, "nproc");
    CHECK(nofile && nofile->hard.set && nofile->hard.v == 10);
    CHECK(nproc && nproc->soft.set && nproc->soft.v == 20);
    CHECK_STR(s->userns_mode, "host");
    CHECK(s->read_only_root_fs.v && s->tty.v && s->stdin_open.set && !s->stdin_open.v);
    render_request_free(req);

    s = parse_service(every_field, "db", &req);
    CHECK_STR(s ? s->network_mode : NULL, "bridge:b0");
    CHECK(s && !s->host_network);
    render_request_free(req);
    s = parse_service(every_field, "side", &req);
    CHECK_STR(s ? s->network_mode : NULL, "container:abc");
    render_request_free(req);
}

static void every_envelope_member_is_stored(void)
{
    struct render_request *req = NULL;
    if (!parse_service(every_envelope_field, NULL, &req)) {
        return;
    }
    CHECK_STR(render_request_container_id(req), "web-leader-2-on-7");
    CHECK_STR(render_request_scope(req), "s");
    const struct host_facts *h = req->host;
    CHECK_STR(h->arch, "x86_64");
    CHECK_INT(h->user->uid.v, 1000);
    CHECK_INT(h->subgid->count.v, 65536);
    CHECK_INT(h->cgroup->version.v, 2);
    CHECK_INT(((const struct host_device *)mlist_ptr(&h->devices, 0))->major.v, 195);
    CHECK(h->dirs.set && h->dirs.list.n == 0);
    CHECK_INT(h->cdi.n, 1);
    CHECK_INT(h->wsl->dxg->minor.v, 63);
    CHECK_STR(mlist_str(&h->wsl->lib_dirs, 0), "/usr/lib/wsl/lib");
    CHECK(h->rootfs->group != NULL);
    CHECK_STR(req->image_config->working_dir, "/w");
    const struct render_options *o = req->options;
    CHECK(o->host_network.set && !o->host_network.v);
    CHECK_STR(((const struct env_pair *)mlist_ptr(&o->env, 1))->value, "2");
    CHECK_STR(model_get(&o->volume_paths, "data"), "/v");
    CHECK_STR(o->oci_version, "1.0.2");
    CHECK(json_is_object(o->seccomp_profile));
    render_request_free(req);
}

static void secret_reference_grammar(void)
{
    static const struct {
        const char *ref, *scope, *name, *field;
        unsigned version;
    } ok[] = {
        {"$S:db", "shop", "db", NULL, 0},
        {"$S:db/password", "shop", "db", "password", 0},
        {"$S:db@3", "shop", "db", NULL, 3},
        {"$S:db@3/password", "shop", "db", "password", 3},
        {"$S:@web/api-key", "shop/web", "api-key", NULL, 0},
        {"$S:@web/api-key/token", "shop/web", "api-key", "token", 0},
        {"$S:@web/api-key/", "shop/web", "api-key", NULL, 0},
        {"$S::prod/db", "env:prod", "db", NULL, 0},
        {"$S::prod/db/user", "env:prod", "db", "user", 0},
        {"$S:acme:prod/db@2/user", "project:acme:env:prod", "db", "user", 2},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        struct render_secret_ref r;
        struct err err;
        err_init(&err);
        CHECK_INT(render_parse_secret_ref(ok[i].ref, "shop", "p", &r, &err), 0);
        CHECK_STR(r.scope, ok[i].scope);
        CHECK_STR(r.name, ok[i].name);
        if (ok[i].field) {
            CHECK_STR(r.field, ok[i].field);
        } else {
            CHECK(r.field == NULL);
        }
        CHECK_INT(r.version, ok[i].version);
        render_secret_ref_clear(&r);
    }
    const char *bad[] = {"$S:", "$S:/x", "$S:a:b", "$S:@/x", "$S:@svc", "$S:@svc/", "$S:a/",
                         "$S:a/b/c", "$S::/x", "$S::e:f/x", "$S:db@0", "$S:db@x", "$S:../etc",
                         "$S:a b", "$S::prod/db/"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct render_secret_ref r;
        struct err err;
        err_init(&err);
        if (render_parse_secret_ref(bad[i], "shop", "p", &r, &err) == 0) {
            fprintf(stderr, "  accepted %s\n", bad[i]);
            render_secret_ref_clear(&r);
            CHECK(false);
        } else {
            CHECK_INT(err.code, ERR_SPEC_INVALID);
            CHECK_CONTAINS(err_message(&err), bad[i]);
        }
    }
}

static void secret_values_are_inputs(void)
{
    const char *spec = "version: v1\ndeployment: shop\nservices:\n  web:\n    image: {name: \"x:1\"}\n"
                       "    env: {B: \"$S:db/password\", A: \"$S:@web/key\", C: plain}\n";
    struct render_request *req = NULL;
    struct err err;
    err_init(&err);
    CHECK_INT(render_request_parse(spec, strlen(spec), RENDER_FMT_AUTO, NULL, &req, &err), 0);
    struct render_secret_refs refs;
    CHECK_INT(render_request_secret_refs(req, &refs, &err), 0);
    CHECK_INT(refs.n, 2);
    CHECK_STR(refs.items[0].env, "A"); /* env-key order */
    CHECK_STR(refs.items[0].scope, "shop/web");
    CHECK_STR(refs.items[1].path, "services.web.env.B");
    render_secret_refs_release(&refs);
    render_request_free(req);

    json_t *values = json_pack("{s:s}", "$S:db/password", "s3cret");
    struct rt t;
    struct rt_in in = {.spec = spec, .secrets = values};
    CHECK_INT(rt_render(&t, &in), -1); /* $S:@web/key has no value */
    CHECK_INT(t.err.code, ERR_SECRET_NOT_FOUND);
    CHECK_STR(rt_err_path(&t), "services.web.env.A");
    CHECK_CONTAINS(rt_err_msg(&t), "$S:@web/key");
    CHECK(strstr(rt_err_msg(&t), "s3cret") == NULL);
    rt_free(&t);
    json_object_set_new(values, "$S:@web/key", json_string("k-123"));
    CHECK_INT(rt_render(&t, &in), 0);
    CHECK_STR(rt_env(t.config, "B"), "s3cret");
    CHECK_STR(rt_env(t.config, "A"), "k-123");
    rt_free(&t);
    json_decref(values);
    /* /validate mode: placeholders, no error */
    struct render_settings s = {.placeholder_secrets = true};
    struct rt_in pin = {.spec = spec, .settings = &s};
    CHECK_INT(rt_render(&t, &pin), 0);
    CHECK_STR(rt_env(t.config, "B"), "<secret>");
    rt_free(&t);
}

static void fact_needs(void)
{
    const char *spec = "image: {name: \"x:1\"}\ndevices: [{path: /dev/fuse}]\n"
                       "env: {N: \"$E:NODE\", M: plain}\n"
                       "resources: {gpu: {count: 2, sharing: mps}}\n";
    struct render_request *req = NULL;
    struct err err;
    err_init(&err);
    CHECK_INT(render_request_parse(spec, strlen(spec), RENDER_FMT_AUTO, NULL, &req, &err), 0);
    json_t *needs = render_request_fact_needs(req, &err);
    CHECK(rt_has_str(json_object_get(needs, "devices"), "/dev/fuse"));
    CHECK(rt_has_str(json_object_get(needs, "devices"), "/dev/nvidia1"));
    CHECK(rt_has_str(json_object_get(needs, "dirs"), "/tmp/nvidia-mps"));
    CHECK(rt_has_str(json_object_get(needs, "env"), "NODE"));
    CHECK(rt_has_str(json_object_get(needs, "cdi_kinds"), "nvidia.com/gpu"));
    CHECK_INT(json_array_size(json_object_get(needs, "env")), 1);
    json_decref(needs);
    render_request_free(req);
}

RT_MAIN(TEST(core_schema_scalars), TEST(yaml_loader_marks_and_plainness),
       TEST(loaded_documents_type_plain_scalars), TEST(loaded_documents_refuse_unsafe_yaml),
        TEST(yaml_plain_scalars_take_field_types), TEST(schema_reports_every_problem_with_paths),
        TEST(unknown_keys_name_the_nearest_field),
        TEST(deployment_rules), TEST(image_references), TEST(network_mode_forms),
        TEST(request_selection_and_identity), TEST(envelope_forms),
        TEST(every_spec_field_is_stored), TEST(every_envelope_member_is_stored),
        TEST(secret_reference_grammar),
        TEST(secret_values_are_inputs), TEST(fact_needs))
