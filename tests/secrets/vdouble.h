#ifndef OCIRENDER_TESTS_SECRETS_VDOUBLE_H
#define OCIRENDER_TESTS_SECRETS_VDOUBLE_H

/*
 * C side of the vault test double (tests/vault_double/vault_double.py): start it on free ports,
 * drive its control API, read its request accounting, and build secrets settings and reference
 * lists against it.
 */

#include <stdbool.h>
#include <sys/types.h>

#include <jansson.h>

#include "render/render.h"
#include "secrets/secrets.h"

struct vdouble {
    pid_t pid;
    int port, other_port, control_port;
    char addr[96];  /* scheme://127.0.0.1:port */
    char dir[256];  /* temporary directory (certificates, files) */
    bool tls;
};

/* Start the double; `tls` makes certificates in d->dir first (ca.pem, server.pem/key,
 * client.pem/key signed by the same CA). `client_ca` requires client certificates.
 * Returns 0, or 77 when python3/openssl are missing (the test should SKIP), or -1. */
int vd_start(struct vdouble *d, bool tls, bool client_ca);
void vd_stop(struct vdouble *d);

/* POST {json} to the control endpoint `op`; 0 on HTTP 200. */
int vd_ctl(struct vdouble *d, const char *op, const char *json);
/* Write a KV v2 secret (mount "secret") from a JSON data object text. */
int vd_put(struct vdouble *d, const char *path, const char *data_json);

json_t *vd_stats(struct vdouble *d);
/* Sum of request counts whose "METHOD /v1/path" key starts with `prefix`. */
long vd_count(struct vdouble *d, const char *prefix);
long vd_logins(struct vdouble *d);
/* Did any request that reached the "other origin" listener carry `needle` in a header? */
bool vd_other_saw(struct vdouble *d, const char *needle);
long vd_other_requests(struct vdouble *d);
/* Did any request to the vault carry header `name` with value `value`? */
bool vd_main_saw_header(struct vdouble *d, const char *name, const char *value);

/* Settings for the vault provider against the double: token "root", fast retries. */
void vd_settings(const struct vdouble *d, struct secrets_settings *s);

/* References from spec values ("$S:db/password"); env keys are E0, E1, ... */
int refs_make(struct render_secret_refs *refs, const char *scope, const char *const *values,
              size_t n);

/* A log sink that keeps every message, for redaction checks. */
struct log_capture {
    char *text; /* all messages, newline separated */
    size_t len;
};
void log_capture_fn(void *ctx, enum log_level level, const char *msg);
void log_capture_free(struct log_capture *c);

/* Run a command (argv[0] looked up in PATH) quietly; its exit status or -1. */
int run_quiet(const char *const *argv);

#endif
