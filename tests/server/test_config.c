/* Unit tests for ocirenderd's settings (server/config.c), listen address rules (server/net.c)
 * and connection bookkeeping (server/conns.c): flag over environment over default, size and
 * duration syntax, refusals, trusted proxies, the per-address cap. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "secrets/secrets.h"
#include "server/config.h"
#include "server/conns.h"
#include "server/net.h"
#include "tests/harness.h"

static const char *const env_names[] = {
    "OCIRENDER_LISTEN",
    "OCIRENDER_THREADS",
    "OCIRENDER_MAX_BODY",
    "OCIRENDER_CONNECTION_TIMEOUT",
    "OCIRENDER_MAX_CONNECTIONS",
    "OCIRENDER_TLS_CERT",
    "OCIRENDER_TLS_KEY",
    "OCIRENDER_TLS_CLIENT_CA",
    "OCIRENDER_AUTH_TOKENS",
    "OCIRENDER_CGROUP_PARENT",
    "OCIRENDER_LOG_LEVEL",
    "OCIRENDER_INSECURE_NO_AUTH",
    "OCIRENDER_SECRETS",
    "OCIRENDER_SECRETS_FILE",
    "OCIRENDER_MAX_CONNECTIONS_PER_IP",
    "OCIRENDER_HEADER_TIMEOUT",
    "OCIRENDER_BODY_TIMEOUT",
    "OCIRENDER_TRUSTED_PROXIES",
};

static void clear_env(void)
{
    for (size_t i = 0; i < ARRAY_LEN(env_names); i++) {
        unsetenv(env_names[i]);
    }
}

/* Parse a NULL-terminated argument list (argv[0] added). */
static int parse_args(struct server_config *c, struct err *err, const char *const *args)
{
    static char prog[] = "ocirenderd";
    char *argv[32] = {prog};
    int argc = 1;
    for (; args[argc - 1] && argc < 31; argc++) {
        argv[argc] = (char *)(uintptr_t)args[argc - 1];
    }
    argv[argc] = NULL;
    err_init(err);
    return config_parse(c, argc, argv, err);
}

static void test_defaults(void)
{
    clear_env();
    struct server_config c;
    struct err err;
    const char *none[] = {NULL};
    CHECK_INT(parse_args(&c, &err, none), 0);
    CHECK_STR(c.listen, "127.0.0.1:8080");
    CHECK(c.threads >= 1);
    CHECK_INT(c.max_body, 1u << 20);
    CHECK_INT(c.connection_timeout, 30);
    CHECK_INT(c.max_connections, 1024);
    CHECK_INT(c.max_connections_per_ip, 64);
    CHECK_INT(c.header_timeout, 10);
    CHECK_INT(c.body_timeout, 60);
    CHECK(c.trusted_proxies == NULL);
    CHECK_INT(c.log_level, LOG_INFO);
    CHECK(!c.insecure_no_auth && !c.auth_tokens && !c.tls_cert && !c.bench_static_bytes);
}

static void test_flags_over_env(void)
{
    clear_env();
    setenv("OCIRENDER_LISTEN", "127.0.0.1:9000", 1);
    setenv("OCIRENDER_MAX_BODY", "64KiB", 1);
    setenv("OCIRENDER_THREADS", "3", 1);
    setenv("OCIRENDER_CGROUP_PARENT", "/env.slice", 1);
    setenv("OCIRENDER_INSECURE_NO_AUTH", "true", 1);
    setenv("OCIRENDER_LOG_LEVEL", "debug", 1);
    struct server_config c;
    struct err err;
    const char *none[] = {NULL};
    CHECK_INT(parse_args(&c, &err, none), 0);
    CHECK_STR(c.listen, "127.0.0.1:9000");
    CHECK_INT(c.max_body, 64u << 10);
    CHECK_INT(c.threads, 3);
    CHECK_STR(c.cgroup_parent, "/env.slice");
    CHECK(c.insecure_no_auth);
    CHECK_INT(c.log_level, LOG_DEBUG);
    const char *flags[] = {"--listen",
                           "[::1]:9001",
                           "--max-body=2m",
                           "--threads",
                           "4",
                           "--cgroup-parent",
                           "/flag.slice",
                           "--connection-timeout",
                           "5s",
                           "--max-connections",
                           "10",
                           "--log-level",
                           "warn",
                           NULL};
    CHECK_INT(parse_args(&c, &err, flags), 0);
    CHECK_STR(c.listen, "[::1]:9001");
    CHECK_INT(c.max_body, 2u << 20);
    CHECK_INT(c.threads, 4);
    CHECK_STR(c.cgroup_parent, "/flag.slice");
    CHECK_INT(c.connection_timeout, 5);
    CHECK_INT(c.max_connections, 10);
    CHECK_INT(c.log_level, LOG_WARN);
    clear_env();
}

