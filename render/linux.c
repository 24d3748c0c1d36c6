/*
 * The linux object: id mappings,
 * resources, cgroupsPath, namespaces, sysctl, seccomp, propagation, masked/readonly paths
 * (docs/rendering.md). linux.devices and linux.resources.devices are devices.c's, intelRdt and
 * netDevices come from CDI (render_hooks_and_cdi_extras); this step reads neither.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/strutil.h"
#include "render/ctx.h"
#include "render/prepared.h"
#include "render/spec_path.h"
#include "render/units.h"

/* Rootless (host.user.uid != 0): the user itself as 0, then its subordinate range as 1... */
static size_t id_mappings(long long host_id, const struct host_subid *sub, struct oci_idmap *maps)
{
    maps[0] = (struct oci_idmap){.host_id = host_id, .container_id = 0, .size = 1};
    if (!sub) {
        return 1;
    }
    maps[1] = (struct oci_idmap){.host_id = sub->start.v, .container_id = 1, .size = sub->count.v};
    return 2;
}

static bool ns_host(const char *mode)
{
    return str_eq(mode, "host");
}

static int check_ns_mode(struct rctx *c, const char *field, const char *v)
{
    if (!v || !*v || strcmp(v, "host") == 0 || strcmp(v, "private") == 0) {
        return 0;
    }
    return rctx_fail(c, field, "%s '%s' is not supported (use host or private)", field, v);
}

