/* Each deliberate change from the original renderer, and the bug fixes of its known bugs. */
#include <stdio.h>
#include <string.h>

#include "common/jsonx.h"
#include "tests/unit/rtest.h"

#define SVC "version: v1\ndeployment: shop\nservices:\n  web:\n    image: {name: \"shop:1\"}\n"

static int caps_count(const json_t *config, const char *set)
{
    char path[64];
    snprintf(path, sizeof(path), "process.capabilities.%s", set);
    return (int)json_array_size(rt_get(config, path));
}

/* 5.1 */
static void capabilities_case_insensitive_and_checked(void)
{
    struct rt t;
    CHECK_INT(rt_spec(&t, SVC "    capabilities: [net_admin, CAP_SYS_TIME, Cap_Kill]\n"), 0);
    CHECK(rt_has_cap(t.config, "bounding", "CAP_NET_ADMIN"));
    CHECK(rt_has_cap(t.config, "effective", "CAP_SYS_TIME"));
    CHECK(rt_has_cap(t.config, "permitted", "CAP_KILL"));
    CHECK(rt_has_cap(t.config, "bounding", "CAP_CHOWN")); /* added to the default set */
    CHECK_INT(caps_count(t.config, "bounding"), 16);
    CHECK_INT(caps_count(t.config, "ambient"), 0);
    CHECK(json_is_false(rt_get(t.config, "process.noNewPrivileges")));
    rt_free(&t);
    CHECK_INT(rt_spec(&t, SVC "    cap_add: [SYS_PTRACE]\n"), 0);
    CHECK(rt_has_cap(t.config, "bounding", "CAP_SYS_PTRACE"));
    rt_free(&t);
    CHECK_INT(rt_spec(&t, SVC "    capabilities: [NET_ADMIN, WIZARDRY]\n"), -1);
    CHECK_INT(t.err.code, ERR_SPEC_INVALID);
    CHECK_STR(rt_err_path(&t), "services.web.capabilities[1]");
    CHECK_CONTAINS(rt_err_msg(&t), "WIZARDRY");
    rt_free(&t);
    CHECK_INT(rt_spec(&t, SVC "    capabilities: [A]\n    cap_add: [B]\n"), -1);
    rt_free(&t);
}

static void cap_drop_and_all(void)
{
    struct rt t;
    CHECK_INT(rt_spec(&t, SVC "    cap_drop: [net_raw, CAP_MKNOD]\n"), 0);
    CHECK(!rt_has_cap(t.config, "bounding", "CAP_NET_RAW"));
    CHECK(!rt_has_cap(t.config, "permitted", "CAP_MKNOD"));
    CHECK_INT(caps_count(t.config, "bounding"), 12);
    CHECK(json_is_true(rt_get(t.config, "process.noNewPrivileges")));
    rt_free(&t);
    CHECK_INT(rt_spec(&t, SVC "    cap_drop: [ALL]\n    capabilities: [NET_BIND_SERVICE]\n"), 0);
    CHECK_INT(caps_count(t.config, "bounding"), 1);
    CHECK(rt_has_cap(t.config, "bounding", "CAP_NET_BIND_SERVICE"));
    rt_free(&t);
    CHECK_INT(rt_spec(&t, SVC "    capabilities: [ALL]\n    cap_drop: [SYS_ADMIN]\n"), 0);
    CHECK_INT(caps_count(t.config, "bounding"), 40);
    CHECK(!rt_has_cap(t.config, "bounding", "CAP_SYS_ADMIN"));
    rt_free(&t);
    /* Capability arrays are sorted (deterministic output). */
    CHECK_INT(rt_spec(&t, SVC), 0);
    const json_t *b = rt_get(t.config, "process.capabilities.bounding");
    for (size_t i = 1; i < json_array_size(b); i++) {
        CHECK(strcmp(json_string_value(json_array_get(b, i - 1)),
                     json_string_value(json_array_get(b, i))) < 0);
    }
    rt_free(&t);
}

/* 5.2 */
#define PASSWD "root:x:0:0:root:/root:/bin/sh\\napp:x:1234:1235:App:/app:/bin/sh\\n"
#define GROUP "root:x:0:\\napp:x:1235:\\nwheel:x:10:app,other\\naudio:x:29:\\nvideo:x:44:app\\n"
#define ROOTFS "{\"rootfs\": {\"passwd\": \"" PASSWD "\", \"group\": \"" GROUP "\"}}"

static void user_spec_overrides_image_and_names_resolve(void)
{
    struct rt t;
    struct rt_in in = {.spec = SVC "    user: app\n    extra_groups: [audio, \"4242\"]\n",
                       .host = ROOTFS, .image = "{\"User\": \"nobody\"}"};
    CHECK_INT(rt_render(&t, &in), 0);
    CHECK_INT(json_integer_value(rt_get(t.config, "process.user.uid")), 1234);
    CHECK_INT(json_integer_value(rt_get(t.config, "process.user.gid")), 1235);
    const json_t *gids = rt_get(t.config, "process.user.additionalGids");
    CHECK_INT(json_array_size(gids), 4);
    CHECK_INT(json_integer_value(json_array_get(gids, 0)), 10);   /* wheel (member) */
    CHECK_INT(json_integer_value(json_array_get(gids, 1)), 44);   /* video (member) */
    CHECK_INT(json_integer_value(json_array_get(gids, 2)), 29);   /* audio (extra_groups) */
    CHECK_INT(json_integer_value(json_array_get(gids, 3)), 4242); /* numeric extra group */
    rt_free(&t);

    in.spec = SVC "    user: \"1000:2000\"\n";
    CHECK_INT(rt_render(&t, &in), 0);
    CHECK_INT(json_integer_value(rt_get(t.config, "process.user.uid")), 1000);
    CHECK_INT(json_integer_value(rt_get(t.config, "process.user.gid")), 2000);
    rt_free(&t);

    in.spec = SVC "    user: \"1234:wheel\"\n";
    CHECK_INT(rt_render(&t, &in), 0);
    CHECK_INT(json_integer_value(rt_get(t.config, "process.user.gid")), 10);
    rt_free(&t);
}