static void test_bad_settings(void)
{
    clear_env();
    static const struct {
        const char *args[4];
        const char *msg;
    } bad[] = {
        {{"--threads", "0"}, "--threads must be a number from 1 to 256"},
        {{"--threads", "many"}, "--threads"},
        {{"--max-body", "0"}, "--max-body"},
        {{"--max-body", "2GiB"}, "--max-body"},
        {{"--max-body", "1 MiB"}, "--max-body"},
        {{"--connection-timeout", "0"}, "--connection-timeout"},
        {{"--connection-timeout", "1h"}, "--connection-timeout"},
        {{"--log-level", "loud"}, "log level"},
        {{"--tls-cert", "/x.pem"}, "go together"},
        {{"--tls-key", "/x.key"}, "go together"},
        {{"--no-such-flag"}, "unknown or incomplete option"},
        {{"--listen"}, "unknown or incomplete option"},
        {{"stray"}, "unexpected argument 'stray'"},
    };
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        struct server_config c;
        struct err err;
        CHECK_INT(parse_args(&c, &err, bad[i].args), -1);
        CHECK_CONTAINS(err_message(&err), bad[i].msg);
        CHECK_INT(err.code, ERR_USAGE);
    }
    setenv("OCIRENDER_THREADS", "-1", 1);
    struct server_config c;
    struct err err;
    const char *none[] = {NULL};
    CHECK_INT(parse_args(&c, &err, none), -1);
    CHECK_CONTAINS(err_message(&err), "environment: ");
    clear_env();
}

static void test_help_and_version(void)
{
    clear_env();
    struct server_config c;
    struct err err;
    FILE *saved = stdout;
    stdout = fopen("/dev/null", "w");
    const char *help[] = {"--help", NULL};
    const char *version[] = {"--version", NULL};
    int rc_help = parse_args(&c, &err, help);
    int rc_version = parse_args(&c, &err, version);
    fclose(stdout);
    stdout = saved;
    CHECK_INT(rc_help, 1);
    CHECK_INT(rc_version, 1);
}

static void test_sizes_and_durations(void)
{
    size_t n;
    unsigned s;
    CHECK(config_parse_size("1048576", &n) == 0 && n == 1048576);
    CHECK(config_parse_size("1MiB", &n) == 0 && n == 1048576);
    CHECK(config_parse_size("1m", &n) == 0 && n == 1048576);
    CHECK(config_parse_size("512KB", &n) == 0 && n == 512 * 1024);
    CHECK(config_parse_size("1GiB", &n) == 0 && n == 1u << 30);
    CHECK(config_parse_size("", &n) == -1);
    CHECK(config_parse_size("MiB", &n) == -1);
    CHECK(config_parse_size("1.5MiB", &n) == -1);
    CHECK(config_parse_size("-1", &n) == -1);
    CHECK(config_parse_size("99999999999999999999", &n) == -1);
    CHECK(config_parse_seconds("30", &s) == 0 && s == 30);
    CHECK(config_parse_seconds("30s", &s) == 0 && s == 30);
    CHECK(config_parse_seconds("2m", &s) == 0 && s == 120);
    CHECK(config_parse_seconds("2h", &s) == -1);
    CHECK(config_parse_seconds("", &s) == -1);
}

