/*
 * The process object: user and groups,
 * capabilities, cwd, argv, rlimits, terminal, oomScoreAdj, LSM labels, noNewPrivileges.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/jsonx.h"
#include "common/strutil.h"
#include "render/ctx.h"

/* ---- capabilities ---- */

static const char *const all_caps[] = {
    "AUDIT_CONTROL", "AUDIT_READ",      "AUDIT_WRITE",      "BLOCK_SUSPEND",    "BPF",
    "CHECKPOINT_RESTORE", "CHOWN",      "DAC_OVERRIDE",     "DAC_READ_SEARCH",  "FOWNER",
    "FSETID",        "IPC_LOCK",        "IPC_OWNER",        "KILL",             "LEASE",
    "LINUX_IMMUTABLE", "MAC_ADMIN",     "MAC_OVERRIDE",     "MKNOD",            "NET_ADMIN",
    "NET_BIND_SERVICE", "NET_BROADCAST", "NET_RAW",         "PERFMON",          "SETFCAP",
    "SETGID",        "SETPCAP",         "SETUID",           "SYS_ADMIN",        "SYS_BOOT",
    "SYS_CHROOT",    "SYS_MODULE",      "SYS_NICE",         "SYS_PACCT",        "SYS_PTRACE",
    "SYS_RAWIO",     "SYS_RESOURCE",    "SYS_TIME",         "SYS_TTY_CONFIG",   "SYSLOG",
    "WAKE_ALARM",
};
#define N_CAPS (sizeof(all_caps) / sizeof(all_caps[0]))

/* Docker's default capability set. */
static const char *const default_caps[] = {
    "CHOWN",  "DAC_OVERRIDE", "FSETID",  "FOWNER",           "MKNOD",      "NET_RAW", "SETGID",
    "SETUID", "SETFCAP",      "SETPCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "KILL",    "AUDIT_WRITE",
};

/* Index in all_caps of a name given with or without CAP_, in any case; -1 unknown, -2 ALL. */
static int cap_index(const char *name)
{
    char up[64];
    size_t n = strlen(name);
    if (n >= sizeof(up)) {
        return -1;
    }
    for (size_t i = 0; i <= n; i++) {
        char ch = name[i];
        up[i] = (ch >= 'a' && ch <= 'z') ? (char)(ch - 'a' + 'A') : ch;
    }
    const char *bare = str_has_prefix(up, "CAP_") ? up + 4 : up;
    if (strcmp(bare, "ALL") == 0) {
        return -2;
    }
    for (size_t i = 0; i < N_CAPS; i++) {
        if (strcmp(all_caps[i], bare) == 0) {
            return (int)i;
        }
    }
    return -1;
}

/* Resolve a capability list into `set` (flags per all_caps index); `*all` for ALL. */
static int read_cap_list(struct rctx *c, const char *field, bool *set, bool *all)
{
    const json_t *list = json_object_get(c->svc, field);
    for (size_t i = 0; i < json_array_size(list); i++) {
        const char *name = json_string_value(json_array_get(list, i));
        int idx = cap_index(name);
        if (idx == -1) {
            char f[64];
            snprintf(f, sizeof(f), "%s[%zu]", field, i);
            return rctx_fail(c, f, "unknown capability '%s'", name);
        }
        if (idx == -2) {
            *all = true;
        } else {
            set[idx] = true;
        }
    }
    return 0;
}

/*
 * privileged: every capability. Otherwise Docker's rule: start from the default set (empty if
 * cap_drop has ALL; everything if capabilities has ALL), add `capabilities`, then remove
 * `cap_drop` except what was explicitly added.
 */
