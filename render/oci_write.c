/*
 * config.json from the typed config (render/oci.h): one pass, members in the order the
 * original renderer's serializer and ours have always written them, so the bytes (and the
 * digest and ETag over them) do not change.
 */
#include "render/oci.h"

#include <stdlib.h>
#include <string.h>

#include "common/jsonx.h"
#include "render/seccomp.h"

void oci_write_strings(struct jw *w, const struct strv *list)
{
    jw_array_open(w);
    for (size_t i = 0; i < list->n; i++) {
        jw_string(w, list->v[i]);
    }
    jw_array_close(w);
}

static void member_strings(struct jw *w, const char *key, const struct strv *list)
{
    jw_key(w, key);
    oci_write_strings(w, list);
}

/* ---- prepared parts (render/oci.h, struct oci_prepared) ---- */

static bool prepared_fits(const struct jw *w, const struct oci_prepared *p)
{
    return p && p->text && !w->compact && w->depth == p->depth;
}

static bool same_strings(const struct strv *list, const struct oci_prepared *p)
{
    const char *const *want = p->items;
    if (list->n != p->n) {
        return false;
    }
    for (size_t i = 0; i < list->n && (const void *)list->v != p->items; i++) {
        if (list->v[i] != want[i]) {
            return false;
        }
    }
    return true;
}

/* A string list as a member's value: the prepared text when it is that list. */
static void strings_prepared(struct jw *w, const struct strv *list, const struct oci_prepared *p)
{
    if (prepared_fits(w, p) && same_strings(list, p)) {
        jw_raw(w, p->text, p->len);
    } else {
        oci_write_strings(w, list);
    }
}

static void member_strings_prepared(struct jw *w, const char *key, const struct strv *list,
                                    const struct oci_prepared *p)
{
    jw_key(w, key);
    strings_prepared(w, list, p);
}

static bool same_mount(const void *have, const void *want)
{
    const struct oci_mount *a = have, *b = want;
    return a->destination == b->destination && a->type == b->type && a->source == b->source &&
           a->options.v == b->options.v && a->options.n == b->options.n;
}

static bool same_dev_rule(const void *have, const void *want)
{
    const struct oci_dev_rule *a = have, *b = want;
    return a->allow == b->allow && a->type == b->type && a->has_major == b->has_major &&
           a->has_minor == b->has_minor && a->major == b->major && a->minor == b->minor &&
           a->access == b->access;
}

/* How many of a list's first items (`n` of `size` bytes) the prepared elements hold: all of
 * its items when the list starts with them, else 0 (write them all). */
static size_t prepared_prefix(const struct jw *w, const struct oci_prepared *p, const void *items,
                              size_t n, size_t size, bool (*same)(const void *, const void *))
{
    if (!prepared_fits(w, p) || n < p->n) {
        return 0;
    }
    for (size_t i = 0; i < p->n; i++) {
        if (!same((const char *)items + i * size, (const char *)p->items + i * size)) {
            return 0;
        }
    }
    return p->n;
}

void oci_write_json(struct jw *w, const json_t *v)
{
    uint64_t u;
    if (jsonx_is_u64_box(v) && jsonx_u64_get(v, &u) == 0) {
        jw_uint(w, u);
        return;
    }
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        const char *k;
        size_t kl;
        json_t *m;
        jw_object_open(w);
        json_object_keylen_foreach((json_t *)(uintptr_t)v, k, kl, m)
        {
            jw_keyn(w, k, kl);
            oci_write_json(w, m);
        }
        jw_object_close(w);
        return;
    }
    case JSON_ARRAY:
        jw_array_open(w);
        for (size_t i = 0; i < json_array_size(v); i++) {
            oci_write_json(w, json_array_get(v, i));
        }
        jw_array_close(w);
        return;
    case JSON_STRING: jw_stringn(w, json_string_value(v), json_string_length(v)); return;
    case JSON_INTEGER: jw_int(w, json_integer_value(v)); return;
    case JSON_REAL: jw_real(w, json_real_value(v)); return;
    case JSON_TRUE: jw_bool(w, true); return;
    case JSON_FALSE: jw_bool(w, false); return;
    case JSON_NULL: jw_null(w); return;
    }
}

