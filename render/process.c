/*
 * The process object: user and groups,
 * capabilities, cwd, argv, rlimits, terminal, oomScoreAdj, LSM labels, noNewPrivileges.
 * Spec strings are used in place; docs/rendering.md describes each member.
 */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/strutil.h"
#include "render/ctx.h"
#include "render/prepared.h"

/* ---- capabilities ---- */

/* Sorted, and written as they are (the set is a list of these names); `dflt` marks Docker's
 * default set. */
static const struct capability {
    const char *name;
    bool dflt;
} all_caps[] = {
    {"CAP_AUDIT_CONTROL", false},    {"CAP_AUDIT_READ", false},      {"CAP_AUDIT_WRITE", true},
    {"CAP_BLOCK_SUSPEND", false},    {"CAP_BPF", false},             {"CAP_CHECKPOINT_RESTORE", false},
    {"CAP_CHOWN", true},             {"CAP_DAC_OVERRIDE", true},     {"CAP_DAC_READ_SEARCH", false},
    {"CAP_FOWNER", true},            {"CAP_FSETID", true},           {"CAP_IPC_LOCK", false},
    {"CAP_IPC_OWNER", false},        {"CAP_KILL", true},             {"CAP_LEASE", false},
    {"CAP_LINUX_IMMUTABLE", false},  {"CAP_MAC_ADMIN", false},       {"CAP_MAC_OVERRIDE", false},
    {"CAP_MKNOD", true},             {"CAP_NET_ADMIN", false},       {"CAP_NET_BIND_SERVICE", true},
    {"CAP_NET_BROADCAST", false},    {"CAP_NET_RAW", true},          {"CAP_PERFMON", false},
    {"CAP_SETFCAP", true},           {"CAP_SETGID", true},           {"CAP_SETPCAP", true},
    {"CAP_SETUID", true},            {"CAP_SYS_ADMIN", false},       {"CAP_SYS_BOOT", false},
    {"CAP_SYS_CHROOT", true},        {"CAP_SYS_MODULE", false},      {"CAP_SYS_NICE", false},
    {"CAP_SYS_PACCT", false},        {"CAP_SYS_PTRACE", false},      {"CAP_SYS_RAWIO", false},
    {"CAP_SYS_RESOURCE", false},     {"CAP_SYS_TIME", false},        {"CAP_SYS_TTY_CONFIG", false},
    {"CAP_SYSLOG", false},           {"CAP_WAKE_ALARM", false},
};
#define N_CAPS (sizeof(all_caps) / sizeof(all_caps[0]))
#define CAP_PREFIX_LEN 4 /* "CAP_" */

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
    const char *bare = str_has_prefix(up, "CAP_") ? up + CAP_PREFIX_LEN : up;
    if (strcmp(bare, "ALL") == 0) {
        return -2;
    }
    for (size_t i = 0; i < N_CAPS; i++) {
        const char *known = all_caps[i].name + CAP_PREFIX_LEN;
        if (known[0] == bare[0] && strcmp(known, bare) == 0) {
            return (int)i;
        }
    }
    return -1;
}

/* The default set as flags per all_caps index. */
static void default_cap_flags(bool have[N_CAPS])
{
    for (size_t i = 0; i < N_CAPS; i++) {
        have[i] = all_caps[i].dflt;
    }
}

