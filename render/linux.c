/*
 * The linux object: id mappings,
 * resources, cgroupsPath, namespaces, devices, sysctl, propagation, masked/readonly paths.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/jsonx.h"
#include "common/strutil.h"
#include "render/ctx.h"
#include "render/units.h"

static int set_new(struct rctx *c, json_t *obj, const char *key, json_t *v)
{
    return json_object_set_new(obj, key, v) ? rctx_nomem(c) : 0;
}

/* Rootless (host.user.uid != 0): the user itself as 0, then its subordinate range as 1... */
static json_t *id_mappings(struct rctx *c, const char *id_key, const char *subid_key)
{
    const json_t *user = json_object_get(c->req->host, "user");
    const json_t *sub = json_object_get(c->req->host, subid_key);
    json_int_t host_id = json_integer_value(json_object_get(user, id_key));
    json_t *maps = json_pack("[{s:I, s:i, s:i}]", "hostID", host_id, "containerID", 0, "size", 1);
    if (maps && sub) {
        json_t *m = json_pack("{s:O, s:i, s:O}", "hostID", json_object_get(sub, "start"),
                              "containerID", 1, "size", json_object_get(sub, "count"));
        if (!m || json_array_append_new(maps, m)) {
            json_decref(maps);
            maps = NULL;
        }
    }
    if (!maps) {
        rctx_nomem(c);
    }
    return maps;
}

static bool ns_host(const struct rctx *c, const char *field)
{
    return str_eq(jsonx_get_str(c->svc, field), "host");
}

static int check_ns_mode(struct rctx *c, const char *field)
{
    const char *v = jsonx_get_str(c->svc, field);
    if (!v || !*v || strcmp(v, "host") == 0 || strcmp(v, "private") == 0) {
        return 0;
    }
    return rctx_fail(c, field, "%s '%s' is not supported (use host or private)", field, v);
}

static json_t *namespaces(struct rctx *c)
{
    if (check_ns_mode(c, "pid_mode") || check_ns_mode(c, "ipc_mode")) {
        return NULL;
    }
    const char *names[8];
    size_t n = 0;
    if (!ns_host(c, "pid_mode")) {
        names[n++] = "pid";
    }
    if (!ns_host(c, "ipc_mode")) {
        names[n++] = "ipc";
    }
    names[n++] = "uts";
    names[n++] = "mount";
    if (!c->host_network) {
        names[n++] = "network";
    }
    if (c->rootless) {
        names[n++] = "user";
    }
    /* A private cgroup namespace: always on cgroup v2 hosts (as runc/crun do), and rootless. */
    if (c->rootless || c->cgroup_version == 2) {
        names[n++] = "cgroup";
    }
    json_t *list = json_array();
    for (size_t i = 0; list && i < n; i++) {
        if (json_array_append_new(list, json_pack("{s:s}", "type", names[i]))) {
            json_decref(list);
            list = NULL;
        }
    }
    if (!list) {
        rctx_nomem(c);
    }
    return list;
}

static uint64_t memory_bytes(const char *text)
{
    uint64_t v = 0;
    char why[128];
    return units_parse_memory(text, &v, why, sizeof(why)) == 0 ? v : 0;
}

static int memory_resources(struct rctx *c, const json_t *r, json_t *res)
{
    json_t *mem = json_object();
    if (!mem) {
        return rctx_nomem(c);
    }
    const char *limit_s = jsonx_get_str(r, "memory");
    const char *resv_s = jsonx_get_str(r, "memory_reservation");
    const char *swap_s = jsonx_get_str(r, "memory_swap");
    const json_t *swappiness = json_object_get(r, "memory_swappiness");
    uint64_t limit = limit_s ? memory_bytes(limit_s) : 0;
    int rc = 0;
    if (limit_s) {
        rc = set_new(c, mem, "limit", json_integer((json_int_t)limit));
    }
    if (!rc && resv_s) {
        uint64_t resv = memory_bytes(resv_s);
        if (limit_s && resv > limit) {
            rc = rctx_fail(c, "resources.memory_reservation",
                           "memory_reservation %s is above the memory limit %s", resv_s, limit_s);
        } else {
            rc = set_new(c, mem, "reservation", json_integer((json_int_t)resv));
        }
    }
    if (!rc && swap_s) {
        bool unlimited = strcmp(swap_s, "-1") == 0;
        uint64_t swap = unlimited ? 0 : memory_bytes(swap_s);
        if (!limit_s) {
            rc = rctx_fail(c, "resources.memory_swap",
                           "memory_swap needs a memory limit (it is memory plus swap)");
        } else if (!unlimited && swap < limit) {
            rc = rctx_fail(c, "resources.memory_swap",
                           "memory_swap %s is below the memory limit %s (it counts memory plus "
                           "swap)",
                           swap_s, limit_s);
        } else {
            rc = set_new(c, mem, "swap", json_integer(unlimited ? -1 : (json_int_t)swap));
        }
    }
    if (!rc && swappiness) {
        if (json_integer_value(swappiness) > 100) {
            rc = rctx_fail(c, "resources.memory_swappiness", "memory_swappiness must be 0..100");
        } else {
            rc = set_new(c, mem, "swappiness", json_integer(json_integer_value(swappiness)));
        }
    }
    if (!rc && json_is_true(json_object_get(r, "oom_kill_disable"))) {
        rc = set_new(c, mem, "disableOOMKiller", json_true());
    }
    if (!rc && json_object_size(mem)) {
        return set_new(c, res, "memory", mem);
    }
    json_decref(mem);
    return rc;
}

