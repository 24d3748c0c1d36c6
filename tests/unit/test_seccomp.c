/*
 * Seccomp: the default allowlist (Docker's semantics), the rules each capability lifts, the
 * argument filters, the architectures from host.arch, and options.seccomp_profile with every
 * validation error at its path.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/jsonx.h"
#include "render/seccomp.h"
#include "tests/unit/rtest.h"

#define SVC "version: v1\ndeployment: shop\nservices:\n  web:\n    image: {name: \"shop:1\"}\n"
#define X86_64 "{\"arch\": \"x86_64\"}"

static const json_t *rules_of(const struct rt *t)
{
    return rt_get(t->config, "linux.seccomp.syscalls");
}

static bool allows(const json_t *rule)
{
    const char *action = jsonx_get_str(rule, "action");
    return action && strcmp(action, "SCMP_ACT_ALLOW") == 0;
}

/* Allowed whatever its arguments: an SCMP_ACT_ALLOW rule without args names it. */
static bool allowed(const struct rt *t, const char *name)
{
    const json_t *rules = rules_of(t);
    for (size_t i = 0; i < json_array_size(rules); i++) {
        const json_t *r = json_array_get(rules, i);
        if (!json_object_get(r, "args") && allows(r) &&
            rt_has_str(json_object_get(r, "names"), name)) {
            return true;
        }
    }
    return false;
}

/* Number of rules that name `name` (with or without arguments, any action). */
static int rules_naming(const struct rt *t, const char *name)
{
    const json_t *rules = rules_of(t);
    int n = 0;
    for (size_t i = 0; i < json_array_size(rules); i++) {
        n += rt_has_str(json_object_get(json_array_get(rules, i), "names"), name);
    }
    return n;
}

static const json_t *only_rule_naming(const struct rt *t, const char *name)
{
    const json_t *rules = rules_of(t);
    for (size_t i = 0; i < json_array_size(rules); i++) {
        const json_t *r = json_array_get(rules, i);
        if (rt_has_str(json_object_get(r, "names"), name)) {
            return r;
        }
    }
    return NULL;
}

static int render_with(struct rt *t, const char *spec_tail, const char *host, const char *options)
{
    char spec[1024];
    snprintf(spec, sizeof(spec), "%s%s", SVC, spec_tail);
    struct rt_in in = {.spec = spec, .host = host, .options = options};
    return rt_render(t, &in);
}

static void default_profile_is_an_allowlist(void)
{
    struct rt t;
    CHECK_INT(render_with(&t, "", X86_64, NULL), 0);
    CHECK_STR(json_string_value(rt_get(t.config, "linux.seccomp.defaultAction")),
              "SCMP_ACT_ERRNO");
    CHECK_INT(json_integer_value(rt_get(t.config, "linux.seccomp.defaultErrnoRet")), 1);
    static const char *const common[] = {"read", "write", "openat", "execve", "clone", "wait4",
                                         "futex", "mmap", "getdents64", "ioctl", "prctl",
                                         "ptrace", "process_vm_readv", "chroot", NULL};
    for (const char *const *n = common; *n; n++) {
        if (!allowed(&t, *n) && strcmp(*n, "clone") != 0) {
            fprintf(stderr, "  not allowed: %s\n", *n);
            CHECK(allowed(&t, *n));
        }
    }
    /* never listed, whatever the capabilities: the keyring and io_uring */
    static const char *const never[] = {"add_key", "keyctl", "request_key", "io_uring_setup",
                                        "io_uring_enter", "io_uring_register", "kexec_load",
                                        "userfaultfd", "swapon", "pivot_root", NULL};
    for (const char *const *n = never; *n; n++) {
        CHECK_INT(rules_naming(&t, *n), 0);
    }
    /* lifted only by a capability the default set does not hold */
    static const char *const lifted[] = {"mount", "umount2", "unshare", "setns", "bpf",
                                         "perf_event_open", "init_module", "reboot", "iopl",
                                         "settimeofday", "acct", "kcmp", "syslog", "mbind",
                                         "open_by_handle_at", "vhangup", "sethostname", NULL};
    for (const char *const *n = lifted; *n; n++) {
        CHECK_INT(rules_naming(&t, *n), 0);
    }
    rt_free(&t);
}

