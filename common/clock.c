#define _GNU_SOURCE /* getrandom */
#include "common/clock.h"

#include <errno.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

uint64_t clock_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void clock_sleep_ms(unsigned ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static uint32_t jitter_seed(const void *where)
{
    uint32_t seed = 0;
    if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != (ssize_t)sizeof(seed)) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        seed = (uint32_t)ts.tv_nsec ^ (uint32_t)(uintptr_t)where ^ (uint32_t)getpid();
    }
    return seed ? seed : 0x9e3779b9u; /* xorshift never leaves 0 */
}

uint32_t clock_jitter(void)
{
    static _Thread_local uint32_t state;
    if (state == 0) {
        state = jitter_seed(&state);
    }
    state ^= state << 13;
    state ^= state >> 17;
    state ^= state << 5;
    return state;
}
