/*
 * The acceptance cases of the original renderer's test module, the
 * gpu_spec_shape cases and the upstream HEAD ulimit/dns cases, asserting the same facts.
 * Env and capability lists are compared as sets. Where ocirender deliberately differs
 * (a deliberate change from the original), the test asserts the new behaviour and says so.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "client/facts.h"
#include "common/jsonx.h"
#include "render/cdi.h"
#include "render/units.h"
#include "tests/unit/rtest.h"

#define MOCK_SPEC                                                                            \
    "version: v1\n"                                                                          \
    "deployment: test\n"                                                                     \
    "services:\n"                                                                            \
    "  test:\n"                                                                              \
    "    rtype: service\n"                                                                   \
    "    image: {name: \"test:latest\"}\n"                                                   \
    "    endpoints:\n"                                                                       \
    "      - {name: http, protocol: http, port: 8080}\n"

#define MOCK_RESOURCES                                                                       \
    MOCK_SPEC "    resources: {cpu: 0.5, memory: 512Mi}\n"                                   \
              "    env: {MY_VAR: my_value, ANOTHER: value2}\n"

#define MOCK_PRIVILEGED MOCK_SPEC "    privileged: true\n"

/* The NVIDIA CDI fixture of the seed tests, in the CDI spec's list form of hooks. */
#define NVIDIA_CDI_ONE                                                                       \
    "{\"cdi\": [{\"cdiVersion\": \"0.6.0\", \"kind\": \"nvidia.com/gpu\", \"devices\": [{"   \
    "\"name\": \"0\", \"containerEdits\": {"                                                 \
    "\"deviceNodes\": [{\"path\": \"/dev/nvidia0\", \"type\": \"c\", \"major\": 195, "       \
    "\"minor\": 0}],"                                                                        \
    "\"env\": [\"NVIDIA_VISIBLE_DEVICES=0\"],"                                               \
    "\"hooks\": [{\"hookName\": \"createContainer\", "                                       \
    "\"path\": \"/usr/bin/nvidia-container-runtime-hook\", "                                 \
    "\"args\": [\"nvidia-container-runtime-hook\", \"prestart\"]}]}}]}]}"

#define NVIDIA_CDI_TWO                                                                       \
    "{\"cdi\": [{\"cdiVersion\": \"0.6.0\", \"kind\": \"nvidia.com/gpu\", \"devices\": ["    \
    "{\"name\": \"0\", \"containerEdits\": {\"deviceNodes\": [{\"path\": \"/dev/nvidia0\", " \
    "\"type\": \"c\", \"major\": 195, \"minor\": 0}]}},"                                     \
    "{\"name\": \"1\", \"containerEdits\": {\"deviceNodes\": [{\"path\": \"/dev/nvidia1\", " \
    "\"type\": \"c\", \"major\": 195, \"minor\": 1}]}}]}]}"

static char spec_buf[4096];

static const char *gpu_spec(const char *service, const char *gpu_block)
{
    snprintf(spec_buf, sizeof(spec_buf),
             "version: v1\ndeployment: test\nservices:\n  %s:\n    image: {name: \"test:latest\"}\n"
             "    resources:\n      gpu: %s\n",
             service, gpu_block);
    return spec_buf;
}

/* 1, 2 */
static void test_parse_memory_string(void)
{
    static const struct {
        const char *in;
        uint64_t out;
    } ok[] = {{"512Mi", 536870912ull}, {"1Gi", 1073741824ull}, {"2G", 2000000000ull},
              {"1024", 1024}, {"512Ki", 524288}};
    char why[160];
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        uint64_t v = 0;
        CHECK_INT(units_parse_memory(ok[i].in, &v, why, sizeof(why)), 0);
        CHECK_INT(v, ok[i].out);
    }
    const char *bad[] = {"", "abc", "12.5Mi"};
    for (size_t i = 0; i < 3; i++) {
        uint64_t v;
        CHECK_INT(units_parse_memory(bad[i], &v, why, sizeof(why)), -1);
    }
}

/* 3: the bundle directory is an input (options.bundle_dir); it is where generated files live. */
static void test_bundle_builder_new(void)
{
    struct rt t;
    struct rt_in in = {.spec = MOCK_SPEC "    dns: [10.42.0.1]\n",
                       .options = "{\"bundle_dir\": \"/tmp/test-bundle\"}"};
    CHECK_INT(rt_render(&t, &in), 0);
    CHECK_STR(json_string_value(json_object_get(rt_mount(t.config, "/etc/resolv.conf"), "source")),
              "/tmp/test-bundle/resolv.conf");
    rt_free(&t);
}