static void test_secrets_flags(void)
{
    clear_env();
    struct server_config c;
    struct err err;
    struct secrets_settings ss;
    const char *file_only[] = {"--secrets-file", "/run/secrets.json", NULL};
    CHECK_INT(parse_args(&c, &err, file_only), 0);
    CHECK_INT(secrets_settings_from_env(&ss, &err), 0);
    CHECK_INT(config_secrets_apply(&c, &ss, &err), 0);
    CHECK_INT(ss.kind, SECRETS_FILE); /* a secrets file alone picks the file provider */
    CHECK_STR(ss.file_path, "/run/secrets.json");
    const char *explicit_none[] = {"--secrets", "none", "--secrets-file", "/x", NULL};
    CHECK_INT(parse_args(&c, &err, explicit_none), 0);
    CHECK_INT(secrets_settings_from_env(&ss, &err), 0);
    CHECK_INT(config_secrets_apply(&c, &ss, &err), 0);
    CHECK_INT(ss.kind, SECRETS_NONE);
    const char *bad[] = {"--secrets", "s3", NULL};
    CHECK_INT(parse_args(&c, &err, bad), 0);
    CHECK_INT(secrets_settings_from_env(&ss, &err), 0);
    CHECK_INT(config_secrets_apply(&c, &ss, &err), -1);
    CHECK_CONTAINS(err_message(&err), "--secrets: ");
}

static void test_listen_addresses(void)
{
    static const struct {
        const char *text;
        const char *host;
        unsigned port;
        bool loopback;
    } good[] = {
        {"127.0.0.1:8080", "127.0.0.1", 8080, true},
        {"127.1.2.3:1", "127.1.2.3", 1, true},
        {"[::1]:8080", "::1", 8080, true},
        {"localhost:0", NULL, 0, true},
        {"0.0.0.0:8080", "0.0.0.0", 8080, false},
        {"[::]:8080", "::", 8080, false},
        {"10.1.2.3:80", "10.1.2.3", 80, false},
        {"[::ffff:127.0.0.1]:80", "::ffff:127.0.0.1", 80, true},
    };
    for (size_t i = 0; i < ARRAY_LEN(good); i++) {
        struct listen_addr a;
        struct err err;
        err_init(&err);
        CHECK_INT(net_parse_listen(good[i].text, &a, &err), 0);
        if (good[i].host) {
            CHECK_STR(a.host, good[i].host);
        }
        CHECK_INT(a.port, good[i].port);
        CHECK_INT(net_is_loopback(&a), good[i].loopback);
    }
    static const char *const bad[] = {"8080",           ":8080",     "127.0.0.1",
                                      "127.0.0.1:",     "::1:8080",  "127.0.0.1:65536",
                                      "127.0.0.1:http", "[::1]8080", "no-such-host.invalid:80"};
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        struct listen_addr a;
        struct err err;
        err_init(&err);
        CHECK_INT(net_parse_listen(bad[i], &a, &err), -1);
        CHECK_INT(err.code, ERR_USAGE);
    }
}

static void test_listen_port_zero(void)
{
    struct listen_addr a;
    struct err err;
    err_init(&err);
    CHECK_INT(net_parse_listen("127.0.0.1:0", &a, &err), 0);
    int fd = net_listen(&a, &err);
    CHECK(fd >= 0);
    CHECK(a.port > 0);
    /* The same port again: a clear "in use" error. */
    char again[64];
    snprintf(again, sizeof(again), "127.0.0.1:%u", a.port);
    struct listen_addr b;
    CHECK_INT(net_parse_listen(again, &b, &err), 0);
    err_init(&err);
    CHECK_INT(net_listen(&b, &err), -1);
    CHECK_CONTAINS(err_message(&err), "Address already in use");
    if (fd >= 0) {
        close(fd);
    }
}

