/*
 * Render request inputs besides the spec, as data for the schema walk (render/model.h): host
 * facts, the image config, options and the envelope around them.
 */
#include "render/request_model.h"

#include <stdio.h>
#include <string.h>

#include "common/strutil.h"
#include "render/cdi.h"
#include "render/doc.h"
#include "render/internal.h"
#include "render/seccomp.h"

#define END {NULL, NULL, 0, NULL, 0}

/* ---- host facts ---- */

static const struct mtype mt_uid = {.kind = MK_INT, .what = "an id (0..2147483647)", .min = 0,
                                    .max = 2147483647ll};
static const struct mfield user_fields[] = {
    {"uid", &mt_uid, 0, NULL, MF_AT(struct host_user, uid)},
    {"gid", &mt_uid, 0, NULL, MF_AT(struct host_user, gid)},
    {"name", &mt_string, 0, NULL, MF_AT(struct host_user, name)},
    END,
};
static const struct mtype mt_host_user = {.kind = MK_OBJECT, .what = "a user mapping",
                                          .fields = user_fields, .size = sizeof(struct host_user)};
static const struct mtype mt_id_count = {.kind = MK_INT, .what = "a count (1..4294967295)",
                                         .min = 1, .max = 4294967295ll};
static const struct mfield subid_fields[] = {
    {"start", &mt_u32, MF_REQUIRED, NULL, MF_AT(struct host_subid, start)},
    {"count", &mt_id_count, MF_REQUIRED, NULL, MF_AT(struct host_subid, count)},
    END,
};
static const struct mtype mt_subid = {.kind = MK_OBJECT, .what = "a {start, count} mapping",
                                      .fields = subid_fields, .size = sizeof(struct host_subid)};
static const struct mtype mt_cgroup_version = {.kind = MK_INT, .what = "1 or 2", .min = 1,
                                               .max = 2};
static const struct mfield cgroup_fields[] = {
    {"version", &mt_cgroup_version, 0, NULL, MF_AT(struct host_cgroup, version)},
    {"parent", &mt_string, 0, NULL, MF_AT(struct host_cgroup, parent)},
    END,
};
static const struct mtype mt_host_cgroup = {.kind = MK_OBJECT, .what = "a cgroup mapping",
                                            .fields = cgroup_fields,
                                            .size = sizeof(struct host_cgroup)};

static const char *const device_types[] = {"c", "b", "p", "u", NULL};
static const struct mtype mt_device_type = {.kind = MK_ENUM, .what = "c, b, p or u",
                                            .enums = device_types};
static const struct mtype mt_dev_number = {.kind = MK_INT, .what = "a device number", .min = 0,
                                           .max = 4294967295ll};
static int finish_host_device(struct mwalk *w, void *value)
{
    const struct host_device *d = value;
    if (d->path[0] != '/') {
        return mwalk_error(w, NULL, "device path '%s' must be absolute", d->path);
    }
    if ((d->type[0] == 'c' || d->type[0] == 'b') && (!d->major.set || !d->minor.set)) {
        return mwalk_error(w, NULL, "a %s device needs major and minor", d->type);
    }
    return 0;
}
#define AT_DEV(member) MF_AT(struct host_device, member)
static const struct mfield host_device_fields[] = {
    {"path", &mt_nonempty_string, MF_REQUIRED, NULL, AT_DEV(path)},
    {"type", &mt_device_type, MF_REQUIRED, NULL, AT_DEV(type)},
    {"major", &mt_dev_number, 0, NULL, AT_DEV(major)},
    {"minor", &mt_dev_number, 0, NULL, AT_DEV(minor)},
    {"mode", &mt_u32, 0, NULL, AT_DEV(mode)},
    {"uid", &mt_u32, 0, NULL, AT_DEV(uid)},
    {"gid", &mt_u32, 0, NULL, AT_DEV(gid)},
    END,
};
static const struct mtype mt_host_device = {.kind = MK_OBJECT, .what = "a device mapping",
                                            .fields = host_device_fields,
                                            .size = sizeof(struct host_device),
                                            .finish = finish_host_device};
static const struct mtype mt_host_devices = {.kind = MK_LIST, .what = "a list of devices",
                                             .elem = &mt_host_device};
static const struct mfield rootfs_fields[] = {
    {"passwd", &mt_string, 0, NULL, MF_AT(struct host_rootfs, passwd)},
    {"group", &mt_string, 0, NULL, MF_AT(struct host_rootfs, group)},
    END,
};
static const struct mtype mt_host_rootfs = {.kind = MK_OBJECT, .what = "a rootfs mapping",
                                            .fields = rootfs_fields,
                                            .size = sizeof(struct host_rootfs)};