static json_t *render_capabilities(struct rctx *c, bool *added_any)
{
    bool add[N_CAPS] = {0}, drop[N_CAPS] = {0}, have[N_CAPS] = {0};
    bool add_all = false, drop_all = false;
    if (read_cap_list(c, "capabilities", add, &add_all) ||
        read_cap_list(c, "cap_drop", drop, &drop_all)) {
        return NULL;
    }
    *added_any = json_array_size(json_object_get(c->svc, "capabilities")) > 0;
    if (c->privileged || add_all) {
        for (size_t i = 0; i < N_CAPS; i++) {
            have[i] = true;
        }
    } else if (!drop_all) {
        for (size_t d = 0; d < sizeof(default_caps) / sizeof(default_caps[0]); d++) {
            have[cap_index(default_caps[d])] = true;
        }
    }
    if (!c->privileged) {
        for (size_t i = 0; i < N_CAPS; i++) {
            have[i] = (have[i] || add[i]) && !(drop[i] && !add[i]);
        }
    }
    json_t *set = json_array();
    for (size_t i = 0; set && i < N_CAPS; i++) { /* all_caps is sorted, so the list is too */
        char name[64];
        snprintf(name, sizeof(name), "CAP_%s", all_caps[i]);
        if (have[i] && jsonx_append_str(set, name)) {
            json_decref(set);
            set = NULL;
        }
    }
    json_t *caps = json_pack("{s:O, s:O, s:[], s:O, s:[]}", "bounding", set, "effective", set,
                             "inheritable", "permitted", set, "ambient");
    c->caps = set; /* kept for the seccomp profile */
    if (!caps) {
        rctx_nomem(c);
    }
    return caps;
}

/* ---- user ---- */

static bool parse_id(const char *s, uint32_t *out)
{
    uint32_t v;
    if (str_to_u32(s, &v) || v > 2147483647u) {
        return false;
    }
    *out = v;
    return true;
}

static const char *rootfs_file(const struct rctx *c, const char *which)
{
    return jsonx_get_str(json_object_get(c->req->host, "rootfs"), which);
}

/* Fail at the field the user string came from (spec `user` or image_config.User). */
static int user_fail(struct rctx *c, bool from_spec, const char *fmt, ...) PRINTF(3, 4);
static int user_fail(struct rctx *c, bool from_spec, const char *fmt, ...)
{
    char path[ERR_PATH_MAX];
    va_list ap;
    va_start(ap, fmt);
    err_setv(c->err, ERR_SPEC_INVALID,
             from_spec ? rctx_path(c, path, sizeof(path), "user") : "image_config.User", fmt, ap);
    va_end(ap);
    return -1;
}

static int extra_groups(struct rctx *c)
{
    const json_t *list = json_object_get(c->svc, "extra_groups");
    for (size_t i = 0; i < json_array_size(list); i++) {
        const char *g = json_string_value(json_array_get(list, i));
        uint32_t gid;
        if (!parse_id(g, &gid) && userdb_find_group(rootfs_file(c, "group"), g, &gid)) {
            char f[48];
            snprintf(f, sizeof(f), "extra_groups[%zu]", i);
            if (rootfs_file(c, "group")) {
                return rctx_fail(c, f, "no group '%s' in the rootfs /etc/group", g);
            }
            return rctx_fail(c, f,
                             "group '%s' cannot be resolved without host.rootfs.group "
                             "(ocirender facts --rootfs)",
                             g);
        }
        bool dup = gid == c->gid;
        for (size_t j = 0; j < json_array_size(c->additional_gids); j++) {
            dup = dup || json_integer_value(json_array_get(c->additional_gids, j)) == gid;
        }
        if (!dup && json_array_append_new(c->additional_gids, json_integer(gid))) {
            return rctx_nomem(c);
        }
    }
    return 0;
}

/*
 * spec.user overrides the image User; `uid[:gid]` numbers are used as given, names are looked
 * up in host.rootfs passwd/group; an unresolvable name is an error, never root.
 */