/* 4: for_container names the bundle after the ContainerId Display form. */
static void test_bundle_builder_for_container(void)
{
    struct render_request *req = NULL;
    struct err err;
    err_init(&err);
    struct render_params p = {.service = "myservice"};
    const char *spec = "image: {name: \"test:latest\"}\n";
    CHECK_INT(render_request_parse(spec, strlen(spec), RENDER_FMT_AUTO, &p, &req, &err), 0);
    CHECK_STR(render_request_container_id(req), "myservice-rep-1");
    render_request_free(req);
}

/* 5: the rootfs is the bundle's `rootfs` (the client links it to --rootfs). */
static void test_bundle_builder_with_rootfs(void)
{
    struct rt t;
    CHECK_INT(rt_spec(&t, MOCK_SPEC), 0);
    CHECK_STR(json_string_value(rt_get(t.config, "root.path")), "rootfs");
    rt_free(&t);
}

/* 6 */
static void test_build_oci_spec_basic(void)
{
    struct rt t;
    CHECK_INT(rt_spec(&t, MOCK_SPEC), 0);
    CHECK_STR(json_string_value(json_object_get(t.config, "ociVersion")), "1.0.2");
    CHECK(rt_get(t.config, "root") != NULL);
    CHECK_STR(json_string_value(rt_get(t.config, "root.path")), "rootfs");
    CHECK(rt_get(t.config, "process") != NULL);
    CHECK(rt_get(t.config, "linux") != NULL);
    rt_free(&t);
}

/* 7 */
static void test_build_oci_spec_with_resources(void)
{
    struct rt t;
    CHECK_INT(rt_spec(&t, MOCK_RESOURCES), 0);
    CHECK_INT(json_integer_value(rt_get(t.config, "linux.resources.cpu.quota")), 50000);
    CHECK_INT(json_integer_value(rt_get(t.config, "linux.resources.cpu.period")), 100000);
    CHECK_INT(json_integer_value(rt_get(t.config, "linux.resources.memory.limit")), 536870912);
    rt_free(&t);
}

/* 8 */
static void test_build_oci_spec_privileged(void)
{
    struct rt t;
    CHECK_INT(rt_spec(&t, MOCK_PRIVILEGED), 0);
    CHECK(rt_has_cap(t.config, "bounding", "CAP_SYS_ADMIN"));
    CHECK(rt_has_cap(t.config, "bounding", "CAP_NET_ADMIN"));
    const json_t *masked = rt_get(t.config, "linux.maskedPaths");
    CHECK(masked == NULL || json_array_size(masked) == 0);
    rt_free(&t);
}

/* 9 */
static void test_build_oci_spec_environment(void)
{
    struct rt t;
    struct rt_in in = {.spec = MOCK_RESOURCES,
                       .options = "{\"env\": [[\"EXTRA_VAR\", \"extra_value\"]]}"};
    CHECK_INT(rt_render(&t, &in), 0);
    CHECK_STR(rt_env(t.config, "MY_VAR"), "my_value");
    CHECK_STR(rt_env(t.config, "ANOTHER"), "value2");
    CHECK_STR(rt_env(t.config, "EXTRA_VAR"), "extra_value");
    CHECK(rt_env(t.config, "PATH") != NULL);
    rt_free(&t);
}

/* 10 */
static void test_build_namespaces(void)
{
    struct rt t;
    CHECK_INT(rt_spec(&t, MOCK_SPEC), 0);
    const char *want[] = {"pid", "ipc", "uts", "mount", "network"};
    for (int i = 0; i < 5; i++) {
        CHECK(rt_has_ns(t.config, want[i]));
    }
    rt_free(&t);
}

/* 11 */
static void test_build_namespaces_host_network(void)
{
    struct rt t;
    struct rt_in in = {.spec = MOCK_SPEC, .options = "{\"host_network\": true}"};
    CHECK_INT(rt_render(&t, &in), 0);
    const char *want[] = {"pid", "ipc", "uts", "mount"};
    for (int i = 0; i < 4; i++) {
        CHECK(rt_has_ns(t.config, want[i]));
    }
    CHECK(!rt_has_ns(t.config, "network"));
    rt_free(&t);
}

