/*
 * The render substrate: the arena, the document nodes and the streaming writer. The writer
 * must produce exactly the bytes of jsonx_dump() (digests and ETags depend on them), and the
 * jansson copy of an arena document (render/doc.h, for the CDI and seccomp schema walks and
 * render_load_document) must keep every node's position and plainness, and every key's
 * position; render_load_document fails exactly as the arena parser does.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/jsonx.h"
#include "render/arena.h"
#include "render/oci.h"
#include "render/doc.h"
#include "render/dom.h"
#include "render/render.h"
#include "tests/unit/goldens.h"
#include "common/jw.h"
#include "tests/harness.h"

static void arena_hands_out_aligned_memory_and_wipes_on_release(void)
{
    struct arena a;
    arena_init(&a, 1u << 20);
    char *s = arena_strndup(&a, "secret", 6);
    CHECK_STR(s, "secret");
    for (int i = 0; i < 1000; i++) {
        void *p = arena_alloc(&a, (size_t)(i % 37) + 1);
        CHECK(p != NULL);
        CHECK(((uintptr_t)p % ARENA_ALIGN) == 0);
    }
    void *big = arena_alloc(&a, 100000); /* larger than any chunk so far */
    CHECK(big != NULL);
    CHECK(arena_alloc(&a, 1u << 21) == NULL); /* past the limit */
    unsigned char *z = arena_calloc(&a, 16, 4);
    CHECK(z && z[0] == 0 && z[63] == 0);
    arena_release(&a);
    CHECK(a.head == NULL && a.total == 0);
    CHECK(arena_alloc(&a, 8) != NULL); /* reusable */
    arena_release(&a);
}

/* Lists grow by doubling; a list borrowing a constant array (cap 0) of any length is copied
 * on its first push, and the constant is never written. */
static void lists_grow_and_copy_borrowed_items(void)
{
    struct arena a;
    arena_init(&a, 1u << 20);
    struct strv grown = {0};
    for (int i = 0; i < 100; i++) {
        CHECK_INT(strv_push(&a, &grown, i % 2 ? "odd" : "even"), 0);
    }
    CHECK_INT(grown.n, 100);
    CHECK(grown.cap >= 100 && grown.cap < 200);
    CHECK_STR(grown.v[99], "odd");
    static const char *borrowed[] = {"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l"};
    for (size_t n = 0; n <= 12; n++) {
        struct strv list = {.n = n, .cap = 0, .v = borrowed};
        CHECK_INT(strv_push(&a, &list, "new"), 0);
        CHECK(list.v != borrowed && list.n == n + 1 && list.cap > n);
        CHECK_STR(list.v[n], "new");
        CHECK(n == 0 || strcmp(list.v[n - 1], borrowed[n - 1]) == 0);
    }
    CHECK_STR(borrowed[0], "a");
    arena_release(&a);
}

/* The writer's text of `v` equals jsonx_dump's, in both modes. */
static void check_writer_matches_dump(const json_t *v, const char *what)
{
    for (int compact = 0; compact < 2; compact++) {
        size_t len = 0;
        char *want = jsonx_dump(v, compact ? JSONX_COMPACT : JSONX_PRETTY, &len);
        struct sbuf b;
        sbuf_init(&b, 1u << 24);
        struct jw w;
        jw_init(&w, &b, compact, 0);
        oci_write_json(&w, v); /* the config's CDI parts and the envelope go this way */
        CHECK_INT(jw_finish(&w), 0);
        if (!want || sbuf_len(&b) != len || memcmp(sbuf_str(&b), want, len) != 0) {
            fprintf(stderr, "writer differs from jsonx_dump (%s, %s)\n", what,
                    compact ? "compact" : "pretty");
            CHECK(false);
        }
        free(want);
        sbuf_free(&b);
    }
}

static void writer_matches_dump_on_tricky_values(void)
{
    json_t *v = json_pack(
        "{s:s, s:s#, s:I, s:I, s:f, s:f, s:f, s:b, s:b, s:n, s:{}, s:[], s:[{}, [], [[]]], "
        "s:{s:{s:[i, s]}}}",
        "escapes", "q\" b\\ \b\f\n\r\t \x01\x1f / \xc3\xa9 \xe2\x82\xac", "nul", "a\0b", (size_t)3,
        "min", (json_int_t)INT64_MIN, "max", (json_int_t)INT64_MAX, "half", 0.5, "big", 1e300,
        "int-valued", 3.0, "t", 1, "f", 0, "null", "empty-object", "empty-list", "nested-empties",
        "deep", "a", "b", 1, "x");
    json_object_set_new(v, "u64", jsonx_u64_new(UINT64_MAX));
    json_object_set_new(v, "", json_string("empty key"));
    check_writer_matches_dump(v, "tricky values");
    json_decref(v);
}

