/* How `ocirender render` resolves $S: references: the server's settings (secrets/secrets.h). */
#include "client/secrets_glue.h"

#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "common/server_env.h"
#include "secrets/secrets.h"

void cli_secrets_opts_init(struct cli_secrets_opts *o)
{
    /* NULL means "as the environment says" (secrets_settings_from_env). */
    o->provider = NULL;
    o->file = NULL;
}

int cli_secrets_opt(struct cli_secrets_opts *o, int ch, const char *arg)
{
    if (ch == CLI_OPT_SECRETS) {
        o->provider = arg;
        return 0;
    }
    if (ch == CLI_OPT_SECRETS_FILE) {
        o->file = arg;
        return 0;
    }
    return -1;
}

const char *cli_secrets_usage(void)
{
    return "  --secrets PROVIDER    resolve $S: references with vault, file or none\n"
           "                        (default: OCIRENDER_SECRETS; file when only a secrets\n"
           "                        file is given; else none)\n"
           "  --secrets-file FILE   JSON secrets file for the file provider, mode 0600\n"
           "                        (or OCIRENDER_SECRETS_FILE)\n"
           "\n"
           "The vault provider reads the server's settings from the environment: VAULT_ADDR,\n"
           "VAULT_TOKEN or VAULT_TOKEN_FILE or VAULT_ROLE_ID+VAULT_SECRET_ID, VAULT_NAMESPACE,\n"
           "VAULT_CACERT, VAULT_CAPATH, VAULT_CLIENT_CERT, VAULT_CLIENT_KEY, VAULT_MOUNT,\n"
           "VAULT_PATH_PREFIX, VAULT_CLIENT_TIMEOUT, VAULT_MAX_RETRIES, VAULT_SKIP_VERIFY.\n"
           "$E: names from this process's environment only when listed in\n"
           "OCIRENDER_ALLOW_SERVER_ENV.\n";
}

static int settings(const struct cli_secrets_opts *o, struct secrets_settings *s,
                    struct err *err)
{
    if (secrets_settings_from_env(s, err)) {
        return -1;
    }
    if (o->file) {
        s->file_path = o->file;
        s->kind = SECRETS_FILE; /* a file on the command line means the file provider... */
    }
    if (o->provider && secrets_kind_parse(o->provider, &s->kind, err)) {
        return -1; /* ...unless --secrets says otherwise */
    }
    /* One render, one process: a cache or a fetch pool would only cost start-up time. */
    s->cache_ttl_ms = 0;
    s->negative_ttl_ms = 0;
    return 0;
}

int cli_resolve_secrets(const struct cli_secrets_opts *o, const struct render_secret_refs *refs,
                        json_t **values, json_t **list, struct err *err)
{
    static bool curl_ready;
    *values = NULL;
    *list = NULL;
    struct secrets_settings s;
    if (settings(o, &s, err)) {
        return -1;
    }
    if (refs->n == 0) {
        /* Nothing to resolve: do not require vault credentials for a spec without $S:. */
        *values = json_object();
        *list = json_array();
        if (!*values || !*list) {
            json_decref(*values);
            json_decref(*list);
            *values = *list = NULL;
            return err_nomem(err);
        }
        return 0;
    }
    if (!curl_ready) {
        /* Once per process, before any thread; the CLI is single-threaded here. */
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
            return err_set(err, ERR_INTERNAL, NULL, "libcurl initialisation failed");
        }
        curl_ready = true;
        atexit(curl_global_cleanup);
    }
    struct secrets *sec = secrets_create(&s, err);
    if (!sec) {
        return -1;
    }
    int rc = secrets_resolve(sec, refs, values, list, err);
    secrets_destroy(sec);
    return rc;
}

void cli_secret_values_free(json_t *values)
{
    secrets_values_free(values);
}

int cli_allowed_server_env(json_t **out, struct err *err)
{
    return server_env_allowed(getenv(SERVER_ENV_VAR), out, NULL, err);
}