/* 12 */
static void test_build_default_mounts(void)
{
    struct rt t;
    CHECK_INT(rt_spec(&t, MOCK_SPEC), 0);
    const char *want[] = {"/proc", "/dev", "/dev/pts", "/dev/shm", "/sys"};
    for (int i = 0; i < 5; i++) {
        CHECK(rt_mount(t.config, want[i]) != NULL);
    }
    rt_free(&t);
}

static size_t storage_mount_count(const json_t *config)
{
    return json_array_size(json_object_get(config, "mounts")) - 7; /* after the 7 defaults */
}

/* 13 */
static void test_build_storage_mounts_bind(void)
{
    struct rt t;
    CHECK_INT(rt_spec(&t, MOCK_SPEC "    storage:\n"
                                    "      - {type: bind, source: /host/data, target: /app/data, "
                                    "readonly: true}\n"),
              0);
    CHECK_INT(storage_mount_count(t.config), 1);
    const json_t *m = rt_mount(t.config, "/app/data");
    CHECK_STR(json_string_value(json_object_get(m, "source")), "/host/data");
    CHECK(rt_has_str(json_object_get(m, "options"), "rbind"));
    CHECK(rt_has_str(json_object_get(m, "options"), "ro"));
    rt_free(&t);
}

/* 14 */
static void test_build_storage_mounts_named(void)
{
    struct rt t;
    struct rt_in in = {
        .spec = MOCK_SPEC "    storage:\n      - {type: named, name: my-volume, target: /app/data}\n",
        .options = "{\"volume_paths\": {\"my-volume\": \"/var/lib/zlayer/volumes/my-volume\"}}"};
    CHECK_INT(rt_render(&t, &in), 0);
    CHECK_INT(storage_mount_count(t.config), 1);
    CHECK_STR(json_string_value(json_object_get(rt_mount(t.config, "/app/data"), "source")),
              "/var/lib/zlayer/volumes/my-volume");
    rt_free(&t);
}

/* 15 */
static void test_build_storage_mounts_tmpfs(void)
{
    struct rt t;
    CHECK_INT(rt_spec(&t, MOCK_SPEC "    storage:\n"
                                    "      - {type: tmpfs, target: /app/tmp, size: 256Mi, "
                                    "mode: 1777}\n"),
              0);
    CHECK_INT(storage_mount_count(t.config), 1);
    const json_t *m = rt_mount(t.config, "/app/tmp");
    CHECK_STR(json_string_value(json_object_get(m, "type")), "tmpfs");
    const json_t *opts = json_object_get(m, "options");
    bool size = false, mode = false;
    for (size_t i = 0; i < json_array_size(opts); i++) {
        const char *o = json_string_value(json_array_get(opts, i));
        size = size || strncmp(o, "size=", 5) == 0;
        mode = mode || strncmp(o, "mode=", 5) == 0;
    }
    CHECK(size && mode);
    rt_free(&t);
}

/* 16 */
static void test_build_storage_mounts_multiple(void)
{
    struct rt t;
    struct rt_in in = {
        .spec = MOCK_SPEC "    storage:\n"
                          "      - {type: bind, source: /etc/config, target: /app/config, "
                          "readonly: true}\n"
                          "      - {type: named, name: app-data, target: /app/data}\n"
                          "      - {type: tmpfs, target: /app/tmp}\n",
        .options = "{\"volume_paths\": {\"app-data\": \"/v/app-data\"}}"};
    CHECK_INT(rt_render(&t, &in), 0);
    CHECK_INT(storage_mount_count(t.config), 3);
    CHECK_INT(rt_mount_index(t.config, "/app/config"), 7);
    CHECK_INT(rt_mount_index(t.config, "/app/data"), 8);
    CHECK_INT(rt_mount_index(t.config, "/app/tmp"), 9);
    rt_free(&t);
}

/* 17 */
static void test_build_storage_mounts_anonymous_missing_path(void)
{
    struct rt t;
    CHECK_INT(rt_spec(&t, MOCK_SPEC "    storage:\n      - {type: anonymous, target: /app/cache}\n"),
              -1);
    CHECK_INT(t.err.code, ERR_SPEC_INVALID);
    CHECK_STR(rt_err_path(&t), "services.test.storage[0]");
    CHECK_CONTAINS(rt_err_msg(&t), "_anon_app_cache");
    rt_free(&t);
}

