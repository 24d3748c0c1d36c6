/* ocirender materialize: write an OCI bundle from an envelope response. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/bundle.h"
#include "client/cli.h"
#include "common/limits.h"
#include "common/sbuf.h"

static void materialize_usage(FILE *out)
{
    fprintf(out,
            "usage: ocirender materialize --bundle DIR [--rootfs DIR] [--secrets-dir DIR]\n"
            "                             [ENVELOPE|-]\n"
            "\n"
            "Write an OCI bundle from an envelope ({config, digest, warnings, files, secrets},\n"
            "as `ocirenderd` answers with format=envelope or `ocirender render --envelope`\n"
            "prints). Reads standard input without ENVELOPE. The config is verified against\n"
            "the envelope's sha256 digest before anything is written.\n"
            "\n"
            "  --bundle DIR   bundle directory: created 0700; must not be a symlink\n"
            "  --rootfs DIR   make DIR/rootfs a symlink to this directory (default: an empty\n"
            "                 rootfs directory is created; an existing one is kept)\n"
            CLI_SECRETS_DIR_USAGE
            "\n"
            "Writes DIR/config.json (0600), DIR/rootfs and the envelope's files (0644): the\n"
            "complete bundle is staged beside DIR and switched in with one atomic rename, so a\n"
            "crash leaves the old bundle or the new one; your own entries in DIR are kept.\n"
            "The envelope's secret_files are written (0400, owned by the process user) into\n"
            "a new directory under --secrets-dir, never into DIR; the config's /run/secrets\n"
            "bind points at it, and the previous one is deleted once the new bundle is in.\n"
            "Exit codes: 0 written, 1 refused or failed.\n");
}

int cmd_materialize(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"bundle", required_argument, NULL, 'b'},
        {"rootfs", required_argument, NULL, 'r'},
        {"secrets-dir", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *bundle = NULL, *rootfs = NULL, *secrets_dir = NULL;
    optind = 1;
    int ch;
    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (ch) {
        case 'b': bundle = optarg; break;
        case 'r': rootfs = optarg; break;
        case 's': secrets_dir = optarg; break;
        case 'h': materialize_usage(stdout); return CLI_EXIT_OK;
        default: materialize_usage(stderr); return CLI_EXIT_LOCAL;
        }
    }
    if (!bundle || argc - optind > 1) {
        fprintf(stderr, "ocirender materialize: %s\n",
                !bundle ? "--bundle DIR is required" : "expected at most one ENVELOPE argument");
        materialize_usage(stderr);
        return CLI_EXIT_LOCAL;
    }
    const char *input = optind < argc ? argv[optind] : "-";
    struct err_issues issues; /* every problem the spec has, reported at once */
    struct err err;
    err_init_issues(&err, &issues);
    size_t len = 0;
    bool bad_envelope;
    char *text = cli_read_file(input, LIMIT_FILE_READ, &len, &err);
    int rc = CLI_EXIT_LOCAL;
    if (text && cli_materialize_text(text, len, bundle, rootfs, cli_secrets_root(secrets_dir),
                                     &bad_envelope, &err) == 0) {
        rc = CLI_EXIT_OK;
    }
    if (rc != CLI_EXIT_OK) {
        cli_print_error("", &err);
    }
    if (text) {
        mem_wipe(text, len); /* the envelope holds secret values */
        free(text);
    }
    return rc;
}
