#ifndef OCIRENDER_COMMON_HISTOGRAM_H
#define OCIRENDER_COMMON_HISTOGRAM_H

/*
 * A latency histogram in Prometheus text format (server request durations, secret fetches).
 * Observations are relaxed atomic updates, safe from any thread while another writes the text
 * (each value is exact; a scrape is not a snapshot across values).
 */

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "common/compiler.h"

#define HISTOGRAM_BUCKETS_MAX 16

struct sbuf;

struct histogram {
    const double *bounds; /* upper bounds in seconds, ascending (static storage) */
    size_t n;
    atomic_uint_least64_t buckets[HISTOGRAM_BUCKETS_MAX + 1]; /* per bucket, the last +Inf */
    atomic_uint_least64_t count;
    atomic_uint_least64_t sum_us;
};

/* `n` at most HISTOGRAM_BUCKETS_MAX (more are ignored). */
void histogram_init(struct histogram *h, const double *bounds, size_t n) NONNULL(1, 2);
void histogram_observe_us(struct histogram *h, uint64_t us) NONNULL(1);
uint64_t histogram_count(const struct histogram *h) NONNULL(1);

/*
 * Append NAME_bucket{LABELS,le="..."} (cumulative, then +Inf), NAME_sum{LABELS} in seconds and
 * NAME_count{LABELS}. `labels` is the label list without braces ("route=\"render\""). The
 * # HELP / # TYPE lines are the caller's (one per metric, not per series). 0 or an err_code.
 */
int histogram_write(const struct histogram *h, const char *name, const char *labels,
                    struct sbuf *out) WARN_UNUSED NONNULL(1, 2, 3, 4);

#endif