/* 18 */
static void test_oci_spec_includes_storage_mounts(void)
{
    struct rt t;
    CHECK_INT(rt_spec(&t, MOCK_SPEC "    storage:\n"
                                    "      - {type: bind, source: /host/data, target: /app/data}\n"
                                    "      - {type: tmpfs, target: /app/tmp}\n"),
              0);
    const char *want[] = {"/proc", "/dev", "/app/data", "/app/tmp"};
    for (int i = 0; i < 4; i++) {
        CHECK(rt_mount(t.config, want[i]) != NULL);
    }
    rt_free(&t);
}

/* 19 (and gpu_spec_shape's CDI-merged bundle) */
static void check_cdi_merged(const char *service)
{
    struct rt t;
    struct rt_in in = {.spec = gpu_spec(service, "{count: 1, vendor: nvidia}"),
                       .host = NVIDIA_CDI_ONE};
    CHECK_INT(rt_render(&t, &in), 0);
    CHECK(rt_device(t.config, "/dev/nvidia0") != NULL);
    CHECK_STR(rt_env(t.config, "NVIDIA_VISIBLE_DEVICES"), "0");
    const json_t *hooks = rt_get(t.config, "hooks.createContainer");
    CHECK_INT(json_array_size(hooks), 1);
    CHECK_STR(json_string_value(json_object_get(json_array_get(hooks, 0), "path")),
              "/usr/bin/nvidia-container-runtime-hook");
    rt_free(&t);
}

static void gpu_spec_translates_to_cdi_device_nodes(void)
{
    check_cdi_merged("test");
}

/* 20: ocirender's "strict" mode is a CDI spec of the GPU's kind in host.cdi. A
 * spec of that kind which does not provide the requested device is an error naming CDI. */
static void gpu_spec_with_missing_cdi_returns_error(void)
{
    struct rt t;
    struct rt_in in = {
        .spec = gpu_spec("test", "{count: 1, vendor: nvidia}"),
        .host = "{\"cdi\": [{\"cdiVersion\": \"0.6.0\", \"kind\": \"nvidia.com/gpu\", "
                "\"devices\": [{\"name\": \"gpu-a\", \"containerEdits\": {\"env\": [\"A=1\"]}}]}]}"};
    CHECK_INT(rt_render(&t, &in), -1);
    CHECK_INT(t.err.code, ERR_SPEC_INVALID);
    CHECK(strstr(rt_err_msg(&t), "nvidia") || strstr(rt_err_msg(&t), "CDI"));
    rt_free(&t);
}

/* 21 */
static void gpu_spec_with_unknown_device_returns_error(void)
{
    struct rt t;
    struct rt_in in = {.spec = gpu_spec("test", "{count: 2, vendor: nvidia}"),
                       .host = NVIDIA_CDI_ONE};
    CHECK_INT(rt_render(&t, &in), -1);
    CHECK(strstr(rt_err_msg(&t), "'1'") || strstr(rt_err_msg(&t), "device"));
    CHECK_STR(rt_err_path(&t), "services.test.resources.gpu.count");
    rt_free(&t);
}

/* 22: two devices resolve to two edit sets and both nodes appear. */
static void gpu_spec_with_all_devices_expands_to_all_in_spec(void)
{
    json_t *host = json_loads(NVIDIA_CDI_TWO, 0, NULL);
    struct err err;
    err_init(&err);
    bool present = false, all_only = true;
    json_t *edits = NULL;
    json_t *cdi = json_object_get(host, "cdi");
    json_t *entries[1] = {json_array_get(cdi, 0)};
    CHECK_INT(json_array_size(cdi), 1);
    CHECK_INT(cdi_resolve(entries, 1, "nvidia.com/gpu", 2, "gpu.count", &present, &all_only,
                          &edits, &err),
              0);
    CHECK(present);
    CHECK(!all_only);
    CHECK_INT(json_array_size(edits), 2);
    json_decref(edits);
    json_decref(host);

    struct rt t;
    struct rt_in in = {.spec = gpu_spec("test", "{count: 2, vendor: nvidia}"),
                       .host = NVIDIA_CDI_TWO};
    CHECK_INT(rt_render(&t, &in), 0);
    CHECK(rt_device(t.config, "/dev/nvidia0") != NULL);
    CHECK(rt_device(t.config, "/dev/nvidia1") != NULL);
    rt_free(&t);
}

