/*
 * The ZLayer spec as data: DeploymentSpec and ServiceSpec field tables (ZLayer's spec types)
 * plus the original's validation rules. Every struct denies unknown fields, as the
 * original's serde types do. Shapes the renderer never reads and the reference does not pin
 * down (lifecycle, affinity, wasm, ...) are accepted as free-form values.
 */
#include <stdio.h>
#include <string.h>

#include "common/jsonx.h"
#include "common/limits.h"
#include "common/strutil.h"
#include "render/internal.h"
#include "render/spec.h"
#include "render/units.h"

#define END {NULL, NULL, 0, NULL}
#define ENUM(name, ...)                                                                          \
    static const char *const name##_values[] = {__VA_ARGS__, NULL};                              \
    static const struct stype name = {.kind = SK_ENUM, .what = "a string", .enums = name##_values}

/* ---- custom scalars ---- */

static json_t *norm_duration(struct walk *w, const struct stype *t, const json_t *in)
{
    json_t *s = walk_norm(w, &st_string, in);
    (void)t;
    if (!s) {
        return NULL;
    }
    uint64_t ms;
    char why[160];
    if (units_parse_duration(json_string_value(s), &ms, why, sizeof(why))) {
        walk_error(w, in, "%s", why);
        json_decref(s);
        return NULL;
    }
    return s;
}
static const struct stype st_duration = {.kind = SK_CUSTOM, .what = "a duration such as 30s",
                                         .norm = norm_duration};

static int finish_memory(struct walk *w, json_t *out)
{
    uint64_t bytes;
    char why[160];
    if (units_parse_memory(json_string_value(out), &bytes, why, sizeof(why))) {
        return walk_error(w, NULL, "%s", why);
    }
    if (bytes == 0) {
        return walk_error(w, NULL, "memory size must be greater than zero");
    }
    if (bytes > (uint64_t)INT64_MAX) {
        return walk_error(w, NULL, "memory size '%s' is too large", json_string_value(out));
    }
    return 0;
}
static const struct stype st_memory = {.kind = SK_STRING, .what = "a memory size such as 512Mi",
                                       .finish = finish_memory};

/* Memory or -1 (unlimited), used by memory_swap. */
static int finish_memory_or_unlimited(struct walk *w, json_t *out)
{
    if (strcmp(json_string_value(out), "-1") == 0) {
        return 0;
    }
    return finish_memory(w, out);
}
static const struct stype st_memory_swap = {.kind = SK_STRING,
                                            .what = "a memory size such as 1Gi, or -1",
                                            .finish = finish_memory_or_unlimited};

/* tmpfs mode: octal however it is written (1777, 01777, 0o1777 and "1777" alike). */
static json_t *norm_mode(struct walk *w, const struct stype *t, const json_t *in)
{
    char text[32];
    if (json_is_integer(in)) {
        if (json_integer_value(in) < 0) {
            walk_error(w, in, "mode must not be negative");
            return NULL;
        }
        snprintf(text, sizeof(text), "%lld", (long long)json_integer_value(in));
    } else if (json_is_string(in)) {
        snprintf(text, sizeof(text), "%s", json_string_value(in));
    } else {
        walk_error(w, in, "expected %s", t->what);
        return NULL;
    }
    uint32_t mode;
    char why[160];
    if (units_parse_mode(text, &mode, why, sizeof(why))) {
        walk_error(w, in, "%s", why);
        return NULL;
    }
    json_t *out = json_integer(mode);
    return out ? out : walk_oom(w);
}
static const struct stype st_mode = {.kind = SK_CUSTOM, .what = "an octal mode such as 1777",
                                     .norm = norm_mode};

static bool cpu_positive(double d)
{
    return d > 0;
}
static int finish_cpu(struct walk *w, json_t *out)
{
    double d = json_real_value(out);
    if (!cpu_positive(d)) {
        return walk_error(w, NULL, "cpu must be greater than 0");
    }
    if (d * 100000.0 < 1000.0) {
        return walk_error(w, NULL, "cpu %g is below the kernel's minimum quota (0.01)", d);
    }
    if (d > 1e6) {
        return walk_error(w, NULL, "cpu %g is not a plausible number of cores", d);
    }
    return 0;
}
static const struct stype st_cpu = {.kind = SK_FLOAT, .what = "a number of cores",
                                    .finish = finish_cpu};

/* 6 or 7 whitespace-separated cron fields (sec min hour day-of-month month day-of-week [year]). */
static int finish_cron(struct walk *w, json_t *out)
{
    const char *s = json_string_value(out);
    int fields = 0;
    bool in_field = false;
    for (const char *p = s; *p; p++) {
        bool space = *p == ' ' || *p == '\t';
        if (!space && !strchr("0123456789*/,?#-LW", *p) &&
            !((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z'))) {
            return walk_error(w, NULL, "invalid cron expression '%s'", s);
        }
        if (!space && !in_field) {
            fields++;
        }
        in_field = !space;
    }
    if (fields < 6 || fields > 7) {
        return walk_error(w, NULL,
                          "invalid cron expression '%s': expected 6 or 7 fields "
                          "(sec min hour day-of-month month day-of-week [year])",
                          s);
    }
    return 0;
}
static const struct stype st_cron = {.kind = SK_STRING, .what = "a cron expression",
                                     .finish = finish_cron};

/* ---- image references ---- */

static bool is_lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* path-component = [a-z0-9]+ (separator [a-z0-9]+)*, separator = [._] | __ | -+ */
static bool valid_path_component(const char *s, size_t n)
{
    if (n == 0 || !is_lower_alnum(s[0]) || !is_lower_alnum(s[n - 1])) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (is_lower_alnum(s[i])) {
            continue;
        }
        if (s[i] == '.' || s[i] == '_') {
            bool dunder = s[i] == '_' && s[i + 1] == '_';
            size_t next = i + (dunder ? 2 : 1);
            if (next >= n || !is_lower_alnum(s[next])) {
                return false;
            }
            i = next - 1;
        } else if (s[i] != '-') {
            return false;
        }
    }
    return true;
}

static bool valid_domain(const char *s, size_t n)
{
    if (n == 0) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool ok = is_lower_alnum(c) || (c >= 'A' && c <= 'Z') || c == '.' || c == '-' ||
                  c == ':' || c == '[' || c == ']';
        if (!ok) {
            return false;
        }
    }
    return true;
}

static bool valid_tag(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 128) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool word = is_lower_alnum(c) || (c >= 'A' && c <= 'Z') || c == '_';
        if (!word && (i == 0 || (c != '.' && c != '-'))) {
            return false;
        }
    }
    return true;
}

