/*
 * Seccomp: the default profile and the validation of a custom one (docs/rendering.md,
 * "Seccomp").
 *
 * The default profile has Docker's semantics: an allowlist. Any syscall not listed fails with
 * EPERM, so a syscall a future kernel adds stays refused until someone reviews it. Syscalls
 * that need a capability to be useful are listed only when the container holds that
 * capability; a few are allowed only with arguments that keep them harmless (clone without
 * namespace flags, personality with the values programs query or set for compatibility,
 * socket except AF_VSOCK, which reaches the hypervisor). The kernel keyring (add_key,
 * keyctl, request_key) and io_uring, whose operations bypass these checks, are never listed.
 *
 * The tables below are grouped by what a syscall does; the names are the kernel's. They are
 * static data: a render records which architecture list and capability set apply, and the
 * writer writes the profile straight from the tables (no document is built). The profile of
 * each architecture with the default capability set, the one most containers get, is
 * written once at start-up (render_prepared_new) and copied where it fits.
 */
#include "render/seccomp.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/jsonx.h"
#include "common/sbuf.h"
#include "common/strutil.h"
#include "render/ctx.h"
#include "render/internal.h"
#include "common/jw.h"
#include "render/oci.h"
#include "render/prepared.h"

#define EPERM_ 1
#define ENOSYS_ 38
#define AF_VSOCK_ 40
/* CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET: new namespaces. */
#define CLONE_NAMESPACE_FLAGS_ 0x7E020000

/* ---- the allowlist ---- */

static const char *const files_io[] = {
    "open", "openat", "openat2", "creat", "close", "close_range", "read", "readv", "pread64",
    "preadv", "preadv2", "write", "writev", "pwrite64", "pwritev", "pwritev2", "lseek",
    "_llseek", "dup", "dup2", "dup3", "fcntl", "fcntl64", "flock", "fsync", "fdatasync", "sync",
    "syncfs", "sync_file_range", "fallocate", "ftruncate", "ftruncate64", "truncate",
    "truncate64", "readahead", "fadvise64", "fadvise64_64", "sendfile", "sendfile64", "splice",
    "tee", "vmsplice", "copy_file_range", "pipe", "pipe2", "ioctl", NULL};
static const char *const files_meta[] = {
    "access", "faccessat", "faccessat2", "stat", "stat64", "lstat", "lstat64", "fstat",
    "fstat64", "fstatat64", "newfstatat", "statx", "statfs", "statfs64", "fstatfs", "fstatfs64",
    "getdents", "getdents64", "getcwd", "chdir", "fchdir", "mkdir", "mkdirat", "rmdir",
    "rename", "renameat", "renameat2", "link", "linkat", "symlink", "symlinkat", "unlink",
    "unlinkat", "readlink", "readlinkat", "mknod", "mknodat", "chmod", "fchmod", "fchmodat",
    "fchmodat2", "chown", "chown32", "fchown", "fchown32", "fchownat", "lchown", "lchown32",
    "umask", "utime", "utimes", "utimensat", "utimensat_time64", "futimesat",
    "name_to_handle_at", "getxattr", "lgetxattr", "fgetxattr", "setxattr", "lsetxattr",
    "fsetxattr", "listxattr", "llistxattr", "flistxattr", "removexattr", "lremovexattr",
    "fremovexattr", NULL};
static const char *const events[] = {
    "poll", "ppoll", "ppoll_time64", "select", "_newselect", "pselect6", "pselect6_time64",
    "epoll_create", "epoll_create1", "epoll_ctl", "epoll_ctl_old", "epoll_wait",
    "epoll_wait_old", "epoll_pwait", "epoll_pwait2", "eventfd", "eventfd2", "signalfd",
    "signalfd4", "timerfd_create", "timerfd_gettime", "timerfd_gettime64", "timerfd_settime",
    "timerfd_settime64", "inotify_init", "inotify_init1", "inotify_add_watch",
    "inotify_rm_watch", "fanotify_mark", "io_setup", "io_destroy", "io_submit", "io_cancel",
    "io_getevents", "io_pgetevents", "io_pgetevents_time64", NULL};
static const char *const memory[] = {
    "brk", "mmap", "mmap2", "munmap", "mremap", "mprotect", "madvise", "mincore", "msync",
    "mlock", "mlock2", "mlockall", "munlock", "munlockall", "remap_file_pages", "memfd_create",
    "memfd_secret", "membarrier", "pkey_alloc", "pkey_free", "pkey_mprotect",
    "map_shadow_stack", "futex", "futex_time64", "futex_waitv", "futex_wait", "futex_wake",
    "futex_requeue", NULL};
