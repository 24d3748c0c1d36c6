#include "server/config.h"

#include <getopt.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/limits.h"
#include "common/strutil.h"
#include "version.h"
#include "secrets/secrets.h"

enum opt_id {
    OPT_LISTEN = 1000,
    OPT_THREADS,
    OPT_MAX_BODY,
    OPT_CONNECTION_TIMEOUT,
    OPT_MAX_CONNECTIONS,
    OPT_MAX_CONNECTIONS_PER_IP,
    OPT_HEADER_TIMEOUT,
    OPT_BODY_TIMEOUT,
    OPT_TRUSTED_PROXIES,
    OPT_TLS_CERT,
    OPT_TLS_KEY,
    OPT_TLS_CLIENT_CA,
    OPT_AUTH_TOKENS,
    OPT_SECRETS,
    OPT_SECRETS_FILE,
    OPT_CGROUP_PARENT,
    OPT_LOG_LEVEL,
    OPT_INSECURE_NO_AUTH,
    OPT_EVENT_LOOP,
    OPT_BENCH_STATIC,
    OPT_HELP,
    OPT_VERSION,
};

/* One row per setting: the single source for getopt, the environment and --help. */
struct setting {
    const char *flag;
    int id;
    const char *arg; /* NULL for switches */
    const char *env; /* NULL: no variable of ours (the secrets module reads it) */
    const char *def; /* default shown in --help */
    const char *help;
    bool hidden;
};

static const struct setting settings[] = {
    {"listen", OPT_LISTEN, "HOST:PORT", "OCIRENDER_LISTEN", "127.0.0.1:8080",
     "address to listen on ([v6]:PORT for IPv6)", false},
    {"threads", OPT_THREADS, "N", "OCIRENDER_THREADS", "CPU count", "worker threads", false},
    {"max-body", OPT_MAX_BODY, "SIZE", "OCIRENDER_MAX_BODY", "1MiB",
     "largest request body; bigger ones get 413", false},
    {"connection-timeout", OPT_CONNECTION_TIMEOUT, "SECONDS", "OCIRENDER_CONNECTION_TIMEOUT", "30",
     "drop a connection idle this long", false},
    {"max-connections", OPT_MAX_CONNECTIONS, "N", "OCIRENDER_MAX_CONNECTIONS", "1024",
     "concurrent connections", false},
    {"max-connections-per-ip", OPT_MAX_CONNECTIONS_PER_IP, "N", "OCIRENDER_MAX_CONNECTIONS_PER_IP",
     "64", "concurrent connections per client IP (0: no limit)", false},
    {"trusted-proxies", OPT_TRUSTED_PROXIES, "LIST", "OCIRENDER_TRUSTED_PROXIES", "none",
     "load balancers (ADDR[/PREFIX],...): no per-IP cap", false},
    {"header-timeout", OPT_HEADER_TIMEOUT, "SECONDS", "OCIRENDER_HEADER_TIMEOUT", "10",
     "total time for a request's headers (and keep-alive waits)", false},
    {"body-timeout", OPT_BODY_TIMEOUT, "SECONDS", "OCIRENDER_BODY_TIMEOUT", "60",
     "total time for a request's body", false},
    {"tls-cert", OPT_TLS_CERT, "FILE", "OCIRENDER_TLS_CERT", "none",
     "PEM certificate chain: serve HTTPS (with --tls-key)", false},
    {"tls-key", OPT_TLS_KEY, "FILE", "OCIRENDER_TLS_KEY", "none", "PEM private key", false},
    {"tls-client-ca", OPT_TLS_CLIENT_CA, "FILE", "OCIRENDER_TLS_CLIENT_CA", "none",
     "require client certificates signed by these PEM CAs", false},
    {"auth-tokens", OPT_AUTH_TOKENS, "FILE", "OCIRENDER_AUTH_TOKENS", "none",
     "bearer tokens file: lines 'TOKEN SCOPE[,SCOPE...]'", false},
    {"secrets", OPT_SECRETS, "PROVIDER", "OCIRENDER_SECRETS", "none (file with a secrets file)",
     "secrets provider: vault, file or none", false},
    {"secrets-file", OPT_SECRETS_FILE, "FILE", "OCIRENDER_SECRETS_FILE", "none",
     "JSON secrets for the file provider (mode 0600)", false},
    {"cgroup-parent", OPT_CGROUP_PARENT, "PATH", "OCIRENDER_CGROUP_PARENT", "none",
     "cgroup parent when neither spec nor host facts name one", false},
    {"log-level", OPT_LOG_LEVEL, "LEVEL", "OCIRENDER_LOG_LEVEL", "info",
     "debug, info, warn or error", false},
    {"event-loop", OPT_EVENT_LOOP, "poll|epoll", "OCIRENDER_EVENT_LOOP", "poll",
     "libmicrohttpd event loop (0.9.75's epoll stalls under bursts)", false},
    {"insecure-no-auth", OPT_INSECURE_NO_AUTH, NULL, "OCIRENDER_INSECURE_NO_AUTH", "off",
     "allow non-loopback addresses without --auth-tokens", false},
    /* Benchmark baseline (bench/README.md): POST /bench/static answers BYTES fixed bytes. */
    {"bench-static-route", OPT_BENCH_STATIC, "BYTES", "OCIRENDER_BENCH_STATIC_ROUTE", "off", "",
     true},
    {"help", OPT_HELP, NULL, NULL, NULL, "print this help", false},
    {"version", OPT_VERSION, NULL, NULL, NULL, "print the version", false},
};

