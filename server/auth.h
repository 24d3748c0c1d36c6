#ifndef OCIRENDER_SERVER_AUTH_H
#define OCIRENDER_SERVER_AUTH_H

// Bearer-token authentication and scope authorisation.
//
// Tokens file: one `TOKEN SCOPE[,SCOPE...]` per line; `#` starts a comment; blank lines are
// ignored. A scope is a scope name (`shop`, `env:prod`), `*` (any scope) or `name/*` (the
// subtree: `name` itself and every scope below it, such as `name/web`). Tokens are printable
// ASCII without spaces; a token may appear once.
//
// Only the SHA-256 of each token is kept in memory. A presented token is hashed and compared
// with every entry in constant time (str_eq_consttime, no early exit), so neither timing nor
// the file's order tells an attacker how close a guess was.
//
// Thread-safety: a `struct auth_table` is immutable and reference-counted; requests hold a
// reference while they run. `struct auth_store` swaps tables atomically on reload (SIGHUP); a
// file that fails to load leaves the current table in place.

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/compiler.h"
#include "common/err.h"
#include "common/limits.h"

#define AUTH_FILE_MAX   (1u << 20)
#define AUTH_TOKENS_MAX 10000
#define AUTH_TOKEN_MAX  LIMIT_TOKEN

struct auth_token {
    char hash[65]; /* lower-case hex SHA-256 of the token */
    char **scopes;
    size_t n_scopes;
    unsigned line; /* line in the file, for messages (never the token itself) */
};

struct auth_table {
    atomic_uint refs;
    size_t n;
    struct auth_token *tokens;
    unsigned n_short; /* tokens shorter than 16 characters (a start-up warning) */
};

/* Parse the text of a tokens file. New table (one reference) or NULL with err (SPEC_INVALID
 * naming the line, NOMEM). */
struct auth_table *auth_table_parse(const char *text, size_t len, struct err *err) WARN_UNUSED;

/* Read and parse a tokens file. Refuses non-regular files, files over AUTH_FILE_MAX and files
 * readable by others or writable by group/others (IO / SPEC_INVALID). The read buffer is
 * wiped. */
struct auth_table *auth_table_load(const char *path, struct err *err) WARN_UNUSED;

struct auth_table *auth_table_ref(struct auth_table *t);
void auth_table_unref(struct auth_table *t);

/* Find the entry of a presented token (constant time over the whole table). Borrowed, or
 * NULL when unknown. */
const struct auth_token *auth_table_find(const struct auth_table *t, const char *token, size_t len);

// Does a scope pattern (`*`, `name/*`, `name`) cover `scope`?
bool auth_scope_matches(const char *pattern, const char *scope);

/* Does the token (a `const struct auth_token *`) cover `scope`? Signature of
 * http_req.scope_allowed. */
bool auth_token_allows(const void *token, const char *scope);

/* Split `Authorization: Bearer TOKEN`. 0 with *token and *len pointing into `header`, or -1
 * when the header is missing, uses another scheme or has no token. */
int auth_bearer_token(const char *header, const char **token, size_t *len);

/* The live table of the server, reloadable. */
struct auth_store {
    pthread_mutex_t lock;
    struct auth_table *current;
    char *path;
};

int auth_store_init(struct auth_store *s, const char *path, struct err *err) WARN_UNUSED;
/* A new reference to the current table (release with auth_table_unref). */
struct auth_table *auth_store_get(struct auth_store *s);
/* Re-read the file; on failure the current table stays and err says why. */
int auth_store_reload(struct auth_store *s, struct err *err) WARN_UNUSED;
void auth_store_destroy(struct auth_store *s);

#endif