void oci_write_mount(struct jw *w, const struct oci_mount *m)
{
    jw_object_open(w);
    jw_member_string(w, "destination", m->destination);
    jw_member_string(w, "type", m->type);
    jw_member_string(w, "source", m->source);
    member_strings(w, "options", &m->options);
    jw_object_close(w);
}

static void write_mounts(struct jw *w, const struct oci_config *c)
{
    jw_key(w, "mounts");
    jw_array_open(w);
    const struct oci_mounts *ms = &c->mounts;
    size_t i = prepared_prefix(w, ms->prefix, ms->v, ms->n, sizeof(*ms->v), same_mount);
    if (i) {
        jw_elements(w, ms->prefix->text, ms->prefix->len);
    }
    for (; i < ms->n; i++) {
        oci_write_mount(w, &ms->v[i]);
    }
    jw_array_close(w);
}

static void write_user(struct jw *w, const struct oci_process *p)
{
    jw_key(w, "user");
    jw_object_open(w);
    jw_member_int(w, "uid", p->uid);
    jw_member_int(w, "gid", p->gid);
    if (p->additional_gids.n) {
        jw_key(w, "additionalGids");
        jw_array_open(w);
        for (size_t i = 0; i < p->additional_gids.n; i++) {
            jw_int(w, p->additional_gids.v[i]);
        }
        jw_array_close(w);
    }
    jw_object_close(w);
}

static void write_capabilities(struct jw *w, const struct oci_process *p)
{
    static const struct strv none = {0};
    jw_key(w, "capabilities");
    jw_object_open(w);
    jw_key(w, "bounding");
    size_t from = jw_mark(w);
    strings_prepared(w, &p->capabilities, p->capabilities_text);
    size_t to = jw_mark(w);
    /* The same list at the same depth: the same bytes. */
    jw_key(w, "effective");
    jw_repeat(w, from, to);
    member_strings(w, "inheritable", &none);
    jw_key(w, "permitted");
    jw_repeat(w, from, to);
    member_strings(w, "ambient", &none);
    jw_object_close(w);
}

static void write_rlimits(struct jw *w, const struct oci_process *p)
{
    jw_key(w, "rlimits");
    jw_array_open(w);
    for (size_t i = 0; i < p->n_rlimits; i++) {
        jw_object_open(w);
        jw_member_string(w, "type", p->rlimits[i].type);
        jw_key(w, "hard");
        jw_uint(w, p->rlimits[i].hard);
        jw_key(w, "soft");
        jw_uint(w, p->rlimits[i].soft);
        jw_object_close(w);
    }
    jw_array_close(w);
}

static void write_process(struct jw *w, const struct oci_process *p)
{
    jw_key(w, "process");
    jw_object_open(w);
    jw_member_bool(w, "terminal", p->terminal);
    write_user(w, p);
    member_strings(w, "args", &p->args);
    member_strings(w, "env", &p->env);
    jw_member_string(w, "cwd", p->cwd);
    write_capabilities(w, p);
    write_rlimits(w, p);
    jw_member_bool(w, "noNewPrivileges", p->no_new_privileges);
    if (p->has_oom_score_adj) {
        jw_member_int(w, "oomScoreAdj", p->oom_score_adj);
    }
    if (p->apparmor_profile) {
        jw_member_string(w, "apparmorProfile", p->apparmor_profile);
    }
    if (p->selinux_label) {
        jw_member_string(w, "selinuxLabel", p->selinux_label);
    }
    jw_object_close(w);
}

