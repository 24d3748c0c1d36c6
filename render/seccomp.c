/*
 * The default seccomp profile (ocirender's own, not in the original): allow by default and
 * refuse the syscalls that expose the most kernel attack surface to a container, unless the
 * container holds the capability that legitimately needs them (as Docker's profile does):
 * keyrings, io_uring, bpf/perf, the mount API, new namespaces (unshare, setns, clone with
 * CLONE_NEWUSER), module and kexec loading, raw I/O, obsolete syscalls. clone3 answers ENOSYS
 * so C libraries fall back to clone, whose flags can be inspected.
 *
 * No `architectures` are listed: runtimes then filter the native ABI only and refuse the
 * others, so the 32-bit ABI cannot be used to step around the filter.
 * Privileged containers and security_opt seccomp=unconfined get no profile.
 */
#include <string.h>

#include "common/jsonx.h"
#include "common/strutil.h"
#include "render/ctx.h"

#define EPERM_ 1
#define ENOSYS_ 38
#define CLONE_NEWUSER_ 0x10000000

struct deny_rule {
    const char *cap;  /* capability that lifts the rule (NULL: never lifted) */
    const char *cap2; /* a second one that also lifts it, or NULL */
    const char *const *names;
};

static const char *const always[] = {"add_key", "keyctl", "request_key", "io_uring_setup",
                                     "io_uring_enter", "io_uring_register", "create_module",
                                     "get_kernel_syms", "query_module", "nfsservctl", "uselib",
                                     "vm86", "vm86old", "_sysctl", "sysfs", "ustat", NULL};
static const char *const sys_admin[] = {"mount", "umount", "umount2", "pivot_root", "move_mount",
                                        "open_tree", "fsopen", "fsconfig", "fsmount", "fspick",
                                        "mount_setattr", "swapon", "swapoff", "quotactl",
                                        "quotactl_fd", "setns", "unshare", "fanotify_init",
                                        "lookup_dcookie", NULL};
static const char *const bpf[] = {"bpf", NULL};
static const char *const perf[] = {"perf_event_open", NULL};
static const char *const module[] = {"init_module", "finit_module", "delete_module", NULL};
static const char *const boot[] = {"reboot", "kexec_load", "kexec_file_load", NULL};
static const char *const pacct[] = {"acct", NULL};
static const char *const rawio[] = {"iopl", "ioperm", NULL};
static const char *const dac_read_search[] = {"open_by_handle_at", NULL};
static const char *const ptrace[] = {"userfaultfd", "kcmp", NULL};
static const char *const sys_time[] = {"settimeofday", "stime", "clock_settime", NULL};
static const char *const syslog[] = {"syslog", NULL};
static const char *const tty_config[] = {"vhangup", NULL};

static const struct deny_rule rules[] = {
    {NULL, NULL, always},
    {"CAP_SYS_ADMIN", NULL, sys_admin},
    {"CAP_SYS_ADMIN", "CAP_BPF", bpf},
    {"CAP_SYS_ADMIN", "CAP_PERFMON", perf},
    {"CAP_SYS_MODULE", NULL, module},
    {"CAP_SYS_BOOT", NULL, boot},
    {"CAP_SYS_PACCT", NULL, pacct},
    {"CAP_SYS_RAWIO", NULL, rawio},
    {"CAP_DAC_READ_SEARCH", NULL, dac_read_search},
    {"CAP_SYS_PTRACE", NULL, ptrace},
    {"CAP_SYS_TIME", NULL, sys_time},
    {"CAP_SYSLOG", NULL, syslog},
    {"CAP_SYS_TTY_CONFIG", NULL, tty_config},
};

static bool has(const json_t *caps, const char *cap)
{
    for (size_t i = 0; cap && i < json_array_size(caps); i++) {
        if (str_eq(json_string_value(json_array_get(caps, i)), cap)) {
            return true;
        }
    }
    return false;
}

static int add_names(json_t *names, const char *const *list)
{
    for (; *list; list++) {
        if (jsonx_append_str(names, *list)) {
            return -1;
        }
    }
    return 0;
}

static json_t *syscall_rule_new(json_t *names, const char *action, int errno_ret)
{
    return json_pack("{s:o, s:s, s:i}", "names", names, "action", action, "errnoRet", errno_ret);
}

/* The profile for a container with bounding set `caps`, or NULL (no error) when it gets none. */
json_t *render_seccomp(struct rctx *c, const json_t *caps, bool unconfined)
{
    if (c->privileged || unconfined) {
        return NULL;
    }
    json_t *denied = json_array();
    json_t *syscalls = json_array();
    if (!denied || !syscalls) {
        goto nomem;
    }
    for (size_t r = 0; r < sizeof(rules) / sizeof(rules[0]); r++) {
        bool lifted = has(caps, rules[r].cap) || has(caps, rules[r].cap2);
        if (!lifted && add_names(denied, rules[r].names)) {
            goto nomem;
        }
    }
    if (json_array_append_new(syscalls, syscall_rule_new(denied, "SCMP_ACT_ERRNO", EPERM_))) {
        denied = NULL;
        goto nomem;
    }
    denied = NULL;
    if (!has(caps, "CAP_SYS_ADMIN")) {
        json_t *clone = json_pack("{s:[s], s:s, s:i, s:[{s:i, s:I, s:I, s:s}]}", "names", "clone",
                                  "action", "SCMP_ACT_ERRNO", "errnoRet", EPERM_, "args", "index",
                                  0, "value", (json_int_t)CLONE_NEWUSER_, "valueTwo",
                                  (json_int_t)CLONE_NEWUSER_, "op", "SCMP_CMP_MASKED_EQ");
        json_t *clone3 = json_pack("{s:[s], s:s, s:i}", "names", "clone3", "action",
                                   "SCMP_ACT_ERRNO", "errnoRet", ENOSYS_);
        /* Two separate steals: with `a || b`, a failing first append would leak clone3. */
        if (json_array_append_new(syscalls, clone)) {
            json_decref(clone3);
            goto nomem;
        }
        if (json_array_append_new(syscalls, clone3)) {
            goto nomem;
        }
    }
    json_t *profile = json_pack("{s:s, s:o}", "defaultAction", "SCMP_ACT_ALLOW", "syscalls",
                                syscalls);
    if (!profile) {
        rctx_nomem(c);
    }
    return profile;
nomem:
    json_decref(denied);
    json_decref(syscalls);
    rctx_nomem(c);
    return NULL;
}
