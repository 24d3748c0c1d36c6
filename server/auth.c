#include "server/auth.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/digest.h"
#include "common/fileio.h"
#include "common/sbuf.h"
#include "common/strutil.h"

#define SHORT_TOKEN 16

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

static bool is_visible(char c)
{
    return c >= 0x21 && c <= 0x7e;
}

static void token_clear(struct auth_token *t)
{
    for (size_t i = 0; i < t->n_scopes; i++) {
        free(t->scopes[i]);
    }
    free(t->scopes);
    t->scopes = NULL;
    t->n_scopes = 0;
}

static void table_free(struct auth_table *t)
{
    if (!t) {
        return;
    }
    for (size_t i = 0; i < t->n; i++) {
        token_clear(&t->tokens[i]);
    }
    free(t->tokens);
    free(t);
}

// `*`, or a name of visible characters without ',' and '#', optionally ending in "/*".
static bool scope_pattern_valid(const char *s, size_t n)
{
    if (n == 1 && s[0] == '*') {
        return true;
    }
    size_t body = n;
    if (n >= 3 && s[n - 2] == '/' && s[n - 1] == '*') {
        body = n - 2;
    }
    if (body == 0) {
        return false;
    }
    for (size_t i = 0; i < body; i++) {
        if (!is_visible(s[i]) || s[i] == ',' || s[i] == '#' || s[i] == '*') {
            return false;
        }
    }
    return true;
}

static int add_scope(struct auth_token *t, const char *s, size_t n, unsigned line, struct err *err)
{
    if (!scope_pattern_valid(s, n)) {
        return err_set(err, ERR_SPEC_INVALID, NULL,
                       "line %u: invalid scope '%.*s' (use a scope name, '*' or 'name/*')", line,
                       (int)(n > 64 ? 64 : n), s);
    }
    char **grown = realloc(t->scopes, (t->n_scopes + 1) * sizeof(*grown));
    if (!grown) {
        return err_nomem(err);
    }
    t->scopes = grown;
    if (!(t->scopes[t->n_scopes] = str_ndup(s, n))) {
        return err_nomem(err);
    }
    t->n_scopes++;
    return 0;
}

/* The scope list: comma-separated, blanks around the commas allowed, up to a '#' comment. */
static int parse_scopes(struct auth_token *t, const char *p, const char *end, unsigned line,
                        struct err *err)
{
    for (;;) {
        while (p < end && is_blank(*p)) {
            p++;
        }
        if ((p == end || *p == '#') && t->n_scopes == 0) {
            return err_set(err, ERR_SPEC_INVALID, NULL,
                           "line %u: expected 'TOKEN SCOPE[,SCOPE...]' (no scope given)", line);
        }
        const char *start = p;
        while (p < end && *p != ',' && !is_blank(*p)) {
            p++;
        }
        /* An empty name (",," or a trailing comma) is reported as an invalid scope. */
        if (add_scope(t, start, (size_t)(p - start), line, err)) {
            return -1;
        }
        while (p < end && is_blank(*p)) {
            p++;
        }
        if (p == end || *p == '#') {
            return 0;
        }
        if (*p != ',') {
            return err_set(err, ERR_SPEC_INVALID, NULL,
                           "line %u: scopes must be separated by commas", line);
        }
        p++;
    }
}

static struct auth_token *next_slot(struct auth_table *t, size_t *cap, struct err *err)
{
    if (t->n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 16;
        struct auth_token *grown = realloc(t->tokens, ncap * sizeof(*grown));
        if (!grown) {
            err_nomem(err);
            return NULL;
        }
        t->tokens = grown;
        *cap = ncap;
    }
    struct auth_token *slot = &t->tokens[t->n];
    memset(slot, 0, sizeof(*slot));
    return slot;
}

/* One non-comment line: the token (hashed at once, never copied) and its scopes. */
static int parse_line(struct auth_table *t, size_t *cap, const char *p, const char *end,
                      unsigned line, struct err *err)
{
    const char *tok = p;
    while (p < end && !is_blank(*p)) {
        if (!is_visible(*p)) {
            return err_set(err, ERR_SPEC_INVALID, NULL,
                           "line %u: tokens must be printable ASCII without spaces", line);
        }
        p++;
    }
    size_t tok_len = (size_t)(p - tok);
    if (tok_len > AUTH_TOKEN_MAX) {
        return err_set(err, ERR_SPEC_INVALID, NULL, "line %u: token longer than %u characters",
                       line, AUTH_TOKEN_MAX);
    }
    if (t->n >= AUTH_TOKENS_MAX) {
        return err_set(err, ERR_SPEC_INVALID, NULL, "more than %u tokens", AUTH_TOKENS_MAX);
    }
    struct auth_token *slot = next_slot(t, cap, err);
    if (!slot) {
        return -1;
    }
    slot->line = line;
    if (digest_sha256_hex(tok, tok_len, slot->hash)) {
        return err_set(err, ERR_INTERNAL, NULL, "sha256 failed");
    }
    t->n++; /* counted now so a failure below still frees the scopes */
    if (tok_len < SHORT_TOKEN) {
        t->n_short++;
    }
    return parse_scopes(slot, p, end, line, err);
}