static void write_hooks(struct jw *w, const struct oci_config *c)
{
    if (!c->n_hook_lists) {
        return;
    }
    jw_key(w, "hooks");
    jw_object_open(w);
    for (size_t i = 0; i < c->n_hook_lists; i++) {
        const struct oci_hook_list *l = &c->hook_lists[i];
        jw_key(w, l->name);
        jw_array_open(w);
        for (size_t j = 0; j < l->n; j++) {
            const struct oci_hook *h = &l->hooks[j];
            jw_object_open(w);
            jw_member_string(w, "path", h->path);
            if (h->args.n) {
                member_strings(w, "args", &h->args);
            }
            if (h->env.n) {
                member_strings(w, "env", &h->env);
            }
            if (h->has_timeout) {
                jw_member_int(w, "timeout", h->timeout);
            }
            jw_object_close(w);
        }
        jw_array_close(w);
    }
    jw_object_close(w);
}

static void write_annotations(struct jw *w, const struct oci_config *c)
{
    jw_key(w, "annotations");
    jw_object_open(w);
    for (size_t i = 0; i < c->n_annotations; i++) {
        jw_member_string(w, c->annotation_keys[i], c->annotation_values[i]);
    }
    jw_object_close(w);
}

static void write_idmaps(struct jw *w, const char *key, const struct oci_idmap *maps, size_t n)
{
    jw_key(w, key);
    jw_array_open(w);
    for (size_t i = 0; i < n; i++) {
        jw_object_open(w);
        jw_member_int(w, "hostID", maps[i].host_id);
        jw_member_int(w, "containerID", maps[i].container_id);
        jw_member_int(w, "size", maps[i].size);
        jw_object_close(w);
    }
    jw_array_close(w);
}

void oci_write_dev_rule(struct jw *w, const struct oci_dev_rule *r)
{
    jw_object_open(w);
    jw_member_bool(w, "allow", r->allow);
    if (r->type) {
        jw_member_string(w, "type", r->type);
    }
    if (r->has_major) {
        jw_member_int(w, "major", r->major);
    }
    if (r->has_minor) {
        jw_member_int(w, "minor", r->minor);
    }
    jw_member_string(w, "access", r->access);
    jw_object_close(w);
}

static void write_dev_rules(struct jw *w, const struct oci_linux *l)
{
    jw_key(w, "devices");
    jw_array_open(w);
    const struct oci_dev_rules *rs = &l->dev_rules;
    size_t i = prepared_prefix(w, rs->prefix, rs->v, rs->n, sizeof(*rs->v), same_dev_rule);
    if (i) {
        jw_elements(w, rs->prefix->text, rs->prefix->len);
    }
    for (; i < rs->n; i++) {
        oci_write_dev_rule(w, &rs->v[i]);
    }
    jw_array_close(w);
}

static bool memory_given(const struct oci_memory *m)
{
    return m->has_limit || m->has_reservation || m->has_swap || m->has_swappiness ||
           m->disable_oom_killer;
}

static void write_memory(struct jw *w, const struct oci_memory *m)
{
    if (!memory_given(m)) {
        return;
    }
    jw_key(w, "memory");
    jw_object_open(w);
    if (m->has_limit) {
        jw_member_int(w, "limit", m->limit);
    }
    if (m->has_reservation) {
        jw_member_int(w, "reservation", m->reservation);
    }
    if (m->has_swap) {
        jw_member_int(w, "swap", m->swap);
    }
    if (m->has_swappiness) {
        jw_member_int(w, "swappiness", m->swappiness);
    }
    if (m->disable_oom_killer) {
        jw_member_bool(w, "disableOOMKiller", true);
    }
    jw_object_close(w);
}

static void write_cpu(struct jw *w, const struct oci_cpu *cpu)
{
    if (!cpu->has_shares && !cpu->has_quota && !cpu->cpus) {
        return;
    }
    jw_key(w, "cpu");
    jw_object_open(w);
    if (cpu->has_shares) {
        jw_member_int(w, "shares", cpu->shares);
    }
    if (cpu->has_quota) {
        jw_member_int(w, "quota", cpu->quota);
        jw_member_int(w, "period", cpu->period);
    }
    if (cpu->cpus) {
        jw_member_string(w, "cpus", cpu->cpus);
    }
    jw_object_close(w);
}