/* 23 */
static void gpu_spec_with_mps_sharing_injects_env_and_mounts(void)
{
    struct rt t;
    struct rt_in in = {
        .spec = gpu_spec("test", "{count: 1, vendor: nvidia, sharing: mps, "
                                 "mps_pipe_dir: /run/mps-pipe, mps_log_dir: /run/mps-log}"),
        .host = "{\"dirs\": [\"/run/mps-pipe\", \"/run/mps-log\"]}"};
    CHECK_INT(rt_render(&t, &in), 0);
    CHECK_STR(rt_env(t.config, "CUDA_MPS_PIPE_DIRECTORY"), "/run/mps-pipe");
    CHECK_STR(rt_env(t.config, "CUDA_MPS_LOG_DIRECTORY"), "/run/mps-log");
    CHECK_STR(json_string_value(json_object_get(rt_mount(t.config, "/run/mps-pipe"), "source")),
              "/run/mps-pipe");
    CHECK_STR(json_string_value(json_object_get(rt_mount(t.config, "/run/mps-log"), "source")),
              "/run/mps-log");
    rt_free(&t);
}

/* 24 */
static void gpu_spec_with_mps_sharing_fails_when_pipe_dir_missing(void)
{
    struct rt t;
    struct rt_in in = {.spec = gpu_spec("test", "{sharing: mps, mps_pipe_dir: /nonexistent/pipe}"),
                       .host = "{\"dirs\": [\"/tmp/nvidia-log\"]}"};
    CHECK_INT(rt_render(&t, &in), -1);
    CHECK_CONTAINS(rt_err_msg(&t), "'mps'");
    CHECK(strstr(rt_err_msg(&t), "pipe") || strstr(rt_err_msg(&t), "/nonexistent/pipe"));
    rt_free(&t);
}

/* 25 */
static void gpu_spec_with_timeslicing_injects_visible_devices(void)
{
    struct rt t;
    CHECK_INT(rt_spec(&t, gpu_spec("test", "{count: 1, sharing: time-slice, time_slice_index: 2}")),
              0);
    CHECK_INT(rt_env_count(t.config, "CUDA_VISIBLE_DEVICES"), 1);
    CHECK_STR(rt_env(t.config, "CUDA_VISIBLE_DEVICES"), "2");
    rt_free(&t);
}

/* 26 */
static void gpu_spec_without_sharing_omits_mps_env(void)
{
    struct rt t;
    CHECK_INT(rt_spec(&t, gpu_spec("test", "{count: 1}")), 0);
    const json_t *env = rt_get(t.config, "process.env");
    for (size_t i = 0; i < json_array_size(env); i++) {
        CHECK(strncmp(json_string_value(json_array_get(env, i)), "CUDA_MPS_", 9) != 0);
    }
    const json_t *mounts = json_object_get(t.config, "mounts");
    for (size_t i = 0; i < json_array_size(mounts); i++) {
        const char *d = json_string_value(json_object_get(json_array_get(mounts, i), "destination"));
        CHECK(strstr(d, "nvidia-mps") == NULL);
    }
    rt_free(&t);
}

/* 27-29: subordinate id lookup (the node-side facts gathering). */
static const char *write_tmp(const char *text)
{
    static char path[64];
    snprintf(path, sizeof(path), "/tmp/ocirender-subid-XXXXXX");
    int fd = mkstemp(path);
    if (fd >= 0) {
        if (write(fd, text, strlen(text)) < 0) {
            path[0] = '\0';
        }
        close(fd);
    }
    return path;
}

static void read_subid_range_returns_range_for_user(void)
{
    const char *p = write_tmp("alice:100000:65536\nbob:165536:65536\n");
    unsigned long start = 0, count = 0;
    CHECK_INT(facts_subid_lookup(p, "bob", 4242, &start, &count), 0);
    CHECK_INT(start, 165536);
    CHECK_INT(count, 65536);
    CHECK_INT(facts_subid_lookup(p, "alice", 4242, &start, &count), 0);
    CHECK_INT(start, 100000);
    CHECK_INT(count, 65536);
    unlink(p);
}