static int compare_hash(const void *a, const void *b)
{
    const struct auth_token *const *x = a, *const *y = b;
    return strcmp((*x)->hash, (*y)->hash);
}

/* A token listed twice would make its scopes depend on the line order: refuse it. */
static int check_duplicates(const struct auth_table *t, struct err *err)
{
    if (t->n < 2) {
        return 0;
    }
    const struct auth_token **sorted = malloc(t->n * sizeof(*sorted));
    if (!sorted) {
        return err_nomem(err);
    }
    for (size_t i = 0; i < t->n; i++) {
        sorted[i] = &t->tokens[i];
    }
    qsort(sorted, t->n, sizeof(*sorted), compare_hash);
    int rc = 0;
    for (size_t i = 1; i < t->n && !rc; i++) {
        if (strcmp(sorted[i - 1]->hash, sorted[i]->hash) == 0) {
            unsigned a = sorted[i - 1]->line, b = sorted[i]->line;
            rc = err_set(err, ERR_SPEC_INVALID, NULL, "lines %u and %u hold the same token",
                         a < b ? a : b, a < b ? b : a);
        }
    }
    free(sorted);
    return rc;
}

struct auth_table *auth_table_parse(const char *text, size_t len, struct err *err)
{
    struct auth_table *t = calloc(1, sizeof(*t));
    if (!t) {
        err_nomem(err);
        return NULL;
    }
    atomic_init(&t->refs, 1);
    size_t cap = 0;
    unsigned line = 0;
    const char *p = text, *end = text + len;
    int rc = memchr(text, '\0', len)
                 ? err_set(err, ERR_SPEC_INVALID, NULL, "the file contains a NUL byte")
                 : 0;
    while (!rc && p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *next = eol ? eol + 1 : end;
        const char *stop = eol ? eol : end;
        line++;
        if (stop > p && stop[-1] == '\r') {
            stop--;
        }
        while (p < stop && is_blank(*p)) {
            p++;
        }
        if (p < stop && *p != '#') {
            rc = parse_line(t, &cap, p, stop, line, err);
        }
        p = next;
    }
    if (!rc) {
        rc = check_duplicates(t, err);
    }
    if (rc) {
        table_free(t);
        return NULL;
    }
    return t;
}

/* Tokens are credentials: refuse files that others can read or that others could change. */
static int check_file_mode(const char *path, const struct stat *st, struct err *err)
{
    if (!S_ISREG(st->st_mode)) {
        return err_set(err, ERR_IO, path, "tokens file is not a regular file");
    }
    if (st->st_size > (off_t)AUTH_FILE_MAX) {
        return err_set(err, ERR_IO, path, "tokens file is larger than %u bytes", AUTH_FILE_MAX);
    }
    if (st->st_mode & (S_IROTH | S_IWOTH | S_IWGRP)) {
        return err_set(err, ERR_IO, path,
                       "tokens file mode %04o lets others read or change it; chmod 600 (or 640)",
                       (unsigned)(st->st_mode & 07777));
    }
    return 0;
}

struct auth_table *auth_table_load(const char *path, struct err *err)
{
    /* Symlinks are followed on purpose: Kubernetes mounts secrets through them. */
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        err_set(err, ERR_IO, path, "cannot open tokens file: %s", strerror(errno));
        return NULL;
    }
    struct stat st;
    size_t len = 0;
    char *text = NULL;
    if (fstat(fd, &st) != 0) {
        err_set(err, ERR_IO, path, "cannot stat tokens file: %s", strerror(errno));
    } else if (check_file_mode(path, &st, err) == 0) {
        text = file_read_fd(fd, AUTH_FILE_MAX, FILE_READ_SECRET, &len);
        if (!text && errno == EFBIG) {
            err_set(err, ERR_IO, path, "tokens file is larger than %u bytes", AUTH_FILE_MAX);
        } else if (!text) {
            err_set(err, ERR_IO, path, "cannot read tokens file: %s", strerror(errno));
        }
    }
    close(fd);
    if (!text) {
        return NULL;
    }
    struct auth_table *t = auth_table_parse(text, len, err);
    mem_wipe(text, len);
    free(text);
    if (!t) {
        err_prefix(err, "tokens file: ");
    }
    return t;
}