static bool valid_digest(const char *s)
{
    const char *colon = strchr(s, ':');
    if (!colon || colon == s || strlen(colon + 1) < 32) {
        return false;
    }
    for (const char *p = s; p < colon; p++) {
        if (!is_lower_alnum(*p) && !strchr("+._-", *p)) {
            return false;
        }
    }
    for (const char *p = colon + 1; *p; p++) {
        if (!strchr("0123456789abcdefABCDEF", *p)) {
            return false;
        }
    }
    return true;
}

bool spec_valid_image_ref(const char *ref)
{
    char buf[512];
    if (strlen(ref) >= sizeof(buf) || !*ref) {
        return false;
    }
    snprintf(buf, sizeof(buf), "%s", ref);
    char *at = strchr(buf, '@');
    if (at) {
        *at = '\0';
        if (!valid_digest(at + 1)) {
            return false;
        }
    }
    char *last_slash = strrchr(buf, '/');
    char *colon = strrchr(buf, ':');
    if (colon && (!last_slash || colon > last_slash)) {
        *colon = '\0';
        if (!valid_tag(colon + 1)) {
            return false;
        }
    }
    if (strlen(buf) > 255) {
        return false;
    }
    const char *p = buf;
    const char *slash = strchr(p, '/');
    if (slash) {
        size_t n = (size_t)(slash - p);
        bool is_domain = memchr(p, '.', n) || memchr(p, ':', n) ||
                         (n == 9 && memcmp(p, "localhost", 9) == 0);
        if (is_domain) {
            if (!valid_domain(p, n)) {
                return false;
            }
            p = slash + 1;
        }
    }
    for (;;) {
        const char *next = strchr(p, '/');
        size_t n = next ? (size_t)(next - p) : strlen(p);
        if (!valid_path_component(p, n)) {
            return false;
        }
        if (!next) {
            return true;
        }
        p = next + 1;
    }
}

static int finish_image_name(struct walk *w, json_t *out)
{
    if (!spec_valid_image_ref(json_string_value(out))) {
        return walk_error(w, NULL, "'%s' is not a valid image reference", json_string_value(out));
    }
    return 0;
}
static const struct stype st_image_name = {.kind = SK_STRING, .what = "an image reference",
                                           .finish = finish_image_name};

/* ---- network_mode: a string, or the tagged object form ---- */

static json_t *norm_network_mode(struct walk *w, const struct stype *t, const json_t *in)
{
    char text[300];
    if (json_is_object(in) && json_object_size(in) == 1) {
        const json_t *b = json_object_get(in, "bridge");
        const json_t *c = json_object_get(in, "container");
        const json_t *inner = b ? b : c;
        const char *field = b ? "name" : "id";
        const char *value = json_string_value(json_object_get(inner, field));
        if (!inner || !json_is_object(inner) || !value || json_object_size(inner) != 1) {
            walk_error(w, in, "expected {bridge: {name: N}} or {container: {id: ID}}");
            return NULL;
        }
        snprintf(text, sizeof(text), "%s:%s", b ? "bridge" : "container", value);
    } else if (json_is_string(in) && !walk_is_null(w, in)) {
        snprintf(text, sizeof(text), "%s", json_string_value(in));
    } else {
        walk_error(w, in, "expected %s", t->what);
        return NULL;
    }
    static const char *const plain[] = {"default", "host", "none", "bridge", NULL};
    for (const char *const *p = plain; *p; p++) {
        if (strcmp(text, *p) == 0) {
            return json_string(text);
        }
    }
    if ((str_has_prefix(text, "bridge:") && text[7]) || (str_has_prefix(text, "container:") && text[10])) {
        return json_string(text);
    }
    walk_error(w, in,
               "unknown network mode `%s`, expected default, host, none, bridge, bridge:<name> or "
               "container:<id>",
               text);
    return NULL;
}
static const struct stype st_network_mode = {.kind = SK_CUSTOM, .what = "a network mode",
                                             .norm = norm_network_mode};

