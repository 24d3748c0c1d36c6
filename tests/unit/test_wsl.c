/*
 * WSL2 nodes (docs/wsl2.md): host.wsl facts, the /dev/dxg device and its cgroup rule, the
 * read-only WSL library mounts, LD_LIBRARY_PATH, the original's message without /dev/dxg, CDI
 * specs that define only `all` (nvidia-ctk's WSL mode), and GPU sharing checked against the
 * distro's own facts. Every rendered config goes through validate-oci (RT_MAIN).
 */
#include <stdio.h>
#include <string.h>

#include "common/jsonx.h"
#include "common/strutil.h"
#include "tests/unit/rtest.h"

/* With a command, so no argv warning mixes with the WSL ones. */
#define SVC                                                                                      \
    "version: v1\ndeployment: shop\nservices:\n  web:\n    image: {name: \"shop:1\"}\n"            \
    "    command: {entrypoint: [/app]}\n"
#define GPU1 SVC "    resources: {gpu: {count: 1}}\n"

#define WSL_KERNEL "\"kernel\": \"5.15.167.4-microsoft-standard-WSL2\""
/* A WSL2 node reports its arch too (`ocirender facts`); without it a warning says the
 * server's was assumed. */
#define WSL_FULL                                                                             \
    "\"arch\": \"x86_64\", "                                                                \
    "\"wsl\": {" WSL_KERNEL ", \"distro\": \"Ubuntu-24.04\", "                               \
    "\"dxg\": {\"major\": 10, \"minor\": 63}, "                                              \
    "\"lib_dirs\": [\"/usr/lib/wsl/lib\", \"/usr/lib/wsl/drivers\"]}"
#define HOST_WSL "{" WSL_FULL "}"

static int rules_for(const json_t *config, long long major, long long minor)
{
    const json_t *rules = rt_get(config, "linux.resources.devices");
    int n = 0;
    for (size_t i = 0; i < json_array_size(rules); i++) {
        const json_t *r = json_array_get(rules, i);
        n += json_is_true(json_object_get(r, "allow")) &&
             json_integer_value(json_object_get(r, "major")) == major &&
             json_integer_value(json_object_get(r, "minor")) == minor &&
             json_object_get(r, "minor") != NULL;
    }
    return n;
}

static int devices_with_prefix(const json_t *config, const char *prefix)
{
    const json_t *devs = rt_get(config, "linux.devices");
    int n = 0;
    for (size_t i = 0; i < json_array_size(devs); i++) {
        const char *p = jsonx_get_str(json_array_get(devs, i), "path");
        n += p && strncmp(p, prefix, strlen(prefix)) == 0;
    }
    return n;
}

static bool read_only_bind(const json_t *mount, const char *source)
{
    const json_t *opts = json_object_get(mount, "options");
    return mount && str_eq(jsonx_get_str(mount, "type"), "bind") &&
           str_eq(jsonx_get_str(mount, "source"), source) && rt_has_str(opts, "rbind") &&
           rt_has_str(opts, "ro") && !rt_has_str(opts, "rw") && !rt_has_str(opts, "noexec");
}

/* The warning with this code: its path, or NULL. */
static const char *warning_path(const struct rt *t, const char *code)
{
    for (size_t i = 0; i < json_array_size(t->warnings); i++) {
        const json_t *w = json_array_get(t->warnings, i);
        if (str_eq(jsonx_get_str(w, "code"), code)) {
            return jsonx_get_str(w, "path");
        }
    }
    return NULL;
}

