/* The small pieces of common/: log levels and hook, histogram text, OCIRENDER_ALLOW_SERVER_ENV,
 * the HTTP client's retry policy. */
#define _DEFAULT_SOURCE /* setenv */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/histogram.h"
#include "common/httpc.h"
#include "common/log.h"
#include "common/sbuf.h"
#include "common/server_env.h"
#include "tests/harness.h"

/* ---- log ---- */

static void log_levels_parse_in_any_case(void)
{
    enum log_level l = LOG_ERROR;
    CHECK_INT(log_level_parse("debug", &l, NULL), 0);
    CHECK_INT(l, LOG_DEBUG);
    CHECK_INT(log_level_parse("INFO", &l, NULL), 0);
    CHECK_INT(l, LOG_INFO);
    CHECK_INT(log_level_parse("Warning", &l, NULL), 0);
    CHECK_INT(l, LOG_WARN);
    CHECK_INT(log_level_parse("error", &l, NULL), 0);
    CHECK_INT(l, LOG_ERROR);
    CHECK_STR(log_level_name(LOG_WARN), "warn");
    struct err err;
    err_init(&err);
    l = LOG_INFO;
    CHECK_INT(log_level_parse("loud", &l, &err), -1);
    CHECK_INT(l, LOG_INFO); /* untouched on failure */
    CHECK_INT(err.code, ERR_USAGE);
    CHECK_CONTAINS(err_message(&err), "log level must be debug, info, warn or error, got 'loud'");
    CHECK_INT(log_level_parse(NULL, &l, NULL), -1);
}

struct captured {
    char text[512];
    enum log_level level;
    int calls;
};

static void capture(void *ctx, enum log_level level, const char *msg)
{
    struct captured *c = ctx;
    snprintf(c->text, sizeof(c->text), "%s", msg);
    c->level = level;
    c->calls++;
}

static void log_hooks_filter_by_level(void)
{
    struct captured c = {.calls = 0};
    struct log_hook hook = {capture, &c, LOG_INFO};
    log_hookf(&hook, LOG_DEBUG, "dropped %d", 1);
    CHECK_INT(c.calls, 0);
    log_hookf(&hook, LOG_WARN, "kept %d", 2);
    CHECK_INT(c.calls, 1);
    CHECK_STR(c.text, "kept 2");
    CHECK_INT(c.level, LOG_WARN);
    log_hookf(NULL, LOG_ERROR, "nowhere"); /* no hook: nothing, no crash */
    CHECK_INT(c.calls, 1);
}

/* What log_hook_stderr writes, read back through a pipe standing in for stderr. */
static void stderr_line(void *ctx, enum log_level level, const char *msg, char *out, size_t size)
{
    int fds[2];
    CHECK_INT(pipe(fds), 0);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    dup2(fds[1], STDERR_FILENO);
    log_hook_stderr(ctx, level, msg);
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    close(fds[1]);
    ssize_t n = read(fds[0], out, size - 1);
    out[n > 0 ? n : 0] = '\0';
    close(fds[0]);
}

static void stderr_hook_writes_cli_lines(void)
{
    char line[256], who[] = "secrets";
    stderr_line(who, LOG_WARN, "the vault is sealed", line, sizeof(line));
    CHECK_STR(line, "ocirender: secrets: warn: the vault is sealed\n");
    stderr_line(NULL, LOG_INFO, "retrying in 1.0 s", line, sizeof(line));
    CHECK_STR(line, "ocirender: retrying in 1.0 s\n");
}

/* ---- histogram ---- */

static void histograms_write_cumulative_buckets(void)
{
    static const double bounds[] = {0.01, 0.1, 1};
    struct histogram h;
    histogram_init(&h, bounds, 3);
    histogram_observe_us(&h, 5000);    /* 0.005 s */
    histogram_observe_us(&h, 50000);   /* 0.05 s */
    histogram_observe_us(&h, 100000);  /* 0.1 s: on the bound, counted in it */
    histogram_observe_us(&h, 3000000); /* 3 s: only in +Inf */
    CHECK_INT(histogram_count(&h), 4);
    struct sbuf out;
    sbuf_init(&out, 4096);
    CHECK_INT(histogram_write(&h, "x_seconds", "route=\"r\"", &out), 0);
    CHECK_STR(sbuf_str(&out), "x_seconds_bucket{route=\"r\",le=\"0.01\"} 1\n"
                              "x_seconds_bucket{route=\"r\",le=\"0.1\"} 3\n"
                              "x_seconds_bucket{route=\"r\",le=\"1\"} 3\n"
                              "x_seconds_bucket{route=\"r\",le=\"+Inf\"} 4\n"
                              "x_seconds_sum{route=\"r\"} 3.155000\n"
                              "x_seconds_count{route=\"r\"} 4\n");
    sbuf_free(&out);
}

