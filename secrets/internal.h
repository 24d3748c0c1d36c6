#ifndef OCIRENDER_SECRETS_INTERNAL_H
#define OCIRENDER_SECRETS_INTERNAL_H

/*
 * Internals shared by the files of secrets/: the provider interface, value extraction,
 * and small helpers. Not part of the public API (secrets/secrets.h).
 *
 * A provider answers one question: "give me the data of secret NAME in SCOPE at VERSION".
 * Everything above that (dedup per render, single-flight, caches, metrics, the envelope list,
 * field extraction) lives in secrets.c and is the same for every provider.
 */

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "common/clock.h"
#include "common/err.h"
#include "secrets/secrets.h"

/* What a provider returns for one secret. */
struct secret_doc {
    json_t *data; /* new reference: the secret's data object (key -> JSON value) */
    long version; /* resolved version (vault metadata), -1 when the provider has none */
};

struct provider_ops {
    const char *name; /* "vault", "file", "none" */
    /* Remote providers benefit from the cache, the single-flight table and parallel fetches;
     * local ones are answered inline. */
    bool remote;
    /* Fetch one secret. On failure err carries the code (SECRET_*) and a message that names
     * the secret (scope/name[@version]) but never a value; the path is left empty. */
    int (*get)(void *impl, const char *scope, const char *name, unsigned version,
               struct secret_doc *out, struct err *err);
    int (*reload)(void *impl, struct err *err);
    int (*ready)(void *impl, struct err *err);
    void (*destroy)(void *impl);
    /* Optional: end requests in progress at once (the service is being destroyed). */
    void (*abort)(void *impl);
};

/* Providers. Each copies what it needs from the settings. */
void *file_provider_create(const struct secrets_settings *s, const struct log_hook *log,
                           struct err *err);
extern const struct provider_ops file_provider_ops;

void *vault_provider_create(const struct secrets_settings *s, const struct log_hook *log,
                            struct err *err);
extern const struct provider_ops vault_provider_ops;

/*
 * Extraction. `data` is a secret's data object. Without a field the value is the
 * member `value`; with a field, the member `field` if present, else `value` parsed as a JSON
 * object and its member `field`. Strings as-is, numbers/bools as JSON text, null as "", objects
 * and arrays as compact JSON. Returns a malloc'ed string (free with secret_str_free) or NULL
 * with err (SECRET_NOT_FOUND naming `what`, NOMEM, SECRET_BACKEND when too large).
 */
char *secret_extract(const json_t *data, const char *field, const char *what, struct err *err);
void secret_str_free(char *s);

/* Drop a reference to a JSON tree that holds secret material; when it is the last reference,
 * string contents are wiped first. */
void secret_json_decref(json_t *v);

/* Read a small credential file: refused unless a regular file without group/other access.
 * Returns a NUL-terminated heap buffer (wipe + free) or NULL with err (IO / SPEC_INVALID). */
char *secret_file_read(const char *path, size_t max, size_t *len, const char *what,
                       struct err *err);

/* Parse a Vault-style duration ("30", "30s", "500ms", "2m", "1h") into milliseconds. */
int secrets_parse_duration_ms(const char *text, unsigned *out);


#endif