struct auth_table *auth_table_ref(struct auth_table *t)
{
    if (t) {
        atomic_fetch_add(&t->refs, 1);
    }
    return t;
}

void auth_table_unref(struct auth_table *t)
{
    if (t && atomic_fetch_sub(&t->refs, 1) == 1) {
        table_free(t);
    }
}

const struct auth_token *auth_table_find(const struct auth_table *t, const char *token, size_t len)
{
    char hash[65];
    if (!t || len == 0 || len > AUTH_TOKEN_MAX || digest_sha256_hex(token, len, hash)) {
        return NULL;
    }
    /* Visit every entry and select the match with a mask, without branching on it. */
    size_t found = 0;
    size_t any = 0;
    for (size_t i = 0; i < t->n; i++) {
        size_t eq = (size_t)str_eq_consttime(hash, 64, t->tokens[i].hash, 64);
        size_t mask = (size_t)0 - eq;
        found = (found & ~mask) | (i & mask);
        any |= eq;
    }
    return any ? &t->tokens[found] : NULL;
}

bool auth_scope_matches(const char *pattern, const char *scope)
{
    if (!pattern || !scope) {
        return false;
    }
    if (strcmp(pattern, "*") == 0) {
        return true;
    }
    size_t n = strlen(pattern);
    if (n >= 3 && pattern[n - 2] == '/' && pattern[n - 1] == '*') {
        size_t base = n - 2; // "name/*" covers "name" and "name/..."
        return strncmp(scope, pattern, base) == 0 && (scope[base] == '\0' || scope[base] == '/');
    }
    return strcmp(pattern, scope) == 0;
}

bool auth_token_allows(const void *token, const char *scope)
{
    const struct auth_token *t = token;
    if (!t) {
        return false;
    }
    for (size_t i = 0; i < t->n_scopes; i++) {
        if (auth_scope_matches(t->scopes[i], scope)) {
            return true;
        }
    }
    return false;
}

int auth_bearer_token(const char *header, const char **token, size_t *len)
{
    static const char scheme[] = "bearer";
    if (!header) {
        return -1;
    }
    while (is_blank(*header)) {
        header++;
    }
    for (size_t i = 0; i < sizeof(scheme) - 1; i++) {
        char c = header[i];
        if (c >= 'A' && c <= 'Z') {
            c = (char)(c - 'A' + 'a');
        }
        if (c != scheme[i]) {
            return -1;
        }
    }
    const char *p = header + sizeof(scheme) - 1;
    if (!is_blank(*p)) {
        return -1;
    }
    while (is_blank(*p)) {
        p++;
    }
    const char *start = p;
    while (is_visible(*p)) {
        p++;
    }
    const char *stop = p;
    while (is_blank(*p)) {
        p++;
    }
    if (stop == start || *p != '\0') {
        return -1;
    }
    *token = start;
    *len = (size_t)(stop - start);
    return 0;
}

int auth_store_init(struct auth_store *s, const char *path, struct err *err)
{
    memset(s, 0, sizeof(*s));
    if (!(s->path = str_dup(path))) {
        return err_nomem(err);
    }
    if (!(s->current = auth_table_load(path, err))) {
        free(s->path);
        s->path = NULL;
        return -1;
    }
    pthread_mutex_init(&s->lock, NULL);
    return 0;
}

struct auth_table *auth_store_get(struct auth_store *s)
{
    pthread_mutex_lock(&s->lock);
    struct auth_table *t = auth_table_ref(s->current);
    pthread_mutex_unlock(&s->lock);
    return t;
}

int auth_store_reload(struct auth_store *s, struct err *err)
{
    struct auth_table *fresh = auth_table_load(s->path, err);
    if (!fresh) {
        return -1;
    }
    pthread_mutex_lock(&s->lock);
    struct auth_table *old = s->current;
    s->current = fresh;
    pthread_mutex_unlock(&s->lock);
    auth_table_unref(old); /* requests still holding it keep it alive */
    return 0;
}

void auth_store_destroy(struct auth_store *s)
{
    if (s->path) {
        auth_table_unref(s->current);
        pthread_mutex_destroy(&s->lock);
        free(s->path);
        s->path = NULL;
        s->current = NULL;
    }
}
