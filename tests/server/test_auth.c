/* Unit tests for server/auth.c: tokens file parsing, scope matching, token lookup, bearer
 * header parsing, file checks and reload semantics. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server/auth.h"
#include "tests/harness.h"

static struct auth_table *parse(const char *text, struct err *err)
{
    err_init(err);
    return auth_table_parse(text, strlen(text), err);
}

static const struct auth_token *find(const struct auth_table *t, const char *token)
{
    return auth_table_find(t, token, strlen(token));
}

static void test_parse_good(void)
{
    struct err err;
    struct auth_table *t = parse("# comment line\n"
                                 "\n"
                                 "   \t\n"
                                 "tok-admin-0123456789 *\n"
                                 "  tok-shop-0123456789\tshop\r\n"
                                 "tok-multi-0123456789 shop , env:prod,project:p:env:dev  # note\n"
                                 "tok-tree-0123456789 shop/*\n"
                                 "short x",
                                 &err);
    CHECK(t != NULL);
    if (!t) {
        fprintf(stderr, "  %s\n", err_message(&err));
        return;
    }
    CHECK_INT(t->n, 5);
    CHECK_INT(t->n_short, 1);
    const struct auth_token *multi = find(t, "tok-multi-0123456789");
    CHECK(multi != NULL);
    CHECK_INT(multi ? multi->n_scopes : 0, 3);
    CHECK_INT(multi ? multi->line : 0, 6);
    CHECK_STR(multi ? multi->scopes[2] : NULL, "project:p:env:dev");
    const struct auth_token *shop = find(t, "tok-shop-0123456789");
    CHECK(shop && shop->n_scopes == 1 && strcmp(shop->scopes[0], "shop") == 0);
    CHECK(find(t, "short") != NULL);
    /* Only hashes are kept: the token text is nowhere in the entries. */
    CHECK(shop && strstr(shop->hash, "tok") == NULL && strlen(shop->hash) == 64);
    auth_table_unref(t);

    t = parse("", &err);
    CHECK(t && t->n == 0);
    CHECK(t && find(t, "anything") == NULL);
    auth_table_unref(t);
}

static void test_parse_errors(void)
{
    static const struct {
        const char *text;
        const char *msg;
    } bad[] = {
        {"tok-alone-0123456789\n", "line 1: expected 'TOKEN SCOPE"},
        {"# c\ntok-a-0123456789 shop\ntok-b-0123456789   # only a comment\n", "line 3"},
        {"tok-a-0123456789 shop sales\n", "separated by commas"},
        {"tok-a-0123456789 shop,\n", "invalid scope ''"},
        {"tok-a-0123456789 ,shop\n", "invalid scope ''"},
        {"tok-a-0123456789 sh*p\n", "invalid scope 'sh*p'"},
        {"tok-a-0123456789 /*\n", "invalid scope '/*'"},
        {"tok-a-0123456789 **\n", "invalid scope '**'"},
        {"tok-a-0123456789 shop\ntok-b-0123456789 x\ntok-a-0123456789 other\n",
         "lines 1 and 3 hold the same token"},
        {"tok-\x01-0123456789 shop\n", "printable ASCII"},
        {"tok-caf\xc3\xa9-0123456789 shop\n", "printable ASCII"},
    };
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        struct err err;
        struct auth_table *t = parse(bad[i].text, &err);
        CHECK(t == NULL);
        CHECK_CONTAINS(err_message(&err), bad[i].msg);
        CHECK_INT(err.code, ERR_SPEC_INVALID);
        auth_table_unref(t);
    }
    struct err err;
    err_init(&err);
    CHECK(auth_table_parse("tok\0en shop\n", 12, &err) == NULL);
    CHECK_CONTAINS(err_message(&err), "NUL");
    /* Messages never echo a token. */
    err_init(&err);
    CHECK(parse("very-secret-token-value\n", &err) == NULL);
    CHECK(strstr(err_message(&err), "very-secret") == NULL);
}

