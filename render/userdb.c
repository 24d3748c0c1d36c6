/*
 * /etc/passwd and /etc/group lookups over text the node sent (host.rootfs), never the
 * server's own files. Lines are `name:x:uid:gid:...` and `name:x:gid:member,member`.
 */
#include <stdio.h>
#include <string.h>

#include "common/strutil.h"
#include "render/ctx.h"

/* Copy field `idx` (0-based, ':'-separated) of the line [s, e) into buf. */
static bool line_field(const char *s, const char *e, int idx, char *buf, size_t size)
{
    for (int i = 0; i < idx; i++) {
        const char *colon = memchr(s, ':', (size_t)(e - s));
        if (!colon) {
            return false;
        }
        s = colon + 1;
    }
    const char *end = memchr(s, ':', (size_t)(e - s));
    size_t n = (size_t)((end ? end : e) - s);
    if (n >= size) {
        return false;
    }
    memcpy(buf, s, n);
    buf[n] = '\0';
    return true;
}

/* Iterate lines; calls fn for each non-comment line until it returns non-zero. */
static int each_line(const char *text, int (*fn)(const char *s, const char *e, void *arg),
                     void *arg)
{
    const char *p = text;
    while (p && *p) {
        const char *nl = strchr(p, '\n');
        const char *e = nl ? nl : p + strlen(p);
        if (e > p && e[-1] == '\r') {
            e--;
        }
        if (e > p && *p != '#') {
            int rc = fn(p, e, arg);
            if (rc) {
                return rc;
            }
        }
        p = nl ? nl + 1 : NULL;
    }
    return 0;
}

struct user_query {
    const char *name;
    const uint32_t *uid;
    struct userdb_user *out;
};

static int match_user(const char *s, const char *e, void *arg)
{
    struct user_query *q = arg;
    char name[256], uid[32], gid[32];
    if (!line_field(s, e, 0, name, sizeof(name)) || !line_field(s, e, 2, uid, sizeof(uid)) ||
        !line_field(s, e, 3, gid, sizeof(gid))) {
        return 0;
    }
    uint32_t u, g;
    if (str_to_u32(uid, &u) || str_to_u32(gid, &g)) {
        return 0;
    }
    if ((q->name && strcmp(q->name, name) == 0) || (q->uid && *q->uid == u)) {
        q->out->uid = u;
        q->out->gid = g;
        snprintf(q->out->name, sizeof(q->out->name), "%s", name);
        return 1;
    }
    return 0;
}

int userdb_find_user(const char *passwd, const char *name, const uint32_t *uid,
                     struct userdb_user *out)
{
    struct user_query q = {.name = name, .uid = uid, .out = out};
    return (passwd && each_line(passwd, match_user, &q) == 1) ? 0 : -1;
}

struct group_query {
    const char *name;
    uint32_t gid;
};

static int match_group(const char *s, const char *e, void *arg)
{
    struct group_query *q = arg;
    char name[256], gid[32];
    uint32_t g;
    if (line_field(s, e, 0, name, sizeof(name)) && strcmp(name, q->name) == 0 &&
        line_field(s, e, 2, gid, sizeof(gid)) && str_to_u32(gid, &g) == 0) {
        q->gid = g;
        return 1;
    }
    return 0;
}

int userdb_find_group(const char *group, const char *name, uint32_t *gid)
{
    struct group_query q = {.name = name};
    if (!group || each_line(group, match_group, &q) != 1) {
        return -1;
    }
    *gid = q.gid;
    return 0;
}

struct supp_query {
    struct arena *a;
    const char *user;
    uint32_t primary;
    struct oci_gids *gids;
};

static bool gid_listed(const struct oci_gids *gids, uint32_t gid)
{
    for (size_t i = 0; i < gids->n; i++) {
        if (gids->v[i] == gid) {
            return true;
        }
    }
    return false;
}

static int match_member(const char *s, const char *e, void *arg)
{
    struct supp_query *q = arg;
    char gid[32], members[4096];
    uint32_t g;
    if (!line_field(s, e, 2, gid, sizeof(gid)) || str_to_u32(gid, &g) ||
        !line_field(s, e, 3, members, sizeof(members))) {
        return 0;
    }
    size_t ulen = strlen(q->user);
    for (const char *m = members; *m;) {
        const char *comma = strchr(m, ',');
        size_t n = comma ? (size_t)(comma - m) : strlen(m);
        if (n == ulen && strncmp(m, q->user, n) == 0 && g != q->primary &&
            !gid_listed(q->gids, g)) {
            if (oci_gids_push(q->a, q->gids, g)) {
                return -1;
            }
        }
        m = comma ? comma + 1 : m + n;
    }
    return 0;
}

int userdb_supplementary(struct arena *a, const char *group, const char *user, uint32_t primary,
                         struct oci_gids *gids)
{
    struct supp_query q = {.a = a, .user = user, .primary = primary, .gids = gids};
    return (group && *user) ? (each_line(group, match_member, &q) < 0 ? -1 : 0) : 0;
}
