/*
 * ocirender pull: gather this node's facts, post the envelope form to ocirenderd, and write the
 * OCI bundle from the envelope it answers.
 */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <curl/curl.h>

#include "client/bundle.h"
#include "client/cli.h"
#include "client/pull_http.h"
#include "common/jsonx.h"
#include "common/limits.h"
#include "common/sbuf.h"
#include "common/strutil.h"
#include "render/render.h"

#define TOKEN_MAX LIMIT_TOKEN

static void pull_usage(FILE *out)
{
    fprintf(out,
            "usage: ocirender pull --server URL --bundle DIR [OPTIONS] SPEC|-\n"
            "\n"
            "Gather this node's host facts for SPEC (a ZLayer spec or an envelope document),\n"
            "post the envelope form to ocirenderd's POST /render, verify the answer and write\n"
            "the OCI bundle (as `ocirender materialize` does).\n"
            "\n"
            "  --server URL          ocirenderd base URL (https://host:port); /render is added\n"
            "  --token T             bearer token (default: $OCIRENDER_TOKEN)\n"
            "  --token-file FILE     read the bearer token from FILE (keeps it out of `ps`)\n"
            "  --cacert FILE         CA certificates to verify the server (HTTPS)\n"
            "  --service NAME        service of a DeploymentSpec (required with several)\n"
            "  --replica N           replica number (default 1)\n"
            "  --image-config FILE   OCI image config (the blob or its `config` object)\n"
            "  --bundle DIR          bundle directory to write (required)\n"
            "  --rootfs DIR          container rootfs: read for user names, linked as DIR/rootfs\n"
            CLI_SECRETS_DIR_USAGE
            CLI_HOST_ROOT_USAGE
            "  --timeout SECONDS     limit for one attempt (default 60)\n"
            "  --retries N           extra attempts on connection failures and 503 (default 4)\n"
            "\n"
            "Exit codes: 0 bundle written; 1 usage or local error; 2 the server rejected the\n"
            "request (4xx); 3 server or transport failure (5xx, timeout, connection).\n");
}

enum {
    OPT_SERVER = 1000, OPT_TOKEN, OPT_TOKEN_FILE, OPT_CACERT, OPT_SERVICE, OPT_REPLICA,
    OPT_IMAGE_CONFIG, OPT_BUNDLE, OPT_ROOTFS, OPT_TIMEOUT, OPT_RETRIES, OPT_HOST_ROOT, OPT_HELP,
    OPT_SECRETS_DIR,
};

struct pull_opts {
    const char *server, *token, *token_file, *cacert, *service, *replica, *image_config;
    const char *bundle, *rootfs, *spec, *host_root, *secrets_dir;
    unsigned timeout_s, retries;
    char *token_buf; /* owned copy when read from a file */
};

static int parse_uint_opt(const char *name, const char *text, unsigned max, unsigned *out)
{
    uint64_t v;
    if (str_to_u64(text, &v) || v > max) {
        fprintf(stderr, "ocirender pull: %s must be an integer in 0..%u, got '%s'\n", name, max,
                text);
        return -1;
    }
    *out = (unsigned)v;
    return 0;
}

static int check_required(const struct pull_opts *o, int argc, int optind_)
{
    const char *problem = !o->server   ? "--server URL is required"
                          : !o->bundle ? "--bundle DIR is required"
                          : optind_ != argc - 1 ? "expected exactly one SPEC argument (or -)"
                          : (o->token && o->token_file)
                              ? "--token and --token-file exclude each other"
                              : NULL;
    if (problem) {
        fprintf(stderr, "ocirender pull: %s\n", problem);
        pull_usage(stderr);
        return -1;
    }
    return 0;
}