static const char *const processes[] = {
    "execve", "execveat", "exit", "exit_group", "fork", "vfork", "wait4", "waitid", "waitpid",
    "kill", "tkill", "tgkill", "getpid", "getppid", "gettid", "getpgid", "setpgid", "getpgrp",
    "getsid", "setsid", "prctl", "pidfd_open", "pidfd_send_signal", "process_mrelease",
    "set_tid_address", "restart_syscall", "rseq", "seccomp", "uname", "sysinfo", "getcpu",
    "getrandom", "capget", "capset", "get_thread_area", "set_thread_area", "set_robust_list",
    "get_robust_list", "landlock_create_ruleset", "landlock_add_rule", "landlock_restrict_self",
    /* Since Linux 4.8 seccomp runs after ptrace, so a tracer cannot step around the filter;
     * the kernel still checks CAP_SYS_PTRACE against other users' processes. */
    "ptrace", "process_vm_readv", "process_vm_writev", NULL};
static const char *const identity[] = {
    "getuid", "getuid32", "geteuid", "geteuid32", "getgid", "getgid32", "getegid", "getegid32",
    "getresuid", "getresuid32", "getresgid", "getresgid32", "getgroups", "getgroups32",
    "setuid", "setuid32", "setgid", "setgid32", "setreuid", "setreuid32", "setregid",
    "setregid32", "setresuid", "setresuid32", "setresgid", "setresgid32", "setfsuid",
    "setfsuid32", "setfsgid", "setfsgid32", "setgroups", "setgroups32", NULL};
static const char *const scheduling[] = {
    "getrlimit", "ugetrlimit", "setrlimit", "prlimit64", "getrusage", "getpriority",
    "setpriority", "ioprio_get", "ioprio_set", "sched_yield", "sched_getaffinity",
    "sched_setaffinity", "sched_getattr", "sched_setattr", "sched_getparam", "sched_setparam",
    "sched_getscheduler", "sched_setscheduler", "sched_get_priority_max",
    "sched_get_priority_min", "sched_rr_get_interval", "sched_rr_get_interval_time64", NULL};
static const char *const signals_time[] = {
    "rt_sigaction", "rt_sigpending", "rt_sigprocmask", "rt_sigqueueinfo", "rt_sigreturn",
    "rt_sigsuspend", "rt_sigtimedwait", "rt_sigtimedwait_time64", "rt_tgsigqueueinfo",
    "sigaltstack", "sigprocmask", "sigreturn", "pause", "alarm", "time", "gettimeofday",
    "clock_gettime", "clock_gettime64", "clock_getres", "clock_getres_time64",
    "clock_nanosleep", "clock_nanosleep_time64", "nanosleep", "adjtimex", "clock_adjtime",
    "clock_adjtime64", "times", "getitimer", "setitimer", "timer_create", "timer_delete",
    "timer_getoverrun", "timer_gettime", "timer_gettime64", "timer_settime", "timer_settime64",
    NULL};
/* socket itself is allowed by an argument rule below. */
static const char *const networking_ipc[] = {
    "socketcall", "socketpair", "bind", "connect", "listen", "accept", "accept4", "getsockname",
    "getpeername", "getsockopt", "setsockopt", "shutdown", "send", "sendto", "sendmsg",
    "sendmmsg", "recv", "recvfrom", "recvmsg", "recvmmsg", "recvmmsg_time64", "ipc", "msgget",
    "msgsnd", "msgrcv", "msgctl", "semget", "semop", "semtimedop", "semtimedop_time64", "semctl",
    "shmget", "shmat", "shmdt", "shmctl", "mq_open", "mq_unlink", "mq_timedsend",
    "mq_timedsend_time64", "mq_timedreceive", "mq_timedreceive_time64", "mq_notify",
    "mq_getsetattr", NULL};

/* Architecture families of a node, and the seccomp ABIs its kernel runs. */
enum family {
    FAM_X86_64 = 1u << 0,
    FAM_X86 = 1u << 1,
    FAM_AARCH64 = 1u << 2,
    FAM_ARM = 1u << 3,
};

static const char *const x86_64_only[] = {"arch_prctl", NULL};
static const char *const x86_any[] = {"modify_ldt", NULL};
static const char *const arm_any[] = {"arm_fadvise64_64", "arm_sync_file_range",
                                      "sync_file_range2", "breakpoint", "cacheflush", "set_tls",
                                      NULL};

/* Allowed for every container of a family (families 0: all). */
struct allow_group {
    const char *const *names;
    unsigned families;
};

