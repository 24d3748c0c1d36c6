/* The YAML fast path (render/yaml_fast.c) against libyaml: the same events for every input it
 * takes, the same DOM and the same errors through dom_parse_yaml, and it really takes the
 * specs people write. */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/err.h"
#include "render/arena.h"
#include "render/dom.h"
#include "render/yaml_fast.h"
#include "tests/fuzz/yaml_diff.h"
#include "tests/harness.h"

static bool same_dom(const struct dnode *a, const struct dnode *b)
{
    if (!a || !b) {
        return a == b;
    }
    if (a->kind != b->kind || a->plain != b->plain || a->line != b->line ||
        a->column != b->column || a->len != b->len) {
        return false;
    }
    switch (a->kind) {
    case DN_STR:
        return memcmp(a->u.str, b->u.str, a->len + 1) == 0;
    case DN_MAP:
        for (size_t i = 0; i < a->len; i++) {
            const struct dpair *p = &a->u.pairs[i], *q = &b->u.pairs[i];
            if (p->klen != q->klen || memcmp(p->key, q->key, p->klen) != 0 ||
                p->line != q->line || p->column != q->column || !same_dom(p->val, q->val)) {
                return false;
            }
        }
        return true;
    case DN_SEQ:
        for (size_t i = 0; i < a->len; i++) {
            if (!same_dom(a->u.items[i], b->u.items[i])) {
                return false;
            }
        }
        return true;
    default:
        return true;
    }
}

/* dom_parse_yaml (fast path first) and libyaml alone give the same tree or the same error. */
static bool same_parse(const char *name, const char *buf, size_t len)
{
    struct arena a1, a2;
    arena_init(&a1, 64u << 20);
    arena_init(&a2, 64u << 20);
    struct err e1, e2;
    err_init(&e1);
    err_init(&e2);
    const struct dnode *fast = dom_parse_yaml(&a1, buf, len, &e1);
    const struct dnode *slow = dom_parse_yaml_libyaml(&a2, buf, len, &e2);
    bool same = same_dom(fast, slow) && e1.code == e2.code &&
                strcmp(err_path(&e1), err_path(&e2)) == 0 &&
                strcmp(err_message(&e1), err_message(&e2)) == 0;
    if (!same) {
        fprintf(stderr, "  %s: dom_parse_yaml differs from libyaml alone (%s: %s | %s: %s)\n",
                name, err_path(&e1), err_message(&e1), err_path(&e2), err_message(&e2));
    }
    arena_release(&a1);
    arena_release(&a2);
    return same;
}

/* The differential check and the DOM check; the fast path's verdict comes back. */
static enum ydiff check_input(const char *name, const char *buf, size_t len)
{
    char why[512];
    enum ydiff d = ydiff_check(buf, len, why, sizeof(why));
    if (d == YDIFF_DIFFERENT) {
        fprintf(stderr, "  %s: %s\n", name, why);
    }
    CHECK(d != YDIFF_DIFFERENT);
    CHECK(same_parse(name, buf, len));
    return d;
}

#define SPEC_SIZED 8192

static bool yaml_name(const char *name)
{
    size_t n = strlen(name);
    return (n > 5 && strcmp(name + n - 5, ".yaml") == 0) ||
           (n > 4 && strcmp(name + n - 4, ".yml") == 0);
}

/* Every *.yaml / *.yml under dir, whole and, for spec-sized files, cut at every byte, so each
 * dedent, empty value and end of input is met at every position. */
static void check_tree(const char *dir, int *files, int *taken)
{
    DIR *d = opendir(dir);
    if (!d) {
        return;
    }
    struct dirent *ent;
    while ((ent = readdir(d))) {
        if (ent->d_name[0] == '.') {
            continue;
        }
        char path[1024];
        snprintf(path, sizeof(path), "%s/%s", dir, ent->d_name);
        struct stat st;
        if (stat(path, &st) != 0) {
            continue;
        }
        if (S_ISDIR(st.st_mode)) {
            check_tree(path, files, taken);
            continue;
        }
        if (!yaml_name(ent->d_name)) {
            continue;
        }
        size_t len;
        char *buf = harness_slurp(path, &len);
        CHECK(buf != NULL);
        if (!buf) {
            continue;
        }
        (*files)++;
        if (check_input(path, buf, len) == YDIFF_SAME) {
            (*taken)++;
        }
        for (size_t cut = 0; len <= SPEC_SIZED && cut < len; cut++) {
            char name[1100];
            snprintf(name, sizeof(name), "%s cut at %zu", path, cut);
            check_input(name, buf, cut);
        }
        free(buf);
    }
    closedir(d);
}