/* ---- nested structs ---- */

static const struct sfield command_fields[] = {
    {"entrypoint", &st_string_list, 0, NULL},
    {"args", &st_string_list, 0, NULL},
    {"workdir", &st_string, 0, NULL},
    END,
};
static const struct stype st_command = {.kind = SK_OBJECT, .what = "a command mapping",
                                        .fields = command_fields};

ENUM(st_pull_policy, "always", "newer", "if_not_present", "never");
ENUM(st_source_policy, "local_first", "s3_first", "remote_only", "local_only");
static const struct sfield image_fields[] = {
    {"name", &st_image_name, SF_REQUIRED, NULL},
    {"pull_policy", &st_pull_policy, 0, NULL},
    {"source_policy", &st_source_policy, 0, NULL},
    END,
};
static const struct stype st_image = {.kind = SK_OBJECT, .what = "an image mapping",
                                      .fields = image_fields};

static const struct sfield distributed_fields[] = {
    {"backend", &st_string, 0, NULL},
    {"master_port", &st_u16, 0, NULL},
    END,
};
static const struct stype st_distributed = {.kind = SK_OBJECT, .what = "a distributed mapping",
                                            .fields = distributed_fields};

ENUM(st_scheduling, "best-effort", "gang", "spread");
ENUM(st_sharing, "exclusive", "mps", "time-slice");
static const struct stype st_gpu_count = {.kind = SK_INT, .what = "an integer", .min = 0,
                                          .max = LIMIT_GPU_COUNT};
static const struct sfield gpu_fields[] = {
    {"count", &st_gpu_count, 0, NULL},
    {"vendor", &st_string, 0, NULL},
    {"mode", &st_string, 0, NULL},
    {"model", &st_string, 0, NULL},
    {"scheduling", &st_scheduling, 0, NULL},
    {"distributed", &st_distributed, 0, NULL},
    {"sharing", &st_sharing, 0, NULL},
    {"mps_pipe_dir", &st_string, 0, NULL},
    {"mps_log_dir", &st_string, 0, NULL},
    {"time_slice_index", &st_u32, 0, NULL},
    {"time_slicing_config_path", &st_string, 0, NULL},
    END,
};
static const struct stype st_gpu = {.kind = SK_OBJECT, .what = "a gpu mapping",
                                    .fields = gpu_fields};

static const struct sfield resources_fields[] = {
    {"cpu", &st_cpu, 0, NULL},
    {"memory", &st_memory, 0, NULL},
    {"gpu", &st_gpu, 0, NULL},
    {"pids_limit", &st_i64, 0, NULL},
    {"cpuset", &st_string, 0, NULL},
    {"cpu_shares", &st_u32, 0, NULL},
    {"memory_swap", &st_memory_swap, 0, NULL},
    {"memory_reservation", &st_memory, 0, NULL},
    {"memory_swappiness", &st_u8, 0, NULL},
    {"oom_score_adj", &st_i32, 0, NULL},
    {"oom_kill_disable", &st_bool, 0, NULL},
    {"blkio_weight", &st_u16, 0, NULL},
    END,
};
static const struct stype st_resources = {.kind = SK_OBJECT, .what = "a resources mapping",
                                          .fields = resources_fields};

static const struct sfield device_fields[] = {
    {"path", &st_nonempty_string, SF_REQUIRED, NULL},
    {"read", &st_bool, 0, NULL},
    {"write", &st_bool, 0, NULL},
    {"mknod", &st_bool, 0, NULL},
    END,
};
static const struct stype st_device = {.kind = SK_OBJECT, .what = "a device mapping",
                                       .fields = device_fields};
static const struct stype st_devices = {.kind = SK_LIST, .what = "a list of devices",
                                        .elem = &st_device};

ENUM(st_tier, "local", "cached", "network");
static const struct sfield bind_fields[] = {
    {"source", &st_nonempty_string, SF_REQUIRED, NULL},
    {"target", &st_nonempty_string, SF_REQUIRED, NULL},
    {"readonly", &st_bool, 0, NULL},
    END,
};
static const struct sfield named_fields[] = {
    {"name", &st_nonempty_string, SF_REQUIRED, NULL},
    {"target", &st_nonempty_string, SF_REQUIRED, NULL},
    {"readonly", &st_bool, 0, NULL},
    {"tier", &st_tier, 0, NULL},
    {"size", &st_memory, 0, NULL},
    END,
};
static const struct sfield anonymous_fields[] = {
    {"target", &st_nonempty_string, SF_REQUIRED, NULL},
    {"tier", &st_tier, 0, NULL},
    END,
};
static const struct sfield tmpfs_fields[] = {
    {"target", &st_nonempty_string, SF_REQUIRED, NULL},
    {"size", &st_memory, 0, NULL},
    {"mode", &st_mode, 0, NULL},
    END,
};
static const struct sfield s3_fields[] = {
    {"bucket", &st_nonempty_string, SF_REQUIRED, NULL},
    {"prefix", &st_string, 0, NULL},
    {"target", &st_nonempty_string, SF_REQUIRED, NULL},
    {"readonly", &st_bool, 0, NULL},
    {"endpoint", &st_string, 0, NULL},
    {"credentials", &st_string, 0, NULL},
    END,
};
static const struct svariant storage_variants[] = {
    {"bind", bind_fields},     {"named", named_fields}, {"anonymous", anonymous_fields},
    {"tmpfs", tmpfs_fields},   {"s3", s3_fields},       {NULL, NULL},
};
static const struct stype st_storage = {.kind = SK_TAGGED, .what = "a storage mapping",
                                        .tag = "type", .variants = storage_variants};
