/* ocirender render: render config.json locally with the same library as the server. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/cli.h"
#include "client/secrets_glue.h"
#include "common/hostarch.h"
#include "common/limits.h"
#include "common/param.h"
#include "render/render.h"

static void render_usage(FILE *out)
{
    fprintf(out,
            "usage: ocirender render [OPTIONS] SPEC|-\n"
            "\n"
            "Render an OCI config.json from a ZLayer spec (YAML or JSON) or an envelope\n"
            "document {spec, service, container, image_config, host, options}.\n"
            "Flags override the envelope's members.\n"
            "\n"
            "  --service NAME        service of a DeploymentSpec (required with several)\n"
            "  --replica N           replica number (default 1)\n"
            "  --role ROLE           container role (default \"default\")\n"
            "  --node-id N           node id (default 0)\n"
            "  --hostname NAME       container hostname\n"
            "  --host-network        share the host's network namespace\n"
            "  --scope SCOPE         secret scope (default: the deployment name)\n"
            "  --facts FILE          host facts (JSON or YAML)\n"
            "  --facts-from-host     gather the facts from this machine (read-only)\n"
            "  --rootfs DIR          container rootfs to resolve user names (with\n"
            "                        --facts-from-host)\n"
            CLI_HOST_ROOT_USAGE
            "  --image-config FILE   OCI image config (the blob or its `config` object)\n"
            "  --cgroup-parent PATH  default cgroup parent (or OCIRENDER_CGROUP_PARENT)\n"
            "  --envelope            print the envelope {config, digest, warnings, files,\n"
            "                        secret_files, secrets}\n"
            "  --compact             print without whitespace\n"
            "%s",
            cli_secrets_usage());
}

enum {
    OPT_SERVICE = 1000, OPT_REPLICA, OPT_ROLE, OPT_NODE_ID, OPT_HOSTNAME, OPT_HOST_NETWORK,
    OPT_SCOPE, OPT_FACTS, OPT_FACTS_FROM_HOST, OPT_ROOTFS, OPT_IMAGE_CONFIG, OPT_CGROUP_PARENT,
    OPT_ENVELOPE, OPT_COMPACT, OPT_HOST_ROOT, OPT_HELP,
};

struct render_opts {
    struct render_params params;
    const char *facts_file;
    bool facts_from_host;
    const char *rootfs;
    const char *host_root;
    const char *image_config_file;
    const char *cgroup_parent;
    bool envelope;
    bool compact;
    const char *spec;
    struct cli_secrets_opts secrets;
};

/* A number flag, typed here so render never sees its text. */
static int number_flag(const char *name, const char *text, uint64_t max, uint64_t *out,
                       bool *given)
{
    struct err err;
    err_init(&err);
    if (param_u64(name, text, max, out, &err)) {
        cli_print_error("", &err);
        return -1;
    }
    *given = true;
    return 0;
}

static int parse_args(int argc, char **argv, struct render_opts *o)
{
    static const struct option longopts[] = {
        {"service", required_argument, NULL, OPT_SERVICE},
        {"replica", required_argument, NULL, OPT_REPLICA},
        {"role", required_argument, NULL, OPT_ROLE},
        {"node-id", required_argument, NULL, OPT_NODE_ID},
        {"hostname", required_argument, NULL, OPT_HOSTNAME},
        {"host-network", no_argument, NULL, OPT_HOST_NETWORK},
        {"scope", required_argument, NULL, OPT_SCOPE},
        {"facts", required_argument, NULL, OPT_FACTS},
        {"facts-from-host", no_argument, NULL, OPT_FACTS_FROM_HOST},
        {"rootfs", required_argument, NULL, OPT_ROOTFS},
        {"host-root", required_argument, NULL, OPT_HOST_ROOT},
        {"image-config", required_argument, NULL, OPT_IMAGE_CONFIG},
        {"cgroup-parent", required_argument, NULL, OPT_CGROUP_PARENT},
        {"envelope", no_argument, NULL, OPT_ENVELOPE},
        {"compact", no_argument, NULL, OPT_COMPACT},
        {"help", no_argument, NULL, OPT_HELP},
        CLI_SECRETS_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    memset(o, 0, sizeof(*o));
    cli_secrets_opts_init(&o->secrets);
    o->cgroup_parent = getenv("OCIRENDER_CGROUP_PARENT");
    optind = 1;
    int ch;
    uint64_t replica;
    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (ch) {
        case OPT_SERVICE: o->params.service = optarg; break;
        case OPT_REPLICA:
            if (number_flag("replica", optarg, RENDER_REPLICA_MAX, &replica,
                            &o->params.has_replica)) {
                return -1;
            }
            o->params.replica = (uint32_t)replica;
            break;
        case OPT_ROLE: o->params.role = optarg; break;
        case OPT_NODE_ID:
            if (number_flag("node_id", optarg, RENDER_NODE_ID_MAX, &o->params.node_id,
                            &o->params.has_node_id)) {
                return -1;
            }
            break;
        case OPT_HOSTNAME: o->params.hostname = optarg; break;
        case OPT_HOST_NETWORK: o->params.host_network = RENDER_FLAG_TRUE; break;
        case OPT_SCOPE: o->params.scope = optarg; break;
        case OPT_FACTS: o->facts_file = optarg; break;
        case OPT_FACTS_FROM_HOST: o->facts_from_host = true; break;
        case OPT_ROOTFS: o->rootfs = optarg; break;
        case OPT_HOST_ROOT: o->host_root = optarg; break;
        case OPT_IMAGE_CONFIG: o->image_config_file = optarg; break;
        case OPT_CGROUP_PARENT: o->cgroup_parent = optarg; break;
        case OPT_ENVELOPE: o->envelope = true; break;
        case OPT_COMPACT: o->compact = true; break;
        case OPT_HELP: render_usage(stdout); return 1;
        default:
            if (cli_secrets_opt(&o->secrets, ch, optarg) == 0) {
                break;
            }
            render_usage(stderr);
            return -1;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "ocirender render: expected exactly one SPEC argument (or -)\n");
        render_usage(stderr);
        return -1;
    }
    if (o->facts_file && o->facts_from_host) {
        fprintf(stderr, "ocirender render: --facts and --facts-from-host exclude each other\n");
        return -1;
    }
    if (o->rootfs && !o->facts_from_host) {
        fprintf(stderr, "ocirender render: --rootfs needs --facts-from-host\n");
        return -1;
    }
    if (o->host_root && !o->facts_from_host) {
        fprintf(stderr, "ocirender render: --host-root needs --facts-from-host\n");
        return -1;
    }
    o->spec = argv[optind];
    return 0;
}