static void read_subid_range_returns_none_for_unknown_user(void)
{
    const char *p = write_tmp("alice:100000:65536\n");
    unsigned long start, count;
    CHECK_INT(facts_subid_lookup(p, "carol", 4242, &start, &count), -1);
    unlink(p);
}

static void read_subid_range_returns_none_on_missing_file(void)
{
    unsigned long start, count;
    CHECK_INT(facts_subid_lookup("/nonexistent/subuid", "alice", 1, &start, &count), -1);
}

/* gpu_spec_shape (ContainerId ("gpu-svc", 0)) */
static void gpu_shape_cdi_merged_bundle(void)
{
    check_cdi_merged("gpu-svc");
}

static void gpu_shape_nvidia_without_cdi(void)
{
    struct rt t;
    struct render_params p = {.has_replica = true, .replica = 0};
    struct rt_in in = {.spec = gpu_spec("gpu-svc", "{count: 1, vendor: nvidia}"), .params = &p};
    CHECK_INT(rt_render(&t, &in), 0);
    CHECK_STR(rt_env(t.config, "NVIDIA_VISIBLE_DEVICES"), "0");
    CHECK_STR(rt_env(t.config, "CUDA_VISIBLE_DEVICES"), "0");
    rt_free(&t);
}

static void gpu_shape_amd_two(void)
{
    struct rt t;
    CHECK_INT(rt_spec(&t, gpu_spec("gpu-svc", "{count: 2, vendor: amd}")), 0);
    CHECK_STR(rt_env(t.config, "ROCR_VISIBLE_DEVICES"), "0,1");
    CHECK_STR(rt_env(t.config, "HIP_VISIBLE_DEVICES"), "0,1");
    rt_free(&t);
}

static void gpu_shape_distributed(void)
{
    struct rt t;
    struct render_params p = {.has_replica = true, .replica = 0};
    struct rt_in in = {.spec = gpu_spec("gpu-svc", "{count: 1, vendor: nvidia, distributed: "
                                                   "{backend: nccl, master_port: 29501}}"),
                       .params = &p};
    CHECK_INT(rt_render(&t, &in), 0);
    CHECK_STR(rt_env(t.config, "MASTER_PORT"), "29501");
    CHECK_STR(rt_env(t.config, "MASTER_ADDR"), "gpu-svc");
    CHECK_STR(rt_env(t.config, "WORLD_SIZE"), "1");
    CHECK_STR(rt_env(t.config, "RANK"), "0");
    CHECK_STR(rt_env(t.config, "LOCAL_RANK"), "0");
    CHECK_STR(rt_env(t.config, "NCCL_SOCKET_IFNAME"), "eth0");
    rt_free(&t);
}

static void gpu_shape_parse_defaults_and_enums(void)
{
    struct rt t;
    /* gpu defaults: count 1, vendor nvidia */
    CHECK_INT(rt_spec(&t, gpu_spec("gpu-svc", "{}")), 0);
    CHECK_STR(rt_env(t.config, "NVIDIA_VISIBLE_DEVICES"), "0");
    rt_free(&t);
    const char *blocks[] = {"{scheduling: best-effort}", "{scheduling: gang}",
                            "{scheduling: spread}",      "{sharing: exclusive}",
                            "{sharing: mps}",            "{sharing: time-slice}"};
    for (size_t i = 0; i < sizeof(blocks) / sizeof(blocks[0]); i++) {
        CHECK_INT(rt_spec(&t, gpu_spec("gpu-svc", blocks[i])), 0);
        rt_free(&t);
    }
    CHECK_INT(rt_spec(&t, gpu_spec("gpu-svc", "{scheduling: BestEffort}")), -1);
    rt_free(&t);
    /* distributed: {} is nccl on 29500 */
    CHECK_INT(rt_spec(&t, gpu_spec("gpu-svc", "{distributed: {}}")), 0);
    CHECK_STR(rt_env(t.config, "MASTER_PORT"), "29500");
    CHECK_STR(rt_env(t.config, "NCCL_SOCKET_IFNAME"), "eth0");
    rt_free(&t);
    const char *iso[] = {"auto", "process", "hyperv"};
    for (int i = 0; i < 3; i++) {
        char spec[256];
        snprintf(spec, sizeof(spec), "image: {name: \"x:1\"}\nisolation: %s\n", iso[i]);
        CHECK_INT(rt_spec(&t, spec), 0);
        rt_free(&t);
    }
}

