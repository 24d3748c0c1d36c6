#ifndef OCIRENDER_SERVER_CONFIG_H
#define OCIRENDER_SERVER_CONFIG_H

/*
 * ocirenderd settings: each flag `--name` has an environment variable
 * `OCIRENDER_NAME` (dashes become underscores); a flag wins over its variable, which wins over
 * the default. `--help` prints the table below with defaults.
 *
 * The secrets settings (--secrets, --secrets-file and the VAULT_* variables) belong to the
 * secrets module: secrets_settings_from_env() reads the environment and config_secrets_apply()
 * lays the flags over it.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "common/compiler.h"
#include "common/err.h"
#include "server/log.h"

struct secrets_settings;

#define CONFIG_MAX_BODY_LIMIT (1024u << 20) /* --max-body may not exceed 1 GiB */

struct server_config {
    const char *listen;          /* "127.0.0.1:8080" */
    unsigned threads;            /* worker threads, default: online CPUs */
    size_t max_body;             /* bytes */
    unsigned connection_timeout; /* seconds of inactivity */
    unsigned max_connections;
    unsigned max_connections_per_ip; /* 0: unlimited */
    unsigned header_timeout;         /* seconds for a request's headers in total */
    unsigned body_timeout;           /* seconds for its body in total */
    const char *trusted_proxies;     /* "ADDR[/PREFIX],..." exempt from the per-IP cap */
    const char *tls_cert;
    const char *tls_key;
    const char *tls_client_ca;
    const char *auth_tokens;
    const char *secrets;      /* flag only (the env variable is the secrets module's) */
    const char *secrets_file; /* flag only, likewise */
    const char *cgroup_parent;
    enum log_level log_level;
    bool insecure_no_auth;
    bool event_loop_epoll;     /* --event-loop epoll (default poll, see server/httpd.h) */
    size_t bench_static_bytes; /* hidden --bench-static-route BYTES; 0: off */
};

/* Parse flags over environment over defaults. Returns 0 to run, 1 when --help or --version
 * was printed (exit 0), -1 with err (ERR_USAGE) on a bad setting. */
int config_parse(struct server_config *c, int argc, char **argv, struct err *err) WARN_UNUSED;
void config_usage(FILE *out);

/* Apply --secrets / --secrets-file over settings read by secrets_settings_from_env(). */
int config_secrets_apply(const struct server_config *c, struct secrets_settings *s,
                         struct err *err) WARN_UNUSED;

/* "1m", "512KiB", "1048576" -> bytes (K/KB/KiB, M/MB/MiB, G/GB/GiB are all powers of 1024).
 * "30", "30s", "2m" -> seconds. 0 or -1. */
int config_parse_size(const char *text, size_t *out);
int config_parse_seconds(const char *text, unsigned *out);

#endif