static void argument_filters_as_docker_has_them(void)
{
    struct rt t;
    CHECK_INT(render_with(&t, "", X86_64, NULL), 0);
    /* clone only without namespace flags: (flags & 0x7E020000) == 0 */
    const json_t *clone = only_rule_naming(&t, "clone");
    CHECK_INT(rules_naming(&t, "clone"), 1);
    CHECK_STR(jsonx_get_str(clone, "action"), "SCMP_ACT_ALLOW");
    const json_t *arg = json_array_get(json_object_get(clone, "args"), 0);
    CHECK_STR(jsonx_get_str(arg, "op"), "SCMP_CMP_MASKED_EQ");
    CHECK_INT(json_integer_value(json_object_get(arg, "index")), 0);
    CHECK_INT(json_integer_value(json_object_get(arg, "value")), 0x7E020000);
    CHECK_INT(json_integer_value(json_object_get(arg, "valueTwo")), 0);
    /* clone3 hides its flags from seccomp: ENOSYS, so libc falls back to clone */
    const json_t *clone3 = only_rule_naming(&t, "clone3");
    CHECK_STR(jsonx_get_str(clone3, "action"), "SCMP_ACT_ERRNO");
    CHECK_INT(json_integer_value(json_object_get(clone3, "errnoRet")), 38);
    /* socket: anything but AF_VSOCK (40) */
    const json_t *sock = only_rule_naming(&t, "socket");
    CHECK_INT(rules_naming(&t, "socket"), 1);
    arg = json_array_get(json_object_get(sock, "args"), 0);
    CHECK_STR(jsonx_get_str(arg, "op"), "SCMP_CMP_NE");
    CHECK_INT(json_integer_value(json_object_get(arg, "value")), 40);
    /* personality: five values, one rule each (rules are alternatives, args conjunctions) */
    CHECK_INT(rules_naming(&t, "personality"), 5);
    CHECK(!allowed(&t, "personality"));
    long long seen = 0;
    const json_t *rules = rules_of(&t);
    for (size_t i = 0; i < json_array_size(rules); i++) {
        const json_t *r = json_array_get(rules, i);
        if (rt_has_str(json_object_get(r, "names"), "personality")) {
            const json_t *a = json_array_get(json_object_get(r, "args"), 0);
            CHECK_STR(jsonx_get_str(a, "op"), "SCMP_CMP_EQ");
            long long v = json_integer_value(json_object_get(a, "value"));
            seen |= v == 0 ? 1 : v == 8 ? 2 : v == 0x20000 ? 4 : v == 0x20008 ? 8
                                                           : v == 0xffffffffll ? 16 : 32;
        }
    }
    CHECK_INT(seen, 31);
    rt_free(&t);
}

static void capabilities_lift_their_rules(void)
{
    static const struct {
        const char *cap;
        const char *syscall;
    } lifts[] = {
        {"SYS_ADMIN", "mount"},          {"SYS_ADMIN", "unshare"},
        {"SYS_ADMIN", "setns"},          {"SYS_ADMIN", "clone3"},
        {"SYS_ADMIN", "bpf"},            {"SYS_ADMIN", "syslog"},
        {"BPF", "bpf"},                  {"PERFMON", "perf_event_open"},
        {"SYSLOG", "syslog"},            {"SYS_BOOT", "reboot"},
        {"SYS_MODULE", "finit_module"},  {"SYS_PACCT", "acct"},
        {"SYS_PTRACE", "kcmp"},          {"SYS_PTRACE", "pidfd_getfd"},
        {"SYS_RAWIO", "ioperm"},         {"SYS_TIME", "clock_settime"},
        {"SYS_TTY_CONFIG", "vhangup"},   {"SYS_NICE", "set_mempolicy"},
        {"DAC_READ_SEARCH", "open_by_handle_at"},
    };
    for (size_t i = 0; i < sizeof(lifts) / sizeof(lifts[0]); i++) {
        char tail[128];
        snprintf(tail, sizeof(tail), "    cap_add: [%s]\n", lifts[i].cap);
        struct rt t;
        CHECK_INT(render_with(&t, tail, X86_64, NULL), 0);
        if (!allowed(&t, lifts[i].syscall)) {
            fprintf(stderr, "  %s did not lift %s\n", lifts[i].cap, lifts[i].syscall);
            CHECK(allowed(&t, lifts[i].syscall));
        }
        rt_free(&t);
    }
    struct rt t;
    /* CAP_SYS_ADMIN: clone and clone3 without filters, so no masked rule and no ENOSYS */
    CHECK_INT(render_with(&t, "    cap_add: [SYS_ADMIN]\n", X86_64, NULL), 0);
    CHECK(allowed(&t, "clone"));
    CHECK_INT(rules_naming(&t, "clone"), 1);
    CHECK_INT(rules_naming(&t, "clone3"), 1);
    CHECK(!allowed(&t, "init_module")); /* only its own capability lifts it */
    rt_free(&t);
    /* dropping a default capability takes its syscall away */
    CHECK_INT(render_with(&t, "    cap_drop: [SYS_CHROOT]\n", X86_64, NULL), 0);
    CHECK_INT(rules_naming(&t, "chroot"), 0);
    rt_free(&t);
    /* every capability: the keyring and io_uring stay refused */
    CHECK_INT(render_with(&t, "    cap_add: [ALL]\n", X86_64, NULL), 0);
    CHECK(allowed(&t, "mount"));
    CHECK(allowed(&t, "reboot"));
    CHECK_INT(rules_naming(&t, "keyctl"), 0);
    CHECK_INT(rules_naming(&t, "add_key"), 0);
    CHECK_INT(rules_naming(&t, "io_uring_setup"), 0);
    rt_free(&t);
}

