/* jsonx: exact uint64 output and input, deterministic text, escaping. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/jsonx.h"
#include "tests/harness.h"

static void u64_values_round_trip_exactly(void)
{
    json_t *small = jsonx_u64_new(42);
    json_t *big = jsonx_u64_new(UINT64_MAX);
    json_t *edge = jsonx_u64_new((uint64_t)INT64_MAX + 1);
    uint64_t v = 0;
    CHECK(json_is_integer(small));
    CHECK(jsonx_is_u64_box(big));
    CHECK_INT(jsonx_u64_get(big, &v), 0);
    CHECK(v == UINT64_MAX);
    CHECK_INT(jsonx_u64_get(edge, &v), 0);
    CHECK(v == (uint64_t)INT64_MAX + 1);
    json_t *doc = json_pack("{s:o, s:o, s:o, s:[o]}", "small", small, "big", big, "edge", edge,
                            "list", jsonx_u64_new(UINT64_MAX - 1));
    size_t len;
    char *text = jsonx_dump(doc, JSONX_COMPACT, &len);
    CHECK_STR(text, "{\"small\":42,\"big\":18446744073709551615,\"edge\":9223372036854775808,"
                    "\"list\":[18446744073709551614]}");
    CHECK_INT(len, strlen(text));
    json_error_t je;
    json_t *back = jsonx_loadb(text, len, &je);
    CHECK(back != NULL);
    CHECK(jsonx_equal(doc, back));
    json_t *other = jsonx_u64_new(UINT64_MAX - 2);
    CHECK(!jsonx_equal(json_object_get(doc, "big"), other));
    json_decref(other);
    char *again = jsonx_dump(back, JSONX_COMPACT, NULL);
    CHECK_STR(again, text);
    free(again);
    free(text);
    json_decref(back);
    json_decref(doc);
}

static void pretty_format_is_stable(void)
{
    json_t *doc = json_pack("{s:[], s:{}, s:[i, s], s:{s:b}}", "a", "b", "c", 1, "x", "d", "e", 1);
    char *text = jsonx_dump(doc, JSONX_PRETTY, NULL);
    CHECK_STR(text, "{\n  \"a\": [],\n  \"b\": {},\n  \"c\": [\n    1,\n    \"x\"\n  ],\n"
                    "  \"d\": {\n    \"e\": true\n  }\n}\n");
    free(text);
    json_decref(doc);
}

static void strings_are_escaped(void)
{
    json_t *s = json_string("q\"b\\n\nt\tc\x01 \xc3\xa9/");
    char *text = jsonx_dump(s, JSONX_COMPACT, NULL);
    CHECK_STR(text, "\"q\\\"b\\\\n\\nt\\tc\\u0001 \xc3\xa9/\"");
    free(text);
    json_decref(s);
}

static void loader_rejects_what_it_must(void)
{
    json_error_t je;
    const char *nul = "{\"a\": \"x\\u0000y\"}";
    CHECK(jsonx_loadb(nul, strlen(nul), &je) == NULL);
    const char *dup = "{\"a\": 1, \"a\": 2}";
    CHECK(jsonx_loadb(dup, strlen(dup), &je) == NULL);
    const char *past = "{\"a\": 18446744073709551616}";
    CHECK(jsonx_loadb(past, strlen(past), &je) == NULL);
    /* digits inside strings are left alone */
    const char *instr = "{\"a\": \"18446744073709551615\", \"b\": 18446744073709551615}";
    json_t *v = jsonx_loadb(instr, strlen(instr), &je);
    CHECK(v && json_is_string(json_object_get(v, "a")));
    CHECK(v && jsonx_is_u64_box(json_object_get(v, "b")));
    json_decref(v);
}

/* Secret trees are wiped before release, but a value someone else still holds is left alone. */
static void wipe_strings_spares_shared_values(void)
{
    json_t *shared = json_string("shared-secret");
    json_t *tree = json_pack("{s:{s:s, s:i}, s:[s], s:O}", "A", "value", "top-secret", "uid", 7,
                             "B", "in-array", "C", shared);
    CHECK(tree != NULL);
    jsonx_wipe_strings(tree);
    const char *a = json_string_value(json_object_get(json_object_get(tree, "A"), "value"));
    CHECK(a && a[0] == '\0' && json_string_length(json_object_get(json_object_get(tree, "A"),
                                                                  "value")) == 10);
    CHECK(json_integer_value(json_object_get(json_object_get(tree, "A"), "uid")) == 7);
    const char *b = json_string_value(json_array_get(json_object_get(tree, "B"), 0));
    CHECK(b && b[0] == '\0');
    CHECK_STR(json_string_value(shared), "shared-secret");
    json_decref(tree);
    json_decref(shared);
    jsonx_wipe_strings(NULL);
}

HARNESS_MAIN(TEST(u64_values_round_trip_exactly), TEST(pretty_format_is_stable),
             TEST(strings_are_escaped), TEST(loader_rejects_what_it_must),
             TEST(wipe_strings_spares_shared_values))