static int namespaces(struct rctx *c, struct strv *out)
{
    const char *pid_mode = c->svc->pid_mode, *ipc_mode = c->svc->ipc_mode;
    if (check_ns_mode(c, "pid_mode", pid_mode) || check_ns_mode(c, "ipc_mode", ipc_mode)) {
        return -1;
    }
    const char *names[8];
    size_t n = 0;
    if (!ns_host(pid_mode)) {
        names[n++] = "pid";
    }
    if (!ns_host(ipc_mode)) {
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
    for (size_t i = 0; i < n; i++) {
        if (strv_push(c->a, out, names[i])) {
            return rctx_nomem(c);
        }
    }
    return 0;
}

static uint64_t memory_bytes(const char *text)
{
    uint64_t v = 0;
    char why[128];
    return units_parse_memory(text, &v, why, sizeof(why)) == 0 ? v : 0;
}

static int memory_resources(struct rctx *c, const struct spec_resources *r, struct oci_memory *mem)
{
    const char *limit_s = r->memory;
    const char *resv_s = r->memory_reservation;
    const char *swap_s = r->memory_swap;
    uint64_t limit = limit_s ? memory_bytes(limit_s) : 0;
    if (limit_s) {
        mem->has_limit = true;
        mem->limit = (long long)limit;
    }
    if (resv_s) {
        uint64_t resv = memory_bytes(resv_s);
        if (limit_s && resv > limit) {
            return rctx_fail(c, "resources.memory_reservation",
                             "memory_reservation %s is above the memory limit %s", resv_s,
                             limit_s);
        }
        mem->has_reservation = true;
        mem->reservation = (long long)resv;
    }
    if (swap_s) {
        bool unlimited = strcmp(swap_s, "-1") == 0;
        uint64_t swap = unlimited ? 0 : memory_bytes(swap_s);
        if (!limit_s) {
            return rctx_fail(c, "resources.memory_swap",
                             "memory_swap needs a memory limit (it is memory plus swap)");
        }
        if (!unlimited && swap < limit) {
            return rctx_fail(c, "resources.memory_swap",
                             "memory_swap %s is below the memory limit %s (it counts memory plus "
                             "swap)",
                             swap_s, limit_s);
        }
        mem->has_swap = true;
        mem->swap = unlimited ? -1 : (long long)swap;
    }
    if (r->memory_swappiness.set) {
        if (r->memory_swappiness.v > 100) {
            return rctx_fail(c, "resources.memory_swappiness", "memory_swappiness must be 0..100");
        }
        mem->has_swappiness = true;
        mem->swappiness = r->memory_swappiness.v;
    }
    mem->disable_oom_killer = r->oom_kill_disable.set && r->oom_kill_disable.v;
    return 0;
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

static int cpu_resources(struct rctx *c, const struct spec_resources *r, struct oci_cpu *cpu)
{
    if (r->cpu_shares.set) {
        long long v = r->cpu_shares.v;
        if (v < 2 || v > 262144) {
            return rctx_fail(c, "resources.cpu_shares", "cpu_shares must be 2..262144");
        }
        cpu->has_shares = true;
        cpu->shares = v;
    }
    if (r->cpu.set) {
        cpu->has_quota = true;
        cpu->quota = (long long)(r->cpu.v * 100000.0);
        cpu->period = 100000;
    }
    const char *cpus = r->cpuset;
    if (cpus) {
        if (!valid_cpuset(cpus)) {
            return rctx_fail(c, "resources.cpuset", "cpuset '%s' is not a CPU list like 0-3,6",
                             cpus);
        }
        cpu->cpus = cpus;
    }
    return 0;
}

/* linux.resources besides its device rules (devices.c appended them: they come first). */
static int resources(struct rctx *c, struct oci_linux *l)
{
    const struct spec_resources *r = c->res;
    if (memory_resources(c, r, &l->memory) || cpu_resources(c, r, &l->cpu)) {
        return -1;
    }
    if (r->pids_limit.set) {
        long long v = r->pids_limit.v;
        if (v == 0 || v < -1) {
            return rctx_fail(c, "resources.pids_limit",
                             "pids_limit must be positive, or -1 for unlimited (0 would allow no "
                             "processes at all)");
        }
        l->has_pids = true;
        l->pids_limit = v;
    }
    if (r->blkio_weight.set && r->blkio_weight.v != 0) {
        long long v = r->blkio_weight.v;
        if (v < 10 || v > 1000) {
            return rctx_fail(c, "resources.blkio_weight", "blkio_weight must be 10..1000");
        }
        l->has_blkio_weight = true;
        l->blkio_weight = v;
    }
    return 0;
}

/* cgroupsPath = {parent}/{container id}; the renderer never creates or joins a cgroup. */
static int cgroups_path(struct rctx *c, struct oci_linux *l)
{
    const char *parent = c->svc->cgroup_parent;
    const char *field = "cgroup_parent";
    if (!parent || !*parent) {
        parent = c->host->cgroup ? c->host->cgroup->parent : NULL;
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
    /* Built in a 4 KiB buffer as the original did, so an overlong path is cut the same way. */
    char path[4096];
    snprintf(path, sizeof(path), "%.*s/%s", (int)n, parent, c->req->container_id);
    l->cgroups_path = rctx_strdup(c, path);
    return l->cgroups_path ? 0 : -1;
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
            return !ns_host(c->svc->ipc_mode);
        }
    }
    if (str_has_prefix(key, "fs.mqueue.")) {
        *why = "it needs a private IPC namespace (ipc_mode is host)";
        return !ns_host(c->svc->ipc_mode);
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

struct sysctl {
    const char *key, *value;
};

static int cmp_sysctl(const void *a, const void *b)
{
    return strcmp(((const struct sysctl *)a)->key, ((const struct sysctl *)b)->key);
}

/* linux.sysctl sorted by key; the first refused key in that order is the error. */
static int sysctls(struct rctx *c, struct oci_linux *l)
{
    const struct mmap *map = &c->svc->sysctls;
    size_t n = map->n;
    if (!n) {
        return 0;
    }
    struct sysctl *sorted = arena_alloc(c->a, n * sizeof(*sorted));
    const char **keys = arena_alloc(c->a, n * sizeof(*keys));
    const char **values = arena_alloc(c->a, n * sizeof(*values));
    if (!sorted || !keys || !values) {
        return rctx_nomem(c);
    }
    for (size_t i = 0; i < n; i++) {
        sorted[i] = (struct sysctl){map->keys[i], mmap_str(map, i)};
    }
    qsort(sorted, n, sizeof(*sorted), cmp_sysctl);
    for (size_t i = 0; i < n; i++) {
        const char *why;
        if (!sysctl_allowed(c, sorted[i].key, &why)) {
            char field[300];
            spec_path_of_key(field, sizeof(field), "sysctls", sorted[i].key);
            return rctx_fail(c, field, "sysctl '%s' is not allowed: %s", sorted[i].key, why);
        }
        keys[i] = sorted[i].key;
        values[i] = sorted[i].value;
    }
    l->n_sysctls = n;
    l->sysctl_keys = keys;
    l->sysctl_values = values;
    return 0;
}

/* A constant list used in place (a push would copy it first: cap is n). */
static void constant_list(struct strv *list, const char *const *v, size_t n)
{
    list->v = (const char **)(uintptr_t)v;
    list->n = list->cap = n;
}

/* Docker's masked and read-only /proc and /sys paths. */
static const char *const masked[] = {
    "/proc/acpi",      "/proc/asound",      "/proc/kcore",       "/proc/keys",
    "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
    "/proc/scsi",      "/sys/firmware",     "/proc/interrupts",  "/sys/devices/virtual/powercap",
};
static const char *const readonly[] = {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
                                       "/proc/sysrq-trigger"};

int linux_prepare(struct render_prepared *p)
{
    return prepare_strings(&p->masked_paths, OCI_DEPTH_LINUX_MEMBERS, masked,
                           sizeof(masked) / sizeof(masked[0])) ||
                   prepare_strings(&p->readonly_paths, OCI_DEPTH_LINUX_MEMBERS, readonly,
                                   sizeof(readonly) / sizeof(readonly[0]))
               ? -1
               : 0;
}

/* None for a privileged container. */
static void masked_paths(struct rctx *c, struct oci_linux *l)
{
    if (c->privileged) {
        return;
    }
    constant_list(&l->masked_paths, masked, sizeof(masked) / sizeof(masked[0]));
    constant_list(&l->readonly_paths, readonly, sizeof(readonly) / sizeof(readonly[0]));
    const struct render_prepared *p = c->set->prepared;
    l->masked_text = p ? &p->masked_paths : NULL;
    l->readonly_text = p ? &p->readonly_paths : NULL;
}

/* Fills c->cfg->linux_ in the original's error precedence: resources, cgroupsPath,
 * namespaces, sysctls, seccomp. */
int render_linux(struct rctx *c)
{
    struct oci_linux *l = &c->cfg->linux_;
    if (c->rootless) {
        const struct host_user *u = c->host->user; /* rootless: the facts name the user */
        l->n_uid_mappings = id_mappings(u->uid.v, c->host->subuid, l->uid_mappings);
        l->n_gid_mappings = id_mappings(u->gid.v, c->host->subgid, l->gid_mappings);
    }
    if (resources(c, l) || cgroups_path(c, l) || namespaces(c, &l->namespaces) || sysctls(c, l) ||
        render_seccomp(c)) {
        return -1;
    }
    l->rootfs_propagation = "private";
    masked_paths(c, l);
    return 0;
}