/* ---- CDI entries: normalized by the CDI schema of render/cdi.c, as jansson documents ---- */

/* Check `in` with a jansson schema of another file (the CDI and seccomp documents), keeping
 * the YAML positions for its messages; the normalized document goes to `dst`. */
static int fill_with_json_schema(struct mwalk *w, const struct stype *schema,
                                 const struct dnode *in, json_t **dst)
{
    struct doc doc = {.format = in->line ? DOC_YAML : DOC_JSON};
    doc.root = doc_from_dom(in, &doc);
    if (!doc.root) {
        doc_release(&doc);
        return mwalk_oom(w);
    }
    struct walk cw;
    walk_init(&cw, &doc, w->err, w->path);
    json_t *out = walk_norm(&cw, schema, doc.root);
    doc_release(&doc);
    if (!out) {
        w->failed = true;
        w->nomem = w->nomem || cw.nomem;
        return -1;
    }
    *dst = out;
    return 0;
}

static int fill_cdi_entry(struct mwalk *w, const struct mtype *t, const struct dnode *in,
                          void *dst)
{
    (void)t;
    return fill_with_json_schema(w, &cdi_entry_type, in, dst);
}
static const struct mtype mt_cdi_entry = {.kind = MK_CUSTOM, .what = "a CDI spec",
                                          .size = sizeof(json_t *), .fill = fill_cdi_entry};
static const struct mtype mt_host_cdi = {.kind = MK_LIST, .what = "a list of CDI specs",
                                         .elem = &mt_cdi_entry};

static int fill_seccomp_profile(struct mwalk *w, const struct mtype *t, const struct dnode *in,
                                void *dst)
{
    (void)t;
    return fill_with_json_schema(w, &seccomp_profile_type, in, dst);
}
static const struct mtype mt_seccomp_profile = {.kind = MK_CUSTOM, .what = "a seccomp profile",
                                                .size = sizeof(json_t *),
                                                .fill = fill_seccomp_profile};

void request_model_release_options(struct render_options *options)
{
    if (options) {
        json_decref(options->seccomp_profile);
        options->seccomp_profile = NULL;
    }
}

void request_model_release_cdi(struct host_facts *host)
{
    for (size_t i = 0; host && i < host->cdi.n; i++) {
        json_decref(((json_t **)host->cdi.v)[i]);
        ((json_t **)host->cdi.v)[i] = NULL;
    }
}

/* ---- WSL2 (docs/wsl2.md): the library directories are the two the Windows driver provides */

static const char *const wsl_lib_dirs[] = {"/usr/lib/wsl/lib", "/usr/lib/wsl/drivers", NULL};
static const struct mtype mt_wsl_lib_dir = {.kind = MK_ENUM,
                                            .what = "/usr/lib/wsl/lib or /usr/lib/wsl/drivers",
                                            .enums = wsl_lib_dirs};
static int finish_wsl_lib_dirs(struct mwalk *w, void *value)
{
    const struct mlist *l = value;
    for (size_t i = 1; i < l->n; i++) {
        for (size_t j = 0; j < i; j++) {
            if (str_eq(mlist_str(l, i), mlist_str(l, j))) {
                size_t saved = mwalk_push_index(w, i);
                mwalk_error(w, NULL, "'%s' is listed twice", mlist_str(l, i));
                mwalk_pop(w, saved);
                return -1;
            }
        }
    }
    return 0;
}
static const struct mtype mt_wsl_lib_dirs = {.kind = MK_LIST,
                                             .what = "a list of WSL library directories",
                                             .elem = &mt_wsl_lib_dir,
                                             .finish = finish_wsl_lib_dirs};
static const struct mfield dxg_fields[] = {
    {"major", &mt_dev_number, MF_REQUIRED, NULL, MF_AT(struct host_dxg, major)},
    {"minor", &mt_dev_number, MF_REQUIRED, NULL, MF_AT(struct host_dxg, minor)},
    END,
};
static const struct mtype mt_dxg = {.kind = MK_OBJECT, .what = "a {major, minor} mapping",
                                    .fields = dxg_fields, .size = sizeof(struct host_dxg)};