static void gpu_gets_dxg_rule_libraries_and_library_path(void)
{
    struct rt t;
    struct rt_in in = {.spec = GPU1, .host = HOST_WSL};
    CHECK_INT(rt_render(&t, &in), 0);
    const json_t *dxg = rt_device(t.config, "/dev/dxg");
    CHECK(dxg != NULL);
    CHECK_STR(jsonx_get_str(dxg, "type"), "c");
    CHECK_INT(json_integer_value(json_object_get(dxg, "major")), 10);
    CHECK_INT(json_integer_value(json_object_get(dxg, "minor")), 63);
    CHECK_INT(json_integer_value(json_object_get(dxg, "fileMode")), 0666);
    /* the rule the original forgot: without it runc makes the node and open() gets EPERM */
    CHECK(rt_has_rule(t.config, "c", 10, 63, "rwm"));
    CHECK_INT(rules_for(t.config, 10, 63), 1);
    CHECK(read_only_bind(rt_mount(t.config, "/usr/lib/wsl"), "/usr/lib/wsl"));
    CHECK(read_only_bind(rt_mount(t.config, "/usr/lib/wsl/lib"), "/usr/lib/wsl/lib"));
    CHECK(read_only_bind(rt_mount(t.config, "/usr/lib/wsl/drivers"), "/usr/lib/wsl/drivers"));
    CHECK(rt_mount_index(t.config, "/usr/lib/wsl") < rt_mount_index(t.config, "/usr/lib/wsl/lib"));
    CHECK(rt_mount_index(t.config, "/usr/lib/wsl") <
          rt_mount_index(t.config, "/usr/lib/wsl/drivers"));
    CHECK(rt_mount(t.config, "/dev/dxg") == NULL); /* a device, not a bind of the host's node */
    CHECK_STR(rt_env(t.config, "LD_LIBRARY_PATH"), "/usr/lib/wsl/drivers:/usr/lib/wsl/lib");
    CHECK_STR(rt_env(t.config, "NVIDIA_VISIBLE_DEVICES"), "0");
    CHECK_STR(rt_env(t.config, "CUDA_VISIBLE_DEVICES"), "0");
    /* WSL2 has no /dev/nvidia* nodes: none rendered, none warned about, no blanket majors */
    CHECK_INT(devices_with_prefix(t.config, "/dev/nvidia"), 0);
    CHECK(!rt_has_warning(&t, "gpu_device_missing"));
    CHECK(!rt_has_rule(t.config, "c", 195, -1, "rwm"));
    CHECK_INT(json_array_size(t.warnings), 0);
    rt_free(&t);

    /* any vendor: /dev/dxg is DirectX's device, not NVIDIA's */
    in.spec = SVC "    resources: {gpu: {count: 2, vendor: amd}}\n";
    CHECK_INT(rt_render(&t, &in), 0);
    CHECK(rt_has_rule(t.config, "c", 10, 63, "rwm"));
    CHECK_STR(rt_env(t.config, "ROCR_VISIBLE_DEVICES"), "0,1");
    CHECK_INT(devices_with_prefix(t.config, "/dev/kfd"), 0);
    CHECK(!rt_has_rule(t.config, "c", 226, -1, "rwm"));
    CHECK_INT(json_array_size(t.warnings), 0);
    rt_free(&t);

    /* privileged: the device, and no rule (everything is allowed) */
    in.spec = GPU1 "    privileged: true\n";
    CHECK_INT(rt_render(&t, &in), 0);
    CHECK(rt_device(t.config, "/dev/dxg") != NULL);
    CHECK_INT(rules_for(t.config, 10, 63), 0);
    rt_free(&t);
}