static void image_user_names_resolve_or_fail(void)
{
    struct rt t;
    struct rt_in in = {.spec = SVC, .host = ROOTFS, .image = "{\"User\": \"app:app\"}"};
    CHECK_INT(rt_render(&t, &in), 0);
    CHECK_INT(json_integer_value(rt_get(t.config, "process.user.uid")), 1234);
    CHECK_INT(json_integer_value(rt_get(t.config, "process.user.gid")), 1235);
    rt_free(&t);
    /* The original ran `nobody` as root; ocirender refuses to guess. */
    in.image = "{\"User\": \"nobody\"}";
    CHECK_INT(rt_render(&t, &in), -1);
    CHECK_STR(rt_err_path(&t), "image_config.User");
    CHECK_CONTAINS(rt_err_msg(&t), "nobody");
    rt_free(&t);
    in.host = NULL;
    in.image = "{\"User\": \"app\"}";
    CHECK_INT(rt_render(&t, &in), -1);
    CHECK_CONTAINS(rt_err_msg(&t), "host.rootfs.passwd");
    rt_free(&t);
    /* numeric uid only: gid from passwd when known, else gid = uid (the original's rule) */
    in.host = ROOTFS;
    in.image = "{\"User\": \"1234\"}";
    CHECK_INT(rt_render(&t, &in), 0);
    CHECK_INT(json_integer_value(rt_get(t.config, "process.user.gid")), 1235);
    rt_free(&t);
    in.host = NULL;
    CHECK_INT(rt_render(&t, &in), 0);
    CHECK_INT(json_integer_value(rt_get(t.config, "process.user.gid")), 1234);
    rt_free(&t);
    CHECK_INT(rt_spec(&t, SVC "    user: \"99999999999\"\n"), -1);
    CHECK_STR(rt_err_path(&t), "services.web.user");
    rt_free(&t);
    CHECK_INT(rt_spec(&t, SVC "    extra_groups: [nosuchgroup]\n"), -1);
    CHECK_STR(rt_err_path(&t), "services.web.extra_groups[0]");
    rt_free(&t);
}

/* 5.3 */
static void device_numbers_come_from_facts(void)
{
    struct rt t;
    struct rt_in in = {
        .spec = SVC "    devices:\n      - {path: /dev/nvme0n1, mknod: true, write: false}\n"
                    "      - {path: /dev/missing}\n      - {path: /tmp/notadevice}\n",
        .host = "{\"devices\": [{\"path\": \"/dev/nvme0n1\", \"type\": \"b\", \"major\": 259, "
                "\"minor\": 300}, {\"path\": \"/tmp/notadevice\", \"type\": \"u\"}]}"};
    CHECK_INT(rt_render(&t, &in), 0);
    const json_t *d = rt_device(t.config, "/dev/nvme0n1");
    CHECK_STR(json_string_value(json_object_get(d, "type")), "b");
    CHECK_INT(json_integer_value(json_object_get(d, "major")), 259);
    CHECK_INT(json_integer_value(json_object_get(d, "minor")), 300);
    CHECK_INT(json_integer_value(json_object_get(d, "fileMode")), 438);
    CHECK(rt_has_rule(t.config, "b", 259, 300, "rm"));
    CHECK(rt_device(t.config, "/dev/missing") == NULL);
    CHECK(rt_device(t.config, "/tmp/notadevice") == NULL);
    CHECK(rt_has_warning(&t, "device_missing"));
    CHECK(rt_has_warning(&t, "device_not_a_device"));
    rt_free(&t);
}

/* 5.4 CDI per the CDI specification */
#define CDI_SPEC_EDITS                                                                       \
    "{\"cdiVersion\": \"0.6.0\", \"kind\": \"nvidia.com/gpu\", "                             \
    "\"containerEdits\": {\"env\": [\"NVIDIA_VISIBLE_DEVICES=void\", \"SHARED=1\"], "        \
    "\"mounts\": [{\"hostPath\": \"/usr/lib/libcuda.so\", \"containerPath\": "               \
    "\"/usr/lib/libcuda.so\", \"options\": [\"ro\", \"nosuid\"]}], "                         \
    "\"hooks\": [{\"hookName\": \"createContainer\", \"path\": \"/usr/bin/nvidia-ctk\", "    \
    "\"args\": [\"nvidia-ctk\", \"hook\", \"update-ldcache\"]}]}, "                          \
    "\"devices\": [{\"name\": \"0\", \"containerEdits\": {\"deviceNodes\": [{\"path\": "     \
    "\"/dev/nvidia0\"}, {\"path\": \"/dev/nvidiactl\", \"permissions\": \"rw\"}]}}, "         \
    "{\"name\": \"1\", \"containerEdits\": {\"deviceNodes\": [{\"path\": \"/dev/nvidia1\"}, " \
    "{\"path\": \"/dev/nvidiactl\", \"permissions\": \"rw\"}]}}]}"
#define CDI_FACTS                                                                            \
    "\"devices\": [{\"path\": \"/dev/nvidia0\", \"type\": \"c\", \"major\": 195, "           \
    "\"minor\": 0}, {\"path\": \"/dev/nvidia1\", \"type\": \"c\", \"major\": 195, "          \
    "\"minor\": 1}, {\"path\": \"/dev/nvidiactl\", \"type\": \"c\", \"major\": 195, "        \
    "\"minor\": 255, \"mode\": 438}]"

static void cdi_spec_edits_once_and_nodes_from_facts(void)
{
    struct rt t;
    struct rt_in in = {.spec = SVC "    resources: {gpu: {count: 2}}\n    env: {SHARED: mine}\n",
                       .host = "{\"cdi\": [" CDI_SPEC_EDITS "], " CDI_FACTS "}"};
    CHECK_INT(rt_render(&t, &in), 0);
    /* spec-level edits applied once: one hook, one mount */
    CHECK_INT(json_array_size(rt_get(t.config, "hooks.createContainer")), 1);
    const json_t *hook = json_array_get(rt_get(t.config, "hooks.createContainer"), 0);
    CHECK_INT(json_array_size(json_object_get(hook, "args")), 3);
    CHECK(rt_mount(t.config, "/usr/lib/libcuda.so") != NULL);
    CHECK(rt_has_str(json_object_get(rt_mount(t.config, "/usr/lib/libcuda.so"), "options"),
                     "rbind"));
    /* CDI env overrides by key and holds each key once */
    CHECK_STR(rt_env(t.config, "NVIDIA_VISIBLE_DEVICES"), "void");
    CHECK_STR(rt_env(t.config, "SHARED"), "1");
    CHECK_INT(rt_env_count(t.config, "SHARED"), 1);
    /* no baked-in CUDA_VISIBLE_DEVICES when CDI is authoritative */
    CHECK(rt_env(t.config, "CUDA_VISIBLE_DEVICES") == NULL);
    /* nodes: numbers from facts, replaced by path (nvidiactl once), exact cgroup rules */
    CHECK_INT(json_array_size(rt_get(t.config, "linux.devices")), 3);
    CHECK_INT(json_integer_value(json_object_get(rt_device(t.config, "/dev/nvidiactl"), "minor")),
              255);
    CHECK(rt_has_rule(t.config, "c", 195, 0, "rwm"));
    CHECK(rt_has_rule(t.config, "c", 195, 1, "rwm"));
    CHECK(rt_has_rule(t.config, "c", 195, 255, "rw"));
    CHECK(!rt_has_rule(t.config, "c", 195, -1, "rwm")); /* no blanket vendor major under CDI */
    rt_free(&t);
}

static void cdi_node_without_numbers_or_facts_fails(void)
{
    struct rt t;
    struct rt_in in = {.spec = SVC "    resources: {gpu: {count: 1}}\n",
                       .host = "{\"cdi\": [" CDI_SPEC_EDITS "]}"};
    CHECK_INT(rt_render(&t, &in), -1);
    CHECK_CONTAINS(rt_err_msg(&t), "/dev/nvidia0");
    rt_free(&t);
}