static void test_scope_matching(void)
{
    CHECK(auth_scope_matches("*", "shop"));
    CHECK(auth_scope_matches("*", "env:prod"));
    CHECK(auth_scope_matches("shop", "shop"));
    CHECK(!auth_scope_matches("shop", "shop/web"));
    CHECK(!auth_scope_matches("shop", "shopping"));
    CHECK(!auth_scope_matches("shop", "sho"));
    CHECK(auth_scope_matches("shop/*", "shop"));
    CHECK(auth_scope_matches("shop/*", "shop/web"));
    CHECK(auth_scope_matches("shop/*", "shop/web/deep"));
    CHECK(!auth_scope_matches("shop/*", "shopping"));
    CHECK(!auth_scope_matches("shop/*", "shopping/web"));
    CHECK(!auth_scope_matches("shop/*", "other/shop"));
    CHECK(auth_scope_matches("shop/eu/*", "shop/eu/web"));
    CHECK(!auth_scope_matches("shop/eu/*", "shop"));
    CHECK(auth_scope_matches("env:prod", "env:prod"));
    CHECK(!auth_scope_matches("env:prod", "env:production"));
    CHECK(!auth_scope_matches(NULL, "shop"));
    CHECK(!auth_scope_matches("shop", NULL));
}

static void test_token_allows(void)
{
    struct err err;
    struct auth_table *t = parse("tok-a-0123456789 shop/*,env:prod\ntok-b-0123456789 *\n", &err);
    CHECK(t != NULL);
    const struct auth_token *a = find(t, "tok-a-0123456789");
    CHECK(auth_token_allows(a, "shop"));
    CHECK(auth_token_allows(a, "shop/api"));
    CHECK(auth_token_allows(a, "env:prod"));
    CHECK(!auth_token_allows(a, "project:x:env:prod"));
    CHECK(!auth_token_allows(a, "other"));
    CHECK(auth_token_allows(find(t, "tok-b-0123456789"), "anything/at/all"));
    CHECK(!auth_token_allows(NULL, "shop"));
    auth_table_unref(t);
}

static void test_find(void)
{
    struct err err;
    struct auth_table *t =
        parse("aaaaaaaaaaaaaaaa x\nbbbbbbbbbbbbbbbb y\ncccccccccccccccc z\n", &err);
    CHECK(t != NULL);
    const struct auth_token *b = find(t, "bbbbbbbbbbbbbbbb");
    CHECK(b && strcmp(b->scopes[0], "y") == 0);
    const struct auth_token *a = find(t, "aaaaaaaaaaaaaaaa");
    CHECK(a && strcmp(a->scopes[0], "x") == 0);
    const struct auth_token *c = find(t, "cccccccccccccccc");
    CHECK(c && strcmp(c->scopes[0], "z") == 0);
    CHECK(find(t, "bbbbbbbbbbbbbbb") == NULL);
    CHECK(find(t, "bbbbbbbbbbbbbbbbb") == NULL);
    CHECK(find(t, "Bbbbbbbbbbbbbbbb") == NULL);
    CHECK(auth_table_find(t, "", 0) == NULL);
    CHECK(auth_table_find(NULL, "aaaaaaaaaaaaaaaa", 16) == NULL);
    /* A token with NUL inside does not match its prefix. */
    CHECK(auth_table_find(t, "aaaaaaaaaaaaaaaa\0x", 18) == NULL);
    auth_table_unref(t);
}