static const struct allow_group always[] = {
    {files_io, 0},     {files_meta, 0},     {events, 0},          {memory, 0},
    {processes, 0},    {identity, 0},       {scheduling, 0},      {signals_time, 0},
    {networking_ipc, 0}, {x86_64_only, FAM_X86_64}, {x86_any, FAM_X86_64 | FAM_X86},
    {arm_any, FAM_AARCH64 | FAM_ARM},
};

/* ---- rules lifted by a capability ---- */

static const char *const by_sys_admin[] = {
    "mount", "umount", "umount2", "mount_setattr", "move_mount", "open_tree", "fsopen",
    "fsconfig", "fsmount", "fspick", "unshare", "setns", "clone", "clone3", "sethostname",
    "setdomainname", "quotactl", "quotactl_fd", "fanotify_init", "lookup_dcookie", NULL};
static const char *const by_bpf[] = {"bpf", NULL};
static const char *const by_perfmon[] = {"perf_event_open", NULL};
static const char *const by_syslog[] = {"syslog", NULL};
static const char *const by_sys_boot[] = {"reboot", NULL};
static const char *const by_sys_chroot[] = {"chroot", NULL};
static const char *const by_sys_module[] = {"init_module", "finit_module", "delete_module",
                                            NULL};
static const char *const by_sys_pacct[] = {"acct", NULL};
static const char *const by_sys_ptrace[] = {"kcmp", "pidfd_getfd", "process_madvise", NULL};
static const char *const by_sys_rawio[] = {"iopl", "ioperm", NULL};
static const char *const by_sys_time[] = {"settimeofday", "stime", "clock_settime",
                                          "clock_settime64", NULL};
static const char *const by_tty_config[] = {"vhangup", NULL};
static const char *const by_sys_nice[] = {"get_mempolicy", "mbind", "set_mempolicy",
                                          "set_mempolicy_home_node", NULL};
static const char *const by_dac_read_search[] = {"open_by_handle_at", NULL};

struct lifted_group {
    const char *cap, *cap2; /* either one lifts the group */
    const char *const *names;
};

static const struct lifted_group lifted[] = {
    {"CAP_SYS_ADMIN", NULL, by_sys_admin},
    {"CAP_SYS_ADMIN", "CAP_BPF", by_bpf},
    {"CAP_SYS_ADMIN", "CAP_PERFMON", by_perfmon},
    {"CAP_SYS_ADMIN", "CAP_SYSLOG", by_syslog},
    {"CAP_SYS_BOOT", NULL, by_sys_boot},
    {"CAP_SYS_CHROOT", NULL, by_sys_chroot},
    {"CAP_SYS_MODULE", NULL, by_sys_module},
    {"CAP_SYS_PACCT", NULL, by_sys_pacct},
    {"CAP_SYS_PTRACE", NULL, by_sys_ptrace},
    {"CAP_SYS_RAWIO", NULL, by_sys_rawio},
    {"CAP_SYS_TIME", NULL, by_sys_time},
    {"CAP_SYS_TTY_CONFIG", NULL, by_tty_config},
    {"CAP_SYS_NICE", NULL, by_sys_nice},
    {"CAP_DAC_READ_SEARCH", NULL, by_dac_read_search},
};

/* personality(2) values allowed: PER_LINUX, PER_LINUX32, UNAME26, UNAME26|PER_LINUX32, and
 * 0xffffffff, which only queries. Others (PER_BSD, ADDR_NO_RANDOMIZE...) change how the
 * kernel treats the process and are refused. */
static const long long personalities[] = {0x0, 0x8, 0x20000, 0x20008, 0xffffffff};

/* ---- architectures ---- */

static const char *const abi_x86_64[] = {"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32",
                                         NULL};
static const char *const abi_x86[] = {"SCMP_ARCH_X86", NULL};
static const char *const abi_aarch64[] = {"SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM", NULL};
static const char *const abi_arm[] = {"SCMP_ARCH_ARM", NULL};

/* Each architecture list of the default profile and the family whose groups it allows: one
 * profile per entry (for a given capability set), and one prepared text. */
struct abi_set {
    const char *const *abis;
    enum family family;
};

static const struct abi_set abi_sets[] = {
    {abi_x86_64, FAM_X86_64},
    {abi_x86, FAM_X86},
    {abi_aarch64, FAM_AARCH64},
    {abi_arm, FAM_ARM},
};

struct machine {
    const char *name; /* uname -m, or the usual alias (Go's GOARCH, Debian's architecture) */
    const struct abi_set *set;
};

