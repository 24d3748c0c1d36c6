#ifndef OCIRENDER_COMMON_CLOCK_H
#define OCIRENDER_COMMON_CLOCK_H

/* Monotonic time, sleeping and jitter: what retry loops and caches need. */

#include <stdint.h>

/* Milliseconds on the monotonic clock (not wall time: immune to clock changes). */
uint64_t clock_mono_ms(void);

/* Sleep `ms` milliseconds, resuming after signals. */
void clock_sleep_ms(unsigned ms);

/* A random number for spreading retries (not for secrets): thread-local xorshift seeded from
 * getrandom(2), or the clock and thread when the kernel has no entropy yet. */
uint32_t clock_jitter(void);

#endif
