/*
 * render_bench: in-process render throughput of one spec, single-threaded, the whole path per
 * iteration, as `POST /render` runs it minus the HTTP and the vault:
 *
 *   parse + validate   render_request_parse()
 *   refs + secrets     render_request_secret_refs(), each value looked up in a table in memory
 *   render             render_execute()
 *   output + digest    render_output_text(): the pretty config.json text and its SHA-256
 *   free               everything the iteration allocated
 *
 * The spec text is read once before the loop; nothing inside it touches the disk. Every $S:
 * reference gets a fake value built from the reference, so equal specs give equal output and
 * no secret store is needed. Each phase is a function of its own (never inlined) so that
 * callgrind's inclusive costs split a render by phase (bench/render_phases).
 *
 * Output, for bench/README.md and the side-by-side comparison with the original renderer:
 *   run N renders=.. secs=.. renders/s=.. us/render=.. cpu_us/render=.. out_bytes=..
 *   summary impl=c-ocirender input=SPEC runs=N median=R min=R max=R ...
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "common/digest.h"
#include "common/err.h"
#include "common/fileio.h"
#include "common/limits.h"
#include "common/sbuf.h"
#include "render/render.h"

#define NOINLINE __attribute__((noinline))

#define BATCH 64          /* renders between two looks at the clock */
#define WARMUP_SECS 0.5   /* caches and allocator settle before the first run */
#define RUNS_MAX 1000
#define SECS_MAX 3600.0
#define COUNT_MAX 100000000ULL

enum bench_mode {
    MODE_TIMED,        /* runs of --secs seconds each, then the summary */
    MODE_COUNT,        /* exactly --count renders, untimed (for callgrind) */
    MODE_DUMP,         /* print one iteration's output text */
    MODE_DUMP_SECRETS, /* print the fake secrets as a file-provider document */
};

struct bench_opts {
    const char *spec;
    const char *service;
    unsigned runs;
    double secs;
    uint64_t count;
    enum bench_mode mode;
};

/* What every iteration reads: the spec text and the fake secret values, both made once. */
struct bench_input {
    char *text;
    size_t len;
    struct render_params params;
    json_t *table; /* reference text -> fake value */
    struct render_prepared *prepared; /* as ocirenderd does: constant parts made once */
    struct render_settings settings;
};

#define USAGE_LINES                                                                            \
    "usage: render_bench SPEC [--service S] [--runs N] [--secs S]\n"                            \
    "       render_bench SPEC [--service S] --count N | --dump | --dump-secrets\n"

static void usage(FILE *out)
{
    fprintf(out,
            USAGE_LINES
            "\n"
            "Renders SPEC in process, single-threaded, the whole path per iteration: parse,\n"
            "validate, list the $S: references and resolve them from a table in memory (each\n"
            "gets a fake value built from the reference), render, write the pretty config.json\n"
            "text and its SHA-256, free everything. After the runs, the `digest` line gives\n"
            "the CPU time of that SHA-256 alone, and its share of a render's.\n"
            "\n"
            "  --service S       service of a DeploymentSpec (required with several)\n"
            "  --runs N          timed runs (default 5, at most %d)\n"
            "  --secs S          seconds per run (default 3); a warm-up of min(S, %.1f) s first\n"
            "  --count N         exactly N renders, no timing, no output (for callgrind)\n"
            "  --dump            print the output of one iteration (the bytes `ocirender\n"
            "                    render` prints for the same spec and secret values)\n"
            "  --dump-secrets    print the fake secret values as a secrets file for\n"
            "                    `ocirender render --secrets-file`\n",
            RUNS_MAX, WARMUP_SECS);
}

static void print_err(const char *spec, const struct err *err)
{
    unsigned n = err_issue_count(err);
    if (n == 0) {
        fprintf(stderr, "render_bench: %s: failed (%s)\n", spec, err_code_name(err->code));
    }
    for (unsigned i = 0; i < n; i++) {
        const struct err_issue *is = err_issue_at(err, i);
        fprintf(stderr, "render_bench: %s: %s%s%s\n", spec, is->path, is->path[0] ? ": " : "",
                is->msg);
    }
    if (err_issues_dropped(err)) {
        fprintf(stderr, "render_bench: %s: ... and %u more\n", spec, err_issues_dropped(err));
    }
}

/* ---- arguments ---- */