static const struct mfield wsl_fields[] = {
    {"kernel", &mt_nonempty_string, MF_REQUIRED, NULL, MF_AT(struct host_wsl, kernel)},
    {"distro", &mt_nonempty_string, 0, NULL, MF_AT(struct host_wsl, distro)},
    {"dxg", &mt_dxg, 0, NULL, MF_AT(struct host_wsl, dxg)},
    {"lib_dirs", &mt_wsl_lib_dirs, 0, NULL, MF_AT(struct host_wsl, lib_dirs)},
    END,
};
static const struct mtype mt_host_wsl = {.kind = MK_OBJECT, .what = "a WSL2 mapping",
                                         .fields = wsl_fields, .size = sizeof(struct host_wsl)};

#define AT_HOST(member) MF_AT(struct host_facts, member)
static const struct mfield host_fields[] = {
    {"user", &mt_host_user, 0, NULL, AT_HOST(user)},
    {"subuid", &mt_subid, 0, NULL, AT_HOST(subuid)},
    {"subgid", &mt_subid, 0, NULL, AT_HOST(subgid)},
    {"cgroup", &mt_host_cgroup, 0, NULL, AT_HOST(cgroup)},
    {"devices", &mt_host_devices, 0, NULL, AT_HOST(devices)},
    {"dirs", &mt_present_string_list, 0, NULL, AT_HOST(dirs)},
    {"files", &mt_present_string_list, 0, NULL, AT_HOST(files)},
    {"cdi", &mt_host_cdi, 0, NULL, AT_HOST(cdi)},
    {"env", &mt_string_map, 0, NULL, AT_HOST(env)},
    {"rootfs", &mt_host_rootfs, 0, NULL, AT_HOST(rootfs)},
    {"wsl", &mt_host_wsl, 0, NULL, AT_HOST(wsl)},
    {"arch", &mt_nonempty_string, 0, NULL, AT_HOST(arch)},
    END,
};
const struct mtype request_host_mtype = {.kind = MK_OBJECT, .what = "a host facts mapping",
                                         .fields = host_fields, .size = sizeof(struct host_facts)};

/* ---- image config ---- */

#define AT_IMG(member) MF_AT(struct image_config, member)
static const struct mfield image_config_fields[] = {
    {"Entrypoint", &mt_string_list, 0, NULL, AT_IMG(entrypoint)},
    {"Cmd", &mt_string_list, 0, NULL, AT_IMG(cmd)},
    {"Env", &mt_string_list, 0, NULL, AT_IMG(env)},
    {"WorkingDir", &mt_string, 0, NULL, AT_IMG(working_dir)},
    {"User", &mt_string, 0, NULL, AT_IMG(user)},
    END,
};
const struct mtype request_image_config_object_mtype = {.kind = MK_OBJECT,
                                                    .what = "an image config mapping",
                                                    .fields = image_config_fields,
                                                    .size = sizeof(struct image_config),
                                                    .open = true};

/* Either the `config` object of an image config, or a whole image config blob holding one. */
static int fill_image_config(struct mwalk *w, const struct mtype *t, const struct dnode *in,
                             void *dst)
{
    (void)t;
    const struct dnode *cfg = in->kind == DN_MAP ? dom_get(in, "config") : NULL;
    if (!cfg) {
        return mwalk_fill(w, &request_image_config_object_mtype, in, dst);
    }
    if (mwalk_is_null(cfg)) {
        *(void **)dst = arena_calloc(w->arena, 1, sizeof(struct image_config));
        return *(void **)dst ? 0 : mwalk_oom(w);
    }
    size_t saved = mwalk_push_key(w, "config");
    int rc = mwalk_fill(w, &request_image_config_object_mtype, cfg, dst);
    mwalk_pop(w, saved);
    return rc;
}
const struct mtype request_image_config_mtype = {.kind = MK_CUSTOM, .what = "an image config",
                                                 .size = sizeof(struct image_config *),
                                                 .fill = fill_image_config};

/* ---- options, container, envelope ---- */

static int fill_env_pair(struct mwalk *w, const struct dnode *pair, struct env_pair **out)
{
    struct mlist p = {0};
    if (mwalk_fill(w, &mt_string_list, pair, &p)) {
        return -1;
    }
    if (p.n != 2) {
        return mwalk_error(w, pair, "expected a [name, value] pair");
    }
    if (!*mlist_str(&p, 0)) {
        return mwalk_error(w, pair, "the variable name must not be empty");
    }
    if (strchr(mlist_str(&p, 0), '=')) {
        return mwalk_error(w, pair, "the variable name must not contain '='");
    }
    struct env_pair *e = arena_alloc(w->arena, sizeof(*e));
    if (!e) {
        return mwalk_oom(w);
    }
    e->name = mlist_str(&p, 0);
    e->value = mlist_str(&p, 1);
    *out = e;
    return 0;
}