static const struct machine machines[] = {
    {"x86_64", &abi_sets[0]},  {"amd64", &abi_sets[0]},   {"i386", &abi_sets[1]},
    {"i486", &abi_sets[1]},    {"i586", &abi_sets[1]},    {"i686", &abi_sets[1]},
    {"x86", &abi_sets[1]},     {"386", &abi_sets[1]},     {"aarch64", &abi_sets[2]},
    {"arm64", &abi_sets[2]},   {"armv8l", &abi_sets[3]},  {"armv7l", &abi_sets[3]},
    {"armv6l", &abi_sets[3]},  {"armv5tel", &abi_sets[3]}, {"arm", &abi_sets[3]},
    {"armhf", &abi_sets[3]},   {"armel", &abi_sets[3]},
};

static const struct machine *machine_find(const char *name)
{
    for (size_t i = 0; name && i < ARRAY_LEN(machines); i++) {
        if (strcasecmp(machines[i].name, name) == 0) {
            return &machines[i];
        }
    }
    return NULL;
}

const char *const *seccomp_default_arches(const char *machine)
{
    const struct machine *m = machine_find(machine);
    return m ? m->set->abis : NULL;
}

static bool same_names(const char *const *a, const char *const *b)
{
    for (; *a && *b; a++, b++) {
        if (strcmp(*a, *b) != 0) {
            return false;
        }
    }
    return !*a && !*b;
}

/* The entry of abi_sets an architecture list is (render_seccomp hands out the table's own
 * pointers; a list built elsewhere is matched by content). NULL for a foreign list. */
static const struct abi_set *abi_set_of(const char *const *abis)
{
    for (size_t i = 0; abis && i < ARRAY_LEN(abi_sets); i++) {
        if (abi_sets[i].abis == abis) {
            return &abi_sets[i];
        }
    }
    for (size_t i = 0; abis && i < ARRAY_LEN(abi_sets); i++) {
        if (same_names(abi_sets[i].abis, abis)) {
            return &abi_sets[i];
        }
    }
    return NULL;
}

/* The machine this library was compiled for: the last resort for the renderer's own. */
static const char *build_machine(void)
{
#if defined(__x86_64__)
    return "x86_64";
#elif defined(__i386__)
    return "i686";
#elif defined(__aarch64__)
    return "aarch64";
#elif defined(__arm__)
    return "armv7l";
#else
    return NULL;
#endif
}

static int name_cmp(const void *key, const void *elem)
{
    return strcmp((const char *)key, *(const char *const *)elem);
}

bool seccomp_syscall_known(const char *name)
{
    return name && bsearch(name, seccomp_syscall_names, seccomp_syscall_names_count,
                           sizeof(seccomp_syscall_names[0]), name_cmp) != NULL;
}

/* ---- writing the default profile ---- */

/*
 * The profile is written straight from the tables, in the order the renderer has always
 * produced it (the bytes, and so the config digest, must not change):
 * {"defaultAction", "defaultErrnoRet", "architectures", "syscalls"}, and in "syscalls" the
 * allowlist, the argument rules (socket, personality, then clone and clone3 unless
 * CAP_SYS_ADMIN lifts them), then the lifted groups in table order. A rule is
 * {"names", "action"[, "errnoRet"][, "args"]}; an argument is {"index", "value"[, "valueTwo"],
 * "op"}.
 */

/* Both lists hold CAP_-prefixed names (render/process.c's and this file's tables), so the
 * letter after the prefix settles most comparisons without a call. */
static bool has_cap(const struct strv *caps, const char *cap)
{
    for (size_t i = 0; cap && caps && i < caps->n; i++) {
        const char *have = caps->v[i];
        if (have[0] == cap[0] && have[4] == cap[4] && strcmp(have, cap) == 0) {
            return true;
        }
    }
    return false;
}

static void write_names(struct jw *w, const char *const *list)
{
    for (; *list; list++) {
        jw_string(w, *list);
    }
}

/* A comparison of argument 0 with `value`; for SCMP_CMP_MASKED_EQ `value` is the mask and the
 * masked argument must equal 0 (valueTwo). */
struct arg0_cmp {
    const char *op;
    long long value;
};

/* `{"names": [`: the caller writes the names, then rule_close() the rest. */
static void rule_open(struct jw *w)
{
    jw_object_open(w);
    jw_key(w, "names");
    jw_array_open(w);
}

