#include "common/param.h"

#include <string.h>

#include "common/strutil.h"

int param_u64(const char *name, const char *text, uint64_t max, uint64_t *out, struct err *err)
{
    uint64_t v;
    if (str_to_u64(text, &v) || v > max) {
        return err_set(err, ERR_BAD_REQUEST, name, "%s must be an integer in 0..%llu, got '%s'",
                       name, (unsigned long long)max, text);
    }
    *out = v;
    return 0;
}

int param_bool(const char *name, const char *text, bool *out, struct err *err)
{
    if (strcmp(text, "true") != 0 && strcmp(text, "false") != 0) {
        return err_set(err, ERR_BAD_REQUEST, name, "%s must be true or false, got '%s'", name,
                       text);
    }
    *out = strcmp(text, "true") == 0;
    return 0;
}
