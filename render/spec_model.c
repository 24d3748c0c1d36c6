/*
 * The ZLayer spec as data for the schema walk (render/model.h): DeploymentSpec and
 * ServiceSpec field tables plus the original renderer's validation rules. Every struct
 * denies unknown fields, as the original's serde types do. Shapes the renderer never reads
 * and the original does not pin down (lifecycle, affinity, wasm, ...) are accepted as
 * free-form values.
 */
#include "render/spec_model.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "common/limits.h"
#include "common/strutil.h"
#include "render/internal.h"
#include "render/spec.h"
#include "render/units.h"

#define END {NULL, NULL, 0, NULL, 0}
#define ENUM(name, ...)                                                                          \
    static const char *const name##_values[] = {__VA_ARGS__, NULL};                              \
    static const struct mtype name = {.kind = MK_ENUM, .what = "a string", .enums = name##_values}
#define AT_SVC(member) MF_AT(struct spec_service, member)

/* ---- custom scalars ---- */

static int fill_duration(struct mwalk *w, const struct mtype *t, const struct dnode *in, void *dst)
{
    (void)t;
    if (mwalk_fill(w, &mt_string, in, dst)) {
        return -1;
    }
    uint64_t ms;
    char why[160];
    if (units_parse_duration(*(const char **)dst, &ms, why, sizeof(why))) {
        return mwalk_error(w, in, "%s", why);
    }
    return 0;
}
static const struct mtype mt_duration = {.kind = MK_CUSTOM, .what = "a duration such as 30s",
                                         .size = sizeof(const char *), .fill = fill_duration};

static int check_memory(struct mwalk *w, const char *text)
{
    uint64_t bytes;
    char why[160];
    if (units_parse_memory(text, &bytes, why, sizeof(why))) {
        return mwalk_error(w, NULL, "%s", why);
    }
    if (bytes == 0) {
        return mwalk_error(w, NULL, "memory size must be greater than zero");
    }
    if (bytes > (uint64_t)INT64_MAX) {
        return mwalk_error(w, NULL, "memory size '%s' is too large", text);
    }
    return 0;
}
static int finish_memory(struct mwalk *w, void *value)
{
    return check_memory(w, *(const char **)value);
}
static const struct mtype mt_memory = {.kind = MK_STRING, .what = "a memory size such as 512Mi",
                                       .finish = finish_memory};

/* Memory or -1 (unlimited), used by memory_swap. */
static int finish_memory_or_unlimited(struct mwalk *w, void *value)
{
    const char *text = *(const char **)value;
    return strcmp(text, "-1") == 0 ? 0 : check_memory(w, text);
}
static const struct mtype mt_memory_swap = {.kind = MK_STRING,
                                            .what = "a memory size such as 1Gi, or -1",
                                            .finish = finish_memory_or_unlimited};

/* tmpfs mode: octal however it is written (1777, 01777, 0o1777 and "1777" alike). */
static int fill_mode(struct mwalk *w, const struct mtype *t, const struct dnode *in, void *dst)
{
    char text[32];
    if (in->kind == DN_INT) {
        if (in->u.i < 0) {
            return mwalk_error(w, in, "mode must not be negative");
        }
        snprintf(text, sizeof(text), "%lld", in->u.i);
    } else if (in->kind == DN_STR) {
        snprintf(text, sizeof(text), "%s", in->u.str);
    } else {
        return mwalk_error(w, in, "expected %s", t->what);
    }
    uint32_t mode;
    char why[160];
    if (units_parse_mode(text, &mode, why, sizeof(why))) {
        return mwalk_error(w, in, "%s", why);
    }
    *(struct opt_i64 *)dst = (struct opt_i64){.set = true, .v = mode};
    return 0;
}
static const struct mtype mt_mode = {.kind = MK_CUSTOM, .what = "an octal mode such as 1777",
                                     .size = sizeof(struct opt_i64), .fill = fill_mode};

static int finish_cpu(struct mwalk *w, void *value)
{
    double d = ((const struct opt_f64 *)value)->v;
    if (!(d > 0)) {
        return mwalk_error(w, NULL, "cpu must be greater than 0");
    }
    if (d * 100000.0 < 1000.0) {
        return mwalk_error(w, NULL, "cpu %g is below the kernel's minimum quota (0.01)", d);
    }
    if (d > 1e6) {
        return mwalk_error(w, NULL, "cpu %g is not a plausible number of cores", d);
    }
    return 0;
}
static const struct mtype mt_cpu = {.kind = MK_FLOAT, .what = "a number of cores",
                                    .finish = finish_cpu};

/* 6 or 7 whitespace-separated cron fields (sec min hour day-of-month month day-of-week [year]). */
static int finish_cron(struct mwalk *w, void *value)
{
    const char *s = *(const char **)value;
    int fields = 0;
    bool in_field = false;
    for (const char *p = s; *p; p++) {
        bool space = *p == ' ' || *p == '\t';
        if (!space && !strchr("0123456789*/,?#-LW", *p) &&
            !((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z'))) {
            return mwalk_error(w, NULL, "invalid cron expression '%s'", s);
        }
        if (!space && !in_field) {
            fields++;
        }
        in_field = !space;
    }
    if (fields < 6 || fields > 7) {
        return mwalk_error(w, NULL,
                           "invalid cron expression '%s': expected 6 or 7 fields "
                           "(sec min hour day-of-month month day-of-week [year])",
                           s);
    }
    return 0;
}
static const struct mtype mt_cron = {.kind = MK_STRING, .what = "a cron expression",
                                     .finish = finish_cron};

static int finish_image_name(struct mwalk *w, void *value)
{
    const char *ref = *(const char **)value;
    if (!spec_valid_image_ref(ref)) {
        return mwalk_error(w, NULL, "'%s' is not a valid image reference", ref);
    }
    return 0;
}
static const struct mtype mt_image_name = {.kind = MK_STRING, .what = "an image reference",
                                           .finish = finish_image_name};

/* ---- network_mode: a string, or the tagged object form ---- */

static bool network_mode_known(const char *text)
{
    static const char *const plain[] = {"default", "host", "none", "bridge", NULL};
    for (const char *const *p = plain; *p; p++) {
        if (strcmp(text, *p) == 0) {
            return true;
        }
    }
    return (str_has_prefix(text, "bridge:") && text[7]) ||
           (str_has_prefix(text, "container:") && text[10]);
}

static int fill_network_mode(struct mwalk *w, const struct mtype *t, const struct dnode *in,
                             void *dst)
{
    char text[300];
    if (in->kind == DN_MAP && in->len == 1) {
        const struct dnode *b = dom_get(in, "bridge");
        const struct dnode *c = dom_get(in, "container");
        const struct dnode *inner = b ? b : c;
        const struct dnode *value = inner ? dom_get(inner, b ? "name" : "id") : NULL;
        if (!inner || inner->kind != DN_MAP || !value || value->kind != DN_STR || inner->len != 1) {
            return mwalk_error(w, in, "expected {bridge: {name: N}} or {container: {id: ID}}");
        }
        snprintf(text, sizeof(text), "%s:%s", b ? "bridge" : "container", value->u.str);
    } else if (in->kind == DN_STR && !mwalk_is_null(in)) {
        snprintf(text, sizeof(text), "%s", in->u.str);
    } else {
        return mwalk_error(w, in, "expected %s", t->what);
    }
    if (!network_mode_known(text)) {
        return mwalk_error(w, in,
                           "unknown network mode `%s`, expected default, host, none, bridge, "
                           "bridge:<name> or container:<id>",
                           text);
    }
    const char *copy = arena_strndup(w->arena, text, strlen(text));
    if (!copy) {
        return mwalk_oom(w);
    }
    *(const char **)dst = copy;
    return 0;
}
static const struct mtype mt_network_mode = {.kind = MK_CUSTOM, .what = "a network mode",
                                             .size = sizeof(const char *),
                                             .fill = fill_network_mode};

/* ---- nested structs ---- */

static const struct mfield command_fields[] = {
    {"entrypoint", &mt_present_string_list, 0, NULL, MF_AT(struct spec_command, entrypoint)},
    {"args", &mt_string_list, 0, NULL, MF_AT(struct spec_command, args)},
    {"workdir", &mt_string, 0, NULL, MF_AT(struct spec_command, workdir)},
    END,
};
static const struct mtype mt_command = {.kind = MK_OBJECT, .what = "a command mapping",
                                        .fields = command_fields,
                                        .size = sizeof(struct spec_command)};

ENUM(mt_pull_policy, "always", "newer", "if_not_present", "never");
ENUM(mt_source_policy, "local_first", "s3_first", "remote_only", "local_only");
static const struct mfield image_fields[] = {
    {"name", &mt_image_name, MF_REQUIRED, NULL, MF_AT(struct spec_image, name)},
    {"pull_policy", &mt_pull_policy, 0, NULL, 0},
    {"source_policy", &mt_source_policy, 0, NULL, 0},
    END,
};
static const struct mtype mt_image = {.kind = MK_OBJECT, .what = "an image mapping",
                                      .fields = image_fields, .size = sizeof(struct spec_image)};

static const struct mfield distributed_fields[] = {
    {"backend", &mt_string, 0, NULL, MF_AT(struct spec_distributed, backend)},
    {"master_port", &mt_u16, 0, NULL, MF_AT(struct spec_distributed, master_port)},
    END,
};
static const struct mtype mt_distributed = {.kind = MK_OBJECT, .what = "a distributed mapping",
                                            .fields = distributed_fields,
                                            .size = sizeof(struct spec_distributed)};

ENUM(mt_scheduling, "best-effort", "gang", "spread");
ENUM(mt_sharing, "exclusive", "mps", "time-slice");
static const struct mtype mt_gpu_count = {.kind = MK_INT, .what = "an integer", .min = 0,
                                          .max = LIMIT_GPU_COUNT};
#define AT_GPU(member) MF_AT(struct spec_gpu, member)
static const struct mfield gpu_fields[] = {
    {"count", &mt_gpu_count, 0, NULL, AT_GPU(count)},
    {"vendor", &mt_string, 0, NULL, AT_GPU(vendor)},
    {"mode", &mt_string, 0, NULL, AT_GPU(mode)},
    {"model", &mt_string, 0, NULL, AT_GPU(model)},
    {"scheduling", &mt_scheduling, 0, NULL, 0},
    {"distributed", &mt_distributed, 0, NULL, AT_GPU(distributed)},
    {"sharing", &mt_sharing, 0, NULL, AT_GPU(sharing)},
    {"mps_pipe_dir", &mt_string, 0, NULL, AT_GPU(mps_pipe_dir)},
    {"mps_log_dir", &mt_string, 0, NULL, AT_GPU(mps_log_dir)},
    {"time_slice_index", &mt_u32, 0, NULL, AT_GPU(time_slice_index)},
    {"time_slicing_config_path", &mt_string, 0, NULL, AT_GPU(time_slicing_config_path)},
    END,
};
static const struct mtype mt_gpu = {.kind = MK_OBJECT, .what = "a gpu mapping",
                                    .fields = gpu_fields, .size = sizeof(struct spec_gpu)};

#define AT_RES(member) MF_AT(struct spec_resources, member)
static const struct mfield resources_fields[] = {
    {"cpu", &mt_cpu, 0, NULL, AT_RES(cpu)},
    {"memory", &mt_memory, 0, NULL, AT_RES(memory)},
    {"gpu", &mt_gpu, 0, NULL, AT_RES(gpu)},
    {"pids_limit", &mt_i64, 0, NULL, AT_RES(pids_limit)},
    {"cpuset", &mt_string, 0, NULL, AT_RES(cpuset)},
    {"cpu_shares", &mt_u32, 0, NULL, AT_RES(cpu_shares)},
    {"memory_swap", &mt_memory_swap, 0, NULL, AT_RES(memory_swap)},
    {"memory_reservation", &mt_memory, 0, NULL, AT_RES(memory_reservation)},
    {"memory_swappiness", &mt_u8, 0, NULL, AT_RES(memory_swappiness)},
    {"oom_score_adj", &mt_i32, 0, NULL, AT_RES(oom_score_adj)},
    {"oom_kill_disable", &mt_bool, 0, NULL, AT_RES(oom_kill_disable)},
    {"blkio_weight", &mt_u16, 0, NULL, AT_RES(blkio_weight)},
    END,
};
static const struct mtype mt_resources = {.kind = MK_OBJECT, .what = "a resources mapping",
                                          .fields = resources_fields,
                                          .size = sizeof(struct spec_resources)};

static const struct mfield device_fields[] = {
    {"path", &mt_nonempty_string, MF_REQUIRED, NULL, MF_AT(struct spec_device, path)},
    {"read", &mt_bool, 0, NULL, MF_AT(struct spec_device, read)},
    {"write", &mt_bool, 0, NULL, MF_AT(struct spec_device, write)},
    {"mknod", &mt_bool, 0, NULL, MF_AT(struct spec_device, mknod)},
    END,
};
static const struct mtype mt_device = {.kind = MK_OBJECT, .what = "a device mapping",
                                       .fields = device_fields, .size = sizeof(struct spec_device)};
static const struct mtype mt_devices = {.kind = MK_LIST, .what = "a list of devices",
                                        .elem = &mt_device};

ENUM(mt_tier, "local", "cached", "network");
#define AT_STO(member) MF_AT(struct spec_storage, member)
static const struct mfield bind_fields[] = {
    {"source", &mt_nonempty_string, MF_REQUIRED, NULL, AT_STO(source)},
    {"target", &mt_nonempty_string, MF_REQUIRED, NULL, AT_STO(target)},
    {"readonly", &mt_bool, 0, NULL, AT_STO(readonly)},
    END,
};
static const struct mfield named_fields[] = {
    {"name", &mt_nonempty_string, MF_REQUIRED, NULL, AT_STO(name)},
    {"target", &mt_nonempty_string, MF_REQUIRED, NULL, AT_STO(target)},
    {"readonly", &mt_bool, 0, NULL, AT_STO(readonly)},
    {"tier", &mt_tier, 0, NULL, AT_STO(tier)},
    {"size", &mt_memory, 0, NULL, AT_STO(size)},
    END,
};
static const struct mfield anonymous_fields[] = {
    {"target", &mt_nonempty_string, MF_REQUIRED, NULL, AT_STO(target)},
    {"tier", &mt_tier, 0, NULL, AT_STO(tier)},
    END,
};
static const struct mfield tmpfs_fields[] = {
    {"target", &mt_nonempty_string, MF_REQUIRED, NULL, AT_STO(target)},
    {"size", &mt_memory, 0, NULL, AT_STO(size)},
    {"mode", &mt_mode, 0, NULL, AT_STO(mode)},
    END,
};
static const struct mfield s3_fields[] = {
    {"bucket", &mt_nonempty_string, MF_REQUIRED, NULL, AT_STO(bucket)},
    {"prefix", &mt_string, 0, NULL, AT_STO(prefix)},
    {"target", &mt_nonempty_string, MF_REQUIRED, NULL, AT_STO(target)},
    {"readonly", &mt_bool, 0, NULL, AT_STO(readonly)},
    {"endpoint", &mt_string, 0, NULL, 0},
    {"credentials", &mt_string, 0, NULL, 0},
    END,
};
static const struct mvariant storage_variants[] = {
    {"bind", bind_fields},   {"named", named_fields}, {"anonymous", anonymous_fields},
    {"tmpfs", tmpfs_fields}, {"s3", s3_fields},       {NULL, NULL},
};
static const struct mtype mt_storage = {.kind = MK_TAGGED, .what = "a storage mapping",
                                        .tag = "type", .tag_at = AT_STO(type),
                                        .variants = storage_variants,
                                        .size = sizeof(struct spec_storage)};
static const struct mtype mt_storage_list = {.kind = MK_LIST, .what = "a list of storage mounts",
                                             .elem = &mt_storage};

/* ulimits: a missing soft or hard limit is the other one. */
static int finish_ulimit(struct mwalk *w, void *value)
{
    struct spec_ulimit *u = value;
    if (!u->soft.set && !u->hard.set) {
        return mwalk_error(w, NULL, "a ulimit needs `soft`, `hard` or both");
    }
    if (!u->soft.set) {
        u->soft = u->hard;
    }
    if (!u->hard.set) {
        u->hard = u->soft;
    }
    return 0;
}
static const struct mfield ulimit_fields[] = {
    {"soft", &mt_i64, 0, NULL, MF_AT(struct spec_ulimit, soft)},
    {"hard", &mt_i64, 0, NULL, MF_AT(struct spec_ulimit, hard)},
    END,
};
static const struct mtype mt_ulimit = {.kind = MK_OBJECT, .what = "a {soft, hard} mapping",
                                       .fields = ulimit_fields, .size = sizeof(struct spec_ulimit),
                                       .finish = finish_ulimit};
static const struct mtype mt_ulimits = {.kind = MK_MAP, .what = "a mapping of ulimits",
                                        .elem = &mt_ulimit};

/* ---- endpoints, scale, health and the other fields the renderer does not read ---- */

ENUM(mt_protocol, "http", "https", "tcp", "udp", "websocket");
ENUM(mt_expose, "public", "internal");
static int finish_port(struct mwalk *w, void *value)
{
    return ((const struct opt_i64 *)value)->v >= 1 ? 0
                                                    : mwalk_error(w, NULL, "port must be at least 1");
}
static const struct mtype mt_port = {.kind = MK_INT, .what = "a port number", .min = 0,
                                     .max = 65535, .finish = finish_port};
static const struct mfield udp_probe_fields[] = {
    {"request", &mt_string, MF_REQUIRED, NULL, 0},
    {"expect", &mt_string, 0, NULL, 0},
    END,
};
static const struct mvariant stream_health_variants[] = {
    {"tcp_connect", NULL},
    {"udp_probe", udp_probe_fields},
    {NULL, NULL},
};
static const struct mtype mt_stream_health = {.kind = MK_TAGGED, .what = "a health check mapping",
                                              .tag = "type", .variants = stream_health_variants};
static const struct mfield stream_fields[] = {
    {"tls", &mt_bool, 0, NULL, 0},
    {"proxy_protocol", &mt_bool, 0, NULL, 0},
    {"session_timeout", &mt_duration, 0, NULL, 0},
    {"health_check", &mt_stream_health, 0, NULL, 0},
    END,
};
static const struct mtype mt_stream = {.kind = MK_OBJECT, .what = "a stream mapping",
                                       .fields = stream_fields};
static const struct mfield access_fields[] = {
    {"enabled", &mt_bool, 0, NULL, 0},
    {"max_ttl", &mt_duration, 0, NULL, 0},
    {"audit", &mt_bool, 0, NULL, 0},
    END,
};
static const struct mtype mt_access = {.kind = MK_OBJECT, .what = "an access mapping",
                                       .fields = access_fields};
static const struct mfield endpoint_tunnel_fields[] = {
    {"enabled", &mt_bool, 0, NULL, 0},
    {"from", &mt_string, 0, NULL, 0},
    {"to", &mt_string, 0, NULL, 0},
    {"remote_port", &mt_u16, 0, NULL, 0},
    {"expose", &mt_expose, 0, NULL, 0},
    {"access", &mt_access, 0, NULL, 0},
    END,
};
static const struct mtype mt_endpoint_tunnel = {.kind = MK_OBJECT, .what = "a tunnel mapping",
                                                .fields = endpoint_tunnel_fields};
static const struct mfield endpoint_fields[] = {
    {"name", &mt_nonempty_string, MF_REQUIRED, NULL, MF_AT(struct spec_endpoint, name)},
    {"protocol", &mt_protocol, MF_REQUIRED, NULL, 0},
    {"port", &mt_port, MF_REQUIRED, NULL, 0},
    {"target_port", &mt_port, 0, NULL, 0},
    {"path", &mt_string, 0, NULL, 0},
    {"host", &mt_string, 0, NULL, 0},
    {"expose", &mt_expose, 0, NULL, 0},
    {"stream", &mt_stream, 0, NULL, 0},
    {"target_role", &mt_string, 0, NULL, 0},
    {"tunnel", &mt_endpoint_tunnel, 0, NULL, 0},
    END,
};
static const struct mtype mt_endpoint = {.kind = MK_OBJECT, .what = "an endpoint mapping",
                                         .fields = endpoint_fields,
                                         .size = sizeof(struct spec_endpoint)};
static int finish_endpoints(struct mwalk *w, void *value)
{
    const struct mlist *l = value;
    for (size_t i = 0; i < l->n; i++) {
        const char *a = ((const struct spec_endpoint *)mlist_ptr(l, i))->name;
        for (size_t j = 0; j < i; j++) {
            if (str_eq(a, ((const struct spec_endpoint *)mlist_ptr(l, j))->name)) {
                size_t saved = mwalk_push_index(w, i);
                mwalk_error(w, NULL, "endpoint name '%s' is used twice", a);
                mwalk_pop(w, saved);
                return -1;
            }
        }
    }
    return 0;
}
static const struct mtype mt_endpoints = {.kind = MK_LIST, .what = "a list of endpoints",
                                          .elem = &mt_endpoint, .finish = finish_endpoints};

static const struct mfield targets_fields[] = {
    {"cpu", &mt_u8, 0, NULL, 0},
    {"memory", &mt_u8, 0, NULL, 0},
    {"rps", &mt_u32, 0, NULL, 0},
    END,
};
static const struct mtype mt_targets = {.kind = MK_OBJECT, .what = "a targets mapping",
                                        .fields = targets_fields};
static const struct mfield adaptive_fields[] = {
    {"min", &mt_u32, MF_REQUIRED, NULL, MF_AT(struct spec_scale, min)},
    {"max", &mt_u32, MF_REQUIRED, NULL, MF_AT(struct spec_scale, max)},
    {"cooldown", &mt_duration, 0, NULL, 0},
    {"targets", &mt_targets, 0, NULL, 0},
    END,
};
static const struct mfield fixed_fields[] = {
    {"replicas", &mt_u32, MF_REQUIRED, NULL, 0},
    END,
};
static const struct mvariant scale_variants[] = {
    {"adaptive", adaptive_fields},
    {"fixed", fixed_fields},
    {"manual", NULL},
    {NULL, NULL},
};
static int finish_scale(struct mwalk *w, void *value)
{
    const struct spec_scale *s = value;
    if (s->min.set && s->max.set && s->min.v > s->max.v) {
        return mwalk_error(w, NULL, "scale.min (%lld) is greater than scale.max (%lld)", s->min.v,
                           s->max.v);
    }
    return 0;
}
static const struct mtype mt_scale = {.kind = MK_TAGGED, .what = "a scale mapping", .tag = "mode",
                                      .tag_at = MF_AT(struct spec_scale, mode),
                                      .variants = scale_variants, .size = sizeof(struct spec_scale),
                                      .finish = finish_scale};

ENUM(mt_condition, "started", "healthy", "ready");
ENUM(mt_timeout_action, "fail", "warn", "continue");
static const struct mfield depends_fields[] = {
    {"service", &mt_nonempty_string, MF_REQUIRED, NULL, MF_AT(struct spec_dependency, service)},
    {"condition", &mt_condition, 0, NULL, 0},
    {"timeout", &mt_duration, 0, NULL, 0},
    {"on_timeout", &mt_timeout_action, 0, NULL, 0},
    END,
};
static const struct mtype mt_depends_item = {.kind = MK_OBJECT, .what = "a dependency mapping",
                                             .fields = depends_fields,
                                             .size = sizeof(struct spec_dependency)};
static const struct mtype mt_depends = {.kind = MK_LIST, .what = "a list of dependencies",
                                        .elem = &mt_depends_item};

static const struct mfield tcp_check_fields[] = {
    {"port", &mt_u16, MF_REQUIRED, NULL, 0},
    END,
};
static const struct mfield http_check_fields[] = {
    {"url", &mt_string, MF_REQUIRED, NULL, 0},
    {"expect_status", &mt_u16, 0, NULL, 0},
    END,
};
static const struct mfield command_check_fields[] = {
    {"command", &mt_string, MF_REQUIRED, NULL, 0},
    END,
};
static const struct mvariant check_variants[] = {
    {"tcp", tcp_check_fields},
    {"http", http_check_fields},
    {"command", command_check_fields},
    {NULL, NULL},
};
static const struct mtype mt_check = {.kind = MK_TAGGED, .what = "a health check mapping",
                                      .tag = "type", .variants = check_variants};
static const struct mfield health_fields[] = {
    {"start_grace", &mt_duration, 0, NULL, 0},
    {"interval", &mt_duration, 0, NULL, 0},
    {"timeout", &mt_duration, 0, NULL, 0},
    {"retries", &mt_u32, 0, NULL, 0},
    {"check", &mt_check, MF_REQUIRED, NULL, 0},
    END,
};
static const struct mtype mt_health = {.kind = MK_OBJECT, .what = "a health mapping",
                                       .fields = health_fields};

static const struct mfield init_step_fields[] = {
    {"id", &mt_string, MF_REQUIRED, NULL, 0},
    {"uses", &mt_string, MF_REQUIRED, NULL, 0},
    {"with", &mt_object_any, 0, NULL, 0},
    {"retry", &mt_u32, 0, NULL, 0},
    {"timeout", &mt_duration, 0, NULL, 0},
    {"on_failure", &mt_timeout_action, 0, NULL, 0},
    END,
};
static const struct mtype mt_init_step = {.kind = MK_OBJECT, .what = "an init step mapping",
                                          .fields = init_step_fields};
static const struct mtype mt_init_steps = {.kind = MK_LIST, .what = "a list of init steps",
                                           .elem = &mt_init_step};
static const struct mfield init_fields[] = {
    {"steps", &mt_init_steps, 0, NULL, 0},
    END,
};
static const struct mtype mt_init = {.kind = MK_OBJECT, .what = "an init mapping",
                                     .fields = init_fields};

ENUM(mt_init_action, "fail", "restart", "backoff");
ENUM(mt_panic_action, "restart", "shutdown", "isolate");
static const struct mfield init_failure_fields[] = {
    {"action", &mt_init_action, 0, NULL, 0},
    END,
};
static const struct mfield panic_fields[] = {
    {"action", &mt_panic_action, 0, NULL, 0},
    END,
};
static const struct mtype mt_init_failure = {.kind = MK_OBJECT, .what = "a mapping",
                                             .fields = init_failure_fields};
static const struct mtype mt_panic = {.kind = MK_OBJECT, .what = "a mapping",
                                      .fields = panic_fields};
static const struct mfield errors_fields[] = {
    {"on_init_failure", &mt_init_failure, 0, NULL, 0},
    {"on_panic", &mt_panic, 0, NULL, 0},
    END,
};
static const struct mtype mt_errors = {.kind = MK_OBJECT, .what = "an errors mapping",
                                       .fields = errors_fields};

static const struct mfield overlay_settings_fields[] = {
    {"enabled", &mt_bool, 0, NULL, 0},
    {"encrypted", &mt_bool, 0, NULL, 0},
    {"isolated", &mt_bool, 0, NULL, 0},
    END,
};
static const struct mtype mt_overlay_settings = {.kind = MK_OBJECT, .what = "a mapping",
                                                 .fields = overlay_settings_fields};
static const struct mfield overlays_fields[] = {
    {"service", &mt_overlay_settings, 0, NULL, 0},
    {"global", &mt_overlay_settings, 0, NULL, 0},
    END,
};
static const struct mtype mt_overlays = {.kind = MK_OBJECT, .what = "an overlays mapping",
                                         .fields = overlays_fields};
ENUM(mt_join_mode, "open", "token", "closed");
ENUM(mt_join_scope, "service", "global");
static const struct mfield join_fields[] = {
    {"mode", &mt_join_mode, 0, NULL, 0},
    {"scope", &mt_join_scope, 0, NULL, 0},
    END,
};
static const struct mtype mt_join = {.kind = MK_OBJECT, .what = "a join mapping",
                                     .fields = join_fields};
static const struct mfield network_fields[] = {
    {"overlays", &mt_overlays, 0, NULL, 0},
    {"join", &mt_join, 0, NULL, 0},
    END,
};
static const struct mtype mt_network = {.kind = MK_OBJECT, .what = "a network mapping",
                                        .fields = network_fields};

ENUM(mt_port_protocol, "tcp", "udp");
static const struct mfield port_mapping_fields[] = {
    {"host_port", &mt_u16, 0, NULL, 0},
    {"container_port", &mt_u16, MF_REQUIRED, NULL, 0},
    {"protocol", &mt_port_protocol, 0, NULL, 0},
    {"host_ip", &mt_string, 0, NULL, 0},
    END,
};
static const struct mtype mt_port_mapping = {.kind = MK_OBJECT, .what = "a port mapping",
                                             .fields = port_mapping_fields};
static const struct mtype mt_port_mappings = {.kind = MK_LIST, .what = "a list of port mappings",
                                              .elem = &mt_port_mapping};

ENUM(mt_node_mode, "shared", "dedicated", "exclusive");
static const struct mfield node_selector_fields[] = {
    {"labels", &mt_string_map, 0, NULL, 0},
    {"prefer_labels", &mt_string_map, 0, NULL, 0},
    END,
};
static const struct mtype mt_node_selector = {.kind = MK_OBJECT, .what = "a node selector mapping",
                                              .fields = node_selector_fields};
ENUM(mt_os, "linux", "windows", "macos");
ENUM(mt_arch, "amd64", "arm64");
static const struct mfield platform_fields[] = {
    {"os", &mt_os, MF_REQUIRED, NULL, 0},
    {"arch", &mt_arch, MF_REQUIRED, NULL, 0},
    {"osVersion", &mt_string, 0, NULL, 0},
    END,
};
static const struct mtype mt_platform = {.kind = MK_OBJECT, .what = "a platform mapping",
                                         .fields = platform_fields};
ENUM(mt_service_type, "standard", "wasm_http", "wasm_plugin", "wasm_transformer",
     "wasm_authenticator", "wasm_rate_limiter", "wasm_middleware", "wasm_router", "job");
static const struct mfield logs_fields[] = {
    {"destination", &mt_string, 0, NULL, 0},
    {"max_size_bytes", &mt_u64, 0, NULL, 0},
    {"retention_secs", &mt_u64, 0, NULL, 0},
    END,
};
static const struct mtype mt_logs = {.kind = MK_OBJECT, .what = "a logs mapping",
                                     .fields = logs_fields};
ENUM(mt_restart_kind, "no", "always", "unless_stopped", "on_failure");
static const struct mfield restart_fields[] = {
    {"kind", &mt_restart_kind, MF_REQUIRED, NULL, 0},
    {"max_attempts", &mt_u32, 0, NULL, 0},
    {"delay", &mt_duration, 0, NULL, 0},
    END,
};
static const struct mtype mt_restart = {.kind = MK_OBJECT, .what = "a restart policy mapping",
                                        .fields = restart_fields};
ENUM(mt_rtype, "service", "job", "cron");
ENUM(mt_isolation, "auto", "process", "hyperv");

/* A free-form value as its YAML 1.2 core-schema type would make it. */
static bool any_is_string(const struct dnode *v)
{
    if (v->kind != DN_STR) {
        return false;
    }
    if (!v->plain) {
        return true;
    }
    struct yvalue y;
    enum yscalar k = yscalar_resolve(v->u.str, &y);
    return k == YS_STR || k == YS_INT_RANGE || (k == YS_FLOAT && !isfinite(y.d));
}

static bool any_int(const struct dnode *v, long long *out)
{
    struct yvalue y;
    if (v->kind == DN_INT) {
        *out = v->u.i;
        return true;
    }
    if (v->kind == DN_STR && v->plain && yscalar_resolve(v->u.str, &y) == YS_INT) {
        *out = y.i;
        return true;
    }
    return false;
}

/* replica_groups: role 1-30 chars ^[a-z]([a-z0-9-]{0,28}[a-z0-9])?$, count >= 1. */
static int finish_replica_group(struct mwalk *w, void *value)
{
    const struct mmap *m = value;
    const struct dnode *role = NULL, *count = NULL;
    for (size_t i = 0; i < m->n; i++) {
        const struct dnode *v = ((const struct dnode *const *)m->v)[i];
        if (strcmp(m->keys[i], "role") == 0) {
            role = v;
        } else if (strcmp(m->keys[i], "count") == 0) {
            count = v;
        }
    }
    long long n;
    if (role && (!any_is_string(role) || !spec_valid_role(role->u.str))) {
        return mwalk_error(w, NULL,
                           "replica group role must match ^[a-z]([a-z0-9-]{0,28}[a-z0-9])?$");
    }
    if (count && (!any_int(count, &n) || n < 1)) {
        return mwalk_error(w, NULL, "replica group count must be at least 1");
    }
    return 0;
}
static const struct mtype mt_replica_group = {.kind = MK_MAP, .what = "a replica group mapping",
                                              .elem = &mt_any, .finish = finish_replica_group};
static const struct mtype mt_replica_groups = {.kind = MK_LIST, .what = "a list of replica groups",
                                               .elem = &mt_replica_group};

/* ---- ServiceSpec ---- */

static int finish_service(struct mwalk *w, void *value);

static const struct mfield service_fields[] = {
    {"rtype", &mt_rtype, 0, NULL, AT_SVC(rtype)},
    {"schedule", &mt_cron, 0, NULL, AT_SVC(schedule)},
    {"image", &mt_image, MF_REQUIRED, NULL, AT_SVC(image)},
    {"resources", &mt_resources, 0, NULL, AT_SVC(resources)},
    {"env", &mt_string_map, 0, NULL, AT_SVC(env)},
    {"command", &mt_command, 0, NULL, AT_SVC(command)},
    {"network", &mt_network, 0, NULL, 0},
    {"endpoints", &mt_endpoints, 0, NULL, AT_SVC(endpoints)},
    {"scale", &mt_scale, 0, NULL, 0},
    {"replica_groups", &mt_replica_groups, 0, NULL, 0},
    {"depends", &mt_depends, 0, NULL, AT_SVC(depends)},
    {"health", &mt_health, 0, NULL, 0},
    {"init", &mt_init, 0, NULL, 0},
    {"errors", &mt_errors, 0, NULL, 0},
    {"lifecycle", &mt_any, 0, NULL, 0},
    {"isolation", &mt_isolation, 0, NULL, AT_SVC(isolation)},
    {"devices", &mt_devices, 0, NULL, AT_SVC(devices)},
    {"storage", &mt_storage_list, 0, NULL, AT_SVC(storage)},
    {"port_mappings", &mt_port_mappings, 0, NULL, 0},
    {"capabilities", &mt_string_list, 0, "cap_add", AT_SVC(capabilities)},
    {"cap_drop", &mt_string_list, 0, NULL, AT_SVC(cap_drop)},
    {"privileged", &mt_bool, 0, NULL, AT_SVC(privileged)},
    {"host_network", &mt_bool, 0, NULL, AT_SVC(host_network_flag)},
    {"network_mode", &mt_network_mode, 0, NULL, AT_SVC(network_mode)},
    {"node_mode", &mt_node_mode, 0, NULL, 0},
    {"node_selector", &mt_node_selector, 0, NULL, 0},
    {"affinity", &mt_any, 0, NULL, 0},
    {"platform", &mt_platform, 0, NULL, 0},
    {"service_type", &mt_service_type, 0, NULL, 0},
    {"wasm", &mt_object_any, 0, "wasm_http", 0},
    {"logs", &mt_logs, 0, NULL, 0},
    {"cgroup_parent", &mt_string, 0, NULL, AT_SVC(cgroup_parent)},
    {"hostname", &mt_string, 0, NULL, AT_SVC(hostname)},
    {"dns", &mt_string_list, 0, NULL, AT_SVC(dns)},
    {"extra_hosts", &mt_string_list, 0, NULL, AT_SVC(extra_hosts)},
    {"restart_policy", &mt_restart, 0, NULL, 0},
    {"labels", &mt_string_map, 0, NULL, AT_SVC(labels)},
    {"user", &mt_string, 0, NULL, AT_SVC(user)},
    {"stop_signal", &mt_string, 0, NULL, AT_SVC(stop_signal)},
    {"stop_grace_period", &mt_duration, 0, NULL, 0},
    {"sysctls", &mt_string_map, 0, NULL, AT_SVC(sysctls)},
    {"ulimits", &mt_ulimits, 0, NULL, AT_SVC(ulimits)},
    {"security_opt", &mt_string_list, 0, NULL, AT_SVC(security_opt)},
    {"pid_mode", &mt_string, 0, NULL, AT_SVC(pid_mode)},
    {"ipc_mode", &mt_string, 0, NULL, AT_SVC(ipc_mode)},
    {"extra_groups", &mt_string_list, 0, NULL, AT_SVC(extra_groups)},
    {"read_only_root_fs", &mt_bool, 0, NULL, AT_SVC(read_only_root_fs)},
    {"init_container", &mt_any, 0, NULL, 0},
    {"tty", &mt_bool, 0, NULL, AT_SVC(tty)},
    {"stdin_open", &mt_bool, 0, NULL, AT_SVC(stdin_open)},
    {"userns_mode", &mt_string, 0, NULL, AT_SVC(userns_mode)},
    {"expose", &mt_any, 0, NULL, 0},
    {"overlay", &mt_any, 0, NULL, 0},
    {"localhost_reachability", &mt_any, 0, NULL, 0},
    END,
};

const struct mtype spec_service_mtype = {.kind = MK_OBJECT, .what = "a service mapping",
                                         .fields = service_fields,
                                         .size = sizeof(struct spec_service),
                                         .finish = finish_service};

/* Fold the legacy host_network flag into network_mode and check the original's cross-field
 * rules. */
static int finish_service(struct mwalk *w, void *value)
{
    struct spec_service *s = value;
    bool legacy = s->host_network_flag.set && s->host_network_flag.v;
    if (legacy && (!s->network_mode || strcmp(s->network_mode, "default") == 0)) {
        s->network_mode = "host";
    }
    s->host_network = legacy || (s->network_mode && strcmp(s->network_mode, "host") == 0);
    bool cron = s->rtype && strcmp(s->rtype, "cron") == 0;
    if (cron && !s->schedule) {
        return mwalk_error(w, NULL, "a cron service (rtype: cron) needs a `schedule`");
    }
    if (!cron && s->schedule) {
        return mwalk_error(w, NULL, "`schedule` is only allowed with rtype: cron");
    }
    return 0;
}

/* ---- DeploymentSpec ---- */

static int finish_version(struct mwalk *w, void *value)
{
    const char *v = *(const char **)value;
    if (strcmp(v, "v1") != 0) {
        return mwalk_error(w, NULL, "version must be 'v1', found '%s'", v);
    }
    return 0;
}
static const struct mtype mt_version = {.kind = MK_STRING, .what = "a string",
                                        .finish = finish_version};

static int finish_deployment_name(struct mwalk *w, void *value)
{
    const char *name = *(const char **)value;
    if (!spec_valid_deployment_name(name)) {
        return mwalk_error(w, NULL,
                           "deployment name '%s' must be 3-63 characters of letters, digits and "
                           "'-', starting with a letter or digit",
                           name);
    }
    return 0;
}
static const struct mtype mt_deployment_name = {.kind = MK_STRING, .what = "a string",
                                                .finish = finish_deployment_name};

static int finish_service_map(struct mwalk *w, void *value)
{
    const struct mmap *m = value;
    int rc = 0;
    for (size_t i = 0; i < m->n; i++) {
        if (!spec_valid_service_name(m->keys[i])) {
            size_t saved = mwalk_push_key(w, m->keys[i]);
            rc = mwalk_error(w, NULL,
                             "service name '%s' must be 1-63 characters of letters, digits, '-', "
                             "'_' and '.', starting with a letter or digit",
                             m->keys[i]);
            mwalk_pop(w, saved);
        }
    }
    return rc;
}
static const struct mtype mt_services = {.kind = MK_MAP, .what = "a mapping of services",
                                         .elem = &spec_service_mtype,
                                         .finish = finish_service_map};

static int finish_backends(struct mwalk *w, void *value)
{
    return ((const struct mlist *)value)->n
               ? 0
               : mwalk_error(w, NULL, "at least one backend address is required");
}
static const struct mtype mt_backends = {.kind = MK_LIST, .what = "a list of addresses",
                                         .elem = &mt_string, .finish = finish_backends};
static const struct mfield external_fields[] = {
    {"backends", &mt_backends, MF_REQUIRED, NULL, 0},
    {"endpoints", &mt_endpoints, 0, NULL, 0},
    {"health", &mt_health, 0, NULL, 0},
    END,
};
static const struct mtype mt_external = {.kind = MK_OBJECT, .what = "an external mapping",
                                         .fields = external_fields};
static const struct mtype mt_externals = {.kind = MK_MAP, .what = "a mapping of externals",
                                          .elem = &mt_external};
ENUM(mt_tunnel_protocol, "tcp", "udp");
static const struct mfield tunnel_fields[] = {
    {"from", &mt_string, MF_REQUIRED, NULL, 0},
    {"to", &mt_string, MF_REQUIRED, NULL, 0},
    {"local_port", &mt_port, MF_REQUIRED, NULL, 0},
    {"remote_port", &mt_port, MF_REQUIRED, NULL, 0},
    {"protocol", &mt_tunnel_protocol, 0, NULL, 0},
    {"expose", &mt_expose, 0, NULL, 0},
    END,
};
static const struct mtype mt_tunnel = {.kind = MK_OBJECT, .what = "a tunnel mapping",
                                       .fields = tunnel_fields};
static const struct mtype mt_tunnels = {.kind = MK_MAP, .what = "a mapping of tunnels",
                                        .elem = &mt_tunnel};
static const struct mfield api_fields[] = {
    {"enabled", &mt_bool, 0, NULL, 0},
    {"bind", &mt_string, 0, NULL, 0},
    {"jwt_secret", &mt_string, 0, NULL, 0},
    {"swagger", &mt_bool, 0, NULL, 0},
    END,
};
static const struct mtype mt_api = {.kind = MK_OBJECT, .what = "an api mapping",
                                    .fields = api_fields};

static const struct spec_service *find_service(const struct mmap *services, const char *name)
{
    for (size_t i = 0; i < services->n; i++) {
        if (strcmp(services->keys[i], name) == 0) {
            return mmap_ptr(services, i);
        }
    }
    return NULL;
}

static int finish_deployment(struct mwalk *w, void *value)
{
    const struct spec_deployment *d = value;
    int rc = 0;
    for (size_t s = 0; s < d->services.n; s++) {
        const struct spec_service *svc = mmap_ptr(&d->services, s);
        for (size_t i = 0; i < svc->depends.n; i++) {
            const char *target = ((const struct spec_dependency *)mlist_ptr(&svc->depends, i))
                                     ->service;
            if (target && !find_service(&d->services, target)) {
                size_t saved = w->plen;
                snprintf(w->path, sizeof(w->path), "services.%s.depends[%zu].service",
                         d->services.keys[s], i);
                w->plen = strlen(w->path);
                rc = mwalk_error(w, NULL, "depends on unknown service '%s'", target);
                mwalk_pop(w, saved);
            }
        }
    }
    return rc;
}

static const struct mfield deployment_fields[] = {
    {"version", &mt_version, MF_REQUIRED, NULL, MF_AT(struct spec_deployment, version)},
    {"deployment", &mt_deployment_name, MF_REQUIRED, NULL,
     MF_AT(struct spec_deployment, deployment)},
    {"services", &mt_services, 0, NULL, MF_AT(struct spec_deployment, services)},
    {"externals", &mt_externals, 0, NULL, 0},
    {"tunnels", &mt_tunnels, 0, NULL, 0},
    {"api", &mt_api, 0, NULL, 0},
    END,
};

const struct mtype spec_deployment_mtype = {.kind = MK_OBJECT, .what = "a deployment mapping",
                                            .fields = deployment_fields,
                                            .size = sizeof(struct spec_deployment),
                                            .finish = finish_deployment};