static int fill_env_pairs(struct mwalk *w, const struct mtype *t, const struct dnode *in,
                          void *dst)
{
    if (in->kind != DN_SEQ) {
        return mwalk_error(w, in, "expected %s", t->what);
    }
    struct mlist *l = dst;
    l->n = in->len;
    l->v = in->len ? arena_calloc(w->arena, in->len, sizeof(struct env_pair *)) : NULL;
    if (in->len && !l->v) {
        return mwalk_oom(w);
    }
    int rc = 0;
    for (size_t i = 0; i < in->len; i++) {
        size_t saved = mwalk_push_index(w, i);
        if (fill_env_pair(w, in->u.items[i], &((struct env_pair **)l->v)[i])) {
            rc = -1;
        }
        mwalk_pop(w, saved);
        if (w->nomem) {
            return -1;
        }
    }
    return rc;
}
static const struct mtype mt_env_pairs = {.kind = MK_CUSTOM,
                                          .what = "a list of [name, value] pairs",
                                          .size = sizeof(struct mlist), .fill = fill_env_pairs};
static int finish_absolute(struct mwalk *w, void *value)
{
    const char *path = *(const char **)value;
    return path[0] == '/' ? 0 : mwalk_error(w, NULL, "'%s' must be an absolute path", path);
}
static const struct mtype mt_abs_path = {.kind = MK_STRING, .what = "an absolute path",
                                         .finish = finish_absolute};
static const struct mtype mt_abs_path_map = {.kind = MK_MAP, .what = "a mapping of paths",
                                             .elem = &mt_abs_path};
#define AT_OPT(member) MF_AT(struct render_options, member)
static const struct mfield options_fields[] = {
    {"hostname", &mt_string, 0, NULL, AT_OPT(hostname)},
    {"host_network", &mt_bool, 0, NULL, AT_OPT(host_network)},
    {"cwd", &mt_string, 0, NULL, AT_OPT(cwd)},
    {"args", &mt_present_string_list, 0, NULL, AT_OPT(args)},
    {"env", &mt_env_pairs, 0, NULL, AT_OPT(env)},
    {"volume_paths", &mt_abs_path_map, 0, NULL, AT_OPT(volume_paths)},
    {"socket_path", &mt_abs_path, 0, NULL, AT_OPT(socket_path)},
    {"bundle_dir", &mt_abs_path, 0, NULL, AT_OPT(bundle_dir)},
    {"scope", &mt_nonempty_string, 0, NULL, AT_OPT(scope)},
    {"oci_version", &mt_nonempty_string, 0, NULL, AT_OPT(oci_version)},
    {"seccomp_profile", &mt_seccomp_profile, 0, NULL, AT_OPT(seccomp_profile)},
    END,
};
static const struct mtype mt_options = {.kind = MK_OBJECT, .what = "an options mapping",
                                        .fields = options_fields,
                                        .size = sizeof(struct render_options)};

static const struct mtype mt_replica = {.kind = MK_INT, .what = "a replica number", .min = 0,
                                        .max = 4294967295ll};
#define AT_CTR(member) MF_AT(struct container_ref, member)
static const struct mfield container_fields[] = {
    {"service", &mt_nonempty_string, 0, NULL, AT_CTR(service)},
    {"replica", &mt_replica, 0, NULL, AT_CTR(replica)},
    {"role", &mt_nonempty_string, 0, NULL, AT_CTR(role)},
    {"node_id", &mt_u64, 0, NULL, AT_CTR(node_id)},
    END,
};
static const struct mtype mt_container = {.kind = MK_OBJECT, .what = "a container mapping",
                                          .fields = container_fields,
                                          .size = sizeof(struct container_ref)};

/* The spec member stays raw here: it is loaded separately (it may be a string). */
#define AT_ENV(member) MF_AT(struct envelope, member)
static const struct mfield envelope_fields[] = {
    {"spec", &mt_any, MF_REQUIRED, NULL, AT_ENV(spec)},
    {"service", &mt_nonempty_string, 0, NULL, AT_ENV(service)},
    {"container", &mt_container, 0, NULL, AT_ENV(container)},
    {"image_config", &request_image_config_mtype, 0, NULL, AT_ENV(image_config)},
    {"host", &request_host_mtype, 0, NULL, AT_ENV(host)},
    {"options", &mt_options, 0, NULL, AT_ENV(options)},
    END,
};
const struct mtype request_envelope_mtype = {.kind = MK_OBJECT, .what = "an envelope mapping",
                                             .fields = envelope_fields,
                                             .size = sizeof(struct envelope)};
