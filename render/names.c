/*
 * The name rules of a ZLayer spec: image references, deployment and service names, replica
 * group roles. Used by the spec's field tables (spec_model.c) and by the request's identity
 * (request.c: a service or role named by the request, not the spec).
 */
#include <string.h>

#include "render/spec_model.h"

static bool is_lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* path-component = [a-z0-9]+ (separator [a-z0-9]+)*, separator = [._] | __ | -+ */
static bool valid_path_component(const char *s, size_t n)
{
    if (n == 0 || !is_lower_alnum(s[0]) || !is_lower_alnum(s[n - 1])) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (is_lower_alnum(s[i])) {
            continue;
        }
        if (s[i] == '.' || s[i] == '_') {
            bool dunder = s[i] == '_' && s[i + 1] == '_';
            size_t next = i + (dunder ? 2 : 1);
            if (next >= n || !is_lower_alnum(s[next])) {
                return false;
            }
            i = next - 1;
        } else if (s[i] != '-') {
            return false;
        }
    }
    return true;
}

static bool valid_domain(const char *s, size_t n)
{
    if (n == 0) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool ok = is_lower_alnum(c) || (c >= 'A' && c <= 'Z') || c == '.' || c == '-' ||
                  c == ':' || c == '[' || c == ']';
        if (!ok) {
            return false;
        }
    }
    return true;
}

static bool valid_tag(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 128) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool word = is_lower_alnum(c) || (c >= 'A' && c <= 'Z') || c == '_';
        if (!word && (i == 0 || (c != '.' && c != '-'))) {
            return false;
        }
    }
    return true;
}

static bool valid_digest(const char *s)
{
    const char *colon = strchr(s, ':');
    if (!colon || colon == s || strlen(colon + 1) < 32) {
        return false;
    }
    for (const char *p = s; p < colon; p++) {
        if (!is_lower_alnum(*p) && !strchr("+._-", *p)) {
            return false;
        }
    }
    for (const char *p = colon + 1; *p; p++) {
        if (!strchr("0123456789abcdefABCDEF", *p)) {
            return false;
        }
    }
    return true;
}

/* An image reference as the distribution reference grammar writes it:
 * [domain/]path[:tag][@digest]. */
bool spec_valid_image_ref(const char *ref)
{
    char buf[512];
    size_t len = strlen(ref);
    if (len >= sizeof(buf) || len == 0) {
        return false;
    }
    memcpy(buf, ref, len + 1);
    char *at = strchr(buf, '@');
    if (at) {
        *at = '\0';
        if (!valid_digest(at + 1)) {
            return false;
        }
    }
    char *last_slash = strrchr(buf, '/');
    char *colon = strrchr(buf, ':');
    if (colon && (!last_slash || colon > last_slash)) {
        *colon = '\0';
        if (!valid_tag(colon + 1)) {
            return false;
        }
    }
    if (strlen(buf) > 255) {
        return false;
    }
    const char *p = buf;
    const char *slash = strchr(p, '/');
    if (slash) {
        size_t n = (size_t)(slash - p);
        bool is_domain = memchr(p, '.', n) || memchr(p, ':', n) ||
                         (n == 9 && memcmp(p, "localhost", 9) == 0);
        if (is_domain) {
            if (!valid_domain(p, n)) {
                return false;
            }
            p = slash + 1;
        }
    }
    for (;;) {
        const char *next = strchr(p, '/');
        size_t n = next ? (size_t)(next - p) : strlen(p);
        if (!valid_path_component(p, n)) {
            return false;
        }
        if (!next) {
            return true;
        }
        p = next + 1;
    }
}

/* A replica group role: 1-30 chars, ^[a-z]([a-z0-9-]{0,28}[a-z0-9])?$. */
bool spec_valid_role(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 30 || !(s[0] >= 'a' && s[0] <= 'z')) {
        return false;
    }
    for (size_t i = 1; i < n; i++) {
        if (!is_lower_alnum(s[i]) && s[i] != '-') {
            return false;
        }
    }
    return n == 1 || is_lower_alnum(s[n - 1]);
}

/* 3-63 letters, digits and '-', starting with a letter or digit. */
bool spec_valid_deployment_name(const char *s)
{
    size_t n = strlen(s);
    if (n < 3 || n > 63) {
        return false;
    }
    if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') ||
          (s[0] >= '0' && s[0] <= '9'))) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-')) {
            return false;
        }
    }
    return true;
}

/* 1-63 letters, digits, '-', '_' and '.', starting with a letter or digit, no "..". */
bool spec_valid_service_name(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 63 || !(is_lower_alnum(s[0]) || (s[0] >= 'A' && s[0] <= 'Z'))) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!(is_lower_alnum(c) || (c >= 'A' && c <= 'Z') || c == '-' || c == '_' || c == '.')) {
            return false;
        }
    }
    return !strstr(s, "..");
}