static void corpora_match_libyaml(void)
{
    static const char *const dirs[] = {"examples", "tests", "docs", "docker"};
    int files = 0, taken = 0;
    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
        char dir[512];
        snprintf(dir, sizeof(dir), "%s/%s", OCIRENDER_SOURCE_DIR, dirs[i]);
        check_tree(dir, &files, &taken);
    }
    fprintf(stderr, "  %d YAML files, %d taken by the fast path\n", files, taken);
    CHECK(files >= 30);
    CHECK(taken >= 10);
}

/* The specs people write must not fall back to libyaml, or there is no speed-up. */
static void ordinary_specs_take_the_fast_path(void)
{
    static const char *const specs[] = {"examples/web.yaml", "examples/deployment.yaml",
                                        "examples/gpu.yaml", "examples/privileged.yaml",
                                        "examples/storage.yaml",
                                        "tests/render/cases/rootless-envelope/spec.yaml"};
    for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
        char path[512];
        snprintf(path, sizeof(path), "%s/%s", OCIRENDER_SOURCE_DIR, specs[i]);
        size_t len;
        char *buf = harness_slurp(path, &len);
        CHECK(buf != NULL);
        if (buf) {
            enum ydiff d = check_input(specs[i], buf, len);
            if (d != YDIFF_SAME) {
                fprintf(stderr, "  %s: the fast path declined it\n", specs[i]);
            }
            CHECK_INT(d, YDIFF_SAME);
            free(buf);
        }
    }
    static const char *const peer[] = {"peer/inputs/web.yaml", "peer/inputs/minimal.yaml"};
    for (size_t i = 0; i < sizeof(peer) / sizeof(peer[0]); i++) {
        char path[512];
        snprintf(path, sizeof(path), "%s/%s", OCIRENDER_SHARED_DIR, peer[i]);
        size_t len;
        char *buf = harness_slurp(path, &len);
        if (!buf) {
            fprintf(stderr, "  notice: %s is absent; skipping it\n", path);
            continue;
        }
        CHECK_INT(check_input(peer[i], buf, len), YDIFF_SAME);
        free(buf);
    }
}

enum want { TAKEN, DECLINED, EITHER };

