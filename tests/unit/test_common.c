/* common/: transport parameters and the error value with its issue list. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "common/param.h"
#include "common/strutil.h"
#include "tests/harness.h"

static void params_parse_or_name_the_parameter(void)
{
    struct err err;
    uint64_t n = 99;
    bool b = false;
    err_init(&err);
    CHECK_INT(param_u64("replica", "4294967295", UINT32_MAX, &n, &err), 0);
    CHECK(n == UINT32_MAX && !err_is_set(&err));
    CHECK_INT(param_u64("node_id", "0", INT64_MAX, &n, &err), 0);
    CHECK(n == 0);
    const char *bad[] = {"4294967296", "-1", "+1", "1x", "", " 1", "0x10"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err_init(&err);
        n = 7;
        CHECK_INT(param_u64("replica", bad[i], UINT32_MAX, &n, &err), -1);
        CHECK_INT(err.code, ERR_BAD_REQUEST);
        CHECK_STR(err_path(&err), "replica");
        CHECK(n == 7); /* untouched on failure */
    }
    err_init(&err);
    CHECK_INT(param_u64("replica", "zero", UINT32_MAX, &n, &err), -1);
    CHECK_STR(err_message(&err), "replica must be an integer in 0..4294967295, got 'zero'");

    err_init(&err);
    CHECK_INT(param_bool("host_network", "true", &b, &err), 0);
    CHECK(b);
    CHECK_INT(param_bool("host_network", "false", &b, &err), 0);
    CHECK(!b);
    CHECK_INT(param_bool("host_network", "TRUE", &b, &err), -1);
    CHECK_INT(err.code, ERR_BAD_REQUEST);
    CHECK_STR(err_path(&err), "host_network");
    CHECK_STR(err_message(&err), "host_network must be true or false, got 'TRUE'");
}

static void err_without_a_list_keeps_the_first_issue(void)
{
    struct err err;
    err_init(&err);
    CHECK(!err_is_set(&err));
    CHECK_INT(err_issue_count(&err), 0);
    CHECK_STR(err_message(&err), "");
    CHECK_INT(err_set(&err, ERR_SPEC_INVALID, "a.b", "first %d", 1), -1);
    CHECK_INT(err_set(&err, ERR_TOO_LARGE, "c", "second"), -1);
    CHECK_INT(err_set(&err, ERR_NOMEM, NULL, "third"), -1);
    CHECK_INT(err.code, ERR_SPEC_INVALID); /* the first code wins */
    CHECK_INT(err_issue_count(&err), 1);
    CHECK_STR(err_issue_at(&err, 0)->path, "a.b");
    CHECK_STR(err_message(&err), "first 1");
    CHECK_INT(err_issues_dropped(&err), 2);
    err_prefix(&err, "file x: ");
    CHECK_STR(err_message(&err), "file x: first 1");
    err_prefix_paths(&err, "spec", ", ");
    CHECK_STR(err_path(&err), "spec, a.b");
    /* small enough to live on every stack and in every stored error */
    CHECK(sizeof(struct err) <= sizeof(struct err_issue) + 64);
    CHECK(err_set(NULL, ERR_IO, NULL, "ignored") == -1);
}