/* Trusted proxies: addresses and prefixes, IPv4-mapped IPv6 counts as IPv4, bad entries. */
static void test_trusted_proxies(void)
{
    struct trusted_set set;
    struct err err;
    err_init(&err);
    CHECK_INT(conns_trusted_parse("127.0.0.3, 10.0.0.0/8,fd00::/8", &set, &err), 0);
    CHECK_INT(set.n, 3);
    struct sockaddr_in v4 = {.sin_family = AF_INET};
    struct sockaddr_in6 v6 = {.sin6_family = AF_INET6};
    inet_pton(AF_INET, "127.0.0.3", &v4.sin_addr);
    CHECK(conns_trusted_has(&set, (struct sockaddr *)&v4));
    inet_pton(AF_INET, "127.0.0.4", &v4.sin_addr);
    CHECK(!conns_trusted_has(&set, (struct sockaddr *)&v4));
    inet_pton(AF_INET, "10.200.3.4", &v4.sin_addr);
    CHECK(conns_trusted_has(&set, (struct sockaddr *)&v4));
    inet_pton(AF_INET, "11.0.0.1", &v4.sin_addr);
    CHECK(!conns_trusted_has(&set, (struct sockaddr *)&v4));
    inet_pton(AF_INET6, "::ffff:10.1.2.3", &v6.sin6_addr);
    CHECK(conns_trusted_has(&set, (struct sockaddr *)&v6));
    inet_pton(AF_INET6, "fd12::1", &v6.sin6_addr);
    CHECK(conns_trusted_has(&set, (struct sockaddr *)&v6));
    inet_pton(AF_INET6, "fe80::1", &v6.sin6_addr);
    CHECK(!conns_trusted_has(&set, (struct sockaddr *)&v6));
    CHECK_INT(conns_trusted_parse("", &set, &err), 0);
    CHECK_INT(set.n, 0);
    CHECK_INT(conns_trusted_parse("10.0.0.0/33", &set, &err), -1);
    CHECK_CONTAINS(err_message(&err), "prefix");
    err_init(&err);
    CHECK_INT(conns_trusted_parse("proxy.example", &set, &err), -1);
    CHECK_CONTAINS(err_message(&err), "not an IP address");
}

/* The per-address cap counts open connections and skips trusted addresses. */
static void test_per_address_cap(void)
{
    struct conns_options o = {.header_timeout_ms = 10000, .body_timeout_ms = 10000,
                              .per_ip_max = 2};
    struct err err;
    err_init(&err);
    CHECK_INT(conns_trusted_parse("127.0.0.9", &o.trusted, &err), 0);
    struct conns *t = conns_create(&o);
    struct sockaddr_in a = {.sin_family = AF_INET}, p = {.sin_family = AF_INET};
    inet_pton(AF_INET, "127.0.0.8", &a.sin_addr);
    inet_pton(AF_INET, "127.0.0.9", &p.sin_addr);
    struct conn *c1 = conns_opened(t, -1, (struct sockaddr *)&a);
    CHECK(conns_accept_ok(t, (struct sockaddr *)&a));
    struct conn *c2 = conns_opened(t, -1, (struct sockaddr *)&a);
    CHECK(!conns_accept_ok(t, (struct sockaddr *)&a));
    struct conn *pc[5];
    for (int i = 0; i < 5; i++) {
        pc[i] = conns_opened(t, -1, (struct sockaddr *)&p);
    }
    CHECK(conns_accept_ok(t, (struct sockaddr *)&p));
    bool orphan;
    CHECK(conns_closed(t, c1, true, &orphan) == NULL);
    CHECK(!orphan);
    CHECK(conns_accept_ok(t, (struct sockaddr *)&a));
    conns_closed(t, c2, true, &orphan);
    for (int i = 0; i < 5; i++) {
        conns_closed(t, pc[i], true, &orphan);
    }
    conns_destroy(t);
}

HARNESS_MAIN(TEST(test_defaults), TEST(test_flags_over_env), TEST(test_bad_settings),
             TEST(test_help_and_version), TEST(test_sizes_and_durations), TEST(test_secrets_flags),
             TEST(test_listen_addresses), TEST(test_listen_port_zero),
             TEST(test_trusted_proxies), TEST(test_per_address_cap))