static json_t *render_user(struct rctx *c)
{
    const char *spec_user = jsonx_get_str(c->svc, "user");
    const char *image_user = jsonx_get_str(c->req->image_config, "User");
    bool from_spec = spec_user && *spec_user;
    const char *text = from_spec ? spec_user : image_user;
    char user[256] = "", group[256] = "", username[256] = "";
    c->uid = c->gid = 0;
    if (text && *text) {
        const char *colon = strchr(text, ':');
        size_t ulen = colon ? (size_t)(colon - text) : strlen(text);
        if (ulen >= sizeof(user) || (colon && strlen(colon + 1) >= sizeof(group))) {
            user_fail(c, from_spec, "user '%s' is too long", text);
            return NULL;
        }
        memcpy(user, text, ulen);
        user[ulen] = '\0';
        if (colon) {
            snprintf(group, sizeof(group), "%s", colon + 1);
        }
        const char *passwd = rootfs_file(c, "passwd");
        struct userdb_user pw;
        bool numeric = parse_id(user, &c->uid);
        bool found;
        if (numeric) {
            found = userdb_find_user(passwd, NULL, &c->uid, &pw) == 0;
            c->gid = found ? pw.gid : c->uid; /* no passwd entry: the original's gid = uid */
        } else if (!*user) {
            found = false;
        } else {
            found = userdb_find_user(passwd, user, NULL, &pw) == 0;
            if (!found) {
                if (passwd) {
                    user_fail(c, from_spec, "no user '%s' in the rootfs /etc/passwd", user);
                } else {
                    user_fail(c, from_spec,
                              "user '%s' cannot be resolved without host.rootfs.passwd "
                              "(ocirender facts --rootfs)",
                              user);
                }
                return NULL;
            }
            c->uid = pw.uid;
            c->gid = pw.gid;
        }
        if (found) {
            snprintf(username, sizeof(username), "%s", pw.name);
        }
        if (colon && !parse_id(group, &c->gid) &&
            userdb_find_group(rootfs_file(c, "group"), group, &c->gid)) {
            if (rootfs_file(c, "group")) {
                user_fail(c, from_spec, "no group '%s' in the rootfs /etc/group", group);
            } else {
                user_fail(c, from_spec,
                          "group '%s' cannot be resolved without host.rootfs.group "
                          "(ocirender facts --rootfs)",
                          group);
            }
            return NULL;
        }
    }
    if (userdb_supplementary(rootfs_file(c, "group"), username, c->gid, c->additional_gids) ||
        extra_groups(c)) {
        if (!err_is_set(c->err)) {
            rctx_nomem(c);
        }
        return NULL;
    }
    json_t *u = json_pack("{s:I, s:I}", "uid", (json_int_t)c->uid, "gid", (json_int_t)c->gid);
    if (!u) {
        rctx_nomem(c);
    }
    return u;
}

/* ---- argv and cwd ---- */

static json_t *concat(const json_t *a, const json_t *b)
{
    json_t *out = json_array();
    if (out && ((a && json_array_extend(out, (json_t *)(uintptr_t)a)) ||
                (b && json_array_extend(out, (json_t *)(uintptr_t)b)))) {
        json_decref(out);
        return NULL;
    }
    return out;
}

/*
 * Kubernetes (and Compose) argv: options.args verbatim; `entrypoint` replaces the image
 * Entrypoint and drops the image Cmd; `args` alone follow the image Entrypoint (the original
 * dropped it, so an image with an ENTRYPOINT got an argv it could not run); neither: image
 * Entrypoint ++ Cmd; nothing at all: /bin/sh. An empty argv is refused, never emitted.
 */
static json_t *render_args(struct rctx *c)
{
    const json_t *opt = json_object_get(c->req->options, "args");
    const json_t *cmd = json_object_get(c->svc, "command");
    const json_t *ep = json_object_get(cmd, "entrypoint");
    const json_t *args = json_object_get(cmd, "args");
    const json_t *img = c->req->image_config;
    const json_t *img_ep = json_object_get(img, "Entrypoint");
    bool has_args = json_array_size(args) > 0;
    json_t *argv;
    if (opt) {
        argv = json_deep_copy(opt);
    } else if (ep) {
        argv = concat(ep, args);
    } else if (has_args) {
        argv = concat(img_ep, args);
        if (!img && rctx_warn(c, "argv_image_unknown", "command.args",
                              "the image config is unknown, so the image Entrypoint could not be "
                              "prepended to command.args (send image_config, or set "
                              "command.entrypoint)")) {
            json_decref(argv);
            return NULL;
        }
    } else {
        argv = concat(img_ep, json_object_get(img, "Cmd"));
        if (argv && json_array_size(argv) == 0) {
            if (jsonx_append_str(argv, "/bin/sh")) {
                json_decref(argv);
                argv = NULL;
            } else if (rctx_warn(c, "argv_default_shell", "command",
                                 "no entrypoint or args in the spec and none in the image "
                                 "config%s: the process is /bin/sh",
                                 img ? "" : " (none was sent)")) {
                json_decref(argv);
                return NULL;
            }
        }
    }
    if (!argv) {
        rctx_nomem(c);
        return NULL;
    }
    if (json_array_size(argv) == 0) {
        json_decref(argv);
        if (opt) {
            err_set(c->err, ERR_SPEC_INVALID, "options.args", "the process arguments are empty");
        } else {
            rctx_fail(c, "command.entrypoint", "the process arguments are empty");
        }
        return NULL;
    }
    return argv;
}