/* HEAD: resolv.conf generation and injection */
static void head_generate_resolv_conf(void)
{
    struct rt t;
    struct rt_in in = {.spec = MOCK_SPEC "    dns: [10.42.0.1]\n",
                       .options = "{\"bundle_dir\": \"/b\"}"};
    CHECK_INT(rt_render(&t, &in), 0);
    CHECK_STR(json_string_value(json_object_get(t.files, "resolv.conf")),
              "nameserver 10.42.0.1\noptions edns0\n");
    rt_free(&t);
    in.spec = MOCK_SPEC "    dns: [10.42.0.1, \"fd00::1\"]\n";
    CHECK_INT(rt_render(&t, &in), 0);
    CHECK_STR(json_string_value(json_object_get(t.files, "resolv.conf")),
              "nameserver 10.42.0.1\nnameserver fd00::1\noptions edns0\n");
    const json_t *m = rt_mount(t.config, "/etc/resolv.conf");
    CHECK_STR(json_string_value(json_object_get(m, "source")), "/b/resolv.conf");
    CHECK(rt_has_str(json_object_get(m, "options"), "rbind"));
    CHECK(rt_has_str(json_object_get(m, "options"), "ro"));
    rt_free(&t);
}

static void head_no_resolv_conf_when_dns_empty_or_host_network(void)
{
    struct rt t;
    CHECK_INT(rt_spec(&t, MOCK_SPEC), 0);
    CHECK(rt_mount(t.config, "/etc/resolv.conf") == NULL);
    CHECK(json_object_get(t.files, "resolv.conf") == NULL);
    rt_free(&t);
    CHECK_INT(rt_spec(&t, MOCK_SPEC "    dns: [10.42.0.1]\n    network_mode: host\n"), 0);
    CHECK(rt_mount(t.config, "/etc/resolv.conf") == NULL);
    rt_free(&t);
}

static const json_t *rlimit(const json_t *config, const char *type, size_t *count)
{
    const json_t *list = rt_get(config, "process.rlimits");
    const json_t *found = NULL;
    *count = 0;
    for (size_t i = 0; i < json_array_size(list); i++) {
        const json_t *r = json_array_get(list, i);
        if (strcmp(json_string_value(json_object_get(r, "type")), type) == 0) {
            found = r;
            (*count)++;
        }
    }
    return found;
}

static void head_translates_ulimits(void)
{
    struct rt t;
    size_t n;
    CHECK_INT(rt_spec(&t, MOCK_SPEC "    ulimits: {nofile: {soft: 100000, hard: 200000}}\n"), 0);
    const json_t *r = rlimit(t.config, "RLIMIT_NOFILE", &n);
    CHECK_INT(n, 1);
    CHECK_INT(json_integer_value(json_object_get(r, "soft")), 100000);
    CHECK_INT(json_integer_value(json_object_get(r, "hard")), 200000);
    rt_free(&t);
    /* HEAD clamped -1 to 0; ocirender keeps -1 as unlimited and refuses -5. */
    CHECK_INT(rt_spec(&t, MOCK_SPEC "    ulimits: {nproc: {soft: -1, hard: -1}}\n"), 0);
    CHECK_CONTAINS(t.text, "\"hard\": 18446744073709551615");
    CHECK_CONTAINS(t.text, "\"soft\": 18446744073709551615");
    rt_free(&t);
    CHECK_INT(rt_spec(&t, MOCK_SPEC "    ulimits: {nproc: {soft: -1, hard: -5}}\n"), -1);
    CHECK_STR(rt_err_path(&t), "services.test.ulimits.nproc");
    rt_free(&t);
}

static void head_rejects_unknown_ulimit(void)
{
    struct rt t;
    CHECK_INT(rt_spec(&t, MOCK_SPEC "    ulimits: {not_a_real_ulimit: {soft: 1}}\n"), -1);
    CHECK_CONTAINS(rt_err_msg(&t), "not_a_real_ulimit");
    rt_free(&t);
    CHECK_INT(rt_spec(&t, MOCK_SPEC "    ulimits: {\"\": {soft: 1}}\n"), -1);
    rt_free(&t);
}