static void library_path_prefixes_existing_value_once(void)
{
    struct rt t;
    struct rt_in in = {.spec = GPU1, .host = HOST_WSL,
                       .image = "{\"Env\": [\"LD_LIBRARY_PATH=/opt/app/lib\"]}"};
    CHECK_INT(rt_render(&t, &in), 0);
    CHECK_STR(rt_env(t.config, "LD_LIBRARY_PATH"),
              "/usr/lib/wsl/drivers:/usr/lib/wsl/lib:/opt/app/lib");
    CHECK_INT(rt_env_count(t.config, "LD_LIBRARY_PATH"), 1);
    rt_free(&t);

    /* a directory the value already has is not repeated */
    in.image = NULL;
    in.spec = GPU1 "    env: {LD_LIBRARY_PATH: \"/x:/usr/lib/wsl/lib\"}\n";
    CHECK_INT(rt_render(&t, &in), 0);
    CHECK_STR(rt_env(t.config, "LD_LIBRARY_PATH"), "/usr/lib/wsl/drivers:/x:/usr/lib/wsl/lib");
    rt_free(&t);

    /* an empty value gets no dangling ':' */
    in.spec = GPU1 "    env: {LD_LIBRARY_PATH: \"\"}\n";
    CHECK_INT(rt_render(&t, &in), 0);
    CHECK_STR(rt_env(t.config, "LD_LIBRARY_PATH"), "/usr/lib/wsl/drivers:/usr/lib/wsl/lib");
    rt_free(&t);

    /* only the directories that exist */
    in.spec = GPU1;
    in.host = "{\"wsl\": {" WSL_KERNEL ", \"dxg\": {\"major\": 10, \"minor\": 63}, "
              "\"lib_dirs\": [\"/usr/lib/wsl/lib\"]}}";
    CHECK_INT(rt_render(&t, &in), 0);
    CHECK_STR(rt_env(t.config, "LD_LIBRARY_PATH"), "/usr/lib/wsl/lib");
    CHECK(rt_mount(t.config, "/usr/lib/wsl/lib") != NULL);
    CHECK(rt_mount(t.config, "/usr/lib/wsl/drivers") == NULL);
    rt_free(&t);

    /* a spec's own mount at /usr/lib/wsl is kept, not doubled */
    in.host = HOST_WSL;
    in.spec = GPU1 "    storage:\n      - {type: bind, source: /srv/wsl, target: /usr/lib/wsl}\n";
    CHECK_INT(rt_render(&t, &in), 0);
    CHECK_STR(jsonx_get_str(rt_mount(t.config, "/usr/lib/wsl"), "source"), "/srv/wsl");
    int n = 0;
    const json_t *mounts = rt_get(t.config, "mounts");
    for (size_t i = 0; i < json_array_size(mounts); i++) {
        n += str_eq(jsonx_get_str(json_array_get(mounts, i), "destination"), "/usr/lib/wsl");
    }
    CHECK_INT(n, 1);
    rt_free(&t);
}

static void missing_dxg_is_the_originals_error(void)
{
    struct rt t;
    struct rt_in in = {.spec = GPU1,
                       .host = "{\"wsl\": {" WSL_KERNEL ", \"lib_dirs\": [\"/usr/lib/wsl/lib\"]}}"};
    CHECK_INT(rt_render(&t, &in), -1);
    CHECK_INT(t.err.code, ERR_SPEC_INVALID);
    CHECK_STR(rt_err_path(&t), "services.web.resources.gpu");
    CHECK_STR(rt_err_msg(&t),
              "GPU requested but WSL2 GPU support not available on this host: /dev/dxg is not "
              "exposed by the WSL2 kernel inside the configured distro; enable WSL2 GPU support "
              "(Windows 11 + a recent WSL kernel) or drop `resources.gpu` from the service spec");
    rt_free(&t);
    /* also when a CDI spec is there: the missing device is named, not a CDI detail */
    in.host = "{\"wsl\": {" WSL_KERNEL "}, \"cdi\": [{\"cdiVersion\": \"0.5.0\", \"kind\": "
              "\"nvidia.com/gpu\", \"devices\": [{\"name\": \"all\", \"containerEdits\": "
              "{\"deviceNodes\": [{\"path\": \"/dev/dxg\"}]}}]}]}";
    CHECK_INT(rt_render(&t, &in), -1);
    CHECK_CONTAINS(rt_err_msg(&t), "/dev/dxg is not exposed by the WSL2 kernel");
    rt_free(&t);
}

static void no_wsl_libraries_warns_and_mounts_nothing(void)
{
    struct rt t;
    struct rt_in in = {.spec = GPU1,
                       .host = "{\"wsl\": {" WSL_KERNEL ", \"dxg\": {\"major\": 10, \"minor\": 63}, "
                               "\"lib_dirs\": []}}"};
    CHECK_INT(rt_render(&t, &in), 0);
    CHECK_STR(warning_path(&t, "wsl_libs_missing"), "services.web.resources.gpu");
    CHECK(rt_mount(t.config, "/usr/lib/wsl") == NULL);
    CHECK(rt_env(t.config, "LD_LIBRARY_PATH") == NULL);
    CHECK(rt_has_rule(t.config, "c", 10, 63, "rwm"));
    rt_free(&t);
}