/* cpuset syntax: "0-3,6" */
static bool valid_cpuset(const char *s)
{
    if (!*s) {
        return false;
    }
    for (const char *p = s; *p;) {
        if (*p < '0' || *p > '9') {
            return false;
        }
        char *end;
        long a = strtol(p, &end, 10);
        p = end;
        if (*p == '-') {
            p++;
            if (*p < '0' || *p > '9') {
                return false;
            }
            long b = strtol(p, &end, 10);
            p = end;
            if (b < a) {
                return false;
            }
        }
        if (*p == ',') {
            p++;
            if (!*p) {
                return false;
            }
        } else if (*p) {
            return false;
        }
    }
    return true;
}

static int cpu_resources(struct rctx *c, const json_t *r, json_t *res)
{
    json_t *cpu = json_object();
    if (!cpu) {
        return rctx_nomem(c);
    }
    int rc = 0;
    const json_t *shares = json_object_get(r, "cpu_shares");
    if (shares) {
        json_int_t v = json_integer_value(shares);
        rc = (v < 2 || v > 262144)
                 ? rctx_fail(c, "resources.cpu_shares", "cpu_shares must be 2..262144")
                 : set_new(c, cpu, "shares", json_integer(v));
    }
    const json_t *cores = json_object_get(r, "cpu");
    if (!rc && cores) {
        json_int_t quota = (json_int_t)(json_real_value(cores) * 100000.0);
        rc = set_new(c, cpu, "quota", json_integer(quota)) ||
             set_new(c, cpu, "period", json_integer(100000));
    }
    const char *cpus = jsonx_get_str(r, "cpuset");
    if (!rc && cpus) {
        rc = !valid_cpuset(cpus)
                 ? rctx_fail(c, "resources.cpuset", "cpuset '%s' is not a CPU list like 0-3,6",
                             cpus)
                 : set_new(c, cpu, "cpus", json_string(cpus));
    }
    if (!rc && json_object_size(cpu)) {
        return set_new(c, res, "cpu", cpu);
    }
    json_decref(cpu);
    return rc;
}

static json_t *resources(struct rctx *c)
{
    const json_t *r = json_object_get(c->svc, "resources");
    json_t *res = json_object();
    if (!res || json_object_set(res, "devices", c->dev_rules)) {
        json_decref(res);
        rctx_nomem(c);
        return NULL;
    }
    int rc = memory_resources(c, r, res) || cpu_resources(c, r, res);
    const json_t *pids = json_object_get(r, "pids_limit");
    if (!rc && pids) {
        json_int_t v = json_integer_value(pids);
        rc = (v == 0 || v < -1)
                 ? rctx_fail(c, "resources.pids_limit",
                             "pids_limit must be positive, or -1 for unlimited (0 would allow no "
                             "processes at all)")
                 : set_new(c, res, "pids", json_pack("{s:I}", "limit", v));
    }
    const json_t *weight = json_object_get(r, "blkio_weight");
    if (!rc && weight && json_integer_value(weight) != 0) {
        json_int_t v = json_integer_value(weight);
        rc = (v < 10 || v > 1000)
                 ? rctx_fail(c, "resources.blkio_weight", "blkio_weight must be 10..1000")
                 : set_new(c, res, "blockIO", json_pack("{s:I}", "weight", v));
    }
    if (rc) {
        json_decref(res);
        return NULL;
    }
    return res;
}

/* cgroupsPath = {parent}/{container id}; the renderer never creates or joins a cgroup. */
static int cgroups_path(struct rctx *c, json_t *lnx)
{
    const char *parent = jsonx_get_str(c->svc, "cgroup_parent");
    const char *field = "cgroup_parent";
    if (!parent || !*parent) {
        parent = jsonx_get_str(json_object_get(c->req->host, "cgroup"), "parent");
        field = NULL;
    }
    if (!parent || !*parent) {
        parent = c->set->default_cgroup_parent;
    }
    if (!parent || !*parent) {
        return 0;
    }
    if (strstr(parent, "..") || strchr(parent, '\n')) {
        if (field) {
            return rctx_fail(c, field, "cgroup parent '%s' must not contain '..'", parent);
        }
        return err_set(c->err, ERR_SPEC_INVALID, "host.cgroup.parent",
                       "cgroup parent '%s' must not contain '..'", parent);
    }
    size_t n = strlen(parent);
    while (n > 0 && parent[n - 1] == '/') {
        n--;
    }
    char path[4096];
    snprintf(path, sizeof(path), "%.*s/%s", (int)n, parent, c->req->container_id);
    return set_new(c, lnx, "cgroupsPath", json_string(path));
}

