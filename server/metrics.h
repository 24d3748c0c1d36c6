#ifndef OCIRENDER_SERVER_METRICS_H
#define OCIRENDER_SERVER_METRICS_H

/*
 * Request metrics in Prometheus text format:
 *   ocirender_requests_total{route,code}           counter
 *   ocirender_request_duration_seconds{route}      histogram
 *   ocirender_inflight_requests                    gauge
 * Labels come only from the static route table and the status code, never from the request
 * (an unknown path is route="none"), so the number of series stays bounded.
 *
 * Thread-safety: every update is a relaxed atomic operation; rendering reads them while the
 * workers run (each value is exact; a scrape is not a snapshot across values).
 */

#include <stddef.h>

struct sbuf;
struct metrics;

/* New collector with one label per entry of the route table plus "none". NULL on OOM. */
struct metrics *metrics_create(void);
void metrics_destroy(struct metrics *m);

/* The label index of a route from routes_table(), or metrics_route_none(). */
size_t metrics_route_none(void);

void metrics_request_started(struct metrics *m);
/* `status` 100..599 (others are not counted); `seconds` the request's duration. */
void metrics_request_finished(struct metrics *m, size_t route, int status, double seconds);
unsigned long long metrics_inflight(const struct metrics *m);

/* Append the exposition text. 0, or an err_code from sbuf. `ctx` is the struct metrics. */
int metrics_render(void *ctx, struct sbuf *out);

#endif