/* Without a GPU request the WSL facts change nothing, byte for byte. */
static void without_gpu_wsl_changes_nothing(void)
{
    const char *spec = SVC "    env: {LD_LIBRARY_PATH: /opt/lib}\n";
    struct rt a, b;
    struct rt_in plain = {.spec = spec, .host = "{\"devices\": []}"};
    struct rt_in wsl = {.spec = spec, .host = "{\"devices\": [], " WSL_FULL "}"};
    CHECK_INT(rt_render(&a, &plain), 0);
    CHECK_INT(rt_render(&b, &wsl), 0);
    CHECK_STR(a.text, b.text);
    CHECK_INT(json_array_size(b.warnings), 0);
    rt_free(&a);
    rt_free(&b);
}

/* On other Linux nodes nothing WSL-specific appears. */
static void other_nodes_get_no_wsl_parts(void)
{
    struct rt t;
    struct rt_in in = {.spec = GPU1,
                       .host = "{\"devices\": [{\"path\": \"/dev/nvidia0\", \"type\": \"c\", "
                               "\"major\": 195, \"minor\": 0}]}"};
    CHECK_INT(rt_render(&t, &in), 0);
    CHECK(rt_device(t.config, "/dev/dxg") == NULL);
    CHECK(rt_mount(t.config, "/usr/lib/wsl") == NULL);
    CHECK(rt_env(t.config, "LD_LIBRARY_PATH") == NULL);
    CHECK(rt_device(t.config, "/dev/nvidia0") != NULL);
    CHECK(rt_has_warning(&t, "gpu_device_missing")); /* nvidiactl & co. are expected here */
    rt_free(&t);
}