static void cdi_old_object_hooks_are_rejected(void)
{
    struct rt t;
    struct rt_in in = {
        .spec = SVC "    resources: {gpu: {count: 1}}\n",
        .host = "{\"cdi\": [{\"cdiVersion\": \"0.6.0\", \"kind\": \"nvidia.com/gpu\", \"devices\": "
                "[{\"name\": \"0\", \"containerEdits\": {\"hooks\": {\"createContainer\": []}}}]}]}"};
    CHECK_INT(rt_render(&t, &in), -1);
    CHECK_STR(rt_err_path(&t), "host.cdi[0].devices[0].containerEdits.hooks");
    rt_free(&t);
}

static void cdi_all_only_when_defined_and_conflicts(void)
{
    struct rt t;
    /* "all" stands in for numbered devices only when it is the only one (tests/unit/test_wsl.c) */
    struct rt_in in = {
        .spec = SVC "    resources: {gpu: {count: 1}}\n",
        .host = "{\"cdi\": [{\"cdiVersion\": \"0.6.0\", \"kind\": \"nvidia.com/gpu\", \"devices\": "
                "[{\"name\": \"all\", \"containerEdits\": {\"env\": [\"A=1\"]}}, "
                "{\"name\": \"1\", \"containerEdits\": {\"env\": [\"B=1\"]}}]}]}"};
    CHECK_INT(rt_render(&t, &in), -1);
    CHECK_CONTAINS(rt_err_msg(&t), "nvidia.com/gpu=0");
    rt_free(&t);
    /* same device name at the same priority: conflict */
    in.host = "{\"cdi\": ["
              "{\"priority\": 0, \"path\": \"/etc/cdi/a.json\", \"spec\": {\"cdiVersion\": \"0.6.0\", "
              "\"kind\": \"nvidia.com/gpu\", \"devices\": [{\"name\": \"0\", \"containerEdits\": "
              "{\"env\": [\"A=1\"]}}]}},"
              "{\"priority\": 0, \"path\": \"/etc/cdi/b.json\", \"spec\": {\"cdiVersion\": \"0.6.0\", "
              "\"kind\": \"nvidia.com/gpu\", \"devices\": [{\"name\": \"0\", \"containerEdits\": "
              "{\"env\": [\"A=2\"]}}]}}]}";
    CHECK_INT(rt_render(&t, &in), -1);
    CHECK_CONTAINS(rt_err_msg(&t), "same priority");
    CHECK_CONTAINS(rt_err_msg(&t), "/etc/cdi/b.json");
    rt_free(&t);
    /* /var/run/cdi (priority 1) overrides /etc/cdi (priority 0) */
    in.host = "{\"cdi\": ["
              "{\"priority\": 1, \"path\": \"/var/run/cdi/b.json\", \"spec\": {\"cdiVersion\": "
              "\"0.6.0\", \"kind\": \"nvidia.com/gpu\", \"devices\": [{\"name\": \"0\", "
              "\"containerEdits\": {\"env\": [\"WHO=dynamic\"]}}]}},"
              "{\"priority\": 0, \"path\": \"/etc/cdi/a.json\", \"spec\": {\"cdiVersion\": \"0.6.0\", "
              "\"kind\": \"nvidia.com/gpu\", \"devices\": [{\"name\": \"0\", \"containerEdits\": "
              "{\"env\": [\"WHO=static\"]}}]}}]}";
    CHECK_INT(rt_render(&t, &in), 0);
    CHECK_STR(rt_env(t.config, "WHO"), "dynamic");
    rt_free(&t);
}

static void cdi_version_rules(void)
{
    struct rt t;
    struct rt_in in = {
        .spec = SVC "    resources: {gpu: {count: 1}}\n",
        .host = "{\"cdi\": [{\"cdiVersion\": \"0.4.0\", \"kind\": \"nvidia.com/gpu\", \"devices\": "
                "[{\"name\": \"0\", \"containerEdits\": {\"env\": [\"A=1\"]}}]}]}"};
    CHECK_INT(rt_render(&t, &in), -1); /* a digit-first device name needs 0.5.0 */
    CHECK_CONTAINS(rt_err_msg(&t), "0.5.0");
    rt_free(&t);
    in.host = "{\"cdi\": [{\"cdiVersion\": \"9.9.9\", \"kind\": \"nvidia.com/gpu\", \"devices\": "
              "[{\"name\": \"0\", \"containerEdits\": {\"env\": [\"A=1\"]}}]}]}";
    CHECK_INT(rt_render(&t, &in), -1);
    CHECK_CONTAINS(rt_err_msg(&t), "9.9.9");
    rt_free(&t);
}

/* 5.5 */
static void tmpfs_size_and_mode(void)
{
    const char *modes[] = {"1777", "01777", "0o1777", "\"1777\""};
    for (int i = 0; i < 4; i++) {
        char spec[512];
        snprintf(spec, sizeof(spec),
                 SVC "    storage:\n      - {type: tmpfs, target: /scratch, size: 256Mi, mode: %s}\n",
                 modes[i]);
        struct rt t;
        CHECK_INT(rt_spec(&t, spec), 0);
        const json_t *opts = json_object_get(rt_mount(t.config, "/scratch"), "options");
        CHECK(rt_has_str(opts, "mode=1777"));
        CHECK(rt_has_str(opts, "size=268435456"));
        rt_free(&t);
    }
    struct rt t;
    CHECK_INT(rt_spec(&t, "{\"image\": {\"name\": \"x:1\"}, \"storage\": [{\"type\": \"tmpfs\", "
                          "\"target\": \"/s\", \"mode\": 755, \"size\": \"1G\"}]}"),
              0);
    CHECK(rt_has_str(json_object_get(rt_mount(t.config, "/s"), "options"), "mode=755"));
    CHECK(rt_has_str(json_object_get(rt_mount(t.config, "/s"), "options"), "size=1000000000"));
    rt_free(&t);
    CHECK_INT(rt_spec(&t, SVC "    storage:\n      - {type: tmpfs, target: /s, mode: 1789}\n"), -1);
    CHECK_STR(rt_err_path(&t), "services.web.storage[0].mode");
    rt_free(&t);
    /* no mode: Docker's 1777, so a non-root user can write to its scratch space */
    CHECK_INT(rt_spec(&t, SVC "    storage:\n      - {type: tmpfs, target: /s}\n"), 0);
    const json_t *opts = json_object_get(rt_mount(t.config, "/s"), "options");
    CHECK(rt_has_str(opts, "mode=1777"));
    int modes_given = 0;
    for (size_t i = 0; i < json_array_size(opts); i++) {
        modes_given += strncmp(json_string_value(json_array_get(opts, i)), "mode=", 5) == 0;
    }
    CHECK_INT(modes_given, 1);
    rt_free(&t);
}

/* argv as a list of strings joined by '|', for compact comparisons. */
static void argv_text(const json_t *config, char *buf, size_t size)
{
    const json_t *args = rt_get(config, "process.args");
    size_t n = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < json_array_size(args) && n < size; i++) {
        n += (size_t)snprintf(buf + n, size - n, "%s%s", i ? "|" : "",
                              json_string_value(json_array_get(args, i)));
    }
}