static void head_keeps_default_rlimits_when_ulimits_empty(void)
{
    struct rt t;
    size_t n;
    CHECK_INT(rt_spec(&t, MOCK_SPEC "    ulimits: {}\n"), 0);
    const json_t *r = rlimit(t.config, "RLIMIT_NOFILE", &n);
    CHECK_INT(n, 1);
    CHECK_INT(json_integer_value(json_object_get(r, "soft")), 1024);
    CHECK_INT(json_integer_value(json_object_get(r, "hard")), 1024);
    rt_free(&t);
}

static void head_known_ulimit_names_map(void)
{
    static const struct {
        const char *name, *type;
    } names[] = {{"nofile", "RLIMIT_NOFILE"}, {"NOFILE", "RLIMIT_NOFILE"},
                 {"nproc", "RLIMIT_NPROC"},   {"as", "RLIMIT_AS"}};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char spec[512];
        snprintf(spec, sizeof(spec), "%s    ulimits: {%s: {soft: 10, hard: 20}}\n", MOCK_SPEC,
                 names[i].name);
        struct rt t;
        size_t n;
        CHECK_INT(rt_spec(&t, spec), 0);
        CHECK(rlimit(t.config, names[i].type, &n) != NULL);
        CHECK_INT(n, 1);
        rt_free(&t);
    }
}

/* HEAD default-fill: only soft given => hard = soft, and the reverse. */
static void head_ulimit_default_fill(void)
{
    struct rt t;
    size_t n;
    CHECK_INT(rt_spec(&t, MOCK_SPEC "    ulimits: {nofile: {soft: 4096}, core: {hard: 0}}\n"), 0);
    const json_t *r = rlimit(t.config, "RLIMIT_NOFILE", &n);
    CHECK_INT(json_integer_value(json_object_get(r, "hard")), 4096);
    r = rlimit(t.config, "RLIMIT_CORE", &n);
    CHECK_INT(json_integer_value(json_object_get(r, "soft")), 0);
    CHECK_INT(json_integer_value(json_object_get(r, "hard")), 0);
    rt_free(&t);
}

RT_MAIN(TEST(test_parse_memory_string), TEST(test_bundle_builder_new),
        TEST(test_bundle_builder_for_container), TEST(test_bundle_builder_with_rootfs),
        TEST(test_build_oci_spec_basic), TEST(test_build_oci_spec_with_resources),
        TEST(test_build_oci_spec_privileged), TEST(test_build_oci_spec_environment),
        TEST(test_build_namespaces), TEST(test_build_namespaces_host_network),
        TEST(test_build_default_mounts), TEST(test_build_storage_mounts_bind),
        TEST(test_build_storage_mounts_named), TEST(test_build_storage_mounts_tmpfs),
        TEST(test_build_storage_mounts_multiple),
        TEST(test_build_storage_mounts_anonymous_missing_path),
        TEST(test_oci_spec_includes_storage_mounts), TEST(gpu_spec_translates_to_cdi_device_nodes),
        TEST(gpu_spec_with_missing_cdi_returns_error),
        TEST(gpu_spec_with_unknown_device_returns_error),
        TEST(gpu_spec_with_all_devices_expands_to_all_in_spec),
        TEST(gpu_spec_with_mps_sharing_injects_env_and_mounts),
        TEST(gpu_spec_with_mps_sharing_fails_when_pipe_dir_missing),
        TEST(gpu_spec_with_timeslicing_injects_visible_devices),
        TEST(gpu_spec_without_sharing_omits_mps_env),
        TEST(read_subid_range_returns_range_for_user),
        TEST(read_subid_range_returns_none_for_unknown_user),
        TEST(read_subid_range_returns_none_on_missing_file), TEST(gpu_shape_cdi_merged_bundle),
        TEST(gpu_shape_nvidia_without_cdi), TEST(gpu_shape_amd_two), TEST(gpu_shape_distributed),
        TEST(gpu_shape_parse_defaults_and_enums), TEST(head_generate_resolv_conf),
        TEST(head_no_resolv_conf_when_dns_empty_or_host_network), TEST(head_translates_ulimits),
        TEST(head_rejects_unknown_ulimit), TEST(head_keeps_default_rlimits_when_ulimits_empty),
        TEST(head_known_ulimit_names_map), TEST(head_ulimit_default_fill))
