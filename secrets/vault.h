#ifndef OCIRENDER_SECRETS_VAULT_H
#define OCIRENDER_SECRETS_VAULT_H

/*
 * Internals of the vault provider: the HTTP layer (vault_http.c), the token lifecycle
 * (vault_auth.c) and the KV v2 reads (vault.c).
 */

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "common/err.h"
#include "common/sbuf.h"
#include "secrets/internal.h"

/* ---- HTTP (vault_http.c) ---- */

struct vault_http;

struct vault_req {
    const char *method;   /* "GET" or "POST" */
    const char *path;     /* below /v1/, already percent-encoded, may carry a query */
    const char *token;    /* X-Vault-Token, or NULL */
    const char *body;     /* JSON body for POST, or NULL */
    bool no_namespace;    /* sys/health lives in the root namespace */
    int max_retries;      /* -1: the configured VAULT_MAX_RETRIES */
    unsigned timeout_ms;  /* 0: the configured VAULT_CLIENT_TIMEOUT */
};

struct vault_resp {
    long status;
    struct sbuf body;       /* may hold secret material: release with vault_resp_release */
    bool json;              /* Content-Type is application/json */
    unsigned retry_after;   /* seconds from Retry-After, 0 if none */
    unsigned attempts;
};

struct vault_http *vault_http_create(const struct secrets_settings *s,
                                     const struct log_hook *log, struct err *err);
void vault_http_destroy(struct vault_http *h);
/* Shutting down: transfers in progress and retry waits end at once (the caller then gets an
 * error), so the threads doing them can be joined without waiting for the vault. */
void vault_http_abort(struct vault_http *h);

/*
 * One logical request: retries connection errors, 412, 429 and 5xx (not 501) with jittered
 * backoff honouring Retry-After, follows redirects only within the vault's origin, and stops
 * at the deadline (VAULT_CLIENT_TIMEOUT covers every attempt). 0 with *resp for any HTTP
 * answer (the caller maps the status), or -1 with err: SECRET_UNAVAILABLE (unreachable),
 * SECRET_TIMEOUT, SECRET_BACKEND (TLS verification, oversized or cross-origin redirect).
 * `what` names the request in messages ("secret shop/db").
 */
int vault_http_do(struct vault_http *h, const struct vault_req *req, const char *what,
                  struct vault_resp *resp, struct err *err);
void vault_resp_release(struct vault_resp *resp);

/* Parse a JSON answer (duplicate keys rejected). NULL with err SECRET_BACKEND naming `what`. */
json_t *vault_resp_json(const struct vault_resp *resp, const char *what, struct err *err);

/* The first entry of {"errors": [...]}, made printable and short, into buf ("" if none). */
void vault_resp_error_text(const struct vault_resp *resp, char *buf, size_t size);

/* Map a non-success status to an error naming `what`: 403 SECRET_DENIED; 429, 503 and 412
 * SECRET_UNAVAILABLE with retry_after; 404 SECRET_NOT_FOUND; the rest SECRET_BACKEND. The
 * vault's own error text is quoted (it never carries values). Returns -1. */
int vault_status_error(const struct vault_resp *resp, const char *what, struct err *err);

/* Percent-encode one path segment (RFC 3986 unreserved characters stay). */
int vault_path_add_segment(struct sbuf *b, const char *seg, size_t len);
/* Encode a '/'-separated path: each segment encoded, '/' kept; empty, "." and ".." segments
 * are refused (-1). */
int vault_path_add(struct sbuf *b, const char *path);

/* ---- tokens (vault_auth.c) ---- */

struct vault_auth;

struct vault_auth *vault_auth_create(const struct secrets_settings *s, struct vault_http *http,
                                     const struct log_hook *log, struct err *err);
void vault_auth_destroy(struct vault_auth *a);

/* A copy of a usable token (wipe + free with secret_str_free) and its generation. Logs in
 * (AppRole) or looks the token up (first use) when needed. */
int vault_auth_token(struct vault_auth *a, char **token, unsigned *gen, struct err *err);

/* After a 403: true when the token `gen` is no longer valid (the vault says so, or lookup-self
 * fails) and a new one was obtained or can be, so the request is worth one retry. */
bool vault_auth_recover(struct vault_auth *a, unsigned gen, const struct vault_resp *resp);

/* /readyz: the token is valid (lookup-self), logging in first for AppRole. */
int vault_auth_check(struct vault_auth *a, struct err *err);

/* SIGHUP: re-read VAULT_TOKEN_FILE. */
int vault_auth_reload(struct vault_auth *a, struct err *err);

#endif