/* Parse once without facts to learn what the spec needs, then gather exactly that. */
static json_t *host_facts(const char *body, size_t len, const struct render_opts *o,
                          struct err *err)
{
    struct render_request *probe;
    if (render_request_parse(body, len, RENDER_FMT_AUTO, &o->params, &probe, err)) {
        return NULL;
    }
    json_t *needs = render_request_fact_needs(probe, err);
    render_request_free(probe);
    if (!needs) {
        return NULL;
    }
    json_t *facts = cli_gather_facts(needs, o->host_root, o->rootfs, err);
    json_decref(needs);
    return facts;
}

/* Print the result in the server's wire format (compact output gets a final newline here,
 * for the terminal; the server's body has none). */
static int emit(const struct render_result *res, const struct render_opts *o,
                const json_t *secrets, struct err *err)
{
    unsigned flags =
        (o->envelope ? RENDER_OUT_ENVELOPE : 0) | (o->compact ? RENDER_OUT_COMPACT : 0);
    struct render_output out;
    if (render_output_text(res, flags, secrets, &out, err)) {
        return -1;
    }
    int rc = cli_write_stdout(out.text, out.len);
    if (o->compact && rc == 0) {
        rc = cli_write_stdout("\n", 1);
    }
    render_output_release(&out);
    return rc ? err_set(err, ERR_IO, "stdout", "write failed") : 0;
}

int cmd_render(int argc, char **argv)
{
    struct render_opts o;
    int prc = parse_args(argc, argv, &o);
    if (prc) {
        return prc > 0 ? CLI_EXIT_OK : CLI_EXIT_LOCAL;
    }
    struct err_issues issues; /* every problem the spec has, reported at once */
    struct err err;
    err_init_issues(&err, &issues);
    size_t len = 0;
    json_t *facts = NULL, *image = NULL, *values = NULL, *secrets = NULL, *server_env = NULL;
    json_t *warnings = NULL;
    struct render_request *req = NULL;
    struct render_result res = {0};
    struct render_secret_refs refs = {0};
    int rc = CLI_EXIT_LOCAL;
    char *body = cli_read_file(o.spec, LIMIT_FILE_READ, &len, &err);
    if (!body) {
        goto out;
    }
    if (o.facts_file && !(facts = cli_load_json_file(o.facts_file, &err))) {
        goto out;
    }
    if (o.facts_from_host && !(facts = host_facts(body, len, &o, &err))) {
        goto out;
    }
    if (o.image_config_file && !(image = cli_load_json_file(o.image_config_file, &err))) {
        goto out;
    }
    o.params.host = facts;
    o.params.image_config = image;
    if (render_request_parse(body, len, RENDER_FMT_AUTO, &o.params, &req, &err) ||
        render_request_secret_refs(req, &refs, &err) ||
        cli_resolve_secrets(&o.secrets, &refs, &values, &secrets, &err) ||
        cli_allowed_server_env(&server_env, &err)) {
        goto out;
    }
    char machine[65];
    struct render_settings settings = {.default_cgroup_parent = o.cgroup_parent,
                                       .server_env = server_env,
                                       .native_arch = host_machine(machine, sizeof(machine))};
    if (render_execute(req, &settings, values, &res, &err)) {
        goto out;
    }
    if (!(warnings = render_result_warnings_json(&res))) {
        err_nomem(&err);
        goto out;
    }
    cli_print_warnings(warnings);
    if (!o.envelope && json_object_size(res.secret_files)) {
        /* The values travel only in the envelope: say so instead of failing quietly later. */
        fprintf(stderr, "ocirender: note: %zu secret file%s (env keys ending in _FILE) %s not "
                        "in config.json: use --envelope and `ocirender materialize`, or put "
                        "them in the /run/secrets bind source yourself\n",
                json_object_size(res.secret_files),
                json_object_size(res.secret_files) == 1 ? "" : "s",
                json_object_size(res.secret_files) == 1 ? "is" : "are");
    }
    if (emit(&res, &o, secrets, &err) == 0) {
        rc = CLI_EXIT_OK;
    }
out:
    if (rc != CLI_EXIT_OK) {
        cli_print_error("", &err);
    }
    cli_secret_values_free(values);
    json_decref(secrets);
    json_decref(server_env);
    json_decref(warnings);
    render_secret_refs_release(&refs);
    render_result_release(&res);
    render_request_free(req);
    json_decref(facts);
    json_decref(image);
    free(body);
    return rc;
}