/* `], "action": ...[, "errnoRet": n][, "args": [...]]}` (errno_ret 0: none; arg NULL: none). */
static void rule_close(struct jw *w, const char *action, int errno_ret, const struct arg0_cmp *arg)
{
    jw_array_close(w);
    jw_member_string(w, "action", action);
    if (errno_ret) {
        jw_member_int(w, "errnoRet", errno_ret);
    }
    if (arg) {
        jw_key(w, "args");
        jw_array_open(w);
        jw_object_open(w);
        jw_member_int(w, "index", 0);
        jw_member_int(w, "value", arg->value);
        if (strcmp(arg->op, "SCMP_CMP_MASKED_EQ") == 0) {
            jw_member_int(w, "valueTwo", 0);
        }
        jw_member_string(w, "op", arg->op);
        jw_object_close(w);
        jw_array_close(w);
    }
    jw_object_close(w);
}

static void write_one_name_rule(struct jw *w, const char *name, const char *action,
                                int errno_ret, const struct arg0_cmp *arg)
{
    rule_open(w);
    jw_string(w, name);
    rule_close(w, action, errno_ret, arg);
}

/* One rule allowing every group of the family (families 0: all). */
static void write_always(struct jw *w, unsigned family)
{
    rule_open(w);
    for (size_t i = 0; i < ARRAY_LEN(always); i++) {
        if (!always[i].families || (always[i].families & family)) {
            write_names(w, always[i].names);
        }
    }
    rule_close(w, "SCMP_ACT_ALLOW", 0, NULL);
}

static void write_argument_rules(struct jw *w, bool sys_admin)
{
    write_one_name_rule(w, "socket", "SCMP_ACT_ALLOW", 0,
                        &(struct arg0_cmp){"SCMP_CMP_NE", AF_VSOCK_});
    for (size_t i = 0; i < ARRAY_LEN(personalities); i++) {
        write_one_name_rule(w, "personality", "SCMP_ACT_ALLOW", 0,
                            &(struct arg0_cmp){"SCMP_CMP_EQ", personalities[i]});
    }
    if (sys_admin) {
        return; /* clone and clone3 are in the CAP_SYS_ADMIN group */
    }
    /* Masked equality: (flags & namespace flags) == 0. clone3 passes its flags in memory,
     * where seccomp cannot look: ENOSYS makes the C library fall back to clone. */
    write_one_name_rule(w, "clone", "SCMP_ACT_ALLOW", 0,
                        &(struct arg0_cmp){"SCMP_CMP_MASKED_EQ", CLONE_NAMESPACE_FLAGS_});
    write_one_name_rule(w, "clone3", "SCMP_ACT_ERRNO", ENOSYS_, NULL);
}

static void write_lifted(struct jw *w, const struct strv *caps)
{
    for (size_t i = 0; i < ARRAY_LEN(lifted); i++) {
        if (!has_cap(caps, lifted[i].cap) && !has_cap(caps, lifted[i].cap2)) {
            continue;
        }
        rule_open(w);
        write_names(w, lifted[i].names);
        rule_close(w, "SCMP_ACT_ALLOW", 0, NULL);
    }
}

/* The default profile for architecture list `set` and bounding set `caps`. */
static void write_default(struct jw *w, const struct abi_set *set, const struct strv *caps)
{
    jw_object_open(w);
    jw_member_string(w, "defaultAction", "SCMP_ACT_ERRNO");
    jw_member_int(w, "defaultErrnoRet", EPERM_);
    jw_key(w, "architectures");
    jw_array_open(w);
    write_names(w, set->abis);
    jw_array_close(w);
    jw_key(w, "syscalls");
    jw_array_open(w);
    write_always(w, set->family);
    write_argument_rules(w, has_cap(caps, "CAP_SYS_ADMIN"));
    write_lifted(w, caps);
    jw_array_close(w);
    jw_object_close(w);
}

/* ---- prepared text: the default profile with the default capability set ---- */

#define PREPARED_PROFILE_MAX (1u << 20) /* a profile is about 12 KiB */

/* Which lifted groups a bounding set opens, one bit per `lifted` entry. The profile depends
 * on the set only through these (CAP_SYS_ADMIN, which also drops the clone rules, opens the
 * first), so two sets with the same bits get the same bytes. */
static uint64_t lifted_groups(const struct strv *caps)
{
    uint64_t bits = 0;
    for (size_t i = 0; i < ARRAY_LEN(lifted); i++) {
        if (has_cap(caps, lifted[i].cap) || has_cap(caps, lifted[i].cap2)) {
            bits |= UINT64_C(1) << i;
        }
    }
    return bits;
}

_Static_assert(ARRAY_LEN(lifted) <= 64, "lifted_groups() keeps one bit per group");


_Static_assert(ARRAY_LEN(abi_sets) == SECCOMP_ABI_SETS, "render/prepared.h counts abi_sets");

/* The bounding set of a service without cap_add, cap_drop or privileged: Docker's default
 * set, as render/process.c lists it (process_prepare() has filled it). Most services run with
 * it, so its profiles are the ones prepared. */