/* ---- OCIRENDER_ALLOW_SERVER_ENV ---- */

static void server_env_reads_listed_names(void)
{
    setenv("OCR_T_A", "alpha", 1);
    setenv("OCR_T_B", "", 1);
    unsetenv("OCR_T_MISSING");
    json_t *env = NULL, *missing = NULL;
    CHECK_INT(server_env_allowed(" OCR_T_A,OCR_T_B  OCR_T_MISSING,", &env, &missing, NULL), 0);
    CHECK_INT(json_object_size(env), 2);
    CHECK_STR(json_string_value(json_object_get(env, "OCR_T_A")), "alpha");
    CHECK_STR(json_string_value(json_object_get(env, "OCR_T_B")), "");
    CHECK_INT(json_array_size(missing), 1);
    CHECK_STR(json_string_value(json_array_get(missing, 0)), "OCR_T_MISSING");
    json_decref(env);
    json_decref(missing);
    CHECK_INT(server_env_allowed(NULL, &env, NULL, NULL), 0);
    CHECK(env == NULL);
    CHECK_INT(server_env_allowed("", &env, &missing, NULL), 0);
    CHECK(env == NULL && missing == NULL);
}

static void server_env_refuses_bad_names(void)
{
    const char *bad[] = {"OCR_T_A,1ABC", "OCR-T", "A=B", "OCR_T_A;rm"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct err err;
        err_init(&err);
        json_t *env = (json_t *)1, *missing = (json_t *)1;
        CHECK_INT(server_env_allowed(bad[i], &env, &missing, &err), -1);
        CHECK(env == NULL && missing == NULL);
        CHECK_INT(err.code, ERR_USAGE);
        CHECK_STR(err_path(&err), "OCIRENDER_ALLOW_SERVER_ENV");
        CHECK_CONTAINS(err_message(&err), "is not an environment variable name");
    }
    char longname[300];
    memset(longname, 'A', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    json_t *env = NULL;
    CHECK_INT(server_env_allowed(longname, &env, NULL, NULL), -1);
}

/* ---- the HTTP client's policy ---- */

static void backoff_stays_within_its_bounds(void)
{
    struct httpc_policy p = {.wait_min_ms = 1000, .wait_max_ms = 1500};
    for (int i = 0; i < 200; i++) {
        unsigned w = httpc_backoff_ms(&p, (unsigned)(i % 4));
        CHECK(w >= 1000 && w <= 1500); /* no doubling: the same range every time */
    }
    struct httpc_policy d = {.wait_min_ms = 375, .wait_max_ms = 625, .doubling = true,
                             .wait_cap_ms = 4000};
    unsigned seen_lo = UINT32_MAX, seen_hi = 0;
    for (int i = 0; i < 400; i++) {
        unsigned w0 = httpc_backoff_ms(&d, 0), w2 = httpc_backoff_ms(&d, 2);
        unsigned w9 = httpc_backoff_ms(&d, 9);
        CHECK(w0 >= 375 && w0 <= 625);
        CHECK(w2 >= 1500 && w2 <= 2500);
        CHECK_INT(w9, 4000); /* both bounds capped */
        seen_lo = w0 < seen_lo ? w0 : seen_lo;
        seen_hi = w0 > seen_hi ? w0 : seen_hi;
    }
    CHECK(seen_hi - seen_lo > 100); /* jittered, not a constant */
}

static void transient_failures_are_the_network_kind(void)
{
    CHECK(httpc_transient(CURLE_COULDNT_CONNECT));
    CHECK(httpc_transient(CURLE_OPERATION_TIMEDOUT));
    CHECK(httpc_transient(CURLE_RECV_ERROR));
    CHECK(!httpc_transient(CURLE_PEER_FAILED_VERIFICATION));
    CHECK(!httpc_transient(CURLE_URL_MALFORMAT));
    CHECK(!httpc_transient(CURLE_OK));
}

HARNESS_MAIN(TEST(log_levels_parse_in_any_case), TEST(log_hooks_filter_by_level),
             TEST(stderr_hook_writes_cli_lines), TEST(histograms_write_cumulative_buckets),
             TEST(server_env_reads_listed_names), TEST(server_env_refuses_bad_names),
             TEST(backoff_stays_within_its_bounds),
             TEST(transient_failures_are_the_network_kind))
