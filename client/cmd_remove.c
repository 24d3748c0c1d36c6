/* ocirender remove: delete a bundle ocirender wrote, and its secret files. */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <sys/stat.h>

#include "client/bundle.h"
#include "client/cli.h"

static void remove_usage(FILE *out)
{
    fprintf(out,
            "usage: ocirender remove --bundle DIR [--secrets-dir DIR]\n"
            "\n"
            "Delete a bundle that `ocirender materialize` or `pull` wrote, and the directory\n"
            "of its secret files. Refuses a DIR that is a symlink, is not yours or has no\n"
            "ocirender manifest. Only what ocirender wrote is deleted: entries of your own\n"
            "(a rootfs directory with content, other files) are kept and listed, and DIR\n"
            "stays then. A DIR that does not exist is not an error.\n"
            "\n"
            "  --bundle DIR          the bundle directory\n"
            CLI_SECRETS_DIR_USAGE
            "\n"
            "Exit codes: 0 removed (or nothing to remove), 1 refused or failed.\n");
}

int cmd_remove(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"bundle", required_argument, NULL, 'b'},
        {"secrets-dir", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *bundle = NULL, *secrets_dir = NULL;
    optind = 1;
    int ch;
    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (ch) {
        case 'b': bundle = optarg; break;
        case 's': secrets_dir = optarg; break;
        case 'h': remove_usage(stdout); return CLI_EXIT_OK;
        default: remove_usage(stderr); return CLI_EXIT_LOCAL;
        }
    }
    if (!bundle || optind != argc) {
        fprintf(stderr, "ocirender remove: %s\n",
                !bundle ? "--bundle DIR is required" : "unexpected arguments");
        remove_usage(stderr);
        return CLI_EXIT_LOCAL;
    }
    struct err err;
    err_init(&err);
    json_t *warnings = json_array();
    bool removed = false;
    int rc = warnings ? bundle_remove(bundle, cli_secrets_root(secrets_dir), &removed, warnings,
                                      &err)
                      : err_nomem(&err);
    cli_print_warnings(warnings);
    json_decref(warnings);
    if (rc != 0) {
        cli_print_error("", &err);
        return CLI_EXIT_LOCAL;
    }
    char path[PATH_MAX];
    if (bundle_abs_path(bundle, path, sizeof(path), NULL) == 0) {
        struct stat st;
        if (removed) {
            fprintf(stderr, "ocirender: bundle %s removed\n", path);
        } else if (lstat(path, &st) != 0) {
            fprintf(stderr, "ocirender: %s does not exist (its secret files are gone too)\n",
                    path);
        } else {
            fprintf(stderr, "ocirender: %s is kept with the entries listed above; everything "
                            "ocirender wrote is removed\n",
                    path);
        }
    }
    return CLI_EXIT_OK;
}