/* Resolve the capability list `field` into `set` (flags per all_caps index); `*all` for ALL. */
static int read_cap_list(struct rctx *c, const char *field, const struct mlist *list, bool *set,
                         bool *all)
{
    for (size_t i = 0; i < list->n; i++) {
        const char *name = mlist_str(list, i);
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
 * `cap_drop` except what was explicitly added. The result is also c->caps, the bounding set
 * the seccomp profile follows.
 */
static int render_capabilities(struct rctx *c, bool *added_any)
{
    bool add[N_CAPS] = {0}, drop[N_CAPS] = {0}, have[N_CAPS] = {0};
    bool add_all = false, drop_all = false;
    if (read_cap_list(c, "capabilities", &c->svc->capabilities, add, &add_all) ||
        read_cap_list(c, "cap_drop", &c->svc->cap_drop, drop, &drop_all)) {
        return -1;
    }
    *added_any = c->svc->capabilities.n > 0;
    if (c->privileged || add_all) {
        for (size_t i = 0; i < N_CAPS; i++) {
            have[i] = true;
        }
    } else if (!drop_all) {
        default_cap_flags(have);
    }
    if (!c->privileged) {
        for (size_t i = 0; i < N_CAPS; i++) {
            have[i] = (have[i] || add[i]) && !(drop[i] && !add[i]);
        }
    }
    struct strv *set = &c->cfg->process.capabilities;
    for (size_t i = 0; i < N_CAPS; i++) { /* all_caps is sorted, so the list is too */
        if (have[i] && strv_push(c->a, set, all_caps[i].name)) {
            return rctx_nomem(c);
        }
    }
    c->caps = *set; /* kept for the seccomp profile; the list is complete */
    const struct render_prepared *p = c->set->prepared;
    c->cfg->process.capabilities_text = p ? &p->capabilities : NULL;
    return 0;
}

int process_prepare(struct render_prepared *p)
{
    bool have[N_CAPS] = {0};
    size_t n = 0;
    default_cap_flags(have);
    for (size_t i = 0; i < N_CAPS; i++) {
        if (have[i] && n < DEFAULT_CAPABILITIES) { /* as render_capabilities lists them */
            p->capability_items[n] = all_caps[i].name;
        }
        n += have[i];
    }
    if (n != DEFAULT_CAPABILITIES) {
        return -1; /* render/prepared.h counts the default set */
    }
    return prepare_strings(&p->capabilities, OCI_DEPTH_CAPABILITY_LISTS, p->capability_items, n);
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

static const char *rootfs_passwd(const struct rctx *c)
{
    return c->host->rootfs ? c->host->rootfs->passwd : NULL;
}

static const char *rootfs_group(const struct rctx *c)
{
    return c->host->rootfs ? c->host->rootfs->group : NULL;
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
    const struct mlist *list = &c->svc->extra_groups;
    struct oci_gids *gids = &c->cfg->process.additional_gids;
    for (size_t i = 0; i < list->n; i++) {
        const char *g = mlist_str(list, i);
        uint32_t gid;
        if (!parse_id(g, &gid) && userdb_find_group(rootfs_group(c), g, &gid)) {
            char f[48];
            snprintf(f, sizeof(f), "extra_groups[%zu]", i);
            if (rootfs_group(c)) {
                return rctx_fail(c, f, "no group '%s' in the rootfs /etc/group", g);
            }
            return rctx_fail(c, f,
                             "group '%s' cannot be resolved without host.rootfs.group "
                             "(ocirender facts --rootfs)",
                             g);
        }
        bool dup = gid == c->gid;
        for (size_t j = 0; j < gids->n; j++) {
            dup = dup || gids->v[j] == gid;
        }
        if (!dup && oci_gids_push(c->a, gids, gid)) {
            return rctx_nomem(c);
        }
    }
    return 0;
}

/*
 * Resolve `text` (user[:group]) into c->uid, c->gid and the user's name (empty when the user
 * has no passwd entry).
 */
static int resolve_user(struct rctx *c, const char *text, bool from_spec, char *username,
                        size_t username_size)
{
    char user[256] = "", group[256] = "";
    const char *colon = strchr(text, ':');
    size_t ulen = colon ? (size_t)(colon - text) : strlen(text);
    if (ulen >= sizeof(user) || (colon && strlen(colon + 1) >= sizeof(group))) {
        return user_fail(c, from_spec, "user '%s' is too long", text);
    }
    memcpy(user, text, ulen);
    user[ulen] = '\0';
    if (colon) {
        snprintf(group, sizeof(group), "%s", colon + 1);
    }
    const char *passwd = rootfs_passwd(c);
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
                return user_fail(c, from_spec, "no user '%s' in the rootfs /etc/passwd", user);
            }
            return user_fail(c, from_spec,
                             "user '%s' cannot be resolved without host.rootfs.passwd "
                             "(ocirender facts --rootfs)",
                             user);
        }
        c->uid = pw.uid;
        c->gid = pw.gid;
    }
    if (found) {
        snprintf(username, username_size, "%s", pw.name);
    }
    if (colon && !parse_id(group, &c->gid) && userdb_find_group(rootfs_group(c), group, &c->gid)) {
        if (rootfs_group(c)) {
            return user_fail(c, from_spec, "no group '%s' in the rootfs /etc/group", group);
        }
        return user_fail(c, from_spec,
                         "group '%s' cannot be resolved without host.rootfs.group "
                         "(ocirender facts --rootfs)",
                         group);
    }
    return 0;
}