/* sysctls: only namespaced keys, and only with the namespace they belong to (runc's rule). */
static int sysctl_allowed(struct rctx *c, const char *key, const char **why)
{
    static const char *const ipc_keys[] = {"kernel.msgmax", "kernel.msgmnb", "kernel.msgmni",
                                           "kernel.sem",    "kernel.shmall", "kernel.shmmax",
                                           "kernel.shmmni", "kernel.shm_rmid_forced", NULL};
    for (const char *const *k = ipc_keys; *k; k++) {
        if (strcmp(*k, key) == 0) {
            *why = "it needs a private IPC namespace (ipc_mode is host)";
            return !ns_host(c, "ipc_mode");
        }
    }
    if (str_has_prefix(key, "fs.mqueue.")) {
        *why = "it needs a private IPC namespace (ipc_mode is host)";
        return !ns_host(c, "ipc_mode");
    }
    if (str_has_prefix(key, "net.")) {
        *why = "it needs a private network namespace (the service uses host networking)";
        return !c->host_network;
    }
    if (strcmp(key, "kernel.domainname") == 0) {
        *why = "";
        return 1;
    }
    *why = "it is not namespaced: it would change the host";
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int sysctls(struct rctx *c, json_t *lnx)
{
    const json_t *map = json_object_get(c->svc, "sysctls");
    size_t n = json_object_size(map);
    if (!n) {
        return 0;
    }
    const char **keys = calloc(n, sizeof(*keys));
    json_t *out = json_object();
    if (!keys || !out) {
        free(keys);
        json_decref(out);
        return rctx_nomem(c);
    }
    size_t i = 0;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)(uintptr_t)map, k, v)
    {
        keys[i++] = k;
    }
    qsort(keys, n, sizeof(*keys), cmp_str);
    int rc = 0;
    for (i = 0; rc == 0 && i < n; i++) {
        const char *why;
        if (!sysctl_allowed(c, keys[i], &why)) {
            char field[300], seg[280];
            path_key_segment(seg, sizeof(seg), keys[i]);
            snprintf(field, sizeof(field), "sysctls%s", seg);
            rc = rctx_fail(c, field, "sysctl '%s' is not allowed: %s", keys[i], why);
        } else if (jsonx_set_str(out, keys[i], jsonx_get_str(map, keys[i]))) {
            rc = rctx_nomem(c);
        }
    }
    free(keys);
    if (rc) {
        json_decref(out);
        return -1;
    }
    return set_new(c, lnx, "sysctl", out);
}

static int masked_paths(struct rctx *c, json_t *lnx)
{
    static const char *const masked[] = {
        "/proc/acpi",      "/proc/asound",      "/proc/kcore",       "/proc/keys",
        "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
        "/proc/scsi",      "/sys/firmware",     "/proc/interrupts",  "/sys/devices/virtual/powercap",
        NULL,
    };
    static const char *const readonly[] = {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
                                           "/proc/sysrq-trigger", NULL};
    static const char *const none[] = {NULL};
    return set_new(c, lnx, "maskedPaths", jsonx_str_array(c->privileged ? none : masked)) ||
           set_new(c, lnx, "readonlyPaths", jsonx_str_array(c->privileged ? none : readonly));
}

json_t *render_linux(struct rctx *c)
{
    json_t *lnx = json_object();
    if (!lnx) {
        rctx_nomem(c);
        return NULL;
    }
    int rc = 0;
    if (c->rootless) {
        rc = set_new(c, lnx, "uidMappings", id_mappings(c, "uid", "subuid")) ||
             set_new(c, lnx, "gidMappings", id_mappings(c, "gid", "subgid"));
    }
    json_t *res = rc ? NULL : resources(c);
    rc = rc || !res || set_new(c, lnx, "resources", res) || cgroups_path(c, lnx);
    json_t *ns = rc ? NULL : namespaces(c);
    rc = rc || !ns || set_new(c, lnx, "namespaces", ns);
    if (!rc && json_array_size(c->devices)) {
        rc = json_object_set(lnx, "devices", c->devices) ? rctx_nomem(c) : 0;
    }
    rc = rc || sysctls(c, lnx);
    if (!rc) {
        json_t *seccomp = render_seccomp(c, c->caps, c->seccomp_unconfined);
        if (seccomp) {
            rc = set_new(c, lnx, "seccomp", seccomp);
        } else {
            rc = err_is_set(c->err);
        }
    }
    rc = rc || set_new(c, lnx, "rootfsPropagation", json_string("private")) ||
         masked_paths(c, lnx);
    if (!rc && json_object_update(lnx, c->linux_extra)) {
        rc = rctx_nomem(c);
    }
    if (rc) {
        json_decref(lnx);
        return NULL;
    }
    return lnx;
}
