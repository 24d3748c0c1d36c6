/* ocirender facts: print the host facts this node would send for a spec. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/cli.h"
#include "common/jsonx.h"
#include "common/limits.h"
#include "render/render.h"

static void facts_usage(FILE *out)
{
    fprintf(out, "usage: ocirender facts [--service NAME] [--rootfs DIR] [--host-root DIR] "
                 "[SPEC|-]\n"
                 "\n"
                 "Print the host-facts JSON this node would send for SPEC: user and subordinate\n"
                 "ids, cgroup version and parent, WSL2 facts on a WSL2 node, the devices,\n"
                 "directories, files, CDI specs and $E: variables SPEC needs, and the rootfs\n"
                 "passwd/group with --rootfs.\n"
                 "Reads the host; never changes it. Without SPEC, prints the basic facts.\n"
                 "\n"
                 "  --service NAME        service of a DeploymentSpec\n"
                 "  --rootfs DIR          container rootfs: its /etc/passwd and /etc/group\n"
                 CLI_HOST_ROOT_USAGE);
}

int cmd_facts(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"service", required_argument, NULL, 's'},
        {"rootfs", required_argument, NULL, 'r'},
        {"host-root", required_argument, NULL, 'R'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct render_params params = {0};
    const char *rootfs = NULL, *host_root = NULL;
    optind = 1;
    int ch;
    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (ch) {
        case 's': params.service = optarg; break;
        case 'r': rootfs = optarg; break;
        case 'R': host_root = optarg; break;
        case 'h': facts_usage(stdout); return CLI_EXIT_OK;
        default: facts_usage(stderr); return CLI_EXIT_LOCAL;
        }
    }
    if (argc - optind > 1) {
        facts_usage(stderr);
        return CLI_EXIT_LOCAL;
    }
    struct err_issues issues; /* every problem the spec has, reported at once */
    struct err err;
    err_init_issues(&err, &issues);
    json_t *needs = NULL, *facts = NULL;
    char *body = NULL;
    int rc = CLI_EXIT_LOCAL;
    if (optind < argc) {
        size_t len;
        struct render_request *req = NULL;
        body = cli_read_file(argv[optind], LIMIT_FILE_READ, &len, &err);
        if (!body || render_request_parse(body, len, RENDER_FMT_AUTO, &params, &req, &err)) {
            goto out;
        }
        needs = render_request_fact_needs(req, &err);
        render_request_free(req);
        if (!needs) {
            goto out;
        }
    }
    facts = cli_gather_facts(needs, host_root, rootfs, &err);
    if (!facts) {
        goto out;
    }
    size_t n;
    char *text = jsonx_dump(facts, JSONX_PRETTY, &n);
    if (text && cli_write_stdout(text, n) == 0) {
        rc = CLI_EXIT_OK;
    } else {
        err_set(&err, ERR_IO, "stdout", "cannot write the facts");
    }
    free(text);
out:
    if (rc != CLI_EXIT_OK) {
        cli_print_error("", &err);
    }
    free(body);
    json_decref(needs);
    json_decref(facts);
    return rc;
}