static const struct stype st_storage_list = {.kind = SK_LIST, .what = "a list of storage mounts",
                                             .elem = &st_storage};

/* ulimits: HEAD fills a missing soft/hard from the other. */
static int finish_ulimit(struct walk *w, json_t *out)
{
    json_t *soft = json_object_get(out, "soft");
    json_t *hard = json_object_get(out, "hard");
    if (!soft && !hard) {
        return walk_error(w, NULL, "a ulimit needs `soft`, `hard` or both");
    }
    if (!soft && json_object_set(out, "soft", hard)) {
        return walk_oom(w), -1;
    }
    if (!hard && json_object_set(out, "hard", soft)) {
        return walk_oom(w), -1;
    }
    return 0;
}
static const struct sfield ulimit_fields[] = {
    {"soft", &st_i64, 0, NULL},
    {"hard", &st_i64, 0, NULL},
    END,
};
static const struct stype st_ulimit = {.kind = SK_OBJECT, .what = "a {soft, hard} mapping",
                                       .fields = ulimit_fields, .finish = finish_ulimit};
static const struct stype st_ulimits = {.kind = SK_MAP, .what = "a mapping of ulimits",
                                        .elem = &st_ulimit};

/* ---- endpoints, scale, health and the other fields the renderer does not read ---- */

ENUM(st_protocol, "http", "https", "tcp", "udp", "websocket");
ENUM(st_expose, "public", "internal");
static int finish_port(struct walk *w, json_t *out)
{
    return json_integer_value(out) >= 1 ? 0 : walk_error(w, NULL, "port must be at least 1");
}
static const struct stype st_port = {.kind = SK_INT, .what = "a port number", .min = 0,
                                     .max = 65535, .finish = finish_port};
static const struct sfield udp_probe_fields[] = {
    {"request", &st_string, SF_REQUIRED, NULL},
    {"expect", &st_string, 0, NULL},
    END,
};
static const struct svariant stream_health_variants[] = {
    {"tcp_connect", NULL},
    {"udp_probe", udp_probe_fields},
    {NULL, NULL},
};
static const struct stype st_stream_health = {.kind = SK_TAGGED, .what = "a health check mapping",
                                              .tag = "type", .variants = stream_health_variants};
static const struct sfield stream_fields[] = {
    {"tls", &st_bool, 0, NULL},
    {"proxy_protocol", &st_bool, 0, NULL},
    {"session_timeout", &st_duration, 0, NULL},
    {"health_check", &st_stream_health, 0, NULL},
    END,
};
static const struct stype st_stream = {.kind = SK_OBJECT, .what = "a stream mapping",
                                       .fields = stream_fields};
static const struct sfield access_fields[] = {
    {"enabled", &st_bool, 0, NULL},
    {"max_ttl", &st_duration, 0, NULL},
    {"audit", &st_bool, 0, NULL},
    END,
};
static const struct stype st_access = {.kind = SK_OBJECT, .what = "an access mapping",
                                       .fields = access_fields};
static const struct sfield endpoint_tunnel_fields[] = {
    {"enabled", &st_bool, 0, NULL},
    {"from", &st_string, 0, NULL},
    {"to", &st_string, 0, NULL},
    {"remote_port", &st_u16, 0, NULL},
    {"expose", &st_expose, 0, NULL},
    {"access", &st_access, 0, NULL},
    END,
};
static const struct stype st_endpoint_tunnel = {.kind = SK_OBJECT, .what = "a tunnel mapping",
                                                .fields = endpoint_tunnel_fields};
static const struct sfield endpoint_fields[] = {
    {"name", &st_nonempty_string, SF_REQUIRED, NULL},
    {"protocol", &st_protocol, SF_REQUIRED, NULL},
    {"port", &st_port, SF_REQUIRED, NULL},
    {"target_port", &st_port, 0, NULL},
    {"path", &st_string, 0, NULL},
    {"host", &st_string, 0, NULL},
    {"expose", &st_expose, 0, NULL},
    {"stream", &st_stream, 0, NULL},
    {"target_role", &st_string, 0, NULL},
    {"tunnel", &st_endpoint_tunnel, 0, NULL},
    END,
};
static const struct stype st_endpoint = {.kind = SK_OBJECT, .what = "an endpoint mapping",
                                         .fields = endpoint_fields};
static int finish_endpoints(struct walk *w, json_t *out)
{
    for (size_t i = 0; i < json_array_size(out); i++) {
        const char *a = jsonx_get_str(json_array_get(out, i), "name");
        for (size_t j = 0; j < i; j++) {
            if (a && str_eq(a, jsonx_get_str(json_array_get(out, j), "name"))) {
                size_t saved = walk_push_index(w, i);
                walk_error(w, NULL, "endpoint name '%s' is used twice", a);
                walk_pop(w, saved);
                return -1;
            }
        }
    }
    return 0;
}
static const struct stype st_endpoints = {.kind = SK_LIST, .what = "a list of endpoints",
                                          .elem = &st_endpoint, .finish = finish_endpoints};

