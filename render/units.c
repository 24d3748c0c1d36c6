/* Unit parsers shared by validation and rendering: memory sizes, durations, octal modes. */
#include <stdio.h>
#include <string.h>

#include "render/units.h"

static const char *skip_space(const char *s)
{
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r') {
        s++;
    }
    return s;
}

int units_parse_memory(const char *text, uint64_t *out, char *why, size_t why_size)
{
    static const struct {
        const char *suffix;
        uint64_t mult;
    } suffixes[] = {
        {"Ki", 1024ull},        {"Mi", 1024ull << 10},  {"Gi", 1024ull << 20},
        {"Ti", 1024ull << 30},  {"K", 1000ull},         {"k", 1000ull},
        {"M", 1000000ull},      {"m", 1000000ull},      {"G", 1000000000ull},
        {"g", 1000000000ull},   {"T", 1000000000000ull}, {"t", 1000000000000ull},
    };
    const char *s = skip_space(text);
    size_t len = strlen(s);
    while (len && strchr(" \t\r\n", s[len - 1])) {
        len--;
    }
    if (len == 0) {
        snprintf(why, why_size, "empty memory string");
        return -1;
    }
    uint64_t mult = 1;
    for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
        size_t sl = strlen(suffixes[i].suffix);
        if (len > sl && memcmp(s + len - sl, suffixes[i].suffix, sl) == 0) {
            mult = suffixes[i].mult;
            len -= sl;
            break;
        }
    }
    size_t start = (s[0] == '+') ? 1 : 0;
    if (start == len) {
        snprintf(why, why_size, "invalid number in '%s'", text);
        return -1;
    }
    uint64_t n = 0;
    for (size_t i = start; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            snprintf(why, why_size,
                     "invalid memory size '%s' (use a whole number with Ki, Mi, Gi, Ti, K, M, G or T)",
                     text);
            return -1;
        }
        unsigned d = (unsigned)(s[i] - '0');
        if (n > (UINT64_MAX - d) / 10) {
            snprintf(why, why_size, "memory size '%s' is too large", text);
            return -1;
        }
        n = n * 10 + d;
    }
    if (mult != 1 && n > UINT64_MAX / mult) {
        snprintf(why, why_size, "memory size '%s' is too large", text);
        return -1;
    }
    *out = n * mult;
    return 0;
}

int units_parse_duration(const char *text, uint64_t *ms_out, char *why, size_t why_size)
{
    static const struct {
        const char *unit;
        double ms;
    } units[] = {
        {"nsec", 1e-6},     {"ns", 1e-6},        {"usec", 1e-3},      {"us", 1e-3},
        {"\xc2\xb5s", 1e-3}, {"msec", 1},         {"ms", 1},           {"seconds", 1e3},
        {"second", 1e3},    {"secs", 1e3},       {"sec", 1e3},        {"s", 1e3},
        {"minutes", 6e4},   {"minute", 6e4},     {"mins", 6e4},       {"min", 6e4},
        {"m", 6e4},         {"hours", 3.6e6},    {"hour", 3.6e6},     {"hrs", 3.6e6},
        {"hr", 3.6e6},      {"h", 3.6e6},        {"days", 8.64e7},    {"day", 8.64e7},
        {"d", 8.64e7},      {"weeks", 6.048e8},  {"week", 6.048e8},   {"w", 6.048e8},
        {"months", 2.63e9}, {"month", 2.63e9},   {"M", 2.63e9},       {"years", 3.156e10},
        {"year", 3.156e10}, {"y", 3.156e10},
    };
    const char *s = skip_space(text);
    double total = 0;
    bool any = false;
    while (*s) {
        uint64_t n = 0;
        const char *d = s;
        while (*s >= '0' && *s <= '9') {
            if (n > UINT64_MAX / 10 - 10) {
                snprintf(why, why_size, "duration '%s' is too large", text);
                return -1;
            }
            n = n * 10 + (uint64_t)(*s - '0');
            s++;
        }
        if (s == d) {
            snprintf(why, why_size, "invalid duration '%s' (expected e.g. 30s, 5m, 1h 30m)", text);
            return -1;
        }
        s = skip_space(s);
        const char *u = s;
        while ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (unsigned char)*s >= 0x80) {
            s++;
        }
        size_t ulen = (size_t)(s - u);
        double mult = -1;
        for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
            if (strlen(units[i].unit) == ulen && memcmp(units[i].unit, u, ulen) == 0) {
                mult = units[i].ms;
                break;
            }
        }
        if (mult < 0) {
            snprintf(why, why_size, "invalid duration '%s': unknown or missing unit", text);
            return -1;
        }
        total += (double)n * mult;
        any = true;
        s = skip_space(s);
    }
    if (!any) {
        snprintf(why, why_size, "empty duration");
        return -1;
    }
    if (total > 1.8e19) {
        snprintf(why, why_size, "duration '%s' is too large", text);
        return -1;
    }
    *ms_out = (uint64_t)total;
    return 0;
}

int units_parse_mode(const char *text, uint32_t *out, char *why, size_t why_size)
{
    const char *s = text;
    if (s[0] == '0' && s[1] == 'o') {
        s += 2;
    }
    if (!*s) {
        snprintf(why, why_size, "invalid mode '%s'", text);
        return -1;
    }
    uint32_t v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9') {
            snprintf(why, why_size, "invalid mode '%s' (expected octal digits such as 1777)", text);
            return -1;
        }
        if (*p > '7') {
            snprintf(why, why_size, "mode '%s' is not octal (digit %c)", text, *p);
            return -1;
        }
        v = v * 8 + (uint32_t)(*p - '0');
        if (v > 07777) {
            snprintf(why, why_size, "mode '%s' is larger than 7777", text);
            return -1;
        }
    }
    *out = v;
    return 0;
}