/* options.cwd, command.workdir, image WorkingDir, "/"; it must be absolute: the original
 * emitted a relative one and the runtime failed later. */
static const char *render_cwd(struct rctx *c)
{
    const char *opt = jsonx_get_str(c->req->options, "cwd");
    const char *wd = jsonx_get_str(json_object_get(c->svc, "command"), "workdir");
    const char *img = jsonx_get_str(c->req->image_config, "WorkingDir");
    const char *cwd = (opt && *opt) ? opt : (wd && *wd) ? wd : (img && *img) ? img : "/";
    if (cwd[0] != '/') {
        if (cwd == opt) {
            err_set(c->err, ERR_SPEC_INVALID, "options.cwd", "cwd '%s' must be absolute", cwd);
        } else if (cwd == wd) {
            rctx_fail(c, "command.workdir", "workdir '%s' must be an absolute path", cwd);
        } else {
            err_set(c->err, ERR_SPEC_INVALID, "image_config.WorkingDir",
                    "WorkingDir '%s' must be an absolute path", cwd);
        }
        return NULL;
    }
    return cwd;
}

/* ---- rlimits (the original's HEAD semantics; -1 is unlimited) ---- */

static const char *const rlimit_names[] = {
    "as",     "core",   "cpu",    "data",   "fsize",      "locks",    "memlock", "msgqueue",
    "nice",   "nofile", "nproc",  "rss",    "rtprio",     "rttime",   "sigpending", "stack",
};

static int rlimit_index(const char *name)
{
    char low[32];
    size_t n = strlen(name);
    if (n == 0 || n >= sizeof(low)) {
        return -1;
    }
    for (size_t i = 0; i <= n; i++) {
        char ch = name[i];
        low[i] = (ch >= 'A' && ch <= 'Z') ? (char)(ch - 'A' + 'a') : ch;
    }
    for (size_t i = 0; i < sizeof(rlimit_names) / sizeof(rlimit_names[0]); i++) {
        if (strcmp(rlimit_names[i], low) == 0) {
            return (int)i;
        }
    }
    return -1;
}

/* -1 is unlimited (RLIM_INFINITY, emitted exactly as 18446744073709551615). */
static json_t *rlimit_value(struct rctx *c, const char *field, long long v)
{
    if (v < -1) {
        rctx_fail(c, field, "%lld is not a valid limit (use -1 for unlimited)", v);
        return NULL;
    }
    json_t *out = v == -1 ? jsonx_u64_new(UINT64_MAX) : json_integer(v);
    if (!out) {
        rctx_nomem(c);
    }
    return out;
}