static const struct sfield targets_fields[] = {
    {"cpu", &st_u8, 0, NULL},
    {"memory", &st_u8, 0, NULL},
    {"rps", &st_u32, 0, NULL},
    END,
};
static const struct stype st_targets = {.kind = SK_OBJECT, .what = "a targets mapping",
                                        .fields = targets_fields};
static const struct sfield adaptive_fields[] = {
    {"min", &st_u32, SF_REQUIRED, NULL},
    {"max", &st_u32, SF_REQUIRED, NULL},
    {"cooldown", &st_duration, 0, NULL},
    {"targets", &st_targets, 0, NULL},
    END,
};
static const struct sfield fixed_fields[] = {
    {"replicas", &st_u32, SF_REQUIRED, NULL},
    END,
};
static const struct svariant scale_variants[] = {
    {"adaptive", adaptive_fields},
    {"fixed", fixed_fields},
    {"manual", NULL},
    {NULL, NULL},
};
static int finish_scale(struct walk *w, json_t *out)
{
    const json_t *min = json_object_get(out, "min");
    const json_t *max = json_object_get(out, "max");
    if (min && max && json_integer_value(min) > json_integer_value(max)) {
        return walk_error(w, NULL, "scale.min (%lld) is greater than scale.max (%lld)",
                          (long long)json_integer_value(min), (long long)json_integer_value(max));
    }
    return 0;
}
static const struct stype st_scale = {.kind = SK_TAGGED, .what = "a scale mapping", .tag = "mode",
                                      .variants = scale_variants, .finish = finish_scale};

ENUM(st_condition, "started", "healthy", "ready");
ENUM(st_timeout_action, "fail", "warn", "continue");
static const struct sfield depends_fields[] = {
    {"service", &st_nonempty_string, SF_REQUIRED, NULL},
    {"condition", &st_condition, 0, NULL},
    {"timeout", &st_duration, 0, NULL},
    {"on_timeout", &st_timeout_action, 0, NULL},
    END,
};
static const struct stype st_depends_item = {.kind = SK_OBJECT, .what = "a dependency mapping",
                                             .fields = depends_fields};
static const struct stype st_depends = {.kind = SK_LIST, .what = "a list of dependencies",
                                        .elem = &st_depends_item};

static const struct sfield tcp_check_fields[] = {
    {"port", &st_u16, SF_REQUIRED, NULL},
    END,
};
static const struct sfield http_check_fields[] = {
    {"url", &st_string, SF_REQUIRED, NULL},
    {"expect_status", &st_u16, 0, NULL},
    END,
};
static const struct sfield command_check_fields[] = {
    {"command", &st_string, SF_REQUIRED, NULL},
    END,
};
static const struct svariant check_variants[] = {
    {"tcp", tcp_check_fields},
    {"http", http_check_fields},
    {"command", command_check_fields},
    {NULL, NULL},
};
static const struct stype st_check = {.kind = SK_TAGGED, .what = "a health check mapping",
                                      .tag = "type", .variants = check_variants};
static const struct sfield health_fields[] = {
    {"start_grace", &st_duration, 0, NULL},
    {"interval", &st_duration, 0, NULL},
    {"timeout", &st_duration, 0, NULL},
    {"retries", &st_u32, 0, NULL},
    {"check", &st_check, SF_REQUIRED, NULL},
    END,
};
static const struct stype st_health = {.kind = SK_OBJECT, .what = "a health mapping",
                                       .fields = health_fields};

static const struct sfield init_step_fields[] = {
    {"id", &st_string, SF_REQUIRED, NULL},
    {"uses", &st_string, SF_REQUIRED, NULL},
    {"with", &st_object_any, 0, NULL},
    {"retry", &st_u32, 0, NULL},
    {"timeout", &st_duration, 0, NULL},
    {"on_failure", &st_timeout_action, 0, NULL},
    END,
};
static const struct stype st_init_step = {.kind = SK_OBJECT, .what = "an init step mapping",
                                          .fields = init_step_fields};
static const struct stype st_init_steps = {.kind = SK_LIST, .what = "a list of init steps",
                                           .elem = &st_init_step};
static const struct sfield init_fields[] = {
    {"steps", &st_init_steps, 0, NULL},
    END,
};
static const struct stype st_init = {.kind = SK_OBJECT, .what = "an init mapping",
                                     .fields = init_fields};

ENUM(st_init_action, "fail", "restart", "backoff");
ENUM(st_panic_action, "restart", "shutdown", "isolate");
static const struct sfield init_failure_fields[] = {
    {"action", &st_init_action, 0, NULL},
    END,
};
static const struct sfield panic_fields[] = {
    {"action", &st_panic_action, 0, NULL},
    END,
};
static const struct stype st_init_failure = {.kind = SK_OBJECT, .what = "a mapping",
                                             .fields = init_failure_fields};
static const struct stype st_panic = {.kind = SK_OBJECT, .what = "a mapping",
                                      .fields = panic_fields};