static const json_t *warning_with_code(const struct rt *t, const char *code)
{
    for (size_t i = 0; i < json_array_size(t->warnings); i++) {
        const json_t *w = json_array_get(t->warnings, i);
        if (strcmp(json_string_value(json_object_get(w, "code")), code) == 0) {
            return w;
        }
    }
    return NULL;
}

/* The warnings of the rules under test: these renders send no host facts, so every one also
 * gets host_arch_assumed (the seccomp profile's architectures), which unit_seccomp covers. */
static size_t rule_warnings(const struct rt *t)
{
    size_t n = 0;
    for (size_t i = 0; i < json_array_size(t->warnings); i++) {
        const json_t *w = json_array_get(t->warnings, i);
        n += strcmp(json_string_value(json_object_get(w, "code")), "host_arch_assumed") != 0;
    }
    return n;
}

/* Kubernetes/Compose argv: entrypoint replaces the image's and drops its Cmd; args alone
 * follow the image Entrypoint; neither: the image's; nothing at all: /bin/sh, warned. */
static void argv_follows_kubernetes(void)
{
    static const char *const image = "{\"Entrypoint\": [\"/entry\", \"-v\"], \"Cmd\": [\"serve\"]}";
    static const struct {
        const char *command;    /* YAML flow mapping, or NULL for none */
        const char *image;      /* image_config JSON, or NULL: unknown */
        const char *argv;       /* expected argv joined by | */
        const char *warn_code;  /* the one expected warning, or NULL */
    } cases[] = {
        {"{entrypoint: [/bin/app], args: [a, b]}", image, "/bin/app|a|b", NULL},
        {"{entrypoint: [/bin/app]}", image, "/bin/app", NULL},
        {"{args: [a, \"b c\"]}", image, "/entry|-v|a|b c", NULL},
        {"{args: [a]}", "{\"Cmd\": [\"serve\"]}", "a", NULL},
        {"{args: [a]}", NULL, "a", "argv_image_unknown"},
        {"{args: []}", image, "/entry|-v|serve", NULL},
        {NULL, image, "/entry|-v|serve", NULL},
        {NULL, "{\"Cmd\": [\"/bin/run\"]}", "/bin/run", NULL},
        {NULL, "{\"Entrypoint\": [\"/entry\"]}", "/entry", NULL},
        {NULL, "{\"Entrypoint\": [], \"Cmd\": []}", "/bin/sh", "argv_default_shell"},
        {NULL, NULL, "/bin/sh", "argv_default_shell"},
        {"{workdir: /app}", "{}", "/bin/sh", "argv_default_shell"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char spec[512], argv[256];
        snprintf(spec, sizeof(spec), SVC "%s%s%s", cases[i].command ? "    command: " : "",
                 cases[i].command ? cases[i].command : "", cases[i].command ? "\n" : "");
        struct rt t;
        struct rt_in in = {.spec = spec, .image = cases[i].image};
        CHECK_INT(rt_render(&t, &in), 0);
        argv_text(t.config, argv, sizeof(argv));
        CHECK_STR(argv, cases[i].argv);
        CHECK_INT(rule_warnings(&t), cases[i].warn_code ? 1 : 0);
        if (cases[i].warn_code) {
            const json_t *w = warning_with_code(&t, cases[i].warn_code);
            CHECK(w != NULL);
            const char *want_path = strcmp(cases[i].warn_code, "argv_image_unknown") == 0
                                        ? "services.web.command.args"
                                        : "services.web.command";
            CHECK_STR(json_string_value(json_object_get(w, "path")), want_path);
        }
        rt_free(&t);
    }
    /* options.args are the whole argv, with no warning even without an image config */
    struct rt t;
    struct rt_in in = {.spec = SVC "    command: {args: [x]}\n", .options = "{\"args\": [\"/o\", \"p\"]}"};
    CHECK_INT(rt_render(&t, &in), 0);
    char argv[256];
    argv_text(t.config, argv, sizeof(argv));
    CHECK_STR(argv, "/o|p");
    CHECK_INT(rule_warnings(&t), 0);
    rt_free(&t);
}

/* 5.6 */
static void cgroup_mount_follows_host(void)
{
    struct rt t;
    CHECK_INT(rt_spec(&t, SVC), 0);
    const json_t *m = rt_mount(t.config, "/sys/fs/cgroup");
    CHECK_STR(json_string_value(json_object_get(m, "type")), "cgroup2");
    CHECK(rt_has_str(json_object_get(m, "options"), "ro"));
    rt_free(&t);
    struct rt_in in = {.spec = SVC, .host = "{\"cgroup\": {\"version\": 1}}"};
    CHECK_INT(rt_render(&t, &in), 0);
    m = rt_mount(t.config, "/sys/fs/cgroup");
    CHECK_STR(json_string_value(json_object_get(m, "type")), "cgroup");
    CHECK(rt_has_str(json_object_get(m, "options"), "ro"));
    CHECK(!rt_has_ns(t.config, "cgroup")); /* rootful on v1: host cgroup namespace */
    rt_free(&t);
    CHECK_INT(rt_spec(&t, SVC "    privileged: true\n"), 0);
    CHECK(!rt_has_str(json_object_get(rt_mount(t.config, "/sys/fs/cgroup"), "options"), "ro"));
    CHECK(!rt_has_str(json_object_get(rt_mount(t.config, "/sys"), "options"), "ro"));
    rt_free(&t);
}

/* 5.7 */
static int env_index(const json_t *config, const char *key)
{
    const json_t *env = rt_get(config, "process.env");
    size_t n = strlen(key);
    for (size_t i = 0; i < json_array_size(env); i++) {
        const char *e = json_string_value(json_array_get(env, i));
        if (strncmp(e, key, n) == 0 && e[n] == '=') {
            return (int)i;
        }
    }
    return -1;
}

static void env_layers_and_keys_once(void)
{
    struct rt t;
    struct rt_in in = {
        .spec = SVC "    env: {ZED: z, ALPHA: a, PATH: /opt/bin, LITERAL: \"$$S:not-a-ref\", "
                    "FROM_HOST: \"$E:NODE_NAME\", NVIDIA_VISIBLE_DEVICES: all}\n"
                    "    resources: {gpu: {count: 2, sharing: time-slice, time_slice_index: 1}}\n",
        .image = "{\"Env\": [\"PATH=/usr/bin\", \"LANG=C\", \"LANG=C.UTF-8\", \"BROKEN\"]}",
        .options = "{\"env\": [[\"ZED\", \"from-options\"], [\"EXTRA\", \"x\"]]}",
        .host = "{\"env\": {\"NODE_NAME\": \"node-7\"}}"};
    CHECK_INT(rt_render(&t, &in), 0);
    const json_t *env = rt_get(t.config, "process.env");
    for (size_t i = 0; i < json_array_size(env); i++) {
        const char *e = json_string_value(json_array_get(env, i));
        char key[128];
        snprintf(key, sizeof(key), "%.*s", (int)(strchr(e, '=') - e), e);
        CHECK_INT(rt_env_count(t.config, key), 1);
    }
    CHECK_STR(rt_env(t.config, "PATH"), "/opt/bin");       /* spec over image */
    CHECK_STR(rt_env(t.config, "LANG"), "C.UTF-8");        /* later image entry wins */
    CHECK_STR(rt_env(t.config, "TERM"), "xterm");
    CHECK_STR(rt_env(t.config, "ZED"), "from-options");    /* options over spec */
    CHECK_STR(rt_env(t.config, "LITERAL"), "$S:not-a-ref"); /* $$ escape */
    CHECK_STR(rt_env(t.config, "FROM_HOST"), "node-7");
    CHECK_STR(rt_env(t.config, "NVIDIA_VISIBLE_DEVICES"), "all"); /* a set key keeps its value */
    CHECK_STR(rt_env(t.config, "CUDA_VISIBLE_DEVICES"), "1");     /* time-slice overrides */
    CHECK(rt_env(t.config, "BROKEN") == NULL);
    CHECK(rt_has_warning(&t, "image_env_invalid"));
    /* spec env is sorted by key */
    CHECK(env_index(t.config, "ALPHA") < env_index(t.config, "FROM_HOST"));
    CHECK(env_index(t.config, "FROM_HOST") < env_index(t.config, "LITERAL"));
    rt_free(&t);

    in.host = NULL;
    CHECK_INT(rt_render(&t, &in), -1);
    CHECK_STR(rt_err_path(&t), "services.web.env.FROM_HOST");
    CHECK_CONTAINS(rt_err_msg(&t), "NODE_NAME");
    rt_free(&t);
}

/* A name that could smuggle a second KEY=VALUE entry, or that no shell could use, is a 422
 * naming the variable's path ("A\nPATH=x" used to render). */
static void env_names_are_checked(void)
{
    static const char *const bad[] = {"\"A\\nPATH=x\"", "\"A B\"",   "\"A=B\"",
                                      "\"T\\tX\"",      "\"D\\x7fX\"", "\"C\\x01X\"",
                                      "\"\"",           "\" A\"",    "\"A\\r\""};
    struct rt t;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char spec[256];
        snprintf(spec, sizeof(spec), SVC "    env: {%s: v}\n", bad[i]);
        CHECK_INT(rt_spec(&t, spec), -1);
        CHECK_INT(t.err.code, ERR_SPEC_INVALID);
        CHECK_CONTAINS(rt_err_path(&t), "services.web.env");
        CHECK_CONTAINS(rt_err_msg(&t), "whitespace or control characters");
        rt_free(&t);
    }
    CHECK_INT(rt_spec(&t, SVC "    env: {\"A.B-c_9\": v, \"\\u00e9t\\u00e9\": w}\n"), 0);
    CHECK_STR(rt_env(t.config, "A.B-c_9"), "v");
    rt_free(&t);
    struct rt_in in = {.spec = SVC, .options = "{\"env\": [[\"OK\", \"1\"], [\"X\\nY\", \"2\"]]}"};
    CHECK_INT(rt_render(&t, &in), -1);
    CHECK_INT(t.err.code, ERR_SPEC_INVALID);
    CHECK_STR(rt_err_path(&t), "options.env[1][0]");
    rt_free(&t);
}

