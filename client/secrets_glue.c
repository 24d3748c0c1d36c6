#include "client/secrets_glue.h"

#include <stdlib.h>
#include <string.h>

#include "common/jsonx.h"

void cli_secrets_opts_init(struct cli_secrets_opts *o)
{
    o->provider = getenv("OCIRENDER_SECRETS");
    o->file = getenv("OCIRENDER_SECRETS_FILE");
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
    return "  --secrets PROVIDER    secrets provider: none (default here)\n";
}

int cli_resolve_secrets(const struct cli_secrets_opts *o, const struct render_secret_refs *refs,
                        json_t **values, json_t **list, struct err *err)
{
    (void)o;
    *values = NULL;
    *list = NULL;
    if (refs->n == 0) {
        return 0;
    }
    return err_set(err, ERR_SECRET_NOT_FOUND, refs->items[0].path,
                   "secret reference %s cannot be resolved: no secrets provider is configured",
                   refs->items[0].ref);
}

void cli_secret_values_free(json_t *values)
{
    json_decref(values);
}

int cli_allowed_server_env(json_t **out, struct err *err)
{
    *out = NULL;
    const char *allow = getenv("OCIRENDER_ALLOW_SERVER_ENV");
    if (!allow || !*allow) {
        return 0;
    }
    json_t *env = json_object();
    if (!env) {
        return err_nomem(err);
    }
    const char *p = allow;
    while (*p) {
        size_t n = strcspn(p, ", ");
        if (n > 0 && n < 256) {
            char name[256];
            memcpy(name, p, n);
            name[n] = '\0';
            const char *v = getenv(name);
            if (v && jsonx_set_str(env, name, v)) {
                json_decref(env);
                return err_nomem(err);
            }
        }
        p += n;
        p += strspn(p, ", ");
    }
    *out = env;
    return 0;
}