static void test_bearer_header(void)
{
    const char *tok;
    size_t len;
    CHECK_INT(auth_bearer_token("Bearer abc.def", &tok, &len), 0);
    CHECK(len == 7 && strncmp(tok, "abc.def", len) == 0);
    CHECK_INT(auth_bearer_token("bearer   xyz  ", &tok, &len), 0);
    CHECK(len == 3 && strncmp(tok, "xyz", 3) == 0);
    CHECK_INT(auth_bearer_token("BEARER\tq", &tok, &len), 0);
    CHECK_INT(auth_bearer_token(NULL, &tok, &len), -1);
    CHECK_INT(auth_bearer_token("", &tok, &len), -1);
    CHECK_INT(auth_bearer_token("Bearer", &tok, &len), -1);
    CHECK_INT(auth_bearer_token("Bearer ", &tok, &len), -1);
    CHECK_INT(auth_bearer_token("Basic dXNlcjpwYXNz", &tok, &len), -1);
    CHECK_INT(auth_bearer_token("Bearerabc", &tok, &len), -1);
    CHECK_INT(auth_bearer_token("Bearer a b", &tok, &len), -1);
    CHECK_INT(auth_bearer_token("Bearer caf\xc3\xa9", &tok, &len), -1);
}

static int write_file(const char *path, const char *text, mode_t mode)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        return -1;
    }
    fputs(text, f);
    fclose(f);
    return chmod(path, mode);
}

static void test_load_and_reload(void)
{
    char dir[] = "/tmp/ocr-auth-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[128];
    snprintf(path, sizeof(path), "%s/tokens", dir);
    struct err err;

    CHECK_INT(write_file(path, "tok-one-0123456789 shop\n", 0644), 0);
    err_init(&err);
    CHECK(auth_table_load(path, &err) == NULL);
    CHECK_CONTAINS(err_message(&err), "mode 0644");
    CHECK_INT(chmod(path, 0620), 0);
    err_init(&err);
    CHECK(auth_table_load(path, &err) == NULL);
    CHECK_INT(chmod(path, 0640), 0); /* group-readable is fine (Kubernetes fsGroup) */
    err_init(&err);
    struct auth_table *t = auth_table_load(path, &err);
    CHECK(t != NULL);
    auth_table_unref(t);
    err_init(&err);
    CHECK(auth_table_load(dir, &err) == NULL);
    CHECK_CONTAINS(err_message(&err), "not a regular file");
    err_init(&err);
    CHECK(auth_table_load("/nonexistent/tokens", &err) == NULL);
    CHECK_CONTAINS(err_message(&err), "cannot open tokens file");

    struct auth_store store;
    CHECK_INT(write_file(path, "tok-one-0123456789 shop\n", 0600), 0);
    err_init(&err);
    CHECK_INT(auth_store_init(&store, path, &err), 0);
    struct auth_table *held = auth_store_get(&store); /* a request in flight */
    CHECK(find(held, "tok-one-0123456789") != NULL);

    CHECK_INT(write_file(path, "tok-one-0123456789 shop\ntok-two-0123456789 *\n", 0600), 0);
    err_init(&err);
    CHECK_INT(auth_store_reload(&store, &err), 0);
    struct auth_table *now = auth_store_get(&store);
    CHECK(find(now, "tok-two-0123456789") != NULL);
    CHECK(find(held, "tok-two-0123456789") == NULL); /* the old table is unchanged */
    auth_table_unref(now);

    CHECK_INT(write_file(path, "tok-broken-0123456789\n", 0600), 0);
    err_init(&err);
    CHECK_INT(auth_store_reload(&store, &err), -1);
    now = auth_store_get(&store);
    CHECK(find(now, "tok-two-0123456789") != NULL); /* the previous tokens stay */
    CHECK(find(now, "tok-broken-0123456789") == NULL);
    auth_table_unref(now);
    auth_table_unref(held);
    auth_store_destroy(&store);
    auth_store_destroy(&store); /* idempotent */
    unlink(path);
    rmdir(dir);
}

HARNESS_MAIN(TEST(test_parse_good), TEST(test_parse_errors), TEST(test_scope_matching),
             TEST(test_token_allows), TEST(test_find), TEST(test_bearer_header),
             TEST(test_load_and_reload))
