#ifndef OCIRENDER_RENDER_SPEC_MODEL_H
#define OCIRENDER_RENDER_SPEC_MODEL_H

/*
 * The typed model of a ZLayer spec (render/model.h explains the storage). Only what the
 * renderer reads, or what a cross-field check needs, is stored; every other field is
 * checked and dropped.
 */

#include "render/model.h"

struct spec_image {
    const char *name;
};

struct spec_command {
    struct opt_list entrypoint; /* of const char *; given (even empty) or not */
    struct mlist args;       /* of const char * */
    const char *workdir;
};

struct spec_distributed {
    const char *backend;
    struct opt_i64 master_port;
};

struct spec_gpu {
    struct opt_i64 count;
    const char *vendor;
    const char *mode;
    const char *model;
    struct spec_distributed *distributed;
    const char *sharing; /* exclusive, mps, time-slice */
    const char *mps_pipe_dir;
    const char *mps_log_dir;
    struct opt_i64 time_slice_index;
    const char *time_slicing_config_path;
};

struct spec_resources {
    struct opt_f64 cpu;
    const char *memory; /* memory sizes as written; checked by the walk */
    struct spec_gpu *gpu;
    struct opt_i64 pids_limit;
    const char *cpuset;
    struct opt_i64 cpu_shares;
    const char *memory_swap; /* a size or "-1" */
    const char *memory_reservation;
    struct opt_i64 memory_swappiness;
    struct opt_i64 oom_score_adj;
    struct opt_bool oom_kill_disable;
    struct opt_i64 blkio_weight;
};

struct spec_device {
    const char *path;
    struct opt_bool read, write, mknod;
};

/* One storage entry; `type` says which of the fields a variant may have. */
struct spec_storage {
    const char *type; /* bind, named, anonymous, tmpfs, s3 */
    const char *source;
    const char *target;
    const char *name;
    const char *tier;
    const char *size;
    const char *bucket;
    const char *prefix;
    struct opt_bool readonly;
    struct opt_i64 mode; /* tmpfs: octal mode as a number */
};

struct spec_ulimit {
    struct opt_i64 soft, hard; /* the walk fills a missing one from the other */
};

struct spec_endpoint {
    const char *name;
};

struct spec_scale {
    const char *mode;
    struct opt_i64 min, max;
};

struct spec_dependency {
    const char *service;
};

struct spec_service {
    const char *rtype;
    struct spec_image *image;
    struct spec_resources *resources;
    struct mmap env;            /* of const char * */
    struct spec_command *command;
    struct mlist endpoints;     /* of struct spec_endpoint * */
    struct mlist depends;       /* of struct spec_dependency * */
    struct mlist devices;       /* of struct spec_device * */
    struct mlist storage;       /* of struct spec_storage * */
    struct mlist capabilities;  /* of const char *; `cap_add` is its alias */
    struct mlist cap_drop;      /* of const char * */
    struct opt_bool privileged;
    struct opt_bool host_network_flag; /* the legacy `host_network` field as written */
    bool host_network;          /* that flag or network_mode host, folded by the walk */
    const char *network_mode;   /* default, host, none, bridge, bridge:N, container:ID */
    const char *cgroup_parent;
    const char *hostname;
    struct mlist dns;           /* of const char * */
    struct mlist extra_hosts;   /* of const char * */
    struct mmap labels;         /* of const char * */
    const char *user;
    const char *stop_signal;
    struct mmap sysctls;        /* of const char * */
    struct mmap ulimits;        /* of struct spec_ulimit * */
    struct mlist security_opt;  /* of const char * */
    const char *pid_mode;
    const char *ipc_mode;
    struct mlist extra_groups;  /* of const char * */
    struct opt_bool read_only_root_fs;
    struct opt_bool tty;
    struct opt_bool stdin_open;
    const char *userns_mode;
    const char *isolation;      /* auto, process, hyperv */
    const char *schedule;       /* cron expression; only with rtype cron */
};

struct spec_deployment {
    const char *version;
    const char *deployment;
    struct mmap services; /* of struct spec_service * */
};

extern const struct mtype spec_service_mtype;
extern const struct mtype spec_deployment_mtype;

/* The spec's name rules (names.c), for the field tables and for names a request gives. */
bool spec_valid_image_ref(const char *ref);
bool spec_valid_deployment_name(const char *name);
bool spec_valid_service_name(const char *name);
bool spec_valid_role(const char *role);

#endif