static void write_resources(struct jw *w, const struct oci_linux *l)
{
    jw_key(w, "resources");
    jw_object_open(w);
    write_dev_rules(w, l);
    write_memory(w, &l->memory);
    write_cpu(w, &l->cpu);
    if (l->has_pids) {
        jw_key(w, "pids");
        jw_object_open(w);
        jw_member_int(w, "limit", l->pids_limit);
        jw_object_close(w);
    }
    if (l->has_blkio_weight) {
        jw_key(w, "blockIO");
        jw_object_open(w);
        jw_member_int(w, "weight", l->blkio_weight);
        jw_object_close(w);
    }
    jw_object_close(w);
}

static void write_devices(struct jw *w, const struct oci_linux *l)
{
    if (!l->devices.n) {
        return;
    }
    jw_key(w, "devices");
    jw_array_open(w);
    for (size_t i = 0; i < l->devices.n; i++) {
        const struct oci_device *d = &l->devices.v[i];
        jw_object_open(w);
        jw_member_string(w, "path", d->path);
        jw_member_string(w, "type", d->type);
        if (d->has_numbers) {
            jw_member_int(w, "major", d->major);
            jw_member_int(w, "minor", d->minor);
        }
        jw_member_int(w, "fileMode", d->file_mode);
        jw_member_int(w, "uid", d->uid);
        jw_member_int(w, "gid", d->gid);
        jw_object_close(w);
    }
    jw_array_close(w);
}

static void write_namespaces(struct jw *w, const struct oci_linux *l)
{
    jw_key(w, "namespaces");
    jw_array_open(w);
    for (size_t i = 0; i < l->namespaces.n; i++) {
        jw_object_open(w);
        jw_member_string(w, "type", l->namespaces.v[i]);
        jw_object_close(w);
    }
    jw_array_close(w);
}

static void write_linux(struct jw *w, const struct oci_linux *l)
{
    jw_key(w, "linux");
    jw_object_open(w);
    if (l->n_uid_mappings) {
        write_idmaps(w, "uidMappings", l->uid_mappings, l->n_uid_mappings);
        write_idmaps(w, "gidMappings", l->gid_mappings, l->n_gid_mappings);
    }
    write_resources(w, l);
    if (l->cgroups_path) {
        jw_member_string(w, "cgroupsPath", l->cgroups_path);
    }
    write_namespaces(w, l);
    write_devices(w, l);
    if (l->n_sysctls) {
        jw_key(w, "sysctl");
        jw_object_open(w);
        for (size_t i = 0; i < l->n_sysctls; i++) {
            jw_member_string(w, l->sysctl_keys[i], l->sysctl_values[i]);
        }
        jw_object_close(w);
    }
    if (l->seccomp.custom || l->seccomp.use_default) {
        jw_key(w, "seccomp");
        seccomp_write(w, &l->seccomp);
    }
    jw_member_string(w, "rootfsPropagation", l->rootfs_propagation);
    member_strings_prepared(w, "maskedPaths", &l->masked_paths, l->masked_text);
    member_strings_prepared(w, "readonlyPaths", &l->readonly_paths, l->readonly_text);
    const char *key;
    size_t klen;
    json_t *value;
    json_object_keylen_foreach((json_t *)(uintptr_t)l->extra, key, klen, value)
    {
        jw_keyn(w, key, klen);
        oci_write_json(w, value);
    }
    jw_object_close(w);
}

void oci_write_config(struct jw *w, const struct oci_config *c)
{
    jw_object_open(w);
    jw_member_string(w, "ociVersion", c->oci_version);
    jw_key(w, "root");
    jw_object_open(w);
    jw_member_string(w, "path", c->root_path);
    jw_member_bool(w, "readonly", c->root_readonly);
    jw_object_close(w);
    write_mounts(w, c);
    write_process(w, &c->process);
    if (c->hostname) {
        jw_member_string(w, "hostname", c->hostname);
    }
    write_hooks(w, c);
    write_annotations(w, c);
    write_linux(w, &c->linux_);
    jw_object_close(w);
}