/*
 * spec.user overrides the image User; `uid[:gid]` numbers are used as given, names are looked
 * up in host.rootfs passwd/group; an unresolvable name is an error, never root.
 */
static int render_user(struct rctx *c)
{
    const char *spec_user = c->svc->user;
    const char *image_user = c->image ? c->image->user : NULL;
    bool from_spec = spec_user && *spec_user;
    const char *text = from_spec ? spec_user : image_user;
    char username[256] = "";
    c->uid = c->gid = 0;
    if (text && *text && resolve_user(c, text, from_spec, username, sizeof(username))) {
        return -1;
    }
    if (userdb_supplementary(c->a, rootfs_group(c), username, c->gid,
                             &c->cfg->process.additional_gids) ||
        extra_groups(c)) {
        if (!err_is_set(c->err)) {
            rctx_nomem(c);
        }
        return -1;
    }
    c->cfg->process.uid = c->uid;
    c->cfg->process.gid = c->gid;
    return 0;
}

/* ---- argv and cwd ---- */

static int push_all(struct rctx *c, struct strv *out, const struct mlist *list)
{
    for (size_t i = 0; i < list->n; i++) {
        if (strv_push(c->a, out, mlist_str(list, i))) {
            return rctx_nomem(c);
        }
    }
    return 0;
}

/* The process runs the image's own Entrypoint and Cmd: /bin/sh when there are none. */
static int image_argv(struct rctx *c, struct strv *argv, const struct mlist *img_ep)
{
    static const struct mlist none;
    const struct image_config *img = c->image;
    if (push_all(c, argv, img_ep) || push_all(c, argv, img ? &img->cmd : &none)) {
        return -1;
    }
    if (argv->n) {
        return 0;
    }
    if (strv_push(c->a, argv, "/bin/sh")) {
        return rctx_nomem(c);
    }
    return rctx_warn(c, "argv_default_shell", "command",
                     img ? "no entrypoint or args in the spec and none in the image config: the "
                           "process is /bin/sh"
                         : "no entrypoint or args in the spec and none in the image config (none "
                           "was sent): the process is /bin/sh");
}

/*
 * Kubernetes (and Compose) argv: options.args verbatim; `entrypoint` replaces the image
 * Entrypoint and drops the image Cmd; `args` alone follow the image Entrypoint (the original
 * dropped it, so an image with an ENTRYPOINT got an argv it could not run); neither: image
 * Entrypoint ++ Cmd; nothing at all: /bin/sh. An empty argv is refused, never emitted.
 * A given but empty options.args or command.entrypoint counts as given.
 */
static int render_args(struct rctx *c)
{
    static const struct mlist none;
    const struct opt_list *opt = &c->opt->args;
    const struct spec_command *cmd = c->svc->command;
    const struct opt_list *ep = cmd ? &cmd->entrypoint : NULL;
    const struct mlist *args = cmd ? &cmd->args : &none;
    const struct image_config *img = c->image;
    const struct mlist *img_ep = img ? &img->entrypoint : &none;
    struct strv *argv = &c->cfg->process.args;
    int rc;
    if (opt->set) {
        rc = push_all(c, argv, &opt->list);
    } else if (ep && ep->set) {
        rc = push_all(c, argv, &ep->list) || push_all(c, argv, args);
    } else if (args->n > 0) {
        rc = push_all(c, argv, img_ep) || push_all(c, argv, args) ||
             (!img && rctx_warn(c, "argv_image_unknown", "command.args",
                                "the image config is unknown, so the image Entrypoint could not "
                                "be prepended to command.args (send image_config, or set "
                                "command.entrypoint)"));
    } else {
        rc = image_argv(c, argv, img_ep);
    }
    if (rc) {
        return -1;
    }
    if (argv->n == 0) {
        if (opt->set) {
            return err_set(c->err, ERR_SPEC_INVALID, "options.args",
                           "the process arguments are empty");
        }
        return rctx_fail(c, "command.entrypoint", "the process arguments are empty");
    }
    return 0;
}