static struct strv default_set(const struct render_prepared *p)
{
    /* The list only borrows the names: nothing writes through them. */
    return (struct strv){.n = DEFAULT_CAPABILITIES, .cap = DEFAULT_CAPABILITIES,
                         .v = (const char **)(uintptr_t)p->capability_items};
}

/* Whether the bounding set is the default set's very list of names (render/process.c fills
 * both from one table), so that the profile is the prepared one without looking further. */
static bool is_default_set(const struct strv *caps, const struct render_prepared *p)
{
    if (caps->n != DEFAULT_CAPABILITIES) {
        return false;
    }
    for (size_t i = 0; i < DEFAULT_CAPABILITIES; i++) {
        if (caps->v[i] != p->capability_items[i]) {
            return false;
        }
    }
    return true;
}

int seccomp_prepare(struct render_prepared *p)
{
    const struct strv caps = default_set(p);
    p->lifted = lifted_groups(&caps);
    for (size_t i = 0; i < ARRAY_LEN(abi_sets); i++) {
        struct sbuf b;
        struct jw w;
        sbuf_init(&b, PREPARED_PROFILE_MAX);
        jw_init(&w, &b, false, OCI_DEPTH_LINUX_MEMBERS);
        write_default(&w, &abi_sets[i], &caps);
        /* Not jw_finish(): its final newline belongs to the whole config, not to a value. */
        p->seccomp[i].text = w.rc ? NULL : sbuf_take(&b, &p->seccomp[i].len);
        sbuf_free(&b);
        if (!p->seccomp[i].text) {
            return -1;
        }
    }
    return 0;
}

void seccomp_write(struct jw *w, const struct oci_seccomp *s)
{
    if (s->custom) {
        oci_write_json(w, s->custom);
    } else if (s->use_default) {
        if (s->text && !w->compact && w->depth == OCI_DEPTH_LINUX_MEMBERS) {
            jw_raw(w, s->text, s->text_len);
            return;
        }
        const struct abi_set *set = abi_set_of(s->arches);
        if (!set) {
            w->rc = w->rc ? w->rc : ERR_INTERNAL; /* render_seccomp hands out no other list */
            return;
        }
        write_default(w, set, s->caps);
    }
}

/* ---- choosing the profile ---- */

/* The node's machine: host.arch, else the renderer's own (with a warning). NULL with c->err
 * set. */
static const struct machine *node_machine(struct rctx *c)
{
    const char *arch = c->host->arch;
    if (arch) {
        const struct machine *m = machine_find(arch);
        if (!m) {
            err_set(c->err, ERR_SPEC_INVALID, "host.arch",
                    "the default seccomp profile has no tables for architecture '%s' (it knows "
                    "x86_64, i386-i686, aarch64 and 32-bit arm): give a profile in "
                    "options.seccomp_profile or use security_opt seccomp=unconfined",
                    arch);
        }
        return m;
    }
    const char *server = c->set->native_arch ? c->set->native_arch : build_machine();
    const struct machine *m = machine_find(server);
    if (!m) {
        err_set(c->err, ERR_SPEC_INVALID, "host.arch",
                "host.arch is not given and the architecture of the machine rendering it "
                "('%s') has no default seccomp profile: give host.arch (`ocirender facts` "
                "reports it)",
                server ? server : "unknown");
        return NULL;
    }
    char msg[ERR_MSG_MAX];
    str_concat(msg, sizeof(msg),
               "host.arch is not given: the seccomp profile lists the architectures of the "
               "machine that rendered it (",
               m->name,
               "); a node of another architecture would have its syscalls refused", NULL);
    return rctx_warn_at(c, "host_arch_assumed", "host.arch", msg) ? NULL : m;
}

/* The default profile of the node's architectures and the bounding set: recorded, written
 * at output time (or copied from the prepared text when it is the one prepared). */
static int default_profile(struct rctx *c, struct oci_seccomp *s)
{
    const struct machine *m = node_machine(c);
    if (!m) {
        return -1;
    }
    /* The config outlives the context: the profile keeps its own (arena) view of the set. */
    struct strv *caps = arena_alloc(c->a, sizeof(*caps));
    if (!caps) {
        return rctx_nomem(c);
    }
    *caps = c->caps;
    s->use_default = true;
    s->arches = m->set->abis;
    s->caps = caps;
    const struct render_prepared *p = c->set->prepared;
    /* The default set's texts serve every set that opens the same groups (the usual
     * cap_drop: [NET_RAW] or cap_add: [NET_ADMIN] change nothing in the profile). */
    if (p && (is_default_set(caps, p) || lifted_groups(caps) == p->lifted)) {
        const struct prepared_text *t = &p->seccomp[m->set - abi_sets];
        s->text = t->text;
        s->text_len = t->len;
    }
    return 0;
}