void config_usage(FILE *out)
{
    fprintf(out, "usage: ocirenderd [OPTIONS]\n\n"
                 "Render OCI runtime config.json documents from ZLayer specs over HTTP.\n"
                 "Every option can also be set with the environment variable shown.\n\n");
    for (size_t i = 0; i < ARRAY_LEN(settings); i++) {
        const struct setting *s = &settings[i];
        if (s->hidden) {
            continue;
        }
        char left[64];
        snprintf(left, sizeof(left), "--%s%s%s", s->flag, s->arg ? " " : "", s->arg ? s->arg : "");
        fprintf(out, "  %-32s %s\n", left, s->help);
        if (s->env || s->def) {
            fprintf(out, "  %-32s   %s%s%s%s\n", "", s->env ? "env " : "", s->env ? s->env : "",
                    s->def ? (s->env ? ", default " : "default ") : "", s->def ? s->def : "");
        }
    }
    fprintf(out, "\nSecrets: the vault provider reads VAULT_ADDR, VAULT_TOKEN, VAULT_TOKEN_FILE,\n"
                 "VAULT_NAMESPACE, VAULT_CACERT, VAULT_CAPATH, VAULT_CLIENT_CERT, "
                 "VAULT_CLIENT_KEY,\n"
                 "VAULT_SKIP_VERIFY, VAULT_MOUNT, VAULT_PATH_PREFIX, VAULT_ROLE_ID,\n"
                 "VAULT_SECRET_ID, VAULT_APPROLE_MOUNT (approle), VAULT_CLIENT_TIMEOUT,\n"
                 "VAULT_MAX_RETRIES; OCIRENDER_VAULT_ALLOW_HTTP (0: https only),\n"
                 "OCIRENDER_VAULT_CONNECT_TIMEOUT (10 s), OCIRENDER_VAULT_RETRY_WAIT_MIN (1 s) and\n"
                 "OCIRENDER_VAULT_RETRY_WAIT_MAX (1.5 s). Caching: OCIRENDER_SECRET_CACHE_TTL\n"
                 "(30 s), OCIRENDER_SECRET_NEGATIVE_TTL (2 s), OCIRENDER_SECRET_FETCH_THREADS\n"
                 "(8 parallel vault reads). docs/secrets.md and docs/operations.md say more.\n"
                 "OCIRENDER_ALLOW_SERVER_ENV=NAME,... lets $E:NAME read this server's "
                 "environment.\n"
                 "Signals: SIGHUP reloads the tokens and secrets files; SIGTERM/SIGINT drain\n"
                 "in-flight requests (up to 10 s) and exit 0.\n");
}

int config_parse_size(const char *text, size_t *out)
{
    static const struct {
        const char *suffix;
        uint64_t mult;
    } units[] = {
        {"", 1},           {"b", 1},         {"k", 1u << 10},   {"kb", 1u << 10},
        {"kib", 1u << 10}, {"m", 1u << 20},  {"mb", 1u << 20},  {"mib", 1u << 20},
        {"g", 1u << 30},   {"gb", 1u << 30}, {"gib", 1u << 30},
    };
    char digits[32];
    size_t n = strspn(text, "0123456789");
    if (n == 0 || n >= sizeof(digits)) {
        return -1;
    }
    memcpy(digits, text, n);
    digits[n] = '\0';
    uint64_t v;
    if (str_to_u64(digits, &v)) {
        return -1;
    }
    for (size_t i = 0; i < ARRAY_LEN(units); i++) {
        if (str_eq_nocase(text + n, units[i].suffix)) {
            if (v > SIZE_MAX / units[i].mult) {
                return -1;
            }
            *out = (size_t)(v * units[i].mult);
            return 0;
        }
    }
    return -1;
}

