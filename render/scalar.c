/*
 * YAML 1.2 core schema resolution for plain scalars, as serde_yaml 0.9 applies it:
 * null is "", "~", "null", "Null", "NULL"; booleans are only true/True/TRUE/false/False/FALSE
 * (so yes/no/on/off stay strings); integers are decimal, 0o octal or 0x hex; floats include
 * .inf and .nan. Anything else is a string. Integers that do not fit in int64 resolve to
 * YS_INT_RANGE so callers can report them instead of wrapping.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "render/internal.h"

static bool all_digits(const char *s, int base)
{
    if (!*s) {
        return false;
    }
    for (; *s; s++) {
        char c = *s;
        bool ok = (c >= '0' && c <= '9' && c - '0' < base) ||
                  (base == 16 && ((c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')));
        if (!ok) {
            return false;
        }
    }
    return true;
}

/* Parse digits in `base`, with overflow detection, into a magnitude. */
static bool magnitude(const char *s, int base, unsigned long long *out)
{
    unsigned long long v = 0;
    for (; *s; s++) {
        unsigned d;
        if (*s >= '0' && *s <= '9') {
            d = (unsigned)(*s - '0');
        } else if (*s >= 'a' && *s <= 'f') {
            d = (unsigned)(*s - 'a' + 10);
        } else {
            d = (unsigned)(*s - 'A' + 10);
        }
        if (v > (~0ull - d) / (unsigned)base) {
            return false;
        }
        v = v * (unsigned)base + d;
    }
    *out = v;
    return true;
}

static enum yscalar resolve_int(const char *s, struct yvalue *v)
{
    bool neg = false;
    const char *p = s;
    int base = 10;
    if (p[0] == '0' && (p[1] == 'o' || p[1] == 'x')) {
        base = p[1] == 'o' ? 8 : 16;
        p += 2;
    } else if (*p == '-' || *p == '+') {
        neg = *p == '-';
        p++;
    }
    if (!all_digits(p, base)) {
        return YS_STR;
    }
    unsigned long long m;
    if (!magnitude(p, base, &m)) {
        return YS_INT_RANGE;
    }
    if (neg) {
        if (m > 9223372036854775808ull) {
            return YS_INT_RANGE;
        }
        v->i = m == 9223372036854775808ull ? (-9223372036854775807ll - 1) : -(long long)m;
    } else {
        if (m > 9223372036854775807ull) {
            return YS_INT_RANGE;
        }
        v->i = (long long)m;
    }
    return YS_INT;
}

/* [-+]? ( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )? */
static bool float_syntax(const char *s)
{
    if (*s == '-' || *s == '+') {
        s++;
    }
    size_t int_digits = strspn(s, "0123456789");
    s += int_digits;
    size_t frac_digits = 0;
    if (*s == '.') {
        s++;
        frac_digits = strspn(s, "0123456789");
        s += frac_digits;
    }
    if (int_digits == 0 && frac_digits == 0) {
        return false;
    }
    if (*s == 'e' || *s == 'E') {
        s++;
        if (*s == '-' || *s == '+') {
            s++;
        }
        size_t exp_digits = strspn(s, "0123456789");
        if (exp_digits == 0) {
            return false;
        }
        s += exp_digits;
    }
    return *s == '\0';
}

static bool one_of(const char *s, const char *const *words)
{
    for (; *words; words++) {
        if (strcmp(s, *words) == 0) {
            return true;
        }
    }
    return false;
}

/* Whether a scalar starting with `c` may be anything but a string: null ("", ~, null),
 * a boolean (true, false), an integer (digits, signs) or a float (digits, signs, .inf). */
static bool may_resolve(char c)
{
    return c == '\0' || (c >= '0' && c <= '9') || strchr("~nNtTfF.+-", c) != NULL;
}

enum yscalar yscalar_resolve(const char *s, struct yvalue *v)
{
    static const char *const nulls[] = {"", "~", "null", "Null", "NULL", NULL};
    static const char *const trues[] = {"true", "True", "TRUE", NULL};
    static const char *const falses[] = {"false", "False", "FALSE", NULL};
    static const char *const pinf[] = {".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", NULL};
    static const char *const ninf[] = {"-.inf", "-.Inf", "-.INF", NULL};
    static const char *const nans[] = {".nan", ".NaN", ".NAN", NULL};

    if (!may_resolve(s[0])) {
        return YS_STR; /* most plain scalars: names, paths, image references */
    }
    if (one_of(s, nulls)) {
        return YS_NULL;
    }
    if (one_of(s, trues) || one_of(s, falses)) {
        v->b = one_of(s, trues);
        return YS_BOOL;
    }
    enum yscalar k = resolve_int(s, v);
    if (k != YS_STR) {
        return k;
    }
    if (one_of(s, pinf) || one_of(s, ninf) || one_of(s, nans)) {
        v->d = one_of(s, nans) ? (double)NAN : (one_of(s, ninf) ? -(double)INFINITY : (double)INFINITY);
        return YS_FLOAT;
    }
    if (float_syntax(s)) {
        v->d = strtod(s, NULL);
        return YS_FLOAT;
    }
    return YS_STR;
}
