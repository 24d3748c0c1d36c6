#include "common/server_env.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/jsonx.h"

#define NAME_MAX_LEN 255
#define SEPARATORS ", "

static bool env_name_valid(const char *name, size_t n)
{
    if (n == 0 || n > NAME_MAX_LEN || (name[0] >= '0' && name[0] <= '9')) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!(c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
              (c >= '0' && c <= '9'))) {
            return false;
        }
    }
    return true;
}

/* Record one allowed name: its value into env, or the name into missing. */
static int add_name(const char *name, json_t *env, json_t *missing)
{
    const char *v = getenv(name);
    if (v) {
        return jsonx_set_str(env, name, v);
    }
    return missing ? json_array_append_new(missing, json_string(name)) : 0;
}

static int parse_list(const char *list, json_t *env, json_t *missing, struct err *err)
{
    for (const char *p = list + strspn(list, SEPARATORS); *p; p += strspn(p, SEPARATORS)) {
        size_t n = strcspn(p, SEPARATORS);
        if (!env_name_valid(p, n)) {
            return err_set(err, ERR_USAGE, SERVER_ENV_VAR,
                           "'%.*s' is not an environment variable name", (int)(n > 64 ? 64 : n),
                           p);
        }
        char name[NAME_MAX_LEN + 1];
        memcpy(name, p, n);
        name[n] = '\0';
        if (add_name(name, env, missing)) {
            return err_nomem(err);
        }
        p += n;
    }
    return 0;
}

int server_env_allowed(const char *list, json_t **env, json_t **missing, struct err *err)
{
    *env = NULL;
    if (missing) {
        *missing = NULL;
    }
    if (!list || !*list) {
        return 0;
    }
    json_t *e = json_object(), *m = missing ? json_array() : NULL;
    if (!e || (missing && !m)) {
        json_decref(e);
        json_decref(m);
        return err_nomem(err);
    }
    if (parse_list(list, e, m, err)) {
        json_decref(e);
        json_decref(m);
        return -1;
    }
    *env = e;
    if (missing) {
        *missing = m;
    }
    return 0;
}