/* The profile for the container: linux.seccomp stays empty when it gets none. */
int render_seccomp(struct rctx *c)
{
    const json_t *custom = c->opt->seccomp_profile;
    struct oci_seccomp *s = &c->cfg->linux_.seccomp;
    if (c->privileged) {
        if (custom) {
            return rctx_warn_at(c, "seccomp_profile_privileged", "options.seccomp_profile",
                           "a privileged container runs without seccomp: the custom profile is "
                           "not applied");
        }
        return 0;
    }
    if (custom && c->seccomp_unconfined) {
        return err_set(c->err, ERR_SPEC_INVALID, "options.seccomp_profile",
                       "a custom seccomp profile conflicts with security_opt seccomp=unconfined");
    }
    if (c->seccomp_unconfined) {
        return 0;
    }
    if (custom) {
        s->custom = custom; /* the request's document, used in place */
        return 0;
    }
    return default_profile(c, s);
}

/* ---- custom profiles: options.seccomp_profile, the OCI linux.seccomp object ---- */

static const char *const actions[] = {
    "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_TRAP",
    "SCMP_ACT_ERRNO", "SCMP_ACT_TRACE", "SCMP_ACT_ALLOW", "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY",
    NULL};
static const char *const operators[] = {"SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE",
                                        "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT",
                                        "SCMP_CMP_MASKED_EQ", NULL};
static const char *const filter_flags[] = {"SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG",
                                           "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
                                           "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV", NULL};
/* Every ABI libseccomp and the OCI runtime specification name. */
static const char *const scmp_arches[] = {
    "SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32", "SCMP_ARCH_ARM", "SCMP_ARCH_AARCH64",
    "SCMP_ARCH_LOONGARCH64", "SCMP_ARCH_M68K", "SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64",
    "SCMP_ARCH_MIPS64N32", "SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64", "SCMP_ARCH_MIPSEL64N32",
    "SCMP_ARCH_PPC", "SCMP_ARCH_PPC64", "SCMP_ARCH_PPC64LE", "SCMP_ARCH_S390", "SCMP_ARCH_S390X",
    "SCMP_ARCH_SH", "SCMP_ARCH_SHEB", "SCMP_ARCH_PARISC", "SCMP_ARCH_PARISC64",
    "SCMP_ARCH_RISCV64", NULL};

static bool listed(const char *const *list, const char *s)
{
    for (; *list; list++) {
        if (strcmp(*list, s) == 0) {
            return true;
        }
    }
    return false;
}

static int finish_syscall_name(struct walk *w, json_t *out)
{
    const char *name = json_string_value(out);
    return seccomp_syscall_known(name)
               ? 0
               : walk_error(w, NULL, "unknown syscall `%s` (no Linux architecture has it)", name);
}

static int finish_arch(struct walk *w, json_t *out)
{
    const char *a = json_string_value(out);
    return listed(scmp_arches, a)
               ? 0
               : walk_error(w, NULL,
                            "unknown architecture `%s`: expected an SCMP_ARCH_* name such as "
                            "SCMP_ARCH_X86_64, SCMP_ARCH_AARCH64 or SCMP_ARCH_ARM",
                            a);
}

static int finish_absolute(struct walk *w, json_t *out)
{
    return json_string_value(out)[0] == '/'
               ? 0
               : walk_error(w, NULL, "'%s' must be an absolute path", json_string_value(out));
}

static const struct stype st_action = {.kind = SK_ENUM, .what = "a seccomp action",
                                       .enums = actions};
static const struct stype st_operator = {.kind = SK_ENUM, .what = "a seccomp comparison",
                                         .enums = operators};
static const struct stype st_flag = {.kind = SK_ENUM, .what = "a seccomp filter flag",
                                     .enums = filter_flags};
static const struct stype st_flags = {.kind = SK_LIST, .what = "a list of filter flags",
                                      .elem = &st_flag};
static const struct stype st_arch = {.kind = SK_STRING, .what = "an architecture name",
                                     .finish = finish_arch};
static const struct stype st_arches = {.kind = SK_LIST, .what = "a list of architectures",
                                       .elem = &st_arch};
static const struct stype st_syscall_name = {.kind = SK_STRING, .what = "a syscall name",
                                             .min = 1, .finish = finish_syscall_name};