/* Indentation is written in 16-byte blocks: nesting 40 deep needs five of them per line, and
 * every depth from 0 to 40 ends a block at a different place. */
static void writer_matches_dump_deeply_nested(void)
{
    json_t *doc = json_pack("{s:s}", "leaf", "bottom");
    for (int depth = 0; depth < 40; depth++) {
        json_t *outer = depth % 2 ? json_pack("{s:i, s:o}", "level", depth, "inner", doc)
                                  : json_pack("[i, o, s]", depth, doc, "after");
        doc = outer;
    }
    check_writer_matches_dump(doc, "nested 40 deep");
    json_decref(doc);
}

static void check_golden(const char *name, const char *text, size_t len, const json_t *doc,
                         void *ctx)
{
    (void)text;
    (void)len;
    (void)ctx;
    check_writer_matches_dump(doc, name);
}

static void writer_matches_dump_on_every_golden_config(void)
{
    CHECK(goldens_each(check_golden, NULL) >= 5);
}

/* A member's value written again with jw_repeat() is the same bytes, also when the copy
 * makes the buffer grow (and move: the copy's source moves with it). */
static void writer_repeats_a_value_written_before(void)
{
    json_t *list = json_array();
    for (int i = 0; i < 300; i++) {
        json_array_append_new(list, json_sprintf("item-%d", i));
    }
    json_t *doc = json_pack("{s:O, s:O, s:O}", "a", list, "b", list, "c", list);
    for (int compact = 0; compact < 2; compact++) {
        size_t len = 0;
        char *want = jsonx_dump(doc, compact ? JSONX_COMPACT : JSONX_PRETTY, &len);
        struct sbuf b;
        sbuf_init(&b, 1u << 24); /* no room reserved: the buffer grows as it goes */
        struct jw w;
        jw_init(&w, &b, compact, 0);
        jw_object_open(&w);
        jw_key(&w, "a");
        size_t from = jw_mark(&w);
        oci_write_json(&w, list);
        size_t to = jw_mark(&w);
        bool grew = false;
        for (const char *key = "b"; *key <= 'c'; key = *key == 'b' ? "c" : "d") {
            size_t cap = b.cap;
            jw_key(&w, key);
            jw_repeat(&w, from, to);
            grew = grew || b.cap != cap;
        }
        jw_object_close(&w);
        CHECK_INT(jw_finish(&w), 0);
        CHECK(grew);
        CHECK(want && sbuf_len(&b) == len && memcmp(sbuf_str(&b), want, len) == 0);
        free(want);
        sbuf_free(&b);
    }
    json_decref(list);
    json_decref(doc);
}

/* Only a member's value can be repeated (an element's text starts with its separator), and
 * only one that was written. */
static void writer_refuses_what_it_cannot_repeat(void)
{
    struct sbuf b;
    sbuf_init(&b, 1u << 16);
    struct jw w;
    jw_init(&w, &b, false, 0);
    jw_array_open(&w);
    size_t from = jw_mark(&w);
    jw_string(&w, "element");
    jw_repeat(&w, from, jw_mark(&w));
    CHECK_INT(jw_finish(&w), ERR_INTERNAL);
    sbuf_free(&b);
    sbuf_init(&b, 1u << 16);
    jw_init(&w, &b, false, 0);
    jw_object_open(&w);
    jw_key(&w, "a");
    jw_repeat(&w, 0, jw_mark(&w) + 1);
    CHECK_INT(jw_finish(&w), ERR_INTERNAL);
    sbuf_free(&b);
}

/* ---- documents ---- */

/* `j` (the jansson copy) holds what `n` holds, with n's marks, keys' marks included. */
static bool same_node(const json_t *j, const struct doc *doc, const struct dnode *n)
{
    const struct doc_mark *mk = doc_mark_get(doc, j);
    if (!mk || mk->line != n->line || mk->column != n->column || mk->plain != n->plain) {
        return false;
    }
    if (json_is_string(j)) {
        return n->kind == DN_STR && n->len == json_string_length(j) &&
               memcmp(n->u.str, json_string_value(j), n->len) == 0;
    }
    if (json_is_array(j)) {
        if (n->kind != DN_SEQ || n->len != json_array_size(j)) {
            return false;
        }
        for (size_t i = 0; i < n->len; i++) {
            if (!same_node(json_array_get(j, i), doc, n->u.items[i])) {
                return false;
            }
        }
        return true;
    }
    if (!json_is_object(j) || n->kind != DN_MAP || n->len != json_object_size(j)) {
        return false;
    }
    size_t i = 0;
    const char *k;
    json_t *m;
    json_object_foreach((json_t *)(uintptr_t)j, k, m)
    {
        const struct dpair *p = &n->u.pairs[i++];
        const struct doc_mark *km = doc_mark_get(doc, doc_key_node(k));
        if (strcmp(p->key, k) != 0 || !km || km->line != p->line || km->column != p->column ||
            !same_node(m, doc, p->val)) {
            return false;
        }
    }
    return true;
}