static void err_with_a_list_keeps_every_issue(void)
{
    struct err_issues issues;
    struct err err;
    err_init_issues(&err, &issues);
    for (int i = 0; i < ERR_ISSUES_MAX + 2; i++) {
        char path[16];
        snprintf(path, sizeof(path), "%s", i % 2 ? "" : "p");
        err_set(&err, ERR_SPEC_INVALID, path, "issue %d", i);
    }
    CHECK_INT(err_issue_count(&err), ERR_ISSUES_MAX);
    CHECK_INT(err_issues_dropped(&err), 2);
    CHECK_STR(err_issue_at(&err, 3)->msg, "issue 3");
    CHECK_STR(err_message(&err), "issue 0");
    err_prefix(&err, "ctx: ");
    err_prefix_paths(&err, "spec", ", ");
    CHECK_STR(err_issue_at(&err, 0)->path, "spec, p");
    CHECK_STR(err_issue_at(&err, 1)->path, "spec"); /* an empty path gets no separator */
    CHECK_STR(err_issue_at(&err, 5)->msg, "ctx: issue 5");
    CHECK_STR(err_message(&err), "ctx: issue 0");
    CHECK_STR(err_path(&err), "spec, p");
    /* a new run starts from an empty list */
    err_init_issues(&err, &issues);
    CHECK_INT(err_issue_count(&err), 0);
    CHECK_INT(err_issues_dropped(&err), 0);
    /* long texts are cut, never overflow */
    char big[2 * ERR_MSG_MAX];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    err_set(&err, ERR_SPEC_INVALID, big, "%s", big);
    CHECK_INT(strlen(err_path(&err)), ERR_PATH_MAX - 1);
    CHECK_INT(strlen(err_issue_at(&err, 0)->msg), ERR_MSG_MAX - 1);
    err_prefix(&err, "more: ");
    CHECK_INT(strlen(err_message(&err)), ERR_MSG_MAX - 1);
    CHECK(strncmp(err_message(&err), "more: x", 7) == 0);
}

static void edit_distance_counts_typos(void)
{
    static const struct {
        const char *a, *b;
        size_t limit, want;
    } cases[] = {
        {"platform", "platform", 2, 0},
        {"platfor", "platform", 2, 1},   /* deletion */
        {"platforms", "platform", 2, 1}, /* insertion */
        {"platfrom", "platform", 2, 1},  /* adjacent swap counts once */
        {"plotform", "platform", 2, 1},  /* substitution */
        {"Image", "image", 2, 0},        /* ASCII case is ignored */
        {"imgae", "image", 2, 1},
        {"cap_ad", "cap_add", 2, 1},
        {"memroy", "memory", 2, 1},
        {"abc", "xyz", 2, 3},            /* past the limit: limit + 1 */
        {"a", "abcdef", 2, 3},           /* length difference alone exceeds it */
        {"", "ab", 2, 2},
        {"kitten", "sitting", 3, 3},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        CHECK_INT(str_edit_distance(cases[i].a, cases[i].b, cases[i].limit), cases[i].want);
    }
    char longer[80];
    memset(longer, 'a', sizeof(longer) - 1);
    longer[sizeof(longer) - 1] = '\0';
    CHECK_INT(str_edit_distance(longer, longer, 2), 3); /* over 64 bytes: never a match */
}

static void concat_joins_and_cuts_to_fit(void)
{
    char buf[8];
    CHECK_INT(str_concat(buf, sizeof(buf), "ab", "", "cd", NULL), 4);
    CHECK_STR(buf, "abcd");
    CHECK_INT(str_concat(buf, sizeof(buf), NULL), 0);
    CHECK_STR(buf, "");
    CHECK_INT(str_concat(buf, sizeof(buf), "abcde", "fghij", NULL), 7); /* cut, terminated */
    CHECK_STR(buf, "abcdefg");
    CHECK_INT(str_concat(buf, 1, "x", NULL), 0);
    CHECK_STR(buf, "");
    buf[0] = 'k';
    CHECK_INT(str_concat(buf, 0, "x", NULL), 0);
    CHECK(buf[0] == 'k'); /* no room: nothing written */
}

static void from_u64_writes_decimal(void)
{
    char buf[21];
    CHECK_STR(str_from_u64(0, buf), "0");
    CHECK_STR(str_from_u64(7, buf), "7");
    CHECK_STR(str_from_u64(4294967296u, buf), "4294967296");
    CHECK_STR(str_from_u64(UINT64_MAX, buf), "18446744073709551615");
}

HARNESS_MAIN(TEST(edit_distance_counts_typos), TEST(concat_joins_and_cuts_to_fit),
             TEST(from_u64_writes_decimal), TEST(params_parse_or_name_the_parameter),
             TEST(err_without_a_list_keeps_the_first_issue), TEST(err_with_a_list_keeps_every_issue))