static const struct sfield errors_fields[] = {
    {"on_init_failure", &st_init_failure, 0, NULL},
    {"on_panic", &st_panic, 0, NULL},
    END,
};
static const struct stype st_errors = {.kind = SK_OBJECT, .what = "an errors mapping",
                                       .fields = errors_fields};

static const struct sfield overlay_settings_fields[] = {
    {"enabled", &st_bool, 0, NULL},
    {"encrypted", &st_bool, 0, NULL},
    {"isolated", &st_bool, 0, NULL},
    END,
};
static const struct stype st_overlay_settings = {.kind = SK_OBJECT, .what = "a mapping",
                                                 .fields = overlay_settings_fields};
static const struct sfield overlays_fields[] = {
    {"service", &st_overlay_settings, 0, NULL},
    {"global", &st_overlay_settings, 0, NULL},
    END,
};
static const struct stype st_overlays = {.kind = SK_OBJECT, .what = "an overlays mapping",
                                         .fields = overlays_fields};
ENUM(st_join_mode, "open", "token", "closed");
ENUM(st_join_scope, "service", "global");
static const struct sfield join_fields[] = {
    {"mode", &st_join_mode, 0, NULL},
    {"scope", &st_join_scope, 0, NULL},
    END,
};
static const struct stype st_join = {.kind = SK_OBJECT, .what = "a join mapping",
                                     .fields = join_fields};
static const struct sfield network_fields[] = {
    {"overlays", &st_overlays, 0, NULL},
    {"join", &st_join, 0, NULL},
    END,
};
static const struct stype st_network = {.kind = SK_OBJECT, .what = "a network mapping",
                                        .fields = network_fields};

ENUM(st_port_protocol, "tcp", "udp");
static const struct sfield port_mapping_fields[] = {
    {"host_port", &st_u16, 0, NULL},
    {"container_port", &st_u16, SF_REQUIRED, NULL},
    {"protocol", &st_port_protocol, 0, NULL},
    {"host_ip", &st_string, 0, NULL},
    END,
};
static const struct stype st_port_mapping = {.kind = SK_OBJECT, .what = "a port mapping",
                                             .fields = port_mapping_fields};
static const struct stype st_port_mappings = {.kind = SK_LIST, .what = "a list of port mappings",
                                              .elem = &st_port_mapping};

ENUM(st_node_mode, "shared", "dedicated", "exclusive");
static const struct sfield node_selector_fields[] = {
    {"labels", &st_string_map, 0, NULL},
    {"prefer_labels", &st_string_map, 0, NULL},
    END,
};
static const struct stype st_node_selector = {.kind = SK_OBJECT, .what = "a node selector mapping",
                                              .fields = node_selector_fields};
ENUM(st_os, "linux", "windows", "macos");
ENUM(st_arch, "amd64", "arm64");
static const struct sfield platform_fields[] = {
    {"os", &st_os, SF_REQUIRED, NULL},
    {"arch", &st_arch, SF_REQUIRED, NULL},
    {"osVersion", &st_string, 0, NULL},
    END,
};
static const struct stype st_platform = {.kind = SK_OBJECT, .what = "a platform mapping",
                                         .fields = platform_fields};
ENUM(st_service_type, "standard", "wasm_http", "wasm_plugin", "wasm_transformer",
     "wasm_authenticator", "wasm_rate_limiter", "wasm_middleware", "wasm_router", "job");
static const struct sfield logs_fields[] = {
    {"destination", &st_string, 0, NULL},
    {"max_size_bytes", &st_u64, 0, NULL},
    {"retention_secs", &st_u64, 0, NULL},
    END,
};
static const struct stype st_logs = {.kind = SK_OBJECT, .what = "a logs mapping",
                                     .fields = logs_fields};
ENUM(st_restart_kind, "no", "always", "unless_stopped", "on_failure");
static const struct sfield restart_fields[] = {
    {"kind", &st_restart_kind, SF_REQUIRED, NULL},
    {"max_attempts", &st_u32, 0, NULL},
    {"delay", &st_duration, 0, NULL},
    END,
};
static const struct stype st_restart = {.kind = SK_OBJECT, .what = "a restart policy mapping",
                                        .fields = restart_fields};
ENUM(st_rtype, "service", "job", "cron");
ENUM(st_isolation, "auto", "process", "hyperv");

/* replica_groups: role 1-30 chars ^[a-z]([a-z0-9-]{0,28}[a-z0-9])?$, count >= 1. */
bool spec_valid_role(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 30 || !(s[0] >= 'a' && s[0] <= 'z')) {
        return false;
    }
    for (size_t i = 1; i < n; i++) {
        if (!is_lower_alnum(s[i]) && s[i] != '-') {
            return false;
        }
    }
    return n == 1 || is_lower_alnum(s[n - 1]);
}
static int finish_replica_group(struct walk *w, json_t *out)
{
    const json_t *role = json_object_get(out, "role");
    const json_t *count = json_object_get(out, "count");
    if (role && (!json_is_string(role) || !spec_valid_role(json_string_value(role)))) {
        return walk_error(w, NULL, "replica group role must match ^[a-z]([a-z0-9-]{0,28}[a-z0-9])?$");
    }
    if (count && (!json_is_integer(count) || json_integer_value(count) < 1)) {
        return walk_error(w, NULL, "replica group count must be at least 1");
    }
    return 0;
}
static const struct stype st_replica_group = {.kind = SK_MAP, .what = "a replica group mapping",
                                              .elem = &st_any, .finish = finish_replica_group};