static void env_server_allowlist_and_empty_warning(void)
{
    json_t *server_env = json_pack("{s:s}", "REGION", "eu-west");
    struct render_settings settings = {.server_env = server_env};
    struct rt t;
    struct rt_in in = {.spec = SVC "    env: {R: \"$E:REGION\", E: \"$E:EMPTY\"}\n",
                       .host = "{\"env\": {\"EMPTY\": \"\"}}", .settings = &settings};
    CHECK_INT(rt_render(&t, &in), 0);
    CHECK_STR(rt_env(t.config, "R"), "eu-west");
    CHECK_STR(rt_env(t.config, "E"), "");
    CHECK(rt_has_warning(&t, "env_empty"));
    rt_free(&t);
    json_decref(server_env);
}

/* 5.8 */
static void cgroups_path_precedence(void)
{
    struct render_settings settings = {.default_cgroup_parent = "/ocirender/"};
    struct rt t;
    struct rt_in in = {.spec = SVC, .settings = &settings};
    CHECK_INT(rt_render(&t, &in), 0);
    CHECK_STR(json_string_value(rt_get(t.config, "linux.cgroupsPath")), "/ocirender/web-rep-1");
    rt_free(&t);
    in.host = "{\"cgroup\": {\"parent\": \"/system.slice/zlayer.service\"}}";
    CHECK_INT(rt_render(&t, &in), 0);
    CHECK_STR(json_string_value(rt_get(t.config, "linux.cgroupsPath")),
              "/system.slice/zlayer.service/web-rep-1");
    rt_free(&t);
    in.spec = SVC "    cgroup_parent: /\n";
    CHECK_INT(rt_render(&t, &in), 0);
    CHECK_STR(json_string_value(rt_get(t.config, "linux.cgroupsPath")), "/web-rep-1");
    rt_free(&t);
    CHECK_INT(rt_spec(&t, SVC), 0);
    CHECK(rt_get(t.config, "linux.cgroupsPath") == NULL);
    rt_free(&t);
    CHECK_INT(rt_spec(&t, SVC "    cgroup_parent: /a/../../etc\n"), -1);
    CHECK_STR(rt_err_path(&t), "services.web.cgroup_parent");
    rt_free(&t);
}

/* 5.9 */
static void ulimits_unlimited_exact(void)
{
    struct rt t;
    CHECK_INT(rt_spec(&t, SVC "    ulimits:\n      memlock: {soft: -1, hard: -1}\n"
                              "      nofile: {soft: 1024, hard: 4096}\n"),
              0);
    CHECK_CONTAINS(t.text, "\"type\": \"RLIMIT_MEMLOCK\",\n"
                           "        \"hard\": 18446744073709551615,\n"
                           "        \"soft\": 18446744073709551615");
    const json_t *rl = rt_get(t.config, "process.rlimits");
    CHECK_STR(json_string_value(json_object_get(json_array_get(rl, 0), "type")), "RLIMIT_MEMLOCK");
    CHECK_STR(json_string_value(json_object_get(json_array_get(rl, 1), "type")), "RLIMIT_NOFILE");
    rt_free(&t);
    CHECK_INT(rt_spec(&t, SVC "    ulimits: {nofile: {soft: 10, hard: 5}}\n"), -1);
    CHECK_CONTAINS(rt_err_msg(&t), "above the hard limit");
    rt_free(&t);
    CHECK_INT(rt_spec(&t, SVC "    ulimits: {nofile: {soft: 1}, NOFILE: {soft: 2}}\n"), -1);
    CHECK_CONTAINS(rt_err_msg(&t), "twice");
    rt_free(&t);
}

