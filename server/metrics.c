#include "server/metrics.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/histogram.h"
#include "common/sbuf.h"
#include "handlers/handlers.h"

#define METRICS_ROUTES_MAX 16
#define STATUS_MIN         100
#define STATUS_MAX         599
#define N_STATUS           (STATUS_MAX - STATUS_MIN + 1)

/* Upper bounds in seconds; renders take about a millisecond, vault reads much longer. */
static const double bucket_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                       0.1,    0.25,  0.5,    1,     2.5,  5,     10};

struct route_series {
    atomic_uint_least64_t codes[N_STATUS];
    struct histogram duration;
};

struct metrics {
    size_t n_routes; /* table routes + "none" */
    const struct route *table;
    atomic_uint_least64_t inflight;
    struct route_series series[METRICS_ROUTES_MAX];
};

struct metrics *metrics_create(void)
{
    struct metrics *m = calloc(1, sizeof(*m));
    if (!m) {
        return NULL;
    }
    size_t n;
    m->table = routes_table(&n);
    m->n_routes = n + 1 < METRICS_ROUTES_MAX ? n + 1 : METRICS_ROUTES_MAX;
    for (size_t r = 0; r < METRICS_ROUTES_MAX; r++) {
        histogram_init(&m->series[r].duration, bucket_bounds, ARRAY_LEN(bucket_bounds));
    }
    return m;
}

void metrics_destroy(struct metrics *m)
{
    free(m);
}

size_t metrics_route_none(void)
{
    size_t n;
    routes_table(&n);
    return n < METRICS_ROUTES_MAX - 1 ? n : METRICS_ROUTES_MAX - 1;
}

void metrics_request_started(struct metrics *m)
{
    atomic_fetch_add_explicit(&m->inflight, 1, memory_order_relaxed);
}

void metrics_request_finished(struct metrics *m, size_t route, int status, double seconds)
{
    atomic_fetch_sub_explicit(&m->inflight, 1, memory_order_relaxed);
    if (route >= m->n_routes) {
        route = m->n_routes - 1;
    }
    struct route_series *s = &m->series[route];
    if (status >= STATUS_MIN && status <= STATUS_MAX) {
        atomic_fetch_add_explicit(&s->codes[status - STATUS_MIN], 1, memory_order_relaxed);
    }
    histogram_observe_us(&s->duration, seconds > 0 ? (uint64_t)(seconds * 1e6) : 0);
}

unsigned long long metrics_inflight(const struct metrics *m)
{
    return atomic_load_explicit(&m->inflight, memory_order_relaxed);
}

static const char *route_label(const struct metrics *m, size_t i)
{
    return i + 1 < m->n_routes ? m->table[i].name : "none";
}

static uint64_t load(const atomic_uint_least64_t *v)
{
    return atomic_load_explicit(v, memory_order_relaxed);
}

static int render_counters(const struct metrics *m, struct sbuf *out)
{
    int rc = sbuf_add(out, "# HELP ocirender_requests_total HTTP requests answered, by route "
                           "and status code.\n"
                           "# TYPE ocirender_requests_total counter\n");
    for (size_t r = 0; !rc && r < m->n_routes; r++) {
        for (int c = 0; !rc && c < N_STATUS; c++) {
            uint64_t v = load(&m->series[r].codes[c]);
            if (v) {
                rc = sbuf_addf(out, "ocirender_requests_total{route=\"%s\",code=\"%d\"} %llu\n",
                               route_label(m, r), c + STATUS_MIN, (unsigned long long)v);
            }
        }
    }
    return rc;
}

static int render_histogram(const struct metrics *m, size_t r, struct sbuf *out)
{
    const struct histogram *h = &m->series[r].duration;
    if (!histogram_count(h)) {
        return 0;
    }
    char labels[96];
    snprintf(labels, sizeof(labels), "route=\"%s\"", route_label(m, r));
    return histogram_write(h, "ocirender_request_duration_seconds", labels, out);
}

int metrics_render(void *ctx, struct sbuf *out)
{
    const struct metrics *m = ctx;
    int rc = render_counters(m, out);
    if (!rc) {
        rc = sbuf_add(out, "# HELP ocirender_request_duration_seconds Time from the request "
                           "headers to the end of the response.\n"
                           "# TYPE ocirender_request_duration_seconds histogram\n");
    }
    for (size_t r = 0; !rc && r < m->n_routes; r++) {
        rc = render_histogram(m, r, out);
    }
    if (!rc) {
        rc = sbuf_addf(out,
                       "# HELP ocirender_inflight_requests Requests being received or "
                       "answered.\n"
                       "# TYPE ocirender_inflight_requests gauge\n"
                       "ocirender_inflight_requests %llu\n",
                       metrics_inflight(m));
    }
    return rc;
}
