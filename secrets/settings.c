/* secrets_settings_from_env(): defaults, then OCIRENDER_* and the VAULT_* conventions. */
#include "secrets/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/strutil.h"

int secrets_kind_parse(const char *text, enum secrets_kind *out, struct err *err)
{
    static const struct {
        const char *name;
        enum secrets_kind kind;
    } kinds[] = {{"none", SECRETS_NONE}, {"file", SECRETS_FILE}, {"vault", SECRETS_VAULT}};
    for (size_t i = 0; i < ARRAY_LEN(kinds); i++) {
        if (text && str_eq_nocase(text, kinds[i].name)) {
            *out = kinds[i].kind;
            return 0;
        }
    }
    return err_set(err, ERR_SPEC_INVALID, "secrets",
                   "unknown secrets provider '%s' (expected vault, file or none)",
                   text ? text : "");
}

/* VAULT_X, else OpenBao's BAO_X (OpenBao's clients read both). Empty counts as unset. */
static const char *vault_env(const char *suffix)
{
    char name[64];
    snprintf(name, sizeof(name), "VAULT_%s", suffix);
    const char *v = getenv(name);
    if (v && *v) {
        return v;
    }
    snprintf(name, sizeof(name), "BAO_%s", suffix);
    v = getenv(name);
    return (v && *v) ? v : NULL;
}

static const char *env_nonempty(const char *name)
{
    const char *v = getenv(name);
    return (v && *v) ? v : NULL;
}

/* Go's strconv.ParseBool spellings, as the Vault client accepts them. */
static int parse_bool(const char *name, const char *v, bool *out, struct err *err)
{
    static const char *const yes[] = {"1", "t", "T", "true", "TRUE", "True"};
    static const char *const no[] = {"0", "f", "F", "false", "FALSE", "False"};
    for (size_t i = 0; i < ARRAY_LEN(yes); i++) {
        if (strcmp(v, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcmp(v, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return err_set(err, ERR_SPEC_INVALID, name, "%s must be true or false, not '%s'", name, v);
}

static int env_duration(const char *name, const char *v, unsigned *out, struct err *err)
{
    if (!v) {
        return 0;
    }
    if (secrets_parse_duration_ms(v, out)) {
        return err_set(err, ERR_SPEC_INVALID, name,
                       "%s must be a duration such as 30, 30s, 500ms or 2m, not '%s'", name, v);
    }
    return 0;
}

static int env_uint(const char *name, unsigned *out, unsigned max, struct err *err)
{
    const char *v = env_nonempty(name);
    uint32_t n;
    if (!v) {
        return 0;
    }
    if (str_to_u32(v, &n) || n > max) {
        return err_set(err, ERR_SPEC_INVALID, name, "%s must be a number from 0 to %u, not '%s'",
                       name, max, v);
    }
    *out = n;
    return 0;
}

static int env_seconds_ms(const char *name, unsigned *out, struct err *err)
{
    unsigned s = *out / 1000;
    if (env_uint(name, &s, 86400, err)) {
        return -1;
    }
    *out = s * 1000;
    return 0;
}

static void settings_defaults(struct secrets_settings *s)
{
    memset(s, 0, sizeof(*s));
    s->kind = SECRETS_NONE;
    s->cache_ttl_ms = 30000;
    s->negative_ttl_ms = 2000;
    s->vault_addr = "https://127.0.0.1:8200";
    s->vault_mount = "secret";
    s->vault_path_prefix = "";
    s->vault_approle_mount = "approle";
    s->vault_timeout_ms = 60000;
    s->vault_max_retries = 2;
    s->vault_connect_timeout_ms = 10000;
    s->vault_retry_wait_min_ms = 1000;
    s->vault_retry_wait_max_ms = 1500;
    s->fetch_threads = 8;
    s->ready_cache_ms = 1000;
    s->log_level = LOG_WARN;
}

static int vault_from_env(struct secrets_settings *s, struct err *err)
{
    const char *v;
    if ((v = vault_env("ADDR"))) {
        s->vault_addr = v;
    }
    s->vault_token = vault_env("TOKEN");
    s->vault_token_file = vault_env("TOKEN_FILE");
    s->vault_namespace = vault_env("NAMESPACE");
    s->vault_cacert = vault_env("CACERT");
    s->vault_capath = vault_env("CAPATH");
    s->vault_client_cert = vault_env("CLIENT_CERT");
    s->vault_client_key = vault_env("CLIENT_KEY");
    if ((v = vault_env("MOUNT"))) {
        s->vault_mount = v;
    }
    if ((v = vault_env("PATH_PREFIX"))) {
        s->vault_path_prefix = v;
    }
    s->vault_role_id = vault_env("ROLE_ID");
    s->vault_secret_id = vault_env("SECRET_ID");
    if ((v = vault_env("APPROLE_MOUNT"))) {
        s->vault_approle_mount = v;
    }
    if ((v = vault_env("SKIP_VERIFY")) && parse_bool("VAULT_SKIP_VERIFY", v, &s->vault_skip_verify, err)) {
        return -1;
    }
    if (env_duration("VAULT_CLIENT_TIMEOUT", vault_env("CLIENT_TIMEOUT"), &s->vault_timeout_ms,
                     err) ||
        env_uint("VAULT_MAX_RETRIES", &s->vault_max_retries, 20, err) ||
        env_duration("OCIRENDER_VAULT_CONNECT_TIMEOUT",
                     env_nonempty("OCIRENDER_VAULT_CONNECT_TIMEOUT"),
                     &s->vault_connect_timeout_ms, err) ||
        env_duration("OCIRENDER_VAULT_RETRY_WAIT_MIN", env_nonempty("OCIRENDER_VAULT_RETRY_WAIT_MIN"),
                     &s->vault_retry_wait_min_ms, err) ||
        env_duration("OCIRENDER_VAULT_RETRY_WAIT_MAX", env_nonempty("OCIRENDER_VAULT_RETRY_WAIT_MAX"),
                     &s->vault_retry_wait_max_ms, err)) {
        return -1;
    }
    if ((v = env_nonempty("OCIRENDER_VAULT_ALLOW_HTTP")) &&
        parse_bool("OCIRENDER_VAULT_ALLOW_HTTP", v, &s->vault_allow_http, err)) {
        return -1;
    }
    return 0;
}

int secrets_settings_from_env(struct secrets_settings *s, struct err *err)
{
    settings_defaults(s);
    const char *v;
    s->file_path = env_nonempty("OCIRENDER_SECRETS_FILE");
    if ((v = env_nonempty("OCIRENDER_SECRETS"))) {
        if (secrets_kind_parse(v, &s->kind, err)) {
            return -1;
        }
    } else if (s->file_path) {
        s->kind = SECRETS_FILE; /* a secrets file alone is an unambiguous choice */
    }
    if ((v = env_nonempty("OCIRENDER_LOG_LEVEL")) &&
        log_level_parse(v, &s->log_level, err)) {
        return -1;
    }
    if (env_seconds_ms("OCIRENDER_SECRET_CACHE_TTL", &s->cache_ttl_ms, err) ||
        env_seconds_ms("OCIRENDER_SECRET_NEGATIVE_TTL", &s->negative_ttl_ms, err) ||
        env_uint("OCIRENDER_SECRET_FETCH_THREADS", &s->fetch_threads, 64, err)) {
        return -1;
    }
    return vault_from_env(s, err);
}