static int arch_count(const struct rt *t)
{
    return (int)json_array_size(rt_get(t->config, "linux.seccomp.architectures"));
}

static const char *arch_at(const struct rt *t, size_t i)
{
    return json_string_value(json_array_get(rt_get(t->config, "linux.seccomp.architectures"), i));
}

static void architectures_follow_host_arch(void)
{
    static const struct {
        const char *arch;
        const char *abis[3];
        const char *has, *lacks;
    } cases[] = {
        {"x86_64", {"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"}, "arch_prctl",
         "set_tls"},
        {"amd64", {"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"}, "modify_ldt",
         "cacheflush"},
        {"AMD64", {"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"}, "arch_prctl",
         "breakpoint"},
        {"aarch64", {"SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM", NULL}, "set_tls", "arch_prctl"},
        {"arm64", {"SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM", NULL}, "cacheflush", "modify_ldt"},
        {"i686", {"SCMP_ARCH_X86", NULL, NULL}, "modify_ldt", "arch_prctl"},
        {"armv7l", {"SCMP_ARCH_ARM", NULL, NULL}, "arm_fadvise64_64", "modify_ldt"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char host[64];
        snprintf(host, sizeof(host), "{\"arch\": \"%s\"}", cases[i].arch);
        struct rt t;
        CHECK_INT(render_with(&t, "", host, NULL), 0);
        int n = 0;
        for (int k = 0; k < 3 && cases[i].abis[k]; k++, n++) {
            CHECK_STR(arch_at(&t, (size_t)k), cases[i].abis[k]);
        }
        CHECK_INT(arch_count(&t), n);
        CHECK(allowed(&t, cases[i].has));
        CHECK_INT(rules_naming(&t, cases[i].lacks), 0);
        CHECK(!rt_has_warning(&t, "host_arch_assumed"));
        rt_free(&t);
    }
    CHECK(seccomp_default_arches("ppc64le") == NULL);
}

static void absent_or_unknown_arch(void)
{
    struct rt t;
    /* absent: the server's arch, with a warning at host.arch */
    struct render_settings arm = {.native_arch = "aarch64"};
    struct rt_in in = {.spec = SVC, .settings = &arm};
    CHECK_INT(rt_render(&t, &in), 0);
    CHECK_STR(arch_at(&t, 0), "SCMP_ARCH_AARCH64");
    CHECK(rt_has_warning(&t, "host_arch_assumed"));
    const json_t *w = json_array_get(t.warnings, json_array_size(t.warnings) - 1);
    CHECK_STR(jsonx_get_str(w, "path"), "host.arch");
    CHECK_CONTAINS(jsonx_get_str(w, "message"), "aarch64");
    rt_free(&t);
    /* an arch without tables: 422 at host.arch, with the ways out */
    CHECK_INT(render_with(&t, "", "{\"arch\": \"ppc64le\"}", NULL), -1);
    CHECK_INT(t.err.code, ERR_SPEC_INVALID);
    CHECK_STR(rt_err_path(&t), "host.arch");
    CHECK_CONTAINS(rt_err_msg(&t), "ppc64le");
    CHECK_CONTAINS(rt_err_msg(&t), "options.seccomp_profile");
    rt_free(&t);
    /* ... which do work there */
    CHECK_INT(render_with(&t, "    security_opt: [seccomp=unconfined]\n", "{\"arch\": \"ppc64le\"}",
                          NULL),
              0);
    CHECK(rt_get(t.config, "linux.seccomp") == NULL);
    rt_free(&t);
    CHECK_INT(render_with(&t, "", "{\"arch\": \"ppc64le\"}",
                          "{\"seccomp_profile\": {\"defaultAction\": \"SCMP_ACT_ALLOW\", "
                          "\"architectures\": [\"SCMP_ARCH_PPC64LE\"]}}"),
              0);
    CHECK_STR(arch_at(&t, 0), "SCMP_ARCH_PPC64LE");
    rt_free(&t);
    CHECK_INT(render_with(&t, "", "{\"arch\": \"\"}", NULL), -1);
    CHECK_STR(rt_err_path(&t), "host.arch");
    rt_free(&t);
    /* the server's own arch unknown and no host.arch */
    struct render_settings odd = {.native_arch = "sparc64"};
    in.settings = &odd;
    CHECK_INT(rt_render(&t, &in), -1);
    CHECK_STR(rt_err_path(&t), "host.arch");
    CHECK_CONTAINS(rt_err_msg(&t), "sparc64");
    rt_free(&t);
}

static void no_profile_when_privileged_or_unconfined(void)
{
    struct rt t;
    CHECK_INT(render_with(&t, "    privileged: true\n", X86_64, NULL), 0);
    CHECK(rt_get(t.config, "linux.seccomp") == NULL);
    CHECK(!rt_has_warning(&t, "host_arch_assumed"));
    rt_free(&t);
    CHECK_INT(render_with(&t, "    security_opt: [seccomp=unconfined]\n", NULL, NULL), 0);
    CHECK(rt_get(t.config, "linux.seccomp") == NULL);
    CHECK(!rt_has_warning(&t, "host_arch_assumed"));
    rt_free(&t);
    /* a profile file: the server never reads a path named by a request */
    CHECK_INT(render_with(&t, "    security_opt: [\"seccomp=/etc/x.json\"]\n", X86_64, NULL), -1);
    CHECK_STR(rt_err_path(&t), "services.web.security_opt[0]");
    CHECK_CONTAINS(rt_err_msg(&t), "options.seccomp_profile");
    rt_free(&t);
}

#define CUSTOM                                                                               \
    "{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"defaultErrnoRet\": 1, "                       \
    "\"architectures\": [\"SCMP_ARCH_X86_64\", \"SCMP_ARCH_X86\"], "                         \
    "\"flags\": [\"SECCOMP_FILTER_FLAG_LOG\"], "                                             \
    "\"syscalls\": [{\"names\": [\"read\", \"write\", \"exit_group\"], "                     \
    "\"action\": \"SCMP_ACT_ALLOW\"}, "                                                      \
    "{\"names\": [\"mkdir\"], \"action\": \"SCMP_ACT_ERRNO\", \"errnoRet\": 13}, "           \
    "{\"names\": [\"kill\"], \"action\": \"SCMP_ACT_ALLOW\", \"args\": [{\"index\": 1, "     \
    "\"value\": 9, \"op\": \"SCMP_CMP_NE\"}, {\"index\": 0, \"value\": 255, \"valueTwo\": 1, " \
    "\"op\": \"SCMP_CMP_MASKED_EQ\"}]}]}"

static void custom_profile_is_rendered_as_given(void)
{
    struct rt t;
    CHECK_INT(render_with(&t, "", X86_64, "{\"seccomp_profile\": " CUSTOM "}"), 0);
    json_t *want = json_loads(CUSTOM, 0, NULL);
    CHECK(want != NULL);
    CHECK(json_equal(rt_get(t.config, "linux.seccomp"), want));
    json_decref(want);
    CHECK(!rt_has_warning(&t, "host_arch_assumed"));
    rt_free(&t);
    /* privileged: no seccomp at all, and a warning that the profile is not applied */
    CHECK_INT(render_with(&t, "    privileged: true\n", X86_64,
                          "{\"seccomp_profile\": " CUSTOM "}"),
              0);
    CHECK(rt_get(t.config, "linux.seccomp") == NULL);
    CHECK(rt_has_warning(&t, "seccomp_profile_privileged"));
    rt_free(&t);
    /* asking for both a profile and none is a contradiction */
    CHECK_INT(render_with(&t, "    security_opt: [seccomp=unconfined]\n", X86_64,
                          "{\"seccomp_profile\": " CUSTOM "}"),
              -1);
    CHECK_STR(rt_err_path(&t), "options.seccomp_profile");
    rt_free(&t);
}

static void custom_profile_errors_name_the_path(void)
{
    static const struct {
        const char *profile;
        const char *path;
        const char *says;
    } bad[] = {
        {"\"/etc/seccomp.json\"", "options.seccomp_profile", "expected a seccomp profile"},
        {"{}", "options.seccomp_profile", "defaultAction"},
        {"{\"defaultAction\": \"SCMP_ACT_NOPE\"}", "options.seccomp_profile.defaultAction",
         "SCMP_ACT_NOPE"},
        {"{\"defaultAction\": \"SCMP_ACT_NOTIFY\", \"listenerPath\": \"/run/l.sock\"}",
         "options.seccomp_profile.defaultAction", "default action"},
        {"{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"defaultErrnoRet\": 1}",
         "options.seccomp_profile.defaultErrnoRet", "SCMP_ACT_ERRNO"},
        {"{\"defaultAction\": \"SCMP_ACT_ALLOW\", "
         "\"architectures\": [\"SCMP_ARCH_X86_64\", \"SCMP_ARCH_Z80\"]}",
         "options.seccomp_profile.architectures[1]", "SCMP_ARCH_Z80"},
        {"{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"flags\": [\"SECCOMP_FILTER_FLAG_FAST\"]}",
         "options.seccomp_profile.flags[0]", "SECCOMP_FILTER_FLAG_FAST"},
        {"{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"listenerPath\": \"rel.sock\"}",
         "options.seccomp_profile.listenerPath", "absolute"},
        {"{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"archMap\": []}",
         "options.seccomp_profile.archMap", "unknown field"},
        {"{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": ["
         "{\"names\": [\"read\"], \"action\": \"SCMP_ACT_ALLOW\"}, "
         "{\"names\": [\"write\"], \"action\": \"SCMP_ACT_ALLOW\"}, "
         "{\"names\": [\"close\"], \"action\": \"SCMP_ACT_ALLOW\"}, "
         "{\"names\": [\"openat\", \"frobnicate\"], \"action\": \"SCMP_ACT_ERRNO\"}]}",
         "options.seccomp_profile.syscalls[3].names[1]", "unknown syscall `frobnicate`"},
        {"{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": [], "
         "\"action\": \"SCMP_ACT_ERRNO\"}]}",
         "options.seccomp_profile.syscalls[0].names", "at least one"},
        {"{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": [\"read\"]}]}",
         "options.seccomp_profile.syscalls[0]", "action"},
        {"{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": [\"read\"], "
         "\"action\": \"SCMP_ACT_DENY\"}]}",
         "options.seccomp_profile.syscalls[0].action", "SCMP_ACT_DENY"},
        {"{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"syscalls\": [{\"names\": [\"read\"], "
         "\"action\": \"SCMP_ACT_ALLOW\", \"errnoRet\": 1}]}",
         "options.seccomp_profile.syscalls[0].errnoRet", "SCMP_ACT_ERRNO"},
        {"{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": [\"kill\"], "
         "\"action\": \"SCMP_ACT_ERRNO\", \"args\": [{\"index\": 0, \"value\": 9, "
         "\"op\": \"SCMP_CMP_SOMETIMES\"}]}]}",
         "options.seccomp_profile.syscalls[0].args[0].op", "SCMP_CMP_SOMETIMES"},
        {"{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": [\"kill\"], "
         "\"action\": \"SCMP_ACT_ERRNO\", \"args\": [{\"index\": 6, \"value\": 9, "
         "\"op\": \"SCMP_CMP_EQ\"}]}]}",
         "options.seccomp_profile.syscalls[0].args[0].index", "out of range"},
        {"{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": [\"kill\"], "
         "\"action\": \"SCMP_ACT_ERRNO\", \"args\": [{\"index\": 0, \"value\": -1, "
         "\"op\": \"SCMP_CMP_EQ\"}]}]}",
         "options.seccomp_profile.syscalls[0].args[0].value", "out of range"},
        {"{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": [\"kill\"], "
         "\"action\": \"SCMP_ACT_ERRNO\", \"args\": [{\"index\": 0, \"op\": \"SCMP_CMP_EQ\"}]}]}",
         "options.seccomp_profile.syscalls[0].args[0]", "value"},
        {"{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"syscalls\": [{\"names\": [\"read\"], "
         "\"action\": \"SCMP_ACT_NOTIFY\"}]}",
         "options.seccomp_profile", "listenerPath"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char options[1024];
        snprintf(options, sizeof(options), "{\"seccomp_profile\": %s}", bad[i].profile);
        struct rt t;
        CHECK_INT(render_with(&t, "", X86_64, options), -1);
        CHECK_INT(t.err.code, ERR_SPEC_INVALID);
        CHECK_STR(rt_err_path(&t), bad[i].path);
        CHECK_CONTAINS(rt_err_msg(&t), bad[i].says);
        rt_free(&t);
    }
}

static int strcmp_ptr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Every name the default profile can list is one the validator knows (so a rendered profile
 * given back as options.seccomp_profile is accepted), and the table is sorted for bsearch. */
static void syscall_table_covers_the_default_profile(void)
{
    for (size_t i = 1; i < seccomp_syscall_names_count; i++) {
        CHECK(strcmp_ptr(&seccomp_syscall_names[i - 1], &seccomp_syscall_names[i]) < 0);
    }
    CHECK(seccomp_syscall_known("openat"));
    CHECK(seccomp_syscall_known("_llseek"));
    CHECK(!seccomp_syscall_known("frobnicate"));
    CHECK(!seccomp_syscall_known(""));
    static const char *const arches[] = {"x86_64", "aarch64", "i686", "armv7l"};
    for (size_t a = 0; a < sizeof(arches) / sizeof(arches[0]); a++) {
        char host[64];
        snprintf(host, sizeof(host), "{\"arch\": \"%s\"}", arches[a]);
        struct rt t;
        CHECK_INT(render_with(&t, "    cap_add: [ALL]\n", host, NULL), 0);
        const json_t *rules = rules_of(&t);
        for (size_t i = 0; i < json_array_size(rules); i++) {
            const json_t *names = json_object_get(json_array_get(rules, i), "names");
            for (size_t k = 0; k < json_array_size(names); k++) {
                const char *n = json_string_value(json_array_get(names, k));
                if (!seccomp_syscall_known(n)) {
                    fprintf(stderr, "  unknown name in the default profile: %s\n", n);
                    CHECK(seccomp_syscall_known(n));
                }
            }
        }
        /* and the rendered profile is accepted back as a custom one, unchanged */
        char *text = jsonx_dump(rt_get(t.config, "linux.seccomp"), JSONX_COMPACT, NULL);
        CHECK(text != NULL);
        size_t size = text ? strlen(text) + 32 : 0;
        char *options = text ? malloc(size) : NULL;
        CHECK(!text || options != NULL);
        if (options && snprintf(options, size, "{\"seccomp_profile\": %s}", text) > 0) {
            struct rt back;
            CHECK_INT(render_with(&back, "", host, options), 0);
            CHECK(json_equal(rt_get(back.config, "linux.seccomp"),
                             rt_get(t.config, "linux.seccomp")));
            rt_free(&back);
        }
        free(options);
        free(text);
        rt_free(&t);
    }
}

RT_MAIN(TEST(default_profile_is_an_allowlist), TEST(argument_filters_as_docker_has_them),
        TEST(capabilities_lift_their_rules), TEST(architectures_follow_host_arch),
        TEST(absent_or_unknown_arch), TEST(no_profile_when_privileged_or_unconfined),
        TEST(custom_profile_is_rendered_as_given), TEST(custom_profile_errors_name_the_path),
        TEST(syscall_table_covers_the_default_profile))