static json_t *render_rlimits(struct rctx *c)
{
    const json_t *ulimits = json_object_get(c->svc, "ulimits");
    json_t *by_index[sizeof(rlimit_names) / sizeof(rlimit_names[0])] = {0};
    json_t *out = json_array();
    if (!out) {
        rctx_nomem(c);
        return NULL;
    }
    if (json_object_size(ulimits) == 0) {
        json_t *r = json_pack("{s:s, s:i, s:i}", "type", "RLIMIT_NOFILE", "hard", 1024, "soft",
                              1024);
        if (!r || json_array_append_new(out, r)) {
            json_decref(out);
            rctx_nomem(c);
            return NULL;
        }
        return out;
    }
    const char *name;
    json_t *lim;
    json_object_foreach((json_t *)(uintptr_t)ulimits, name, lim)
    {
        char field[128];
        snprintf(field, sizeof(field), "ulimits.%s", name);
        int idx = rlimit_index(name);
        if (idx < 0) {
            rctx_fail(c, field,
                      "unknown ulimit name `%s` (expected one of: cpu, fsize, data, stack, core, "
                      "rss, nproc, nofile, memlock, as, locks, sigpending, msgqueue, nice, "
                      "rtprio, rttime)",
                      name);
            goto fail;
        }
        if (by_index[idx]) {
            rctx_fail(c, field, "ulimit `%s` is given twice", name);
            goto fail;
        }
        long long soft = json_integer_value(json_object_get(lim, "soft"));
        long long hard = json_integer_value(json_object_get(lim, "hard"));
        uint64_t us = soft == -1 ? UINT64_MAX : (uint64_t)soft;
        uint64_t uh = hard == -1 ? UINT64_MAX : (uint64_t)hard;
        json_t *hv = rlimit_value(c, field, hard);
        json_t *sv = hv ? rlimit_value(c, field, soft) : NULL;
        if (hv && sv && us > uh) {
            rctx_fail(c, field, "soft limit %lld is above the hard limit %lld", soft, hard);
        }
        if (!hv || !sv || err_is_set(c->err)) {
            json_decref(hv);
            json_decref(sv);
            goto fail;
        }
        char type[32];
        snprintf(type, sizeof(type), "RLIMIT_%s", rlimit_names[idx]);
        for (char *p = type; *p; p++) {
            *p = (*p >= 'a' && *p <= 'z') ? (char)(*p - 'a' + 'A') : *p;
        }
        by_index[idx] = json_pack("{s:s, s:o, s:o}", "type", type, "hard", hv, "soft", sv);
        if (!by_index[idx]) {
            rctx_nomem(c);
            goto fail;
        }
    }
    /* Emit in a fixed order (by RLIMIT name) whatever order the spec used. */
    for (size_t i = 0; i < sizeof(rlimit_names) / sizeof(rlimit_names[0]); i++) {
        if (by_index[i] && json_array_append_new(out, jsonx_steal(&by_index[i]))) {
            rctx_nomem(c);
            goto fail;
        }
    }
    return out;
fail:
    for (size_t i = 0; i < sizeof(rlimit_names) / sizeof(rlimit_names[0]); i++) {
        json_decref(by_index[i]);
    }
    json_decref(out);
    return NULL;
}

/* ---- security_opt ---- */

struct security {
    int nnp;            /* -1 unset, 0/1 */
    const char *apparmor;
    char selinux[4][128];
    bool selinux_set;
};

static int parse_security_opt(struct rctx *c, struct security *s)
{
    const json_t *list = json_object_get(c->svc, "security_opt");
    memset(s, 0, sizeof(*s));
    s->nnp = -1;
    for (size_t i = 0; i < json_array_size(list); i++) {
        const char *o = json_string_value(json_array_get(list, i));
        char f[48];
        snprintf(f, sizeof(f), "security_opt[%zu]", i);
        if (strcmp(o, "no-new-privileges") == 0 || strcmp(o, "no-new-privileges:true") == 0 ||
            strcmp(o, "no-new-privileges=true") == 0) {
            s->nnp = 1;
        } else if (strcmp(o, "no-new-privileges:false") == 0 ||
                   strcmp(o, "no-new-privileges=false") == 0) {
            s->nnp = 0;
        } else if (strcmp(o, "seccomp=unconfined") == 0 || strcmp(o, "seccomp:unconfined") == 0) {
            c->seccomp_unconfined = true;
        } else if (str_has_prefix(o, "seccomp=") || str_has_prefix(o, "seccomp:")) {
            return rctx_fail(c, f,
                             "security_opt can not name a seccomp profile file ('%s'): the "
                             "server never reads a path from a request; give the profile "
                             "itself in options.seccomp_profile, or seccomp=unconfined",
                             o);
        } else if (str_has_prefix(o, "apparmor=") || str_has_prefix(o, "apparmor:")) {
            s->apparmor = o + 9;
            if (!*s->apparmor) {
                return rctx_fail(c, f, "apparmor= needs a profile name");
            }
        } else if (str_has_prefix(o, "label=") || str_has_prefix(o, "label:")) {
            const char *v = o + 6;
            static const char *const parts[] = {"user:", "role:", "type:", "level:"};
            bool known = strcmp(v, "disable") == 0;
            for (int p = 0; p < 4 && !known; p++) {
                if (str_has_prefix(v, parts[p]) && v[strlen(parts[p])]) {
                    snprintf(s->selinux[p], sizeof(s->selinux[p]), "%s", v + strlen(parts[p]));
                    s->selinux_set = known = true;
                }
            }
            if (!known) {
                return rctx_fail(c, f,
                                 "unknown label option '%s' (expected label=user:U, role:R, "
                                 "type:T, level:L or disable)",
                                 o);
            }
        } else {
            return rctx_fail(c, f,
                             "unsupported security_opt '%s' (supported: no-new-privileges, "
                             "seccomp=unconfined, apparmor=NAME, label=...)",
                             o);
        }
    }
    return 0;
}