int config_parse_seconds(const char *text, unsigned *out)
{
    char digits[16];
    size_t n = strspn(text, "0123456789");
    if (n == 0 || n >= sizeof(digits)) {
        return -1;
    }
    memcpy(digits, text, n);
    digits[n] = '\0';
    uint32_t v;
    if (str_to_u32(digits, &v)) {
        return -1;
    }
    const char *unit = text + n;
    uint64_t mult = !*unit || strcmp(unit, "s") == 0 ? 1 : strcmp(unit, "m") == 0 ? 60 : 0;
    if (!mult || (uint64_t)v * mult > UINT32_MAX) {
        return -1;
    }
    *out = (unsigned)(v * mult);
    return 0;
}

static int parse_uint_range(const char *name, const char *text, unsigned lo, unsigned hi,
                            unsigned *out, struct err *err)
{
    uint32_t v;
    if (str_to_u32(text, &v) || v < lo || v > hi) {
        return err_set(err, ERR_USAGE, name, "--%s must be a number from %u to %u, got '%s'", name,
                       lo, hi, text);
    }
    *out = v;
    return 0;
}

static int parse_switch(const char *name, const char *text, bool *out, struct err *err)
{
    if (str_eq_nocase(text, "1") || str_eq_nocase(text, "true") || str_eq_nocase(text, "yes")) {
        *out = true;
    } else if (str_eq_nocase(text, "0") || str_eq_nocase(text, "false") ||
               str_eq_nocase(text, "no") || !*text) {
        *out = false;
    } else {
        return err_set(err, ERR_USAGE, name, "%s must be true or false, got '%s'", name, text);
    }
    return 0;
}

static unsigned cpu_count(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > 256 ? 256 : (unsigned)n;
}

/* Store one setting's text (from a flag or the environment) in the config. */
static int apply(struct server_config *c, const struct setting *s, const char *v, struct err *err)
{
    switch (s->id) {
    case OPT_LISTEN: c->listen = v; return 0;
    case OPT_THREADS: return parse_uint_range(s->flag, v, 1, 256, &c->threads, err);
    case OPT_MAX_BODY:
        if (config_parse_size(v, &c->max_body) || c->max_body == 0 ||
            c->max_body > CONFIG_MAX_BODY_LIMIT) {
            return err_set(err, ERR_USAGE, s->flag,
                           "--max-body must be a size from 1 byte to 1GiB (e.g. 1MiB), got '%s'",
                           v);
        }
        return 0;
    case OPT_CONNECTION_TIMEOUT:
        if (config_parse_seconds(v, &c->connection_timeout) || c->connection_timeout == 0 ||
            c->connection_timeout > 86400) {
            return err_set(err, ERR_USAGE, s->flag,
                           "--connection-timeout must be 1 to 86400 seconds, got '%s'", v);
        }
        return 0;
    case OPT_MAX_CONNECTIONS:
        return parse_uint_range(s->flag, v, 1, 65536, &c->max_connections, err);
    case OPT_MAX_CONNECTIONS_PER_IP:
        return parse_uint_range(s->flag, v, 0, 65536, &c->max_connections_per_ip, err);
    case OPT_HEADER_TIMEOUT:
    case OPT_BODY_TIMEOUT: {
        unsigned *t = s->id == OPT_HEADER_TIMEOUT ? &c->header_timeout : &c->body_timeout;
        if (config_parse_seconds(v, t) || *t == 0 || *t > 3600) {
            return err_set(err, ERR_USAGE, s->flag, "--%s must be 1 to 3600 seconds, got '%s'",
                           s->flag, v);
        }
        return 0;
    }
    case OPT_TRUSTED_PROXIES: c->trusted_proxies = v; return 0;
    case OPT_TLS_CERT: c->tls_cert = v; return 0;
    case OPT_TLS_KEY: c->tls_key = v; return 0;
    case OPT_TLS_CLIENT_CA: c->tls_client_ca = v; return 0;
    case OPT_AUTH_TOKENS: c->auth_tokens = v; return 0;
    case OPT_SECRETS: c->secrets = v; return 0;
    case OPT_SECRETS_FILE: c->secrets_file = v; return 0;
    case OPT_CGROUP_PARENT: c->cgroup_parent = v; return 0;
    case OPT_LOG_LEVEL: return log_level_parse(v, &c->log_level, err);
    case OPT_INSECURE_NO_AUTH: return parse_switch(s->env, v, &c->insecure_no_auth, err);
    case OPT_EVENT_LOOP:
        if (strcmp(v, "poll") != 0 && strcmp(v, "epoll") != 0) {
            return err_set(err, ERR_USAGE, s->flag, "--event-loop must be poll or epoll, got '%s'",
                           v);
        }
        c->event_loop_epoll = strcmp(v, "epoll") == 0;
        return 0;
    case OPT_BENCH_STATIC:
        if (config_parse_size(v, &c->bench_static_bytes) || c->bench_static_bytes > LIMIT_OUTPUT) {
            return err_set(err, ERR_USAGE, s->flag, "--bench-static-route needs a byte count");
        }
        return 0;
    default: return 0;
    }
}