/* options.cwd, command.workdir, image WorkingDir, "/"; it must be absolute: the original
 * emitted a relative one and the runtime failed later. */
static int render_cwd(struct rctx *c)
{
    const char *opt = c->opt->cwd;
    const char *wd = c->svc->command ? c->svc->command->workdir : NULL;
    const char *img = c->image ? c->image->working_dir : NULL;
    if (opt && *opt) {
        if (opt[0] != '/') {
            return err_set(c->err, ERR_SPEC_INVALID, "options.cwd", "cwd '%s' must be absolute",
                           opt);
        }
        c->cfg->process.cwd = opt;
    } else if (wd && *wd) {
        if (wd[0] != '/') {
            return rctx_fail(c, "command.workdir", "workdir '%s' must be an absolute path", wd);
        }
        c->cfg->process.cwd = wd;
    } else if (img && *img) {
        if (img[0] != '/') {
            return err_set(c->err, ERR_SPEC_INVALID, "image_config.WorkingDir",
                           "WorkingDir '%s' must be an absolute path", img);
        }
        c->cfg->process.cwd = img;
    } else {
        c->cfg->process.cwd = "/";
    }
    return 0;
}

/* ---- rlimits (the original's HEAD semantics; -1 is unlimited) ---- */

/* Sorted: the rlimits are written in this order whatever order the spec used. */
static const char *const rlimit_types[] = {
    "RLIMIT_AS",      "RLIMIT_CORE",   "RLIMIT_CPU",    "RLIMIT_DATA",       "RLIMIT_FSIZE",
    "RLIMIT_LOCKS",   "RLIMIT_MEMLOCK", "RLIMIT_MSGQUEUE", "RLIMIT_NICE",    "RLIMIT_NOFILE",
    "RLIMIT_NPROC",   "RLIMIT_RSS",    "RLIMIT_RTPRIO", "RLIMIT_RTTIME",     "RLIMIT_SIGPENDING",
    "RLIMIT_STACK",
};
#define N_RLIMITS (sizeof(rlimit_types) / sizeof(rlimit_types[0]))
#define RLIMIT_PREFIX_LEN 7 /* "RLIMIT_" */

/* Index in rlimit_types of a ulimit name (`nofile`, in any case), or -1. */
static int rlimit_index(const char *name)
{
    char up[32];
    size_t n = strlen(name);
    if (n == 0 || n >= sizeof(up)) {
        return -1;
    }
    for (size_t i = 0; i <= n; i++) {
        char ch = name[i];
        up[i] = (ch >= 'a' && ch <= 'z') ? (char)(ch - 'a' + 'A') : ch;
    }
    for (size_t i = 0; i < N_RLIMITS; i++) {
        if (strcmp(rlimit_types[i] + RLIMIT_PREFIX_LEN, up) == 0) {
            return (int)i;
        }
    }
    return -1;
}

/* -1 is unlimited (RLIM_INFINITY, written exactly as 18446744073709551615). */
static int rlimit_value(struct rctx *c, const char *field, long long v, unsigned long long *out)
{
    if (v < -1) {
        return rctx_fail(c, field, "%lld is not a valid limit (use -1 for unlimited)", v);
    }
    *out = v == -1 ? ULLONG_MAX : (unsigned long long)v;
    return 0;
}

/* One spec ulimit (the walk filled a missing soft or hard limit from the other). */
static int read_ulimit(struct rctx *c, const char *name, const struct spec_ulimit *lim,
                       struct oci_rlimit *by_index)
{
    char field[128];
    snprintf(field, sizeof(field), "ulimits.%s", name);
    int idx = rlimit_index(name);
    if (idx < 0) {
        return rctx_fail(c, field,
                         "unknown ulimit name `%s` (expected one of: cpu, fsize, data, stack, "
                         "core, rss, nproc, nofile, memlock, as, locks, sigpending, msgqueue, "
                         "nice, rtprio, rttime)",
                         name);
    }
    struct oci_rlimit *r = &by_index[idx];
    if (r->type) {
        return rctx_fail(c, field, "ulimit `%s` is given twice", name);
    }
    long long soft = lim->soft.v, hard = lim->hard.v;
    unsigned long long us = 0, uh = 0;
    if (rlimit_value(c, field, hard, &uh) || rlimit_value(c, field, soft, &us)) {
        return -1;
    }
    if (us > uh) {
        return rctx_fail(c, field, "soft limit %lld is above the hard limit %lld", soft, hard);
    }
    r->type = rlimit_types[idx];
    r->hard = uh;
    r->soft = us;
    return 0;
}