/* The arena parser and render_load_document agree on `text`: the same first error, or a
 * jansson copy that keeps every mark (YAML) and a loaded document of the same shape. */
static void check_loaders_agree(const char *text, size_t len, const char *what)
{
    struct err e_load, e_dom;
    err_init(&e_load);
    err_init(&e_dom);
    json_t *loaded = render_load_document(text, len, RENDER_FMT_AUTO, &e_load);
    struct arena a;
    arena_init(&a, 1u << 26);
    int fmt = 0;
    struct dnode *root = dom_parse(&a, text, len, 0, &fmt, &e_dom);
    bool ok;
    if (!loaded || !root) {
        ok = !loaded && !root && e_load.code == e_dom.code &&
             strcmp(err_message(&e_load), err_message(&e_dom)) == 0 &&
             strcmp(err_path(&e_load), err_path(&e_dom)) == 0;
    } else {
        struct doc doc = {.format = fmt == DOM_YAML ? DOC_YAML : DOC_JSON};
        doc.root = doc_from_dom(root, &doc);
        ok = doc.root && json_is_object(loaded) &&
             json_object_size(loaded) == json_object_size(doc.root) &&
             (fmt == DOM_JSON ? json_equal(loaded, doc.root) && doc.marks.used == 0
                              : same_node(doc.root, &doc, root));
        doc_release(&doc);
    }
    if (!ok) {
        fprintf(stderr, "loaders disagree on %s: load %s '%s' / dom %s '%s'\n", what,
                loaded ? "ok" : "error", err_message(&e_load), root ? "ok" : "error",
                err_message(&e_dom));
        CHECK(false);
    }
    json_decref(loaded);
    arena_release(&a);
}

static int check_dir(const char *rel, const char *suffix)
{
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s/%s", OCIRENDER_SOURCE_DIR, rel);
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));) {
        size_t l = strlen(e->d_name), sl = strlen(suffix);
        if (l < sl || strcmp(e->d_name + l - sl, suffix) != 0) {
            continue;
        }
        char path[4600];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        size_t len;
        char *text = harness_slurp(path, &len);
        if (text) {
            check_loaders_agree(text, len, path);
            n++;
        }
        free(text);
    }
    if (d) {
        closedir(d);
    }
    return n;
}

static void documents_load_alike_through_arena_and_jansson(void)
{
    int n = check_dir("examples", ".yaml") + check_dir("tests/corpus/bad", ".yaml") +
            check_dir("tests/corpus/bad", ".json");
    CHECK(n >= 30);
    static const char *const inline_cases[] = {
        "a: 1\nb: [x, 'y', \"z\", ~, {c: d}]\n",
        "a: 1\na: 2\n",
        "? [a]\n: b\n",
        "a: &x 1\nb: *x\n",
        "a: !!str 1\nb: !custom 2\n",
        "- 1\n- 2\n",
        "just a scalar",
        "a:\n  b:\n    c:\n      - d: e\n        f: |\n          text\n",
        "{\"a\": [1, 2.5, true, null, \"s\"], \"b\": {}}",
        "{\"a\": 1, \"a\": 2}",
        "---\na: 1\n---\nb: 2\n",
    };
    for (size_t i = 0; i < sizeof(inline_cases) / sizeof(inline_cases[0]); i++) {
        check_loaders_agree(inline_cases[i], strlen(inline_cases[i]), inline_cases[i]);
    }
}

static void large_mappings_find_duplicates_in_linear_time(void)
{
    struct sbuf b;
    sbuf_init(&b, 1u << 24);
    for (int i = 0; i < 20000; i++) {
        CHECK_INT(sbuf_addf(&b, "k%d: %d\n", i, i), 0);
    }
    CHECK_INT(sbuf_add(&b, "k123: again\n"), 0);
    check_loaders_agree(sbuf_str(&b), sbuf_len(&b), "20000 keys and a duplicate");
    sbuf_free(&b);
}

HARNESS_MAIN(TEST(arena_hands_out_aligned_memory_and_wipes_on_release),
             TEST(lists_grow_and_copy_borrowed_items),
             TEST(writer_matches_dump_on_tricky_values),
             TEST(writer_matches_dump_deeply_nested),
             TEST(writer_matches_dump_on_every_golden_config),
             TEST(writer_repeats_a_value_written_before),
             TEST(writer_refuses_what_it_cannot_repeat),
             TEST(documents_load_alike_through_arena_and_jansson),
             TEST(large_mappings_find_duplicates_in_linear_time))