/* 5.10 */
static void honoured_fields(void)
{
    struct rt t;
    CHECK_INT(rt_spec(&t, SVC "    hostname: shop-web\n    tty: true\n    read_only_root_fs: true\n"
                              "    sysctls: {net.core.somaxconn: 1024, kernel.shmmax: \"68719476736\"}\n"
                              "    resources:\n      memory: 1Gi\n      pids_limit: 256\n"
                              "      cpuset: \"0-1,3\"\n      cpu_shares: 512\n"
                              "      memory_swap: 2Gi\n      memory_reservation: 512Mi\n"
                              "      memory_swappiness: 10\n      oom_score_adj: -500\n"
                              "      blkio_weight: 300\n"
                              "    security_opt: [no-new-privileges, \"apparmor=shop\", "
                              "\"label=type:shop_t\", seccomp=unconfined]\n"
                              "    capabilities: [NET_ADMIN]\n"
                              "    pid_mode: host\n"
                              "    labels: {team: payments, app: shop}\n    stop_signal: SIGQUIT\n"
                              "    extra_hosts: [\"db.internal:10.0.0.5\", \"v6:fd00::2\"]\n"),
              0);
    CHECK_STR(json_string_value(json_object_get(t.config, "hostname")), "shop-web");
    CHECK(json_is_true(rt_get(t.config, "process.terminal")));
    CHECK(json_is_true(rt_get(t.config, "root.readonly")));
    const json_t *sysctl = rt_get(t.config, "linux.sysctl");
    CHECK_STR(json_string_value(json_object_get(sysctl, "net.core.somaxconn")), "1024");
    CHECK_STR(json_string_value(json_object_get(sysctl, "kernel.shmmax")), "68719476736");
    CHECK_INT(json_integer_value(rt_get(t.config, "linux.resources.pids.limit")), 256);
    CHECK_STR(json_string_value(rt_get(t.config, "linux.resources.cpu.cpus")), "0-1,3");
    CHECK_INT(json_integer_value(rt_get(t.config, "linux.resources.cpu.shares")), 512);
    CHECK_INT(json_integer_value(rt_get(t.config, "linux.resources.memory.swap")), 2147483648ll);
    CHECK_INT(json_integer_value(rt_get(t.config, "linux.resources.memory.reservation")),
              536870912);
    CHECK_INT(json_integer_value(rt_get(t.config, "linux.resources.memory.swappiness")), 10);
    CHECK_INT(json_integer_value(rt_get(t.config, "process.oomScoreAdj")), -500);
    CHECK_INT(json_integer_value(rt_get(t.config, "linux.resources.blockIO.weight")), 300);
    CHECK(json_is_true(rt_get(t.config, "process.noNewPrivileges"))); /* forced by security_opt */
    CHECK_STR(json_string_value(rt_get(t.config, "process.apparmorProfile")), "shop");
    CHECK_STR(json_string_value(rt_get(t.config, "process.selinuxLabel")),
              "system_u:system_r:shop_t:s0");
    CHECK(!rt_has_ns(t.config, "pid"));
    CHECK(rt_has_ns(t.config, "ipc"));
    CHECK_STR(json_string_value(rt_get(t.config, "annotations.team")), "payments");
    CHECK_STR(json_string_value(json_object_get(json_object_get(t.config, "annotations"),
                                                "org.opencontainers.image.stopSignal")),
              "SIGQUIT");
    CHECK_STR(json_string_value(json_object_get(t.files, "hosts")),
              "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
              "10.0.0.5\tdb.internal\nfd00::2\tv6\n");
    CHECK(rt_mount(t.config, "/etc/hosts") != NULL);
    rt_free(&t);
    CHECK_INT(rt_spec(&t, SVC "    ipc_mode: host\n    sysctls: {fs.mqueue.msg_max: \"64\"}\n"), -1);
    CHECK_CONTAINS(rt_err_msg(&t), "IPC namespace");
    rt_free(&t);
    CHECK_INT(rt_spec(&t, SVC "    ipc_mode: host\n"), 0);
    CHECK(!rt_has_ns(t.config, "ipc"));
    rt_free(&t);
}