static int parse_uint(const char *flag, const char *text, uint64_t min, uint64_t max,
                      uint64_t *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (text[0] < '0' || text[0] > '9' || *end || errno || v < min || v > max) {
        fprintf(stderr, "render_bench: %s wants a whole number from %llu to %llu, not '%s'\n",
                flag, (unsigned long long)min, (unsigned long long)max, text);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_secs(const char *text, double *out)
{
    char *end = NULL;
    errno = 0;
    double v = strtod(text, &end);
    if (end == text || *end || errno || !isfinite(v) || v <= 0 || v > SECS_MAX) {
        fprintf(stderr, "render_bench: --secs wants seconds above 0 and at most %.0f, not '%s'\n",
                SECS_MAX, text);
        return -1;
    }
    *out = v;
    return 0;
}

enum { OPT_SERVICE = 1000, OPT_RUNS, OPT_SECS, OPT_COUNT, OPT_DUMP, OPT_DUMP_SECRETS, OPT_HELP };

static int apply_opt(struct bench_opts *o, int ch, const char *arg)
{
    uint64_t v;
    switch (ch) {
    case OPT_SERVICE: o->service = arg; return 0;
    case OPT_RUNS:
        if (parse_uint("--runs", arg, 1, RUNS_MAX, &v)) {
            return -1;
        }
        o->runs = (unsigned)v;
        return 0;
    case OPT_SECS: return parse_secs(arg, &o->secs);
    case OPT_COUNT:
        o->mode = MODE_COUNT;
        return parse_uint("--count", arg, 1, COUNT_MAX, &o->count);
    case OPT_DUMP: o->mode = MODE_DUMP; return 0;
    case OPT_DUMP_SECRETS: o->mode = MODE_DUMP_SECRETS; return 0;
    default: fputs(USAGE_LINES "(render_bench --help explains them)\n", stderr); return -1;
    }
}

/* 0: run; 1: --help printed; -1: bad arguments (message printed). */
static int parse_args(int argc, char **argv, struct bench_opts *o)
{
    static const struct option longopts[] = {
        {"service", required_argument, NULL, OPT_SERVICE},
        {"runs", required_argument, NULL, OPT_RUNS},
        {"secs", required_argument, NULL, OPT_SECS},
        {"count", required_argument, NULL, OPT_COUNT},
        {"dump", no_argument, NULL, OPT_DUMP},
        {"dump-secrets", no_argument, NULL, OPT_DUMP_SECRETS},
        {"help", no_argument, NULL, OPT_HELP},
        {NULL, 0, NULL, 0},
    };
    *o = (struct bench_opts){.runs = 5, .secs = 3.0, .mode = MODE_TIMED};
    int ch;
    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        if (ch == OPT_HELP) {
            usage(stdout);
            return 1;
        }
        if (apply_opt(o, ch, optarg)) {
            return -1;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "render_bench: expected exactly one SPEC argument\n" USAGE_LINES);
        return -1;
    }
    o->spec = argv[optind];
    return 0;
}

/* ---- the fake secrets ---- */

/* "bench-secret:<scope>/<name>[/<field>][@<version>]": deterministic, and different for every
 * secret and field, so a reference wired to the wrong value would show in the output. */
static json_t *fake_value(const struct render_secret_ref *r)
{
    struct sbuf b;
    sbuf_init(&b, 4096);
    int rc = sbuf_addf(&b, "bench-secret:%s/%s", r->scope, r->name);
    if (rc == 0 && r->field) {
        rc = sbuf_addf(&b, "/%s", r->field);
    }
    if (rc == 0 && r->version) {
        rc = sbuf_addf(&b, "@%u", r->version);
    }
    json_t *v = rc ? NULL : json_stringn(sbuf_str(&b), sbuf_len(&b));
    sbuf_free(&b);
    return v;
}

static int table_fill(json_t *table, const struct render_secret_refs *refs, struct err *err)
{
    for (size_t i = 0; i < refs->n; i++) {
        if (json_object_set_new(table, refs->items[i].ref, fake_value(&refs->items[i]))) {
            return err_nomem(err);
        }
    }
    return 0;
}

/* ---- one iteration, phase by phase ---- */

struct iteration {
    struct render_request *req;
    struct render_secret_refs refs;
    json_t *values;
    struct render_result res;
    struct render_output out;
};

static NOINLINE int phase_parse(const struct bench_input *in, struct iteration *it,
                                struct err *err)
{
    return render_request_parse(in->text, in->len, RENDER_FMT_AUTO, &in->params, &it->req, err);
}

/* As the server's resolver does: one value per reference, keyed by the reference text. */
static NOINLINE int phase_secrets(const struct bench_input *in, struct iteration *it,
                                  struct err *err)
{
    if (render_request_secret_refs(it->req, &it->refs, err)) {
        return -1;
    }
    it->values = json_object();
    if (!it->values) {
        return err_nomem(err);
    }
    for (size_t i = 0; i < it->refs.n; i++) {
        const char *ref = it->refs.items[i].ref;
        const json_t *v = json_object_get(in->table, ref);
        if (!v) {
            return err_set(err, ERR_SECRET_NOT_FOUND, it->refs.items[i].path,
                           "no value for %s in the benchmark's table", ref);
        }
        if (json_object_set_new(it->values, ref,
                                json_stringn(json_string_value(v), json_string_length(v)))) {
            return err_nomem(err);
        }
    }
    return 0;
}

static NOINLINE int phase_render(const struct bench_input *in, struct iteration *it,
                                 struct err *err)
{
    return render_execute(it->req, &in->settings, it->values, &it->res, err);
}

static NOINLINE int phase_output(struct iteration *it, struct err *err)
{
    return render_output_text(&it->res, 0, NULL, &it->out, err);
}

static NOINLINE void phase_free(struct iteration *it)
{
    render_output_release(&it->out);
    render_result_release(&it->res);
    json_decref(it->values);
    render_secret_refs_release(&it->refs);
    render_request_free(it->req);
    memset(it, 0, sizeof(*it));
}

/* One whole iteration; the output stays in `it` until phase_free(). */
static int render_iteration(const struct bench_input *in, struct iteration *it, struct err *err)
{
    memset(it, 0, sizeof(*it));
    return phase_parse(in, it, err) || phase_secrets(in, it, err) || phase_render(in, it, err) ||
                   phase_output(it, err)
               ? -1
               : 0;
}

/* A whole iteration as the timed loop runs it: the output's size, or 0 on failure. */
static size_t render_once(const struct bench_input *in)
{
    struct err_issues issues;
    struct err err;
    err_init_issues(&err, &issues);
    struct iteration it;
    size_t len = render_iteration(in, &it, &err) ? 0 : it.out.len;
    phase_free(&it);
    return len;
}

/* ---- set-up: read the spec once, learn its references, check that it renders ---- */

/* The table of fake values for the spec's references. */
static int table_build(struct bench_input *in, struct err *err)
{
    struct iteration it = {0};
    in->table = json_object();
    int rc = !in->table ? err_nomem(err) : phase_parse(in, &it, err);
    if (rc == 0) {
        rc = render_request_secret_refs(it.req, &it.refs, err) ||
             table_fill(in->table, &it.refs, err);
    }
    phase_free(&it);
    return rc ? -1 : 0;
}

static int input_load(const struct bench_opts *o, struct bench_input *in)
{
    memset(in, 0, sizeof(*in));
    in->params.service = o->service;
    in->text = file_read_path(o->spec, LIMIT_FILE_READ, FILE_READ_REGULAR, &in->len);
    if (!in->text) {
        fprintf(stderr, "render_bench: cannot read %s: %s\n", o->spec,
                errno == EINVAL ? "not a regular file" : strerror(errno));
        return -1;
    }
    struct err_issues issues;
    struct err err;
    err_init_issues(&err, &issues);
    int rc = table_build(in, &err);
    in->settings.prepared = in->prepared = render_prepared_new();
    if (rc == 0 && !in->prepared) {
        rc = err_nomem(&err);
    }
    if (rc == 0) {
        /* The whole path once: a spec that fails here would only time its error path. */
        struct iteration it;
        rc = render_iteration(in, &it, &err);
        phase_free(&it);
    }
    if (rc) {
        print_err(o->spec, &err);
    }
    return rc;
}

static void input_release(struct bench_input *in)
{
    free(in->text);
    json_decref(in->table);
    render_prepared_free(in->prepared);
    memset(in, 0, sizeof(*in));
}

/* ---- modes ---- */

static int write_all(const char *text, size_t len)
{
    if (fwrite(text, 1, len, stdout) != len || fflush(stdout) != 0) {
        fprintf(stderr, "render_bench: cannot write to stdout\n");
        return -1;
    }
    return 0;
}

static int mode_dump(const struct bench_opts *o, const struct bench_input *in)
{
    struct err_issues issues;
    struct err err;
    err_init_issues(&err, &issues);
    struct iteration it;
    int rc = render_iteration(in, &it, &err);
    if (rc) {
        print_err(o->spec, &err);
    } else {
        rc = write_all(it.out.text, it.out.len);
    }
    phase_free(&it);
    return rc;
}

/* Adds one reference's fake value to a secrets-file document: {scope: {name: {field or
 * "value": fake}}}, the shape the file provider reads. 0, or -1 on OOM. */
static int secrets_doc_add(json_t *doc, const struct render_secret_ref *r, json_t *value)
{
    json_t *scope = json_object_get(doc, r->scope);
    if (!scope && json_object_set_new(doc, r->scope, scope = json_object())) {
        return -1;
    }
    json_t *secret = json_object_get(scope, r->name);
    if (!secret && json_object_set_new(scope, r->name, secret = json_object())) {
        return -1;
    }
    return json_object_set(secret, r->field ? r->field : "value", value) ? -1 : 0;
}

/* The table as a secrets file, so `ocirender render` can resolve the same values. The file
 * provider has no versions: a pinned reference (@N) cannot be written as one. */
static int mode_dump_secrets(const struct bench_opts *o, const struct bench_input *in)
{
    struct err err;
    err_init(&err);
    struct iteration it = {0};
    json_t *doc = json_object();
    int rc = !doc ? err_nomem(&err) : phase_parse(in, &it, &err);
    if (rc == 0) {
        rc = render_request_secret_refs(it.req, &it.refs, &err);
    }
    for (size_t i = 0; rc == 0 && i < it.refs.n; i++) {
        const struct render_secret_ref *r = &it.refs.items[i];
        if (r->version) {
            rc = err_set(&err, ERR_USAGE, r->path, "%s pins a version; a secrets file has none",
                         r->ref);
        } else if (secrets_doc_add(doc, r, json_object_get(in->table, r->ref))) {
            rc = err_nomem(&err);
        }
    }
    char *text = rc == 0 ? json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
    if (rc == 0 && !text) {
        rc = err_nomem(&err);
    }
    if (rc) {
        print_err(o->spec, &err);
    } else {
        rc = write_all(text, strlen(text)) || write_all("\n", 1) ? -1 : 0;
    }
    free(text);
    json_decref(doc);
    phase_free(&it);
    return rc;
}

/* Exactly `count` renders. callgrind collects only inside this function (--toggle-collect). */
static NOINLINE int bench_count_loop(const struct bench_input *in, uint64_t count)
{
    for (uint64_t i = 0; i < count; i++) {
        if (render_once(in) == 0) {
            return -1;
        }
    }
    return 0;
}

static double clock_secs(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Renders in batches until `secs` have passed; *n renders, *bytes of output in all. */
static int timed_loop(const struct bench_input *in, double secs, uint64_t *n, uint64_t *bytes)
{
    double t0 = clock_secs(CLOCK_MONOTONIC);
    *n = 0;
    *bytes = 0;
    do {
        for (int i = 0; i < BATCH; i++) {
            size_t len = render_once(in);
            if (len == 0) {
                return -1; /* it rendered before the loop: only memory can fail here */
            }
            *bytes += len;
        }
        *n += BATCH;
    } while (clock_secs(CLOCK_MONOTONIC) - t0 < secs);
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The upper median, as the original's benchmark takes it (s[n/2] of the sorted rates). */
static double median_of(double *v, unsigned n)
{
    qsort(v, n, sizeof(*v), cmp_double);
    return v[n / 2];
}

/*
 * CPU time of the output's SHA-256 alone (the ETag's digest, part of every render), measured
 * after the runs: what no faster render can go below. Prints the "digest" line; 0 or -1.
 */
static int report_digest_share(const struct bench_opts *o, const struct bench_input *in,
                               double render_cpu_us)
{
    struct err_issues issues;
    struct err err;
    err_init_issues(&err, &issues);
    struct iteration it;
    int rc = render_iteration(in, &it, &err);
    uint64_t n = 0;
    double secs = o->secs < WARMUP_SECS ? o->secs : WARMUP_SECS;
    double c0 = clock_secs(CLOCK_THREAD_CPUTIME_ID), cpu = 0;
    while (rc == 0 && cpu < secs) {
        char hex[65];
        for (int i = 0; rc == 0 && i < BATCH; i++) {
            rc = digest_sha256_hex(it.out.text, it.out.len, hex);
        }
        n += BATCH;
        cpu = clock_secs(CLOCK_THREAD_CPUTIME_ID) - c0;
    }
    if (rc == 0) {
        double us = 1e6 * cpu / (double)n;
        printf("digest cpu_us=%.2f out_bytes=%zu share_of_render=%.2f\n", us, it.out.len,
               us / render_cpu_us);
    } else {
        fprintf(stderr, "render_bench: %s: the digest measurement failed\n", o->spec);
    }
    phase_free(&it);
    return rc ? -1 : 0;
}

static int mode_timed(const struct bench_opts *o, const struct bench_input *in)
{
    uint64_t n, bytes;
    if (timed_loop(in, o->secs < WARMUP_SECS ? o->secs : WARMUP_SECS, &n, &bytes)) {
        fprintf(stderr, "render_bench: %s: a render failed during the warm-up\n", o->spec);
        return -1;
    }
    double *rates = calloc(o->runs, sizeof(*rates));
    double *cpurates = calloc(o->runs, sizeof(*cpurates));
    int rc = rates && cpurates ? 0 : -1;
    uint64_t out_bytes = 0;
    for (unsigned r = 0; rc == 0 && r < o->runs; r++) {
        double t0 = clock_secs(CLOCK_MONOTONIC), c0 = clock_secs(CLOCK_THREAD_CPUTIME_ID);
        if (timed_loop(in, o->secs, &n, &bytes)) {
            fprintf(stderr, "render_bench: %s: a render failed in run %u\n", o->spec, r + 1);
            rc = -1;
            break;
        }
        double el = clock_secs(CLOCK_MONOTONIC) - t0;
        double cpu = clock_secs(CLOCK_THREAD_CPUTIME_ID) - c0;
        rates[r] = (double)n / el;
        cpurates[r] = (double)n / cpu;
        out_bytes = bytes / n;
        printf("run %u renders=%llu secs=%.3f renders/s=%.1f us/render=%.2f cpu_us/render=%.2f "
               "out_bytes=%llu\n",
               r + 1, (unsigned long long)n, el, rates[r], 1e6 / rates[r], 1e6 / cpurates[r],
               (unsigned long long)out_bytes);
        fflush(stdout);
    }
    double med = 0, cmed = 0;
    if (rc == 0) {
        med = median_of(rates, o->runs);
        cmed = median_of(cpurates, o->runs);
        rc = report_digest_share(o, in, 1e6 / cmed);
    }
    if (rc == 0) {
        printf("summary impl=c-ocirender input=%s runs=%u median=%.1f min=%.1f max=%.1f "
               "us_per_render_median=%.2f cpu_us_per_render_median=%.2f cpu_us_min=%.2f "
               "cpu_us_max=%.2f out_bytes=%llu\n",
               o->spec, o->runs, med, rates[0], rates[o->runs - 1], 1e6 / med, 1e6 / cmed,
               1e6 / cpurates[o->runs - 1], 1e6 / cpurates[0], (unsigned long long)out_bytes);
        rc = fflush(stdout) ? -1 : 0;
    } else if (!rates || !cpurates) {
        fprintf(stderr, "render_bench: out of memory\n");
    }
    free(rates);
    free(cpurates);
    return rc;
}

int main(int argc, char **argv)
{
    struct bench_opts o;
    int prc = parse_args(argc, argv, &o);
    if (prc) {
        return prc > 0 ? 0 : 1;
    }
    struct bench_input in;
    int rc = input_load(&o, &in);
    if (rc == 0) {
        switch (o.mode) {
        case MODE_TIMED: rc = mode_timed(&o, &in); break;
        case MODE_COUNT:
            rc = bench_count_loop(&in, o.count);
            if (rc) {
                fprintf(stderr, "render_bench: %s: a render failed\n", o.spec);
            }
            break;
        case MODE_DUMP: rc = mode_dump(&o, &in); break;
        case MODE_DUMP_SECRETS: rc = mode_dump_secrets(&o, &in); break;
        }
    }
    input_release(&in);
    return rc ? 1 : 0;
}