static int parse_args(int argc, char **argv, struct pull_opts *o)
{
    static const struct option longopts[] = {
        {"server", required_argument, NULL, OPT_SERVER},
        {"token", required_argument, NULL, OPT_TOKEN},
        {"token-file", required_argument, NULL, OPT_TOKEN_FILE},
        {"cacert", required_argument, NULL, OPT_CACERT},
        {"service", required_argument, NULL, OPT_SERVICE},
        {"replica", required_argument, NULL, OPT_REPLICA},
        {"image-config", required_argument, NULL, OPT_IMAGE_CONFIG},
        {"bundle", required_argument, NULL, OPT_BUNDLE},
        {"rootfs", required_argument, NULL, OPT_ROOTFS},
        {"host-root", required_argument, NULL, OPT_HOST_ROOT},
        {"secrets-dir", required_argument, NULL, OPT_SECRETS_DIR},
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {"retries", required_argument, NULL, OPT_RETRIES},
        {"help", no_argument, NULL, OPT_HELP},
        {NULL, 0, NULL, 0},
    };
    memset(o, 0, sizeof(*o));
    o->timeout_s = 60;
    o->retries = 4;
    optind = 1;
    int ch;
    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        int rc = 0;
        switch (ch) {
        case OPT_SERVER: o->server = optarg; break;
        case OPT_TOKEN: o->token = optarg; break;
        case OPT_TOKEN_FILE: o->token_file = optarg; break;
        case OPT_CACERT: o->cacert = optarg; break;
        case OPT_SERVICE: o->service = optarg; break;
        case OPT_REPLICA: o->replica = optarg; break;
        case OPT_IMAGE_CONFIG: o->image_config = optarg; break;
        case OPT_BUNDLE: o->bundle = optarg; break;
        case OPT_ROOTFS: o->rootfs = optarg; break;
        case OPT_HOST_ROOT: o->host_root = optarg; break;
        case OPT_SECRETS_DIR: o->secrets_dir = optarg; break;
        case OPT_TIMEOUT: rc = parse_uint_opt("--timeout", optarg, 3600, &o->timeout_s); break;
        case OPT_RETRIES: rc = parse_uint_opt("--retries", optarg, 20, &o->retries); break;
        case OPT_HELP: pull_usage(stdout); return 1;
        default: pull_usage(stderr); return -1;
        }
        if (rc) {
            return -1;
        }
    }
    if (check_required(o, argc, optind)) {
        return -1;
    }
    if (o->timeout_s == 0) {
        o->timeout_s = 60;
    }
    o->spec = argv[optind];
    return 0;
}

/* --token, else --token-file (first line), else $OCIRENDER_TOKEN. Header-safe text only. */
static int load_token(struct pull_opts *o, struct err *err)
{
    if (o->token_file) {
        size_t len;
        o->token_buf = cli_read_file(o->token_file, TOKEN_MAX, &len, err);
        if (!o->token_buf) {
            return -1;
        }
        o->token_buf[strcspn(o->token_buf, "\r\n")] = '\0';
        if (!o->token_buf[0]) {
            return err_set(err, ERR_USAGE, o->token_file, "the token file is empty");
        }
        o->token = o->token_buf;
    } else if (!o->token) {
        o->token = getenv("OCIRENDER_TOKEN");
    }
    if (o->token && !o->token[0]) {
        o->token = NULL;
    }
    for (const unsigned char *p = (const unsigned char *)o->token; p && *p; p++) {
        if (*p < 0x21 || *p == 0x7f) {
            return err_set(err, ERR_USAGE, "--token",
                           "the token contains a space or control character");
        }
    }
    if (o->token && strlen(o->token) > TOKEN_MAX) {
        return err_set(err, ERR_USAGE, "--token", "the token is longer than %d bytes", TOKEN_MAX);
    }
    return 0;
}

/* ---- the request envelope ---- */

/*
 * The spec is parsed once, here: the parsed request tells which facts it needs and whether the
 * input is an envelope. When this (possibly older) client cannot parse it, the basic facts are
 * sent and the server judges it: its answer (4xx) is the authoritative one.
 */
struct spec_view {
    json_t *needs;      /* facts the spec needs (new), or NULL for the basic facts */
    bool maybe_envelope; /* an envelope, or unparsed: it might be one */
};

static int view_spec(const char *text, size_t len, const struct pull_opts *o,
                     struct spec_view *v, struct err *err)
{
    /* The facts a spec needs do not depend on the replica number. */
    struct render_params params = {.service = o->service};
    struct render_request *req = NULL;
    struct err perr;
    err_init(&perr);
    v->needs = NULL;
    v->maybe_envelope = true;
    if (render_request_parse(text, len, RENDER_FMT_AUTO, &params, &req, &perr) == 0) {
        v->maybe_envelope = render_request_is_envelope(req);
        v->needs = render_request_fact_needs(req, err);
        render_request_free(req);
        return v->needs ? 0 : -1;
    }
    if (perr.code == ERR_NOMEM) {
        return err_nomem(err);
    }
    fprintf(stderr, "ocirender: warning: cannot work out locally which facts the spec needs "
            "(%s%s%s); sending the basic facts and leaving the verdict to the server\n",
            err_path(&perr), err_path(&perr)[0] ? ": " : "", err_message(&perr));
    return 0;
}

/* SPEC as given: an envelope document becomes the base (flags override its members); anything
 * else is sent verbatim as the `spec` string, so the server sees the exact YAML/JSON text and
 * reports positions in it. Only an input that may be an envelope is loaded as a document
 * (the envelope's own members, not its spec, are read again). */