static void honoured_fields_are_validated(void)
{
    static const struct {
        const char *yaml, *path;
    } bad[] = {
        {"    sysctls: {kernel.panic: \"1\"}\n", "services.web.sysctls[\"kernel.panic\"]"},
        {"    network_mode: host\n    sysctls: {net.ipv4.ip_forward: \"1\"}\n",
         "services.web.sysctls[\"net.ipv4.ip_forward\"]"},
        {"    resources: {pids_limit: 0}\n", "services.web.resources.pids_limit"},
        {"    resources: {cpuset: \"3-1\"}\n", "services.web.resources.cpuset"},
        {"    resources: {cpu_shares: 1}\n", "services.web.resources.cpu_shares"},
        {"    resources: {memory_swap: 1Gi}\n", "services.web.resources.memory_swap"},
        {"    resources: {memory: 1Gi, memory_swap: 512Mi}\n", "services.web.resources.memory_swap"},
        {"    resources: {memory: 1Gi, memory_reservation: 2Gi}\n",
         "services.web.resources.memory_reservation"},
        {"    resources: {memory_swappiness: 101}\n", "services.web.resources.memory_swappiness"},
        {"    resources: {oom_score_adj: 1001}\n", "services.web.resources.oom_score_adj"},
        {"    resources: {blkio_weight: 5}\n", "services.web.resources.blkio_weight"},
        {"    security_opt: [\"seccomp=/etc/profile.json\"]\n", "services.web.security_opt[0]"},
        {"    pid_mode: \"container:abc\"\n", "services.web.pid_mode"},
        {"    hostname: \"bad_host name\"\n", "services.web.hostname"},
        {"    dns: [\"not-an-ip\"]\n", "services.web.dns[0]"},
        {"    extra_hosts: [\"gw:host-gateway\"]\n", "services.web.extra_hosts[0]"},
        {"    extra_hosts: [\"nocolon\"]\n", "services.web.extra_hosts[0]"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char spec[1024];
        snprintf(spec, sizeof(spec), "%s%s", SVC, bad[i].yaml);
        struct rt t;
        CHECK_INT(rt_spec(&t, spec), -1);
        CHECK_INT(t.err.code, ERR_SPEC_INVALID);
        CHECK_STR(rt_err_path(&t), bad[i].path);
        rt_free(&t);
    }
}

/* 5.11 */
static void masked_paths_like_docker(void)
{
    struct rt t;
    CHECK_INT(rt_spec(&t, SVC), 0);
    const json_t *m = rt_get(t.config, "linux.maskedPaths");
    CHECK(rt_has_str(m, "/proc/interrupts"));
    CHECK(rt_has_str(m, "/sys/devices/virtual/powercap"));
    CHECK(rt_has_str(m, "/proc/kcore"));
    CHECK_INT(json_array_size(m), 12);
    rt_free(&t);
}

/* 5.12 */
static void oci_version(void)
{
    struct rt t;
    struct rt_in in = {.spec = SVC, .options = "{\"oci_version\": \"1.1.0\"}"};
    CHECK_INT(rt_render(&t, &in), 0);
    CHECK_STR(json_string_value(json_object_get(t.config, "ociVersion")), "1.1.0");
    rt_free(&t);
    in.options = "{\"oci_version\": \"latest\"}";
    CHECK_INT(rt_render(&t, &in), -1);
    CHECK_STR(rt_err_path(&t), "options.oci_version");
    rt_free(&t);
}

/* Bug fixes of the original's known bugs that are not covered above. */
static void fixed_bugs(void)
{
    static const struct {
        const char *yaml, *path;
    } bad[] = {
        {"    command: {entrypoint: []}\n", "services.web.command.entrypoint"}, /* #22 */
        {"    command: {workdir: app}\n", "services.web.command.workdir"},      /* #22 */
        {"    storage:\n      - {type: bind, source: relative, target: /d}\n",
         "services.web.storage[0]"}, /* #14 */
        {"    storage:\n      - {type: tmpfs, target: /d}\n      - {type: tmpfs, target: /d}\n",
         "services.web.storage[1]"},
        {"    storage:\n      - {type: tmpfs, target: relative}\n", "services.web.storage[0]"},
        {"    storage:\n      - {type: named, name: Bad_Name, target: /d}\n",
         "services.web.storage[0]"},
        {"    resources: {cpu: 0.001}\n", "services.web.resources.cpu"}, /* #13 */
        {"    resources: {memory: 99999999999Ti}\n", "services.web.resources.memory"},
        {"    resources: {gpu: {sharing: mps, mps_pipe_dir: relative}}\n",
         "services.web.resources.gpu.mps_pipe_dir"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char spec[1024];
        snprintf(spec, sizeof(spec), "%s%s", SVC, bad[i].yaml);
        struct rt t;
        CHECK_INT(rt_spec(&t, spec), -1);
        CHECK_STR(rt_err_path(&t), bad[i].path);
        rt_free(&t);
    }
    /* #14: anonymous keys that collide are refused instead of sharing a directory */
    struct rt t;
    struct rt_in in = {.spec = SVC "    storage:\n      - {type: anonymous, target: /a/b}\n"
                                   "      - {type: anonymous, target: /a_b}\n",
                       .options = "{\"volume_paths\": {\"_anon_a_b\": \"/v/x\"}}"};
    CHECK_INT(rt_render(&t, &in), -1);
    CHECK_CONTAINS(rt_err_msg(&t), "collides");
    rt_free(&t);
    /* #17: host networking keeps a private UTS namespace without forcing a hostname */
    CHECK_INT(rt_spec(&t, SVC "    host_network: true\n"), 0);
    CHECK(rt_has_ns(t.config, "uts"));
    CHECK(json_object_get(t.config, "hostname") == NULL);
    rt_free(&t);
    /* a storage mount replaces a default mount at the same destination */
    CHECK_INT(rt_spec(&t, SVC "    storage:\n      - {type: tmpfs, target: /dev/shm, size: 1Gi}\n"),
              0);
    CHECK_INT(json_array_size(json_object_get(t.config, "mounts")), 7);
    CHECK_STR(json_string_value(json_object_get(rt_mount(t.config, "/dev/shm"), "source")), "tmpfs");
    rt_free(&t);
}

/* Rootless renders (host.user.uid != 0) get user+cgroup namespaces and id mappings. */
static void rootless_mappings(void)
{
    struct rt t;
    struct rt_in in = {.spec = SVC,
                       .host = "{\"user\": {\"uid\": 1000, \"gid\": 1001, \"name\": \"alice\"}, "
                               "\"subuid\": {\"start\": 100000, \"count\": 65536}, "
                               "\"subgid\": {\"start\": 200000, \"count\": 65536}}"};
    CHECK_INT(rt_render(&t, &in), 0);
    CHECK(rt_has_ns(t.config, "user"));
    CHECK(rt_has_ns(t.config, "cgroup"));
    const json_t *u = rt_get(t.config, "linux.uidMappings");
    CHECK_INT(json_array_size(u), 2);
    CHECK_INT(json_integer_value(json_object_get(json_array_get(u, 0), "hostID")), 1000);
    CHECK_INT(json_integer_value(json_object_get(json_array_get(u, 1), "hostID")), 100000);
    CHECK_INT(json_integer_value(json_object_get(json_array_get(u, 1), "containerID")), 1);
    const json_t *g = rt_get(t.config, "linux.gidMappings");
    CHECK_INT(json_integer_value(json_object_get(json_array_get(g, 0), "hostID")), 1001);
    CHECK_INT(json_integer_value(json_object_get(json_array_get(g, 1), "hostID")), 200000);
    rt_free(&t);
}

/* Baked-in GPU devices come from facts with exact numbers; missing ones warn. */
static void baked_in_gpu_devices(void)
{
    struct rt t;
    struct rt_in in = {
        .spec = SVC "    resources: {gpu: {count: 1}}\n",
        .host = "{\"devices\": [{\"path\": \"/dev/nvidia0\", \"type\": \"c\", \"major\": 195, "
                "\"minor\": 0}, {\"path\": \"/dev/nvidia-uvm\", \"type\": \"c\", \"major\": 508, "
                "\"minor\": 0}]}"};
    CHECK_INT(rt_render(&t, &in), 0);
    CHECK(rt_device(t.config, "/dev/nvidia0") != NULL);
    CHECK(rt_device(t.config, "/dev/nvidia-uvm") != NULL);
    CHECK(rt_device(t.config, "/dev/nvidiactl") == NULL);
    CHECK(rt_has_rule(t.config, "c", 195, -1, "rwm"));
    CHECK(rt_has_rule(t.config, "c", 508, 0, "rwm")); /* nvidia-uvm's dynamic major */
    CHECK(rt_has_warning(&t, "gpu_device_missing"));
    rt_free(&t);
    CHECK_INT(rt_spec(&t, SVC "    resources: {gpu: {vendor: apple}}\n"), 0);
    CHECK(rt_has_warning(&t, "gpu_vendor_unknown"));
    CHECK(rt_has_rule(t.config, "c", 226, -1, "rwm"));
    rt_free(&t);
}

/* The service `web` of a two-service deployment (so `depends` has something to name), with an
 * entrypoint (so argv gives no warning) and the given fields. */
static void unrendered_spec(char *buf, size_t size, const char *fields)
{
    snprintf(buf, size,
             "version: v1\ndeployment: shop\nservices:\n  web:\n"
             "    command: {entrypoint: [/app]}\n%s%s  db:\n    image: {name: \"db:1\"}\n",
             strstr(fields, "    image:") ? "" : "    image: {name: \"shop:1\"}\n", fields);
}

/* Container fields the config can not carry each give a warning with their path; the
 * orchestrator's fields give none (README.md, "Fields that are not rendered"). */
static void unrendered_fields_warn_orchestrator_fields_do_not(void)
{
    static const char *const rootless = "{\"user\": {\"uid\": 1000, \"gid\": 1000}}";
    static const struct {
        const char *fields, *host, *code, *path;
    } warned[] = {
        {"    userns_mode: private\n", NULL, "userns_mode_not_rendered", "services.web.userns_mode"},
        {"    userns_mode: keep-id\n", NULL, "userns_mode_not_rendered", "services.web.userns_mode"},
        {"    userns_mode: host\n", rootless, "userns_mode_not_rendered", "services.web.userns_mode"},
        {"    network_mode: \"bridge:br0\"\n", NULL, "network_mode_not_rendered",
         "services.web.network_mode"},
        {"    network_mode: {bridge: {name: br0}}\n", NULL, "network_mode_not_rendered",
         "services.web.network_mode"},
        {"    network_mode: \"container:abc\"\n", NULL, "network_mode_not_rendered",
         "services.web.network_mode"},
        {"    network_mode: {container: {id: abc}}\n", NULL, "network_mode_not_rendered",
         "services.web.network_mode"},
        {"    stdin_open: true\n", NULL, "stdin_open_not_rendered", "services.web.stdin_open"},
        {"    isolation: hyperv\n", NULL, "isolation_not_rendered", "services.web.isolation"},
        {"    env: {E: \"$E:EMPTY\"}\n", "{\"env\": {\"EMPTY\": \"\"}}", "env_empty",
         "services.web.env.E"},
    };
    for (size_t i = 0; i < sizeof(warned) / sizeof(warned[0]); i++) {
        char spec[1024];
        unrendered_spec(spec, sizeof(spec), warned[i].fields);
        struct rt t;
        struct rt_in in = {.spec = spec, .service = "web", .host = warned[i].host};
        CHECK_INT(rt_render(&t, &in), 0);
        CHECK_INT(rule_warnings(&t), 1);
        const json_t *w = warning_with_code(&t, warned[i].code);
        CHECK(w != NULL);
        CHECK_STR(json_string_value(json_object_get(w, "path")), warned[i].path);
        if (!w) {
            fprintf(stderr, "  no %s warning for: %s", warned[i].code, warned[i].fields);
        }
        rt_free(&t);
    }
    /* The orchestrator's fields, and values of the fields above that are rendered as asked. */
    static const struct {
        const char *fields, *host;
    } silent[] = {
        {"    rtype: job\n", NULL},
        {"    rtype: cron\n    schedule: \"0 0 * * * *\"\n", NULL},
        {"    image: {name: \"shop:1\", pull_policy: always, source_policy: local_first}\n", NULL},
        {"    endpoints:\n      - {name: http, protocol: http, port: 80, target_port: 8080, "
         "expose: public}\n",
         NULL},
        {"    scale: {mode: fixed, replicas: 3}\n", NULL},
        {"    replica_groups: [{role: leader, count: 1}]\n", NULL},
        {"    depends: [{service: db}]\n", NULL},
        {"    health: {interval: 15s, check: {type: tcp, port: 80}}\n", NULL},
        {"    init: {steps: [{id: wait, uses: init.wait_tcp, with: {port: 5432}}]}\n", NULL},
        {"    errors: {on_init_failure: {action: fail}, on_panic: {action: restart}}\n", NULL},
        {"    lifecycle: {pre_stop: x}\n", NULL},
        {"    restart_policy: {kind: on_failure, max_attempts: 3}\n", NULL},
        {"    node_mode: dedicated\n", NULL},
        {"    node_selector: {labels: {zone: a}}\n", NULL},
        {"    affinity: {zone: a}\n", NULL},
        {"    platform: {os: linux, arch: amd64}\n", NULL},
        {"    service_type: wasm_http\n    wasm: {max_memory: 64Mi}\n", NULL},
        {"    logs: {destination: /var/log/web, max_size_bytes: 1000}\n", NULL},
        {"    stop_grace_period: 30s\n", NULL},
        {"    network: {join: {mode: open}}\n", NULL},
        {"    port_mappings: [{host_port: 8080, container_port: 80}]\n", NULL},
        {"    expose: [80]\n", NULL},
        {"    overlay: {enabled: true}\n", NULL},
        {"    localhost_reachability: true\n", NULL},
        {"    init_container: {image: busybox}\n", NULL},
        {"    userns_mode: host\n", NULL},
        {"    userns_mode: private\n", rootless},
        {"    network_mode: default\n", NULL},
        {"    network_mode: bridge\n", NULL},
        {"    network_mode: none\n", NULL},
        {"    network_mode: host\n", NULL},
        {"    stdin_open: false\n", NULL},
        {"    isolation: auto\n", NULL},
        {"    isolation: process\n", NULL},
    };
    for (size_t i = 0; i < sizeof(silent) / sizeof(silent[0]); i++) {
        char spec[1024];
        unrendered_spec(spec, sizeof(spec), silent[i].fields);
        struct rt t;
        struct rt_in in = {.spec = spec, .service = "web", .host = silent[i].host};
        CHECK_INT(rt_render(&t, &in), 0);
        CHECK_INT(rule_warnings(&t), 0);
        if (t.rc != 0 || rule_warnings(&t) != 0) {
            fprintf(stderr, "  for: %s", silent[i].fields);
        }
        rt_free(&t);
    }
    /* Scheduler-only GPU fields and a named volume's size change no warning of a render that
     * has some (the GPU's device nodes are missing from the facts here). */
    static const struct {
        const char *base, *more, *options;
    } deltas[] = {
        {"    resources: {gpu: {count: 1}}\n",
         "    resources: {gpu: {count: 1, model: a100, scheduling: gang, mode: native}}\n", NULL},
        {"    storage: [{type: named, name: data, target: /d}]\n",
         "    storage: [{type: named, name: data, target: /d, size: 1Gi}]\n",
         "{\"volume_paths\": {\"data\": \"/v/data\"}}"},
    };
    for (size_t i = 0; i < sizeof(deltas) / sizeof(deltas[0]); i++) {
        char spec[1024];
        struct rt a, b;
        unrendered_spec(spec, sizeof(spec), deltas[i].base);
        struct rt_in in = {.spec = spec, .service = "web", .options = deltas[i].options};
        CHECK_INT(rt_render(&a, &in), 0);
        unrendered_spec(spec, sizeof(spec), deltas[i].more);
        CHECK_INT(rt_render(&b, &in), 0);
        CHECK(json_equal(a.warnings, b.warnings));
        rt_free(&a);
        rt_free(&b);
    }
}

RT_MAIN(TEST(capabilities_case_insensitive_and_checked), TEST(cap_drop_and_all),
        TEST(user_spec_overrides_image_and_names_resolve), TEST(image_user_names_resolve_or_fail),
        TEST(device_numbers_come_from_facts), TEST(cdi_spec_edits_once_and_nodes_from_facts),
        TEST(cdi_node_without_numbers_or_facts_fails), TEST(cdi_old_object_hooks_are_rejected),
        TEST(cdi_all_only_when_defined_and_conflicts), TEST(cdi_version_rules),
        TEST(tmpfs_size_and_mode), TEST(argv_follows_kubernetes), TEST(cgroup_mount_follows_host), TEST(env_layers_and_keys_once),
        TEST(env_names_are_checked),
        TEST(env_server_allowlist_and_empty_warning), TEST(cgroups_path_precedence),
        TEST(ulimits_unlimited_exact), TEST(honoured_fields), TEST(honoured_fields_are_validated),
        TEST(masked_paths_like_docker), TEST(oci_version), TEST(fixed_bugs), TEST(rootless_mappings),
        TEST(baked_in_gpu_devices), TEST(unrendered_fields_warn_orchestrator_fields_do_not))