static int set_lsm(struct rctx *c, json_t *p, const struct security *s)
{
    if (s->apparmor && jsonx_set_str(p, "apparmorProfile", s->apparmor)) {
        return rctx_nomem(c);
    }
    if (s->selinux_set) {
        static const char *const defaults[] = {"system_u", "system_r", "container_t", "s0"};
        char label[600];
        snprintf(label, sizeof(label), "%s:%s:%s:%s",
                 s->selinux[0][0] ? s->selinux[0] : defaults[0],
                 s->selinux[1][0] ? s->selinux[1] : defaults[1],
                 s->selinux[2][0] ? s->selinux[2] : defaults[2],
                 s->selinux[3][0] ? s->selinux[3] : defaults[3]);
        if (jsonx_set_str(p, "selinuxLabel", label)) {
            return rctx_nomem(c);
        }
    }
    return 0;
}

/* ---- process ---- */

json_t *render_process(struct rctx *c)
{
    struct security sec;
    bool added_caps = false;
    json_t *user = render_user(c);
    if (!user) {
        return NULL;
    }
    json_t *caps = render_capabilities(c, &added_caps);
    json_t *rlimits = caps ? render_rlimits(c) : NULL;
    json_t *args = rlimits ? render_args(c) : NULL;
    const char *cwd = args ? render_cwd(c) : NULL;
    json_t *p = NULL;
    if (!cwd || parse_security_opt(c, &sec)) {
        goto out;
    }
    bool nnp = sec.nnp >= 0 ? sec.nnp == 1 : (!c->privileged && !added_caps);
    p = json_object();
    if (!p || jsonx_set_bool(p, "terminal", json_is_true(json_object_get(c->svc, "tty"))) ||
        json_object_set(p, "user", user) || json_object_set(p, "args", args) ||
        json_object_set(p, "env", c->env) || jsonx_set_str(p, "cwd", cwd) ||
        json_object_set(p, "capabilities", caps) || json_object_set(p, "rlimits", rlimits) ||
        jsonx_set_bool(p, "noNewPrivileges", nnp)) {
        json_decref(p);
        p = NULL;
        rctx_nomem(c);
        goto out;
    }
    const json_t *oom = json_object_get(json_object_get(c->svc, "resources"), "oom_score_adj");
    if (oom) {
        long long v = json_integer_value(oom);
        if (v < -1000 || v > 1000) {
            rctx_fail(c, "resources.oom_score_adj", "oom_score_adj %lld is outside -1000..1000", v);
            json_decref(p);
            p = NULL;
            goto out;
        }
        if (jsonx_set_int(p, "oomScoreAdj", v)) {
            json_decref(p);
            p = NULL;
            rctx_nomem(c);
            goto out;
        }
    }
    if (set_lsm(c, p, &sec)) {
        json_decref(p);
        p = NULL;
    }
out:
    json_decref(user);
    json_decref(caps);
    json_decref(rlimits);
    json_decref(args);
    return p;
}