static const struct {
    const char *name, *text;
    enum want want;
} tricky[] = {
    {"empty value then key", "a:\nb: 1\n", TAKEN},
    {"empty value at the end", "a: 1\nb:\n", TAKEN},
    {"empty value without final newline", "a: 1\nb:", TAKEN},
    {"empty value with spaces and a comment", "a:    # nothing\nb: 1\n", TAKEN},
    {"empty value before a dedent", "a:\n  b:\nc: 1\n", TAKEN},
    {"empty value in a sequence item map", "a:\n- b:\n  c: 1\n", TAKEN},
    {"empty items", "a:\n  -\n  -   \n  - x\n", TAKEN},
    {"empty item at the end", "a:\n  - x\n  -", TAKEN},
    {"'- ' at end of file", "a:\n  - ", TAKEN},
    {"empty indentless items", "a:\n-\n- # c\nb: 1\n", TAKEN},
    {"indentless sequence", "a:\n- x\n- y\nb: z\n", TAKEN},
    {"indentless sequence of maps", "a:\n- n: 1\n  m: 2\n- n: 3\nb:\n- q\n", TAKEN},
    {"indentless sequence ends the document", "a:\n  b:\n  - x\n  - y: 1\n", TAKEN},
    {"indented sequence of maps", "a:\n  - n: 1\n    m: [x]\n  -   k: v\n      l: w\nz: 0\n",
     TAKEN},
    {"nested - - x", "a:\n  - - x\n", DECLINED},
    {"item on the next line", "a:\n  -\n    x\n  -\n    k: v\n  -\n    - y\n", TAKEN},
    {"value on the next line", "a:\n  x\nb:\n    'q'\n", TAKEN},
    {"multi-line plain value", "a: x\n  y\n", DECLINED},
    {"multi-line plain past a blank line", "a: x\n\n   y\nb: 1\n", DECLINED},
    {"plain value then a deeper comment", "a: x\n    # c\nb: 1\n", TAKEN},
    {"comments everywhere", "# head\n\n  # indented\na: 1 # after\n# between\nb:  # key\n"
                            "  - x # item\n  # inside\n  - y\n# tail", TAKEN},
    {"hash inside values", "a: x#y\nb: 'c # d'\nc: \"#\"\nd: e#\n", TAKEN},
    {"quotes with escapes", "a: 'it''s'\nb: \"q\\\"x\\\\y\\/z\\n\\t\"\n'k''ey': \"v\"\n", TAKEN},
    {"empty quotes", "a: ''\nb: \"\"\n\"\": x\n", TAKEN},
    {"unsupported escape", "a: \"\\u0041\"\n", DECLINED},
    {"NUL escape", "a: \"\\0\"\n", DECLINED},
    {"quote across lines", "a: 'x\n  y'\n", DECLINED},
    {"trailing spaces", "a: x   \nb:    y y   \nc: 'q'   \n", TAKEN},
    {"key:value is plain", "a: key:value\nb: http://h:80/p?q=1\nc: -1\nd: -v\ne: --x\n", TAKEN},
    {"key:value as a line", "key:value\n", DECLINED},
    {"spaced key", "a b : 1\nc  : 2\n", TAKEN},
    {"mapping value in a value", "a: b: c\n", DECLINED},
    {"colon at the end of a value", "a: b:\n", DECLINED},
    {"document start", "---\na: 1\n", TAKEN},
    {"document start after comments", "# c\n\n--- # x\na: 1\n", TAKEN},
    {"document start with content", "--- a: 1\n", DECLINED},
    {"second document", "---\na: 1\n---\nb: 2\n", DECLINED},
    {"document end", "a: 1\n...\n", DECLINED},
    {"directive", "%YAML 1.1\n---\na: 1\n", DECLINED},
    {"no final newline", "a: 1\nb: x", TAKEN},
    {"trailing spaces at the end", "a: 1\n   ", TAKEN},
    {"trailing blank lines", "a: 1\n\n\n", TAKEN},
    {"CRLF", "a: 1\r\nb: 2\r\n", DECLINED},
    {"tab", "a:\t1\n", DECLINED},
    {"BOM", "\xef\xbb\xbf" "a: 1\n", DECLINED},
    {"non-ASCII", "a: caf\xc3\xa9\n", DECLINED},
    {"flow collections", "a: [x, 'y', \"z\", -1, [], {}]\nb: {k: v, n: {m: [1]}}\n"
                         "c: [ spaced , out ]\nd: {x: ghcr.io/a/b:1.0, y: a b}\n", TAKEN},
    {"flow trailing comma", "a: [x, ]\n", DECLINED},
    {"flow pair in a sequence", "a: [x: y]\n", DECLINED},
    {"flow empty value", "a: {k: }\n", DECLINED},
    {"flow key without value", "a: {k}\n", DECLINED},
    {"flow across lines", "a: [x,\n  y]\n", DECLINED},
    {"flow unexpected colon", "a: [x:, y]\n", DECLINED},
    {"flow as the root", "{a: 1}\n", DECLINED},
    {"block scalar", "a: |\n  x\n", DECLINED},
    {"anchor", "a: &x 1\nb: *x\n", DECLINED},
    {"tag", "a: !!str 1\n", DECLINED},
    {"complex key", "? a\n: 1\n", DECLINED},
    {"at sign", "a: @x\n", DECLINED},
    {"backquote", "a: `x`\n", DECLINED},
    {"sequence root", "- a\n", DECLINED},
    {"scalar root", "a\n", DECLINED},
    {"comment only", "# nothing\n", DECLINED},
    {"empty", "", DECLINED},
    {"dedent between levels", "a:\n    b: 1\n  c: 2\n", DECLINED},
    {"indented root", "  a: 1\n  b: 2\n", TAKEN},
    {"content after an indented root", "  a: 1\nb: 2\n", DECLINED},
    {"deeper line after a quoted value", "a: 'x'\n   b: 1\n", DECLINED},
    {"block entry as a value", "a: - x\n", DECLINED},
    {"sequence where a key is due", "a:\n  b: 1\n  - x\n", DECLINED},
    {"key where an item is due", "a:\n  - x\n  b: 1\n", DECLINED},
    {"duplicate keys (DOM error)", "a: 1\nb: 2\na: 3\n", TAKEN},
    {"merge key (DOM error)", "<<: 1\n", TAKEN},
    {"quoted merge key", "'<<': 1\n", TAKEN},
    {"quoted key with space before colon", "'a' : 1\n", DECLINED},
    {"comment glued to a quote", "a: 'x'#c\n", DECLINED},
};

