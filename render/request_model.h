#ifndef OCIRENDER_RENDER_REQUEST_MODEL_H
#define OCIRENDER_RENDER_REQUEST_MODEL_H

/* The typed model of a render request's inputs besides the spec (render/model.h). */

#include <jansson.h>

#include "render/model.h"

struct host_user {
    struct opt_i64 uid, gid;
    const char *name;
};

struct host_subid {
    struct opt_i64 start, count;
};

struct host_cgroup {
    struct opt_i64 version;
    const char *parent;
};

struct host_device {
    const char *path;
    const char *type; /* c, b, p, u */
    struct opt_i64 major, minor, mode, uid, gid;
};

struct host_rootfs {
    const char *passwd; /* /etc/passwd and /etc/group text of the image */
    const char *group;
};

struct host_dxg {
    struct opt_i64 major, minor;
};

struct host_wsl {
    const char *kernel;
    const char *distro;
    struct host_dxg *dxg;
    struct mlist lib_dirs; /* of const char * */
};

struct host_facts {
    struct host_user *user;
    struct host_subid *subuid, *subgid;
    struct host_cgroup *cgroup;
    struct mlist devices; /* of struct host_device * */
    struct opt_list dirs;  /* of const char *; given (even empty) or not */
    struct opt_list files; /* of const char * */
    struct mlist cdi;     /* of json_t *: normalized CDI entries (render/cdi.h), arena-owned refs */
    struct mmap env;      /* of const char * */
    struct host_rootfs *rootfs;
    struct host_wsl *wsl;
    const char *arch; /* uname -m of the node */
};

struct image_config {
    struct mlist entrypoint; /* of const char * */
    struct mlist cmd;
    struct mlist env;
    const char *working_dir;
    const char *user;
};

struct env_pair {
    const char *name;
    const char *value;
};

struct render_options {
    const char *hostname;
    struct opt_bool host_network;
    const char *cwd;
    struct opt_list args;       /* of const char *; given (even empty) or not */
    struct mlist env;           /* of struct env_pair * */
    struct mmap volume_paths;   /* of const char * */
    const char *socket_path;
    const char *bundle_dir;
    const char *scope;
    const char *oci_version;
    json_t *seccomp_profile; /* a checked custom profile (render/seccomp.c's schema) */
};

struct container_ref {
    const char *service;
    struct opt_i64 replica;
    const char *role;
    struct opt_i64 node_id;
};

struct envelope {
    const struct dnode *spec; /* checked and loaded separately: it may be a string */
    const char *service;
    struct container_ref *container;
    struct image_config *image_config;
    struct host_facts *host;
    struct render_options *options;
};

extern const struct mtype request_host_mtype;
extern const struct mtype request_image_config_mtype;
extern const struct mtype request_image_config_object_mtype; /* the `config` object itself */
extern const struct mtype request_envelope_mtype;

/* CDI entries and a custom seccomp profile are normalized jansson documents (their schemas
 * live in render/cdi.c and render/seccomp.c): the arena cannot own references, so the request
 * releases them. */
void request_model_release_cdi(struct host_facts *host);
void request_model_release_options(struct render_options *options);

#endif
