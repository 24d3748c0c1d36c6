/* ocirender: the node-side CLI. */
#include <stdio.h>
#include <string.h>

#include "client/cli.h"
#include "version.h"

struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
};

static const struct command commands[] = {
    {"render", cmd_render, "render config.json locally from a spec or an envelope"},
    {"facts", cmd_facts, "print the host facts this node would send for a spec"},
    {"pull", cmd_pull, "render on an ocirenderd server and write the OCI bundle"},
    {"materialize", cmd_materialize, "write an OCI bundle from an envelope response"},
    {"remove", cmd_remove, "delete a bundle ocirender wrote and its secret files"},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: ocirender COMMAND [OPTIONS]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        fprintf(out, "  %-12s %s\n", commands[i].name, commands[i].summary);
    }
    fprintf(out, "\nRun 'ocirender COMMAND --help' for the options of a command.\n"
                 "Exit codes: 0 success, 1 usage or local error, 2 request rejected (4xx),\n"
                 "3 server or transport failure.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? CLI_EXIT_LOCAL : CLI_EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("ocirender %s\n", OCIRENDER_VERSION);
        return CLI_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (strcmp(argv[1], commands[i].name) == 0) {
            return commands[i].run(argc - 1, argv + 1);
        }
    }
    fprintf(stderr, "ocirender: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return CLI_EXIT_LOCAL;
}
