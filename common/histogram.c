#include "common/histogram.h"

#include "common/sbuf.h"

static uint64_t load(const atomic_uint_least64_t *v)
{
    return atomic_load_explicit(v, memory_order_relaxed);
}

static void add(atomic_uint_least64_t *v, uint64_t n)
{
    atomic_fetch_add_explicit(v, n, memory_order_relaxed);
}

void histogram_init(struct histogram *h, const double *bounds, size_t n)
{
    h->bounds = bounds;
    h->n = n < HISTOGRAM_BUCKETS_MAX ? n : HISTOGRAM_BUCKETS_MAX;
    for (size_t i = 0; i <= HISTOGRAM_BUCKETS_MAX; i++) {
        atomic_init(&h->buckets[i], 0);
    }
    atomic_init(&h->count, 0);
    atomic_init(&h->sum_us, 0);
}

void histogram_observe_us(struct histogram *h, uint64_t us)
{
    double seconds = (double)us / 1e6;
    size_t b = 0;
    while (b < h->n && seconds > h->bounds[b]) {
        b++;
    }
    add(&h->buckets[b], 1);
    add(&h->sum_us, us);
    add(&h->count, 1);
}

uint64_t histogram_count(const struct histogram *h)
{
    return load(&h->count);
}

int histogram_write(const struct histogram *h, const char *name, const char *labels,
                    struct sbuf *out)
{
    uint64_t cumulative = 0;
    int rc = 0;
    for (size_t b = 0; !rc && b < h->n; b++) {
        cumulative += load(&h->buckets[b]);
        rc = sbuf_addf(out, "%s_bucket{%s,le=\"%g\"} %llu\n", name, labels, h->bounds[b],
                       (unsigned long long)cumulative);
    }
    if (rc) {
        return rc;
    }
    /* +Inf equals the count; the count is read last, so no bucket exceeds it in one scrape. */
    cumulative += load(&h->buckets[h->n]);
    uint64_t count = load(&h->count);
    if (count < cumulative) {
        count = cumulative;
    }
    return sbuf_addf(out,
                     "%s_bucket{%s,le=\"+Inf\"} %llu\n"
                     "%s_sum{%s} %.6f\n"
                     "%s_count{%s} %llu\n",
                     name, labels, (unsigned long long)count, name, labels,
                     (double)load(&h->sum_us) / 1e6, name, labels, (unsigned long long)count);
}