static json_t *base_envelope(const char *text, size_t len, bool maybe_envelope)
{
    if (maybe_envelope) {
        struct err ignored;
        err_init(&ignored);
        json_t *doc = render_load_document(text, len, RENDER_FMT_AUTO, &ignored);
        if (json_is_object(doc) && json_object_get(doc, "spec")) {
            return doc;
        }
        json_decref(doc);
    }
    json_t *env = json_object();
    if (env && json_object_set_new(env, "spec", json_stringn(text, len))) {
        json_decref(env);
        return NULL;
    }
    return env;
}

/* The object member `key` of `obj`, added when missing. Borrowed (hence `_get`). */
static json_t *member_object_get(json_t *obj, const char *key)
{
    json_t *m = json_object_get(obj, key);
    if (json_is_object(m)) {
        return m;
    }
    m = json_object();
    return json_object_set_new(obj, key, m) ? NULL : m;
}

static int set_identity(json_t *env, const struct pull_opts *o, struct err *err)
{
    if (!o->service && !o->replica) {
        return 0;
    }
    json_t *container = member_object_get(env, "container");
    if (!container) {
        return err_nomem(err);
    }
    if (o->service && (jsonx_set_str(env, "service", o->service) ||
                       jsonx_set_str(container, "service", o->service))) {
        return err_nomem(err);
    }
    uint64_t replica;
    if (o->replica && (str_to_u64(o->replica, &replica) || replica > 4294967295ull)) {
        return err_set(err, ERR_USAGE, "--replica",
                       "--replica must be an integer in 0..4294967295, got '%s'", o->replica);
    }
    if (o->replica && jsonx_set_int(container, "replica", (long long)replica)) {
        return err_nomem(err);
    }
    return 0;
}

static json_t *build_envelope(const char *text, size_t len, const struct pull_opts *o,
                              const char *bundle_abs, struct err *err)
{
    struct spec_view view;
    if (view_spec(text, len, o, &view, err)) {
        return NULL;
    }
    json_t *env = base_envelope(text, len, view.maybe_envelope);
    json_t *facts = NULL, *image = NULL, *options = NULL;
    if (!env) {
        json_decref(view.needs);
        err_nomem(err);
        return NULL;
    }
    facts = set_identity(env, o, err) ? NULL : cli_gather_facts(view.needs, o->host_root, o->rootfs, err);
    json_decref(view.needs);
    if (!facts || (o->image_config && !(image = cli_load_json_file(o->image_config, err)))) {
        goto fail;
    }
    if (json_object_get(env, "host")) {
        fprintf(stderr, "ocirender: note: the envelope's host facts are replaced by this "
                        "node's\n");
    }
    if (json_object_set_new(env, "host", jsonx_steal(&facts)) ||
        (image && json_object_set_new(env, "image_config", jsonx_steal(&image))) ||
        !(options = member_object_get(env, "options")) ||
        jsonx_set_str(options, "bundle_dir", bundle_abs)) {
        err_nomem(err);
        goto fail;
    }
    return env;
fail:
    json_decref(env);
    json_decref(facts);
    json_decref(image);
    return NULL;
}

/* ---- the answer ---- */

/* Server text goes to a terminal: control characters are shown escaped. */
static void print_clean(const char *prefix, const char *s, size_t max)
{
    fputs(prefix, stderr);
    for (size_t i = 0; s && s[i] && i < max; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f) {
            fprintf(stderr, "\\x%02x", c);
        } else {
            fputc(c, stderr);
        }
    }
    fputc('\n', stderr);
}

static void print_problem(const struct pull_reply *r, const char *rid)
{
    json_t *p = json_loadb(r->body, r->len, 0, NULL);
    const char *title = jsonx_get_str(p, "title"), *detail = jsonx_get_str(p, "detail");
    fprintf(stderr, "ocirender: the server %s the request: HTTP %ld%s", r->status < 500 ?
            "rejected" : "failed", r->status, title ? " " : "");
    print_clean("", title ? title : "", 200);
    if (detail) {
        print_clean("ocirender: ", detail, 1000);
    }
    const json_t *errors = json_object_get(p, "errors");
    for (size_t i = 0; i < json_array_size(errors) && i < 50; i++) {
        const json_t *e = json_array_get(errors, i);
        const char *path = jsonx_get_str(e, "path"), *msg = jsonx_get_str(e, "message");
        char line[1200];
        snprintf(line, sizeof(line), "%s%s%s", path ? path : "", path && path[0] ? ": " : "",
                 msg ? msg : "");
        print_clean("ocirender:   ", line, sizeof(line));
    }
    if (!json_is_object(p) && r->len) {
        print_clean("ocirender: ", r->body, 400);
    }
    if (r->retry_after) {
        fprintf(stderr, "ocirender: the server asks to retry after %u s\n", r->retry_after);
    }
    fprintf(stderr, "ocirender: request id %s\n", rid);
    json_decref(p);
}