static void tricky_cases_match_libyaml(void)
{
    for (size_t i = 0; i < sizeof(tricky) / sizeof(tricky[0]); i++) {
        enum ydiff d = check_input(tricky[i].name, tricky[i].text, strlen(tricky[i].text));
        bool ok = tricky[i].want == EITHER ||
                  (tricky[i].want == TAKEN ? d == YDIFF_SAME : d == YDIFF_DECLINED);
        if (!ok) {
            fprintf(stderr, "  \"%s\": the fast path %s it\n", tricky[i].name,
                    d == YDIFF_SAME ? "took" : "declined");
        }
        CHECK(ok);
    }
}

/* A key of n bytes (plain or quoted) whose ':' lands right at libyaml's 1024-byte limit. */
static void long_keys_match_libyaml(void)
{
    static const size_t sizes[] = {1022, 1023, 1024, 1025, 1026, 2000};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        for (int quoted = 0; quoted < 2; quoted++) {
            size_t n = sizes[i];
            char *text = malloc(n + 16);
            CHECK(text != NULL);
            if (!text) {
                return;
            }
            memset(text, 'k', n);
            if (quoted) {
                text[0] = text[n - 1] = '\'';
            }
            memcpy(text + n, ": v\n", 5);
            char name[64];
            snprintf(name, sizeof(name), "%s key of %zu bytes", quoted ? "quoted" : "plain", n);
            enum ydiff d = check_input(name, text, strlen(text));
            CHECK_INT(d, n <= 1024 ? YDIFF_SAME : YDIFF_DECLINED);
            free(text);
        }
    }
}

/* Block nesting around the DOM's depth limit, ending in each kind of node. */
static void deep_nesting_matches_libyaml(void)
{
    static const int depths[] = {10, 63, 64, 65, 70};
    for (size_t i = 0; i < sizeof(depths) / sizeof(depths[0]); i++) {
        int depth = depths[i];
        size_t cap = (size_t)depth * (size_t)depth + 256;
        char *text = malloc(cap);
        CHECK(text != NULL);
        if (!text) {
            return;
        }
        size_t n = 0;
        for (int d = 0; d < depth; d++) {
            n += (size_t)snprintf(text + n, cap - n, "%*s%s\n", d * 2, "", d % 3 == 2 ? "- k:" : "k:");
        }
        snprintf(text + n, cap - n, "%*s[x]\n", depth * 2, "");
        char name[64];
        snprintf(name, sizeof(name), "nesting %d deep", depth);
        check_input(name, text, strlen(text));
        free(text);
    }
}

/* Broken inputs keep libyaml's error text, line and column. */
static void errors_read_as_before(void)
{
    static const struct {
        const char *text, *where, *msg;
    } cases[] = {
        {"a: b: c\n", "line 1, column 5",
         "YAML syntax error: mapping values are not allowed in this context"},
        {"a:\n    b: 1\n  c: 2\n", "line 3, column 3",
         "YAML syntax error: did not find expected key while parsing a block mapping"},
        {"a: [x,\n", "line 2, column 1",
         "YAML syntax error: did not find expected node content while parsing a flow node"},
        {"a: 'x\n", "line 2, column 1",
         "YAML syntax error: found unexpected end of stream while scanning a quoted scalar"},
        {"a: 1\nb: 2\na: 3\n", "line 3, column 1", "duplicate key 'a'"},
        {"- a\n", "line 1, column 1", "the document must be a mapping"},
        {"<<: 1\n", "line 1, column 1", "YAML merge keys (<<) are not supported"},
        {"a:\n\tb: 1\n", "line 2, column 1",
         "YAML syntax error: found character that cannot start any token while scanning for the "
         "next token"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct arena a;
        arena_init(&a, 1u << 20);
        struct err e;
        err_init(&e);
        const struct dnode *root = dom_parse_yaml(&a, cases[i].text, strlen(cases[i].text), &e);
        CHECK(root == NULL);
        CHECK_STR(err_path(&e), cases[i].where);
        CHECK_STR(err_message(&e), cases[i].msg);
        CHECK(same_parse(cases[i].text, cases[i].text, strlen(cases[i].text)));
        arena_release(&a);
    }
}

HARNESS_MAIN(TEST(corpora_match_libyaml), TEST(ordinary_specs_take_the_fast_path),
             TEST(tricky_cases_match_libyaml), TEST(long_keys_match_libyaml),
             TEST(deep_nesting_matches_libyaml), TEST(errors_read_as_before))