static const struct stype st_replica_groups = {.kind = SK_LIST, .what = "a list of replica groups",
                                               .elem = &st_replica_group};

/* ---- ServiceSpec ---- */

static int finish_service(struct walk *w, json_t *out);

static const struct sfield service_fields[] = {
    {"rtype", &st_rtype, 0, NULL},
    {"schedule", &st_cron, 0, NULL},
    {"image", &st_image, SF_REQUIRED, NULL},
    {"resources", &st_resources, 0, NULL},
    {"env", &st_string_map, 0, NULL},
    {"command", &st_command, 0, NULL},
    {"network", &st_network, 0, NULL},
    {"endpoints", &st_endpoints, 0, NULL},
    {"scale", &st_scale, 0, NULL},
    {"replica_groups", &st_replica_groups, 0, NULL},
    {"depends", &st_depends, 0, NULL},
    {"health", &st_health, 0, NULL},
    {"init", &st_init, 0, NULL},
    {"errors", &st_errors, 0, NULL},
    {"lifecycle", &st_any, 0, NULL},
    {"isolation", &st_isolation, 0, NULL},
    {"devices", &st_devices, 0, NULL},
    {"storage", &st_storage_list, 0, NULL},
    {"port_mappings", &st_port_mappings, 0, NULL},
    {"capabilities", &st_string_list, 0, "cap_add"},
    {"cap_drop", &st_string_list, 0, NULL},
    {"privileged", &st_bool, 0, NULL},
    {"host_network", &st_bool, 0, NULL},
    {"network_mode", &st_network_mode, 0, NULL},
    {"node_mode", &st_node_mode, 0, NULL},
    {"node_selector", &st_node_selector, 0, NULL},
    {"affinity", &st_any, 0, NULL},
    {"platform", &st_platform, 0, NULL},
    {"service_type", &st_service_type, 0, NULL},
    {"wasm", &st_object_any, 0, "wasm_http"},
    {"logs", &st_logs, 0, NULL},
    {"cgroup_parent", &st_string, 0, NULL},
    {"hostname", &st_string, 0, NULL},
    {"dns", &st_string_list, 0, NULL},
    {"extra_hosts", &st_string_list, 0, NULL},
    {"restart_policy", &st_restart, 0, NULL},
    {"labels", &st_string_map, 0, NULL},
    {"user", &st_string, 0, NULL},
    {"stop_signal", &st_string, 0, NULL},
    {"stop_grace_period", &st_duration, 0, NULL},
    {"sysctls", &st_string_map, 0, NULL},
    {"ulimits", &st_ulimits, 0, NULL},
    {"security_opt", &st_string_list, 0, NULL},
    {"pid_mode", &st_string, 0, NULL},
    {"ipc_mode", &st_string, 0, NULL},
    {"extra_groups", &st_string_list, 0, NULL},
    {"read_only_root_fs", &st_bool, 0, NULL},
    {"init_container", &st_any, 0, NULL},
    {"tty", &st_bool, 0, NULL},
    {"stdin_open", &st_bool, 0, NULL},
    {"userns_mode", &st_string, 0, NULL},
    {"expose", &st_any, 0, NULL},
    {"overlay", &st_any, 0, NULL},
    {"localhost_reachability", &st_any, 0, NULL},
    END,
};

const struct stype spec_service_type = {.kind = SK_OBJECT, .what = "a service mapping",
                                        .fields = service_fields, .finish = finish_service};

/* Fold the legacy host_network flag into network_mode and check the
 * original's cross-field rules. */
static int finish_service(struct walk *w, json_t *out)
{
    bool legacy = json_is_true(json_object_get(out, "host_network"));
    const char *mode = jsonx_get_str(out, "network_mode");
    if (legacy && (!mode || strcmp(mode, "default") == 0)) {
        if (jsonx_set_str(out, "network_mode", "host")) {
            return walk_oom(w), -1;
        }
        mode = "host";
    }
    if (jsonx_set_bool(out, "host_network", legacy || (mode && strcmp(mode, "host") == 0))) {
        return walk_oom(w), -1;
    }
    const char *rtype = jsonx_get_str(out, "rtype");
    bool cron = rtype && strcmp(rtype, "cron") == 0;
    bool has_schedule = json_object_get(out, "schedule") != NULL;
    if (cron && !has_schedule) {
        return walk_error(w, NULL, "a cron service (rtype: cron) needs a `schedule`");
    }
    if (!cron && has_schedule) {
        return walk_error(w, NULL, "`schedule` is only allowed with rtype: cron");
    }
    return 0;
}

/* ---- DeploymentSpec ---- */

static int finish_version(struct walk *w, json_t *out)
{
    if (strcmp(json_string_value(out), "v1") != 0) {
        return walk_error(w, NULL, "version must be 'v1', found '%s'", json_string_value(out));
    }
    return 0;
}
static const struct stype st_version = {.kind = SK_STRING, .what = "a string",
                                        .finish = finish_version};