static int finish_names(struct walk *w, json_t *out)
{
    return json_array_size(out) ? 0 : walk_error(w, NULL, "must list at least one syscall");
}
static const struct stype st_names = {.kind = SK_LIST, .what = "a list of syscall names",
                                      .elem = &st_syscall_name, .finish = finish_names};
static const struct stype st_arg_index = {.kind = SK_INT, .what = "an argument index (0..5)",
                                          .min = 0, .max = 5};
static const struct stype st_errno = {.kind = SK_INT, .what = "an errno value (0..4095)",
                                      .min = 0, .max = 4095};
static const struct stype st_listener = {.kind = SK_STRING, .what = "an absolute path",
                                         .finish = finish_absolute};

static const struct sfield arg_fields[] = {
    {"index", &st_arg_index, SF_REQUIRED, NULL},
    {"value", &st_u64, SF_REQUIRED, NULL},
    {"valueTwo", &st_u64, 0, NULL},
    {"op", &st_operator, SF_REQUIRED, NULL},
    {NULL, NULL, 0, NULL},
};
static const struct stype st_arg = {.kind = SK_OBJECT, .what = "an argument comparison",
                                    .fields = arg_fields};
static const struct stype st_args = {.kind = SK_LIST, .what = "a list of argument comparisons",
                                     .elem = &st_arg};

/* errnoRet means something only to the actions that return an error (runc refuses it
 * elsewhere); a field name is given so the error points at it. */
static int check_errno_ret(struct walk *w, const json_t *obj, const char *action_key,
                           const char *errno_key)
{
    const char *action = jsonx_get_str(obj, action_key);
    if (!json_object_get(obj, errno_key) || str_eq(action, "SCMP_ACT_ERRNO") ||
        str_eq(action, "SCMP_ACT_TRACE")) {
        return 0;
    }
    size_t saved = walk_push_key(w, errno_key);
    walk_error(w, NULL, "%s applies only to SCMP_ACT_ERRNO and SCMP_ACT_TRACE, not %s", errno_key,
               action);
    walk_pop(w, saved);
    return -1;
}

static int finish_syscall(struct walk *w, json_t *out)
{
    return check_errno_ret(w, out, "action", "errnoRet");
}

static const struct sfield syscall_fields[] = {
    {"names", &st_names, SF_REQUIRED, NULL},
    {"action", &st_action, SF_REQUIRED, NULL},
    {"errnoRet", &st_errno, 0, NULL},
    {"args", &st_args, 0, NULL},
    {NULL, NULL, 0, NULL},
};
static const struct stype st_syscall = {.kind = SK_OBJECT, .what = "a syscall rule",
                                        .fields = syscall_fields, .finish = finish_syscall};
static const struct stype st_syscalls = {.kind = SK_LIST, .what = "a list of syscall rules",
                                         .elem = &st_syscall};

static bool uses_notify(const json_t *profile)
{
    const json_t *rules = json_object_get(profile, "syscalls");
    for (size_t i = 0; i < json_array_size(rules); i++) {
        if (str_eq(jsonx_get_str(json_array_get(rules, i), "action"), "SCMP_ACT_NOTIFY")) {
            return true;
        }
    }
    return false;
}

static int finish_profile(struct walk *w, json_t *out)
{
    if (check_errno_ret(w, out, "defaultAction", "defaultErrnoRet")) {
        return -1;
    }
    if (str_eq(jsonx_get_str(out, "defaultAction"), "SCMP_ACT_NOTIFY")) {
        size_t saved = walk_push_key(w, "defaultAction");
        walk_error(w, NULL, "SCMP_ACT_NOTIFY can not be the default action (the runtime "
                            "itself would need every syscall answered)");
        walk_pop(w, saved);
        return -1;
    }
    if (uses_notify(out) && !json_object_get(out, "listenerPath")) {
        return walk_error(w, NULL, "SCMP_ACT_NOTIFY needs listenerPath (the socket of the "
                                   "process that answers the notifications)");
    }
    return 0;
}

static const struct sfield profile_fields[] = {
    {"defaultAction", &st_action, SF_REQUIRED, NULL},
    {"defaultErrnoRet", &st_errno, 0, NULL},
    {"architectures", &st_arches, 0, NULL},
    {"flags", &st_flags, 0, NULL},
    {"listenerPath", &st_listener, 0, NULL},
    {"listenerMetadata", &st_string, 0, NULL},
    {"syscalls", &st_syscalls, 0, NULL},
    {NULL, NULL, 0, NULL},
};

const struct stype seccomp_profile_type = {.kind = SK_OBJECT,
                                           .what = "a seccomp profile (OCI linux.seccomp)",
                                           .fields = profile_fields, .finish = finish_profile};