static void wsl_facts_are_validated_with_paths(void)
{
    static const struct {
        const char *host, *path, *msg;
    } cases[] = {
        {"{\"wsl\": {\"dxg\": {\"major\": 10, \"minor\": 63}}}", "host.wsl", "missing field `kernel`"},
        {"{\"wsl\": {\"kernel\": \"\"}}", "host.wsl.kernel", ""},
        {"{\"wsl\": {" WSL_KERNEL ", \"lib_dirs\": [\"/opt/lib\"]}}", "host.wsl.lib_dirs[0]",
         "expected one of `/usr/lib/wsl/lib`, `/usr/lib/wsl/drivers`"},
        {"{\"wsl\": {" WSL_KERNEL ", \"lib_dirs\": [\"/usr/lib/wsl/lib\", \"/usr/lib/wsl/lib\"]}}",
         "host.wsl.lib_dirs[1]", "twice"},
        {"{\"wsl\": {" WSL_KERNEL ", \"dxg\": {\"major\": 10}}}", "host.wsl.dxg", "missing field `minor`"},
        {"{\"wsl\": {" WSL_KERNEL ", \"dxg\": {\"major\": -1, \"minor\": 0}}}", "host.wsl.dxg.major",
         ""},
        {"{\"wsl\": {" WSL_KERNEL ", \"gpu\": true}}", "host.wsl.gpu", ""},
        {"{\"wsl\": \"yes\"}", "host.wsl", "WSL2 mapping"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct rt t;
        struct rt_in in = {.spec = GPU1, .host = cases[i].host};
        CHECK_INT(rt_render(&t, &in), -1);
        CHECK_INT(t.err.code, ERR_SPEC_INVALID);
        CHECK_STR(rt_err_path(&t), cases[i].path);
        CHECK_CONTAINS(rt_err_msg(&t), cases[i].msg);
        rt_free(&t);
    }
}

/* What `nvidia-ctk cdi generate --mode=wsl` writes: one device, `all`, with /dev/dxg; the
 * driver-store libraries and an ldcache hook as spec-level edits. */
#define CTK_WSL_SPEC                                                                         \
    "{\"priority\": 0, \"path\": \"/etc/cdi/nvidia.yaml\", \"spec\": {"                      \
    "\"cdiVersion\": \"0.5.0\", \"kind\": \"nvidia.com/gpu\", "                              \
    "\"devices\": [{\"name\": \"all\", \"containerEdits\": {\"deviceNodes\": "               \
    "[{\"path\": \"/dev/dxg\"}]}}], "                                                        \
    "\"containerEdits\": {\"env\": [\"NVIDIA_VISIBLE_DEVICES=void\"], "                      \
    "\"mounts\": [{\"hostPath\": \"/usr/lib/wsl/drivers/nv_dispi.inf_amd64_1/libcuda.so.1.1\", " \
    "\"containerPath\": \"/usr/lib/wsl/drivers/nv_dispi.inf_amd64_1/libcuda.so.1.1\", "      \
    "\"options\": [\"ro\", \"nosuid\", \"nodev\", \"bind\"]}, "                              \
    "{\"hostPath\": \"/usr/lib/wsl/lib/libdxcore.so\", \"containerPath\": "                  \
    "\"/usr/lib/wsl/lib/libdxcore.so\", \"options\": [\"ro\", \"nosuid\", \"nodev\", \"bind\"]}], " \
    "\"hooks\": [{\"hookName\": \"createContainer\", \"path\": \"/usr/bin/nvidia-cdi-hook\", " \
    "\"args\": [\"nvidia-cdi-hook\", \"update-ldcache\", \"--folder\", "                     \
    "\"/usr/lib/wsl/drivers/nv_dispi.inf_amd64_1\", \"--folder\", \"/usr/lib/wsl/lib\"]}]}}}"
#define DXG_FACT "{\"path\": \"/dev/dxg\", \"type\": \"c\", \"major\": 10, \"minor\": 63}"

static void cdi_all_only_serves_any_count_with_a_warning(void)
{
    for (int count = 1; count <= 4; count += 3) {
        char spec[256];
        snprintf(spec, sizeof(spec), SVC "    resources: {gpu: {count: %d}}\n", count);
        struct rt t;
        struct rt_in in = {.spec = spec,
                           .host = "{\"cdi\": [" CTK_WSL_SPEC "], \"devices\": [" DXG_FACT "], "
                                   WSL_FULL "}"};
        CHECK_INT(rt_render(&t, &in), 0);
        CHECK_STR(warning_path(&t, "cdi_all_only"), "services.web.resources.gpu.count");
        CHECK_INT(json_array_size(t.warnings), 1);
        /* one /dev/dxg, one rule for it, the hook once */
        CHECK_INT(devices_with_prefix(t.config, "/dev/dxg"), 1);
        CHECK_INT(rules_for(t.config, 10, 63), 1);
        CHECK_INT(json_array_size(rt_get(t.config, "hooks.createContainer")), 1);
        /* the CDI env stays; gpu.count still selects through CUDA_VISIBLE_DEVICES */
        CHECK_STR(rt_env(t.config, "NVIDIA_VISIBLE_DEVICES"), "void");
        CHECK_STR(rt_env(t.config, "CUDA_VISIBLE_DEVICES"), count == 1 ? "0" : "0,1,2,3");
        /* parents mount before the CDI's library files inside them */
        int root = rt_mount_index(t.config, "/usr/lib/wsl");
        int lib = rt_mount_index(t.config, "/usr/lib/wsl/lib");
        int dxcore = rt_mount_index(t.config, "/usr/lib/wsl/lib/libdxcore.so");
        int cuda = rt_mount_index(t.config,
                                  "/usr/lib/wsl/drivers/nv_dispi.inf_amd64_1/libcuda.so.1.1");
        CHECK(root >= 0 && lib > root && dxcore > lib && cuda > root);
        CHECK_STR(rt_env(t.config, "LD_LIBRARY_PATH"), "/usr/lib/wsl/drivers:/usr/lib/wsl/lib");
        rt_free(&t);
    }
    /* the same spec on a node without WSL facts: `all` serves too, the node's numbers */
    struct rt t;
    struct rt_in in = {.spec = SVC "    resources: {gpu: {count: 2}}\n",
                       .host = "{\"cdi\": [" CTK_WSL_SPEC "], \"devices\": [" DXG_FACT "]}"};
    CHECK_INT(rt_render(&t, &in), 0);
    CHECK(rt_has_warning(&t, "cdi_all_only"));
    CHECK(rt_has_rule(t.config, "c", 10, 63, "rwm"));
    CHECK(rt_mount(t.config, "/usr/lib/wsl") == NULL);
    rt_free(&t);
    /* a /dev/dxg the CDI spec declares keeps the spec's mode and permissions */
    in.host = "{\"cdi\": [{\"cdiVersion\": \"0.5.0\", \"kind\": \"nvidia.com/gpu\", "
              "\"devices\": [{\"name\": \"all\", \"containerEdits\": {\"deviceNodes\": "
              "[{\"path\": \"/dev/dxg\", \"fileMode\": 432, \"permissions\": \"rw\"}]}}]}], "
              "\"devices\": [" DXG_FACT "], " WSL_FULL "}";
    CHECK_INT(rt_render(&t, &in), 0);
    CHECK_INT(json_integer_value(json_object_get(rt_device(t.config, "/dev/dxg"), "fileMode")),
              0660);
    CHECK(rt_has_rule(t.config, "c", 10, 63, "rw"));
    CHECK_INT(rules_for(t.config, 10, 63), 1);
    CHECK_INT(devices_with_prefix(t.config, "/dev/dxg"), 1);
    rt_free(&t);
    /* two specs of the kind that both define only `all` at the same priority: a conflict */
    in.host = "{\"cdi\": [" CTK_WSL_SPEC ", " CTK_WSL_SPEC "], \"devices\": [" DXG_FACT "]}";
    CHECK_INT(rt_render(&t, &in), -1);
    CHECK_CONTAINS(rt_err_msg(&t), "nvidia.com/gpu=all is defined twice");
    rt_free(&t);
}

/* MPS and time-slicing are checked against the facts the distro sent, like on any node. */
static void gpu_sharing_checked_against_the_distros_facts(void)
{
    struct rt t;
    struct rt_in in = {.spec = SVC "    resources: {gpu: {count: 1, sharing: mps}}\n",
                       .host = "{" WSL_FULL ", \"dirs\": [\"/tmp/nvidia-mps\"]}"};
    CHECK_INT(rt_render(&t, &in), -1);
    CHECK_STR(rt_err_path(&t), "services.web.resources.gpu.mps_log_dir");
    CHECK_CONTAINS(rt_err_msg(&t), "/tmp/nvidia-log does not exist");
    rt_free(&t);
    in.host = "{" WSL_FULL ", \"dirs\": [\"/tmp/nvidia-mps\", \"/tmp/nvidia-log\"]}";
    CHECK_INT(rt_render(&t, &in), 0);
    CHECK_STR(rt_env(t.config, "CUDA_MPS_PIPE_DIRECTORY"), "/tmp/nvidia-mps");
    CHECK(rt_mount(t.config, "/tmp/nvidia-log") != NULL);
    CHECK(rt_device(t.config, "/dev/dxg") != NULL);
    rt_free(&t);

    in.spec = SVC "    resources: {gpu: {count: 2, sharing: time-slice, time_slice_index: 1, "
                  "time_slicing_config_path: /etc/nvidia/ts.yaml}}\n";
    in.host = "{" WSL_FULL ", \"files\": []}";
    CHECK_INT(rt_render(&t, &in), -1);
    CHECK_STR(rt_err_path(&t), "services.web.resources.gpu.time_slicing_config_path");
    rt_free(&t);
    in.host = "{" WSL_FULL ", \"files\": [\"/etc/nvidia/ts.yaml\"]}";
    CHECK_INT(rt_render(&t, &in), 0);
    CHECK_STR(rt_env(t.config, "CUDA_VISIBLE_DEVICES"), "1");
    CHECK(rt_mount(t.config, "/etc/nvidia/gpu-time-slicing.yaml") != NULL);
    rt_free(&t);
}

RT_MAIN(TEST(gpu_gets_dxg_rule_libraries_and_library_path),
        TEST(library_path_prefixes_existing_value_once), TEST(missing_dxg_is_the_originals_error),
        TEST(no_wsl_libraries_warns_and_mounts_nothing), TEST(without_gpu_wsl_changes_nothing),
        TEST(other_nodes_get_no_wsl_parts), TEST(wsl_facts_are_validated_with_paths),
        TEST(cdi_all_only_serves_any_count_with_a_warning),
        TEST(gpu_sharing_checked_against_the_distros_facts))