static void config_defaults(struct server_config *c)
{
    memset(c, 0, sizeof(*c));
    c->listen = "127.0.0.1:8080";
    c->threads = cpu_count();
    c->max_body = LIMIT_BODY_DEFAULT;
    c->connection_timeout = 30;
    c->max_connections = 1024;
    c->max_connections_per_ip = 64;
    c->header_timeout = 10;
    c->body_timeout = 60;
    c->log_level = LOG_INFO;
}

/* Variables first; the secrets module reads its own (OCIRENDER_SECRETS, _FILE). */
static int apply_environment(struct server_config *c, struct err *err)
{
    for (size_t i = 0; i < ARRAY_LEN(settings); i++) {
        const struct setting *s = &settings[i];
        if (!s->env || s->id == OPT_SECRETS || s->id == OPT_SECRETS_FILE) {
            continue;
        }
        const char *v = getenv(s->env);
        if (v && *v && apply(c, s, v, err)) {
            err_prefix(err, "environment: ");
            return -1;
        }
    }
    return 0;
}

static const struct setting *setting_by_id(int id)
{
    for (size_t i = 0; i < ARRAY_LEN(settings); i++) {
        if (settings[i].id == id) {
            return &settings[i];
        }
    }
    return NULL;
}

int config_parse(struct server_config *c, int argc, char **argv, struct err *err)
{
    struct option longopts[ARRAY_LEN(settings) + 1];
    for (size_t i = 0; i < ARRAY_LEN(settings); i++) {
        longopts[i] =
            (struct option){settings[i].flag, settings[i].arg ? required_argument : no_argument,
                            NULL, settings[i].id};
    }
    longopts[ARRAY_LEN(settings)] = (struct option){NULL, 0, NULL, 0};
    config_defaults(c);
    if (apply_environment(c, err)) {
        return -1;
    }
    optind = 1;
    opterr = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        if (ch == OPT_HELP || ch == 'h') {
            config_usage(stdout);
            return 1;
        }
        if (ch == OPT_VERSION) {
            printf("ocirenderd %s\n", OCIRENDER_VERSION);
            return 1;
        }
        const struct setting *s = setting_by_id(ch);
        if (!s) {
            return err_set(err, ERR_USAGE, NULL, "unknown or incomplete option '%s' (see --help)",
                           argv[optind - 1]);
        }
        if (s->id == OPT_INSECURE_NO_AUTH) {
            c->insecure_no_auth = true;
        } else if (apply(c, s, optarg, err)) {
            return -1;
        }
    }
    if (optind < argc) {
        return err_set(err, ERR_USAGE, NULL, "unexpected argument '%s' (see --help)", argv[optind]);
    }
    if (!c->tls_cert != !c->tls_key) {
        return err_set(err, ERR_USAGE, "tls", "--tls-cert and --tls-key go together");
    }
    if (c->tls_client_ca && !c->tls_cert) {
        return err_set(err, ERR_USAGE, "tls-client-ca", "--tls-client-ca needs --tls-cert");
    }
    return 0;
}

int config_secrets_apply(const struct server_config *c, struct secrets_settings *s, struct err *err)
{
    if (c->secrets_file) {
        s->file_path = c->secrets_file;
        /* A secrets file alone picks the file provider, as OCIRENDER_SECRETS_FILE does. */
        const char *env = getenv("OCIRENDER_SECRETS");
        if (!c->secrets && (!env || !*env)) {
            s->kind = SECRETS_FILE;
        }
    }
    if (c->secrets && secrets_kind_parse(c->secrets, &s->kind, err)) {
        err_prefix(err, "--secrets: ");
        return -1;
    }
    return 0;
}
