#ifndef OCIRENDER_CLIENT_SECRETS_GLUE_H
#define OCIRENDER_CLIENT_SECRETS_GLUE_H

/*
 * How `ocirender render` resolves $S: references and $E: server-environment names: the same
 * settings as the server (OCIRENDER_SECRETS, OCIRENDER_SECRETS_FILE, VAULT_*,
 * OCIRENDER_ALLOW_SERVER_ENV), overridable with flags.
 */

#include <getopt.h>
#include <stdbool.h>

#include <jansson.h>

#include "common/err.h"
#include "render/render.h"

struct cli_secrets_opts {
    const char *provider; /* "vault", "file", "none" or NULL (from the environment) */
    const char *file;     /* file provider path */
};

#define CLI_OPT_SECRETS 2000
#define CLI_OPT_SECRETS_FILE 2001
#define CLI_SECRETS_LONGOPTS                                                                   \
    {"secrets", required_argument, NULL, CLI_OPT_SECRETS},                                     \
    {                                                                                          \
        "secrets-file", required_argument, NULL, CLI_OPT_SECRETS_FILE                          \
    }

void cli_secrets_opts_init(struct cli_secrets_opts *o);
/* 0 when `ch` was a secrets option (and it was applied), -1 otherwise. */
int cli_secrets_opt(struct cli_secrets_opts *o, int ch, const char *arg);
const char *cli_secrets_usage(void);

/* Fetch every reference once. *values maps reference text -> value (free with
 * cli_secret_values_free, which wipes them); *list is the envelope's `secrets` list. */
int cli_resolve_secrets(const struct cli_secrets_opts *o, const struct render_secret_refs *refs,
                        json_t **values, json_t **list, struct err *err);
void cli_secret_values_free(json_t *values);

/* The environment variables OCIRENDER_ALLOW_SERVER_ENV allows $E: to read, as an object (NULL
 * when none); a bad name in it is an ERR_USAGE error, as in ocirenderd (common/server_env.h). */
int cli_allowed_server_env(json_t **out, struct err *err);

#endif