static int handle_reply(const struct pull_reply *r, const struct pull_opts *o, const char *rid,
                        struct err *err)
{
    if (r->status >= 200 && r->status < 300) {
        bool bad_envelope;
        if (cli_materialize_text(r->body, r->len, o->bundle, o->rootfs,
                                 cli_secrets_root(o->secrets_dir), &bad_envelope,
                                    err) == 0) {
            return CLI_EXIT_OK;
        }
        if (bad_envelope) {
            err_prefix(err, "the server's answer is not a valid envelope: ");
            return CLI_EXIT_SERVER;
        }
        return CLI_EXIT_LOCAL;
    }
    if (r->status >= 300 && r->status < 400) {
        err_set(err, ERR_IO, o->server, "the server answered %ld (a redirect, not followed: "
                "pass the final URL as --server)", r->status);
        return CLI_EXIT_SERVER;
    }
    print_problem(r, rid);
    return r->status >= 400 && r->status < 500 ? CLI_EXIT_REJECTED : CLI_EXIT_SERVER;
}

/* ---- command ---- */

static void make_request_id(char out[40])
{
    unsigned char r[12] = {0};
    if (getrandom(r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r)) {
        memset(r, 0, sizeof(r));
    }
    snprintf(out, 40, "ocirender-");
    for (size_t i = 0; i < sizeof(r); i++) {
        snprintf(out + 10 + 2 * i, 3, "%02x", r[i]);
    }
}

static int post_and_write(const struct pull_opts *o, const char *body, size_t len,
                          struct err *err)
{
    char *url = NULL;
    bool https, loopback;
    if (pull_render_url(o->server, &url, &https, &loopback, err)) {
        return CLI_EXIT_LOCAL;
    }
    if (o->token && !https && !loopback) {
        fprintf(stderr, "ocirender: warning: sending the bearer token over plain http to a "
                        "non-loopback server\n");
    }
    char rid[40];
    make_request_id(rid);
    struct pull_http_opts h = {.url = url, .token = o->token, .cacert = o->cacert,
                               .request_id = rid, .connect_timeout_ms = 10000,
                               .timeout_ms = (long)o->timeout_s * 1000, .retries = o->retries,
                               .max_wait_s = 30};
    struct pull_reply reply;
    enum pull_outcome out = pull_http_post(&h, body, len, &reply, err);
    int rc = out == PULL_LOCAL       ? CLI_EXIT_LOCAL
             : out == PULL_TRANSPORT ? CLI_EXIT_SERVER
                                     : handle_reply(&reply, o, rid, err);
    pull_reply_release(&reply);
    free(url);
    return rc;
}

int cmd_pull(int argc, char **argv)
{
    struct pull_opts o;
    int prc = parse_args(argc, argv, &o);
    if (prc) {
        return prc > 0 ? CLI_EXIT_OK : CLI_EXIT_LOCAL;
    }
    struct err_issues issues; /* every problem the spec has, reported at once */
    struct err err;
    err_init_issues(&err, &issues);
    char bundle_abs[PATH_MAX];
    size_t len = 0, blen = 0;
    char *text = NULL, *body = NULL;
    json_t *env = NULL;
    int rc = CLI_EXIT_LOCAL;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        err_set(&err, ERR_INTERNAL, NULL, "cannot initialise libcurl");
        goto out;
    }
    if (load_token(&o, &err) || bundle_abs_path(o.bundle, bundle_abs, sizeof(bundle_abs), &err) ||
        !(text = cli_read_file(o.spec, LIMIT_FILE_READ, &len, &err)) ||
        !(env = build_envelope(text, len, &o, bundle_abs, &err))) {
        goto out;
    }
    if (!(body = jsonx_dump(env, JSONX_COMPACT, &blen))) {
        err_set(&err, ERR_TOO_LARGE, NULL, "the request is too large or memory ran out");
        goto out;
    }
    rc = post_and_write(&o, body, blen, &err);
out:
    if (rc != CLI_EXIT_OK && err_is_set(&err)) {
        cli_print_error("", &err);
    }
    if (body) {
        mem_wipe(body, blen); /* $E: values and tokens never linger */
    }
    free(body);
    json_decref(env);
    free(text);
    if (o.token_buf) {
        mem_wipe(o.token_buf, strlen(o.token_buf));
        free(o.token_buf);
    }
    curl_global_cleanup();
    return rc;
}
