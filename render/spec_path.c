/* Spec paths for errors (render/spec_path.h). */
#include "render/spec_path.h"

#include <string.h>

#include "common/strutil.h"

bool spec_path_key_needs_quoting(const char *key)
{
    if (!*key) {
        return true;
    }
    for (const char *p = key; *p; p++) {
        char c = *p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '-';
        if (!ok) {
            return true;
        }
    }
    return false;
}

/* Append text, cut at the buffer's end. */
static void append(char *path, size_t size, size_t *len, const char *text, size_t n)
{
    size_t room = size - 1 - *len;
    n = n < room ? n : room;
    memcpy(path + *len, text, n);
    *len += n;
    path[*len] = '\0';
}

void spec_path_set(char *path, size_t size, size_t *len, const char *root)
{
    *len = 0;
    path[0] = '\0';
    if (root) {
        append(path, size, len, root, strlen(root));
    }
}

/* Runs for every field of every document, so it avoids snprintf. */
size_t spec_path_push_key(char *path, size_t size, size_t *len, const char *key)
{
    size_t saved = *len;
    size_t klen = strlen(key);
    if (spec_path_key_needs_quoting(key)) {
        append(path, size, len, "[\"", 2);
        append(path, size, len, key, klen);
        append(path, size, len, "\"]", 2);
    } else {
        if (*len > 0) {
            append(path, size, len, ".", 1);
        }
        append(path, size, len, key, klen);
    }
    return saved;
}

size_t spec_path_push_index(char *path, size_t size, size_t *len, size_t i)
{
    size_t saved = *len;
    char digits[21];
    str_from_u64(i, digits);
    append(path, size, len, "[", 1);
    append(path, size, len, digits, strlen(digits));
    append(path, size, len, "]", 1);
    return saved;
}

void spec_path_pop(char *path, size_t *len, size_t saved)
{
    *len = saved;
    path[saved] = '\0';
}

size_t spec_path_push_path(char *path, size_t size, size_t *len, const char *sub)
{
    size_t saved = *len;
    if (*len > 0) {
        append(path, size, len, ".", 1);
    }
    append(path, size, len, sub, strlen(sub));
    return saved;
}

void spec_path_of_key(char *path, size_t size, const char *root, const char *key)
{
    size_t len;
    spec_path_set(path, size, &len, root);
    spec_path_push_key(path, size, &len, key);
}
