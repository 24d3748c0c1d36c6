/*
 * The bad-input corpus (tests/corpus/bad): every file must be rejected with the status and
 * the located error its EXPECT line names. Under ASan this also proves no crash and no leak.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "render/render.h"
#include "tests/harness.h"

static const char *dir;

static bool error_mentions(const struct err *e, const char *text)
{
    for (unsigned i = 0; i < err_issue_count(e); i++) {
        const struct err_issue *is = err_issue_at(e, i);
        if (strstr(is->path, text) || strstr(is->msg, text)) {
            return true;
        }
    }
    return false;
}

static bool located(const struct err *e)
{
    for (unsigned i = 0; i < err_issue_count(e); i++) {
        const struct err_issue *is = err_issue_at(e, i);
        if (is->path[0] || strstr(is->msg, "empty")) {
            return true;
        }
    }
    return false;
}

static void corpus(void)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/EXPECT", dir);
    size_t len;
    char *expect = harness_slurp(path, &len);
    CHECK(expect != NULL);
    int cases = 0;
    for (char *line = expect; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl) {
            *nl = '\0';
        }
        char file[256], want[256];
        int status;
        if (line[0] != '#' && sscanf(line, "%255[^\t]\t%d\t%255[^\n]", file, &status, want) == 3) {
            cases++;
            snprintf(path, sizeof(path), "%s/%s", dir, file);
            size_t n;
            char *body = harness_slurp(path, &n);
            CHECK(body != NULL);
            struct err_issues issues;
            struct err err;
            err_init_issues(&err, &issues);
            struct render_request *req = NULL;
            struct render_result res = {0};
            int rc = render_request_parse(body, n, RENDER_FMT_AUTO, NULL, &req, &err);
            if (rc == 0) {
                struct render_settings s = {.placeholder_secrets = true};
                rc = render_execute(req, &s, NULL, &res, &err);
            }
            if (rc == 0 || err_http_status(err.code) != status || !error_mentions(&err, want) ||
                !located(&err)) {
                fprintf(stderr, "  %s: rc=%d status=%d (want %d) first issue: %s: %s\n", file, rc,
                        err_http_status(err.code), status, err_path(&err), err_message(&err));
                CHECK(false);
            }
            render_result_release(&res);
            render_request_free(req);
            free(body);
        }
        line = nl ? nl + 1 : NULL;
    }
    CHECK(cases >= 40);
    free(expect);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        return 2;
    }
    dir = argv[1];
    static const struct test_case cases[] = {{"bad_input_corpus", corpus}};
    return harness_main(cases, 1);
}