static int render_rlimits(struct rctx *c)
{
    static const struct oci_rlimit default_nofile = {"RLIMIT_NOFILE", 1024, 1024};
    const struct mmap *ulimits = &c->svc->ulimits;
    struct oci_process *p = &c->cfg->process;
    if (ulimits->n == 0) {
        p->rlimits = &default_nofile;
        p->n_rlimits = 1;
        return 0;
    }
    struct oci_rlimit by_index[N_RLIMITS] = {{0}};
    for (size_t i = 0; i < ulimits->n; i++) {
        if (read_ulimit(c, ulimits->keys[i], mmap_ptr(ulimits, i), by_index)) {
            return -1;
        }
    }
    size_t n = 0;
    for (size_t i = 0; i < N_RLIMITS; i++) {
        n += by_index[i].type != NULL;
    }
    struct oci_rlimit *out = arena_alloc(c->a, n * sizeof(*out));
    if (!out) {
        return rctx_nomem(c);
    }
    n = 0;
    for (size_t i = 0; i < N_RLIMITS; i++) {
        if (by_index[i].type) {
            out[n++] = by_index[i];
        }
    }
    p->rlimits = out;
    p->n_rlimits = n;
    return 0;
}

/* ---- security_opt ---- */

struct security {
    int nnp;              /* -1 unset, 0/1 */
    const char *apparmor; /* in the spec's string */
    char selinux[4][128]; /* user, role, type, level (the original cut each at 127 bytes) */
    bool selinux_set;
};

static int parse_security_opt(struct rctx *c, struct security *s)
{
    const struct mlist *list = &c->svc->security_opt;
    memset(s, 0, sizeof(*s));
    s->nnp = -1;
    for (size_t i = 0; i < list->n; i++) {
        const char *o = mlist_str(list, i);
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

static int set_lsm(struct rctx *c, const struct security *s)
{
    struct oci_process *p = &c->cfg->process;
    p->apparmor_profile = s->apparmor;
    if (s->selinux_set) {
        static const char *const defaults[] = {"system_u", "system_r", "container_t", "s0"};
        p->selinux_label = rctx_printf(c, "%s:%s:%s:%s",
                                       s->selinux[0][0] ? s->selinux[0] : defaults[0],
                                       s->selinux[1][0] ? s->selinux[1] : defaults[1],
                                       s->selinux[2][0] ? s->selinux[2] : defaults[2],
                                       s->selinux[3][0] ? s->selinux[3] : defaults[3]);
        if (!p->selinux_label) {
            return -1;
        }
    }
    return 0;
}

/* ---- process ---- */

static int render_oom_score_adj(struct rctx *c)
{
    const struct opt_i64 *oom = &c->res->oom_score_adj;
    if (!oom->set) {
        return 0;
    }
    if (oom->v < -1000 || oom->v > 1000) {
        return rctx_fail(c, "resources.oom_score_adj", "oom_score_adj %lld is outside -1000..1000",
                         oom->v);
    }
    c->cfg->process.has_oom_score_adj = true;
    c->cfg->process.oom_score_adj = oom->v;
    return 0;
}

/* Fills c->cfg->process except env (env.c's, already there), in the original's error
 * precedence: user, capabilities, ulimits, argv, cwd, security_opt, oom_score_adj. */
int render_process(struct rctx *c)
{
    struct security sec;
    bool added_caps = false;
    if (render_user(c) || render_capabilities(c, &added_caps) || render_rlimits(c) ||
        render_args(c) || render_cwd(c) || parse_security_opt(c, &sec)) {
        return -1;
    }
    struct oci_process *p = &c->cfg->process;
    p->terminal = c->svc->tty.set && c->svc->tty.v;
    p->no_new_privileges = sec.nnp >= 0 ? sec.nnp == 1 : (!c->privileged && !added_caps);
    return render_oom_score_adj(c) || set_lsm(c, &sec) ? -1 : 0;
}