bool spec_valid_deployment_name(const char *s)
{
    size_t n = strlen(s);
    if (n < 3 || n > 63) {
        return false;
    }
    if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') ||
          (s[0] >= '0' && s[0] <= '9'))) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-')) {
            return false;
        }
    }
    return true;
}
static int finish_deployment_name(struct walk *w, json_t *out)
{
    if (!spec_valid_deployment_name(json_string_value(out))) {
        return walk_error(w, NULL,
                          "deployment name '%s' must be 3-63 characters of letters, digits and '-', "
                          "starting with a letter or digit",
                          json_string_value(out));
    }
    return 0;
}
static const struct stype st_deployment_name = {.kind = SK_STRING, .what = "a string",
                                                .finish = finish_deployment_name};

static int finish_service_map(struct walk *w, json_t *out)
{
    const char *name;
    json_t *svc;
    json_object_foreach(out, name, svc)
    {
        if (!spec_valid_service_name(name)) {
            size_t saved = walk_push_key(w, name);
            walk_error(w, NULL,
                       "service name '%s' must be 1-63 characters of letters, digits, '-', '_' "
                       "and '.', starting with a letter or digit",
                       name);
            walk_pop(w, saved);
        }
    }
    return w->failed ? -1 : 0;
}
static const struct stype st_services = {.kind = SK_MAP, .what = "a mapping of services",
                                         .elem = &spec_service_type,
                                         .finish = finish_service_map};

static int finish_backends(struct walk *w, json_t *out)
{
    return json_array_size(out) ? 0
                                : walk_error(w, NULL, "at least one backend address is required");
}
static const struct stype st_backends = {.kind = SK_LIST, .what = "a list of addresses",
                                         .elem = &st_string, .finish = finish_backends};
static const struct sfield external_fields[] = {
    {"backends", &st_backends, SF_REQUIRED, NULL},
    {"endpoints", &st_endpoints, 0, NULL},
    {"health", &st_health, 0, NULL},
    END,
};
static const struct stype st_external = {.kind = SK_OBJECT, .what = "an external mapping",
                                         .fields = external_fields};
static const struct stype st_externals = {.kind = SK_MAP, .what = "a mapping of externals",
                                          .elem = &st_external};
ENUM(st_tunnel_protocol, "tcp", "udp");
static const struct sfield tunnel_fields[] = {
    {"from", &st_string, SF_REQUIRED, NULL},
    {"to", &st_string, SF_REQUIRED, NULL},
    {"local_port", &st_port, SF_REQUIRED, NULL},
    {"remote_port", &st_port, SF_REQUIRED, NULL},
    {"protocol", &st_tunnel_protocol, 0, NULL},
    {"expose", &st_expose, 0, NULL},
    END,
};
static const struct stype st_tunnel = {.kind = SK_OBJECT, .what = "a tunnel mapping",
                                       .fields = tunnel_fields};
static const struct stype st_tunnels = {.kind = SK_MAP, .what = "a mapping of tunnels",
                                        .elem = &st_tunnel};
static const struct sfield api_fields[] = {
    {"enabled", &st_bool, 0, NULL},
    {"bind", &st_string, 0, NULL},
    {"jwt_secret", &st_string, 0, NULL},
    {"swagger", &st_bool, 0, NULL},
    END,
};
static const struct stype st_api = {.kind = SK_OBJECT, .what = "an api mapping",
                                    .fields = api_fields};

static int finish_deployment(struct walk *w, json_t *out)
{
    json_t *services = json_object_get(out, "services");
    const char *name;
    json_t *svc;
    json_object_foreach(services, name, svc)
    {
        json_t *deps = json_object_get(svc, "depends");
        for (size_t i = 0; i < json_array_size(deps); i++) {
            const char *target = jsonx_get_str(json_array_get(deps, i), "service");
            if (target && !json_object_get(services, target)) {
                char path[ERR_PATH_MAX];
                snprintf(path, sizeof(path), "services.%s.depends[%zu].service", name, i);
                size_t saved = w->plen;
                snprintf(w->path, sizeof(w->path), "%s", path);
                w->plen = strlen(w->path);
                walk_error(w, NULL, "depends on unknown service '%s'", target);
                walk_pop(w, saved);
            }
        }
    }
    return w->failed ? -1 : 0;
}

static const struct sfield deployment_fields[] = {
    {"version", &st_version, SF_REQUIRED, NULL},
    {"deployment", &st_deployment_name, SF_REQUIRED, NULL},
    {"services", &st_services, 0, NULL},
    {"externals", &st_externals, 0, NULL},
    {"tunnels", &st_tunnels, 0, NULL},
    {"api", &st_api, 0, NULL},
    END,
};

const struct stype spec_deployment_type = {.kind = SK_OBJECT, .what = "a deployment mapping",
                                           .fields = deployment_fields,
                                           .finish = finish_deployment};

bool spec_valid_service_name(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 63 || !(is_lower_alnum(s[0]) || (s[0] >= 'A' && s[0] <= 'Z'))) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!(is_lower_alnum(c) || (c >= 'A' && c <= 'Z') || c == '-' || c == '_' || c == '.')) {
            return false;
        }
    }
    return !strstr(s, "..");
}
