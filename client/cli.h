#ifndef OCIRENDER_CLIENT_CLI_H
#define OCIRENDER_CLIENT_CLI_H

/* The ocirender command-line tool: one file per subcommand, dispatched from main.c. */

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "common/err.h"

/* Exit codes: what scripts and the node agent branch on (`ocirender --help` lists them). */
enum cli_exit {
    CLI_EXIT_OK = 0,
    CLI_EXIT_LOCAL = 1,    /* usage or local error */
    CLI_EXIT_REJECTED = 2, /* the server rejected the request (4xx) */
    CLI_EXIT_SERVER = 3,   /* server or transport failure (5xx, timeout, connection) */
};

int cmd_render(int argc, char **argv);
int cmd_facts(int argc, char **argv);
int cmd_pull(int argc, char **argv);
int cmd_materialize(int argc, char **argv);
int cmd_remove(int argc, char **argv);

/* Read a whole file ("-" is stdin), at most `max` bytes. Returns a NUL-terminated heap buffer
 * (free()) or NULL with `err` set. */
char *cli_read_file(const char *path, size_t max, size_t *len, struct err *err);

/* Load a YAML or JSON file into JSON (render_load_document rules). */
json_t *cli_load_json_file(const char *path, struct err *err);

/* Print an error as "ocirender: PATH: MESSAGE" lines on stderr. */
void cli_print_error(const char *prefix, const struct err *err);

/* Print warnings [{code, message, path}] (from the renderer, facts gathering or an envelope) as
 * "ocirender: warning: [CODE] PATH: MESSAGE" lines on stderr; every member is optional. */
void cli_print_warnings(const json_t *warnings);

/* Gather the host facts `needs` asks for (NULL: the basic facts) on this machine, reading
 * `rootfs` (may be NULL) for passwd/group, and print the gathering's warnings. `host_root`
 * (--host-root; NULL: $OCIRENDER_HOST_ROOT; unset or "": /) is the directory read as the
 * node's / (a host file system mounted elsewhere, or a test's fake node); it must be a
 * directory (ERR_USAGE otherwise). */
json_t *cli_gather_facts(const json_t *needs, const char *host_root, const char *rootfs,
                         struct err *err);

/* The --host-root help line shared by facts, render and pull. */
#define CLI_HOST_ROOT_USAGE                                                                  \
    "  --host-root DIR       read the node's facts under DIR as if it were / (default:\n"   \
    "                        $OCIRENDER_HOST_ROOT, else /)\n"

/* Write `text` to stdout completely; -1 on failure. */
int cli_write_stdout(const char *text, size_t len);

/*
 * What `materialize` and `pull` share: load and verify the envelope text, print its warnings,
 * write the bundle (bundle_write), print the bundle's warnings and report it. `*bad_envelope`
 * tells the caller whether a failure was in the envelope (true) or local (false), because pull
 * maps the two to different exit codes.
 */
int cli_materialize_text(const char *text, size_t len, const char *dir, const char *rootfs,
                         const char *secrets_root, bool *bad_envelope, struct err *err);

/* Where secret files go: --secrets-dir, else $OCIRENDER_SECRETS_DIR, else NULL (the default,
 * BUNDLE_SECRETS_ROOT). */
const char *cli_secrets_root(const char *flag);

#define CLI_SECRETS_DIR_USAGE                                                                \
    "  --secrets-dir DIR     where secret files go, on tmpfs or ramfs (default:\n"           \
    "                        $OCIRENDER_SECRETS_DIR, else /run/ocirender/secrets)\n"

#endif
