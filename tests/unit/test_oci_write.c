/*
 * The config writer (render/oci.h): every golden config, read back into the typed config,
 * is written again byte for byte. This pins the writer's member order, optional members and
 * number forms to the bytes (and so the digests and ETags) the goldens hold. The parts
 * prepared at start-up are those bytes too, and are copied only where they belong.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/jsonx.h"
#include "render/oci.h"
#include "render/prepared.h"
#include "render/render.h"
#include "tests/harness.h"
#include "tests/unit/goldens.h"

struct loader {
    struct arena *a;
    bool ok;
};

static const char *str(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static long long num(const json_t *o, const char *k)
{
    return json_integer_value(json_object_get(o, k));
}

static void strings(struct loader *l, const json_t *arr, struct strv *out)
{
    for (size_t i = 0; i < json_array_size(arr); i++) {
        l->ok = l->ok && strv_push(l->a, out, json_string_value(json_array_get(arr, i))) == 0;
    }
}

static void *alloc(struct loader *l, size_t n, size_t size)
{
    void *p = n ? arena_calloc(l->a, n, size) : NULL;
    l->ok = l->ok && (!n || p);
    return p;
}

static unsigned long long u64(const json_t *v)
{
    uint64_t u = 0;
    if (jsonx_u64_get(v, &u) != 0) {
        u = (uint64_t)json_integer_value(v);
    }
    return u;
}

static void load_process(struct loader *l, const json_t *p, struct oci_process *out)
{
    const json_t *user = json_object_get(p, "user");
    const json_t *gids = json_object_get(user, "additionalGids");
    out->terminal = json_is_true(json_object_get(p, "terminal"));
    out->uid = (uint32_t)num(user, "uid");
    out->gid = (uint32_t)num(user, "gid");
    out->additional_gids.n = json_array_size(gids);
    uint32_t *g = alloc(l, out->additional_gids.n, sizeof(*g));
    for (size_t i = 0; g && i < out->additional_gids.n; i++) {
        g[i] = (uint32_t)json_integer_value(json_array_get(gids, i));
    }
    out->additional_gids.v = g;
    strings(l, json_object_get(p, "args"), &out->args);
    strings(l, json_object_get(p, "env"), &out->env);
    out->cwd = str(p, "cwd");
    strings(l, json_object_get(json_object_get(p, "capabilities"), "bounding"), &out->capabilities);
    const json_t *rl = json_object_get(p, "rlimits");
    out->n_rlimits = json_array_size(rl);
    struct oci_rlimit *r = alloc(l, out->n_rlimits, sizeof(*r));
    for (size_t i = 0; r && i < out->n_rlimits; i++) {
        const json_t *e = json_array_get(rl, i);
        r[i] = (struct oci_rlimit){str(e, "type"), u64(json_object_get(e, "hard")),
                                   u64(json_object_get(e, "soft"))};
    }
    out->rlimits = r;
    out->no_new_privileges = json_is_true(json_object_get(p, "noNewPrivileges"));
    out->apparmor_profile = str(p, "apparmorProfile");
    out->selinux_label = str(p, "selinuxLabel");
    out->has_oom_score_adj = json_object_get(p, "oomScoreAdj") != NULL;
    out->oom_score_adj = num(p, "oomScoreAdj");
}

static void load_linux(struct loader *l, const json_t *x, struct oci_linux *out)
{
    const json_t *um = json_object_get(x, "uidMappings"), *gm = json_object_get(x, "gidMappings");
    out->n_uid_mappings = json_array_size(um);
    out->n_gid_mappings = json_array_size(gm);
    for (size_t i = 0; i < out->n_uid_mappings && i < 2; i++) {
        const json_t *m = json_array_get(um, i);
        out->uid_mappings[i] = (struct oci_idmap){num(m, "hostID"), num(m, "containerID"),
                                                  num(m, "size")};
        m = json_array_get(gm, i);
        out->gid_mappings[i] = (struct oci_idmap){num(m, "hostID"), num(m, "containerID"),
                                                  num(m, "size")};
    }
    const json_t *res = json_object_get(x, "resources");
    const json_t *rules = json_object_get(res, "devices");
    out->dev_rules.n = json_array_size(rules);
    struct oci_dev_rule *r = alloc(l, out->dev_rules.n, sizeof(*r));
    for (size_t i = 0; r && i < out->dev_rules.n; i++) {
        const json_t *e = json_array_get(rules, i);
        r[i] = (struct oci_dev_rule){
            .allow = json_is_true(json_object_get(e, "allow")), .type = str(e, "type"),
            .has_major = json_object_get(e, "major") != NULL, .major = num(e, "major"),
            .has_minor = json_object_get(e, "minor") != NULL, .minor = num(e, "minor"),
            .access = str(e, "access")};
    }
    out->dev_rules.v = r;
    const json_t *mem = json_object_get(res, "memory");
    out->memory = (struct oci_memory){
        .has_limit = json_object_get(mem, "limit"), .limit = num(mem, "limit"),
        .has_reservation = json_object_get(mem, "reservation"),
        .reservation = num(mem, "reservation"), .has_swap = json_object_get(mem, "swap"),
        .swap = num(mem, "swap"), .has_swappiness = json_object_get(mem, "swappiness"),
        .swappiness = num(mem, "swappiness"),
        .disable_oom_killer = json_is_true(json_object_get(mem, "disableOOMKiller"))};
    const json_t *cpu = json_object_get(res, "cpu");
    out->cpu = (struct oci_cpu){.has_shares = json_object_get(cpu, "shares"),
                                .shares = num(cpu, "shares"),
                                .has_quota = json_object_get(cpu, "quota"),
                                .quota = num(cpu, "quota"), .period = num(cpu, "period"),
                                .cpus = str(cpu, "cpus")};
    out->has_pids = json_object_get(res, "pids") != NULL;
    out->pids_limit = num(json_object_get(res, "pids"), "limit");
    out->has_blkio_weight = json_object_get(res, "blockIO") != NULL;
    out->blkio_weight = num(json_object_get(res, "blockIO"), "weight");
    out->cgroups_path = str(x, "cgroupsPath");
    const json_t *ns = json_object_get(x, "namespaces");
    for (size_t i = 0; i < json_array_size(ns); i++) {
        l->ok = l->ok && strv_push(l->a, &out->namespaces, str(json_array_get(ns, i), "type")) == 0;
    }
    const json_t *devs = json_object_get(x, "devices");
    out->devices.n = json_array_size(devs);
    struct oci_device *d = alloc(l, out->devices.n, sizeof(*d));
    for (size_t i = 0; d && i < out->devices.n; i++) {
        const json_t *e = json_array_get(devs, i);
        d[i] = (struct oci_device){.path = str(e, "path"), .type = str(e, "type"),
                                   .has_numbers = json_object_get(e, "major") != NULL,
                                   .major = num(e, "major"), .minor = num(e, "minor"),
                                   .file_mode = num(e, "fileMode"), .uid = num(e, "uid"),
                                   .gid = num(e, "gid")};
    }
    out->devices.v = d;
    const json_t *sysctl = json_object_get(x, "sysctl");
    out->n_sysctls = json_object_size(sysctl);
    out->sysctl_keys = alloc(l, out->n_sysctls, sizeof(char *));
    out->sysctl_values = alloc(l, out->n_sysctls, sizeof(char *));
    size_t i = 0;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)(uintptr_t)sysctl, k, v)
    {
        out->sysctl_keys[i] = k;
        out->sysctl_values[i++] = json_string_value(v);
    }
    out->seccomp.custom = json_object_get(x, "seccomp"); /* written as the document it is */
    out->rootfs_propagation = str(x, "rootfsPropagation");
    strings(l, json_object_get(x, "maskedPaths"), &out->masked_paths);
    strings(l, json_object_get(x, "readonlyPaths"), &out->readonly_paths);
    json_t *extra = json_object();
    const char *const extra_keys[] = {"intelRdt", "netDevices"};
    for (size_t e = 0; e < 2; e++) {
        json_t *member = json_object_get(x, extra_keys[e]);
        if (member) {
            json_object_set(extra, extra_keys[e], member);
        }
    }
    out->extra = extra; /* the caller releases it */
}

static void load_hooks(struct loader *l, const json_t *hooks, struct oci_config *out)
{
    out->n_hook_lists = json_object_size(hooks);
    CHECK(out->n_hook_lists <= OCI_HOOK_LISTS_MAX);
    size_t i = 0;
    const char *name;
    json_t *list;
    json_object_foreach((json_t *)(uintptr_t)hooks, name, list)
    {
        struct oci_hook_list *hl = &out->hook_lists[i++];
        hl->name = name;
        hl->n = json_array_size(list);
        hl->hooks = alloc(l, hl->n, sizeof(*hl->hooks));
        for (size_t j = 0; hl->hooks && j < hl->n; j++) {
            const json_t *h = json_array_get(list, j);
            struct oci_hook *o = &hl->hooks[j];
            o->path = str(h, "path");
            strings(l, json_object_get(h, "args"), &o->args);
            strings(l, json_object_get(h, "env"), &o->env);
            o->has_timeout = json_object_get(h, "timeout") != NULL;
            o->timeout = num(h, "timeout");
        }
    }
}

static bool load_config(struct arena *a, const json_t *c, struct oci_config *out)
{
    struct loader l = {.a = a, .ok = true};
    memset(out, 0, sizeof(*out));
    out->oci_version = str(c, "ociVersion");
    out->root_path = str(json_object_get(c, "root"), "path");
    out->root_readonly = json_is_true(json_object_get(json_object_get(c, "root"), "readonly"));
    const json_t *mounts = json_object_get(c, "mounts");
    out->mounts.n = json_array_size(mounts);
    out->mounts.v = alloc(&l, out->mounts.n, sizeof(*out->mounts.v));
    for (size_t i = 0; out->mounts.v && i < out->mounts.n; i++) {
        const json_t *m = json_array_get(mounts, i);
        out->mounts.v[i].destination = str(m, "destination");
        out->mounts.v[i].type = str(m, "type");
        out->mounts.v[i].source = str(m, "source");
        strings(&l, json_object_get(m, "options"), &out->mounts.v[i].options);
    }
    load_process(&l, json_object_get(c, "process"), &out->process);
    out->hostname = str(c, "hostname");
    load_hooks(&l, json_object_get(c, "hooks"), out);
    const json_t *ann = json_object_get(c, "annotations");
    out->n_annotations = json_object_size(ann);
    out->annotation_keys = alloc(&l, out->n_annotations, sizeof(char *));
    out->annotation_values = alloc(&l, out->n_annotations, sizeof(char *));
    size_t i = 0;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)(uintptr_t)ann, k, v)
    {
        out->annotation_keys[i] = k;
        out->annotation_values[i++] = json_string_value(v);
    }
    load_linux(&l, json_object_get(c, "linux"), &out->linux_);
    return l.ok;
}

/* Read back into the typed config and written again: the very same bytes. */
static void write_again(const char *name, const char *text, size_t len, const json_t *doc,
                        void *ctx)
{
    (void)ctx;
    struct arena a;
    arena_init(&a, 1u << 24);
    struct oci_config c;
    CHECK(load_config(&a, doc, &c));
    struct sbuf b;
    sbuf_init(&b, 1u << 24);
    struct jw w;
    jw_init(&w, &b, false, 0);
    oci_write_config(&w, &c);
    CHECK_INT(jw_finish(&w), 0);
    if (sbuf_len(&b) != len || memcmp(sbuf_str(&b), text, len) != 0) {
        size_t at = 0;
        while (at < len && at < sbuf_len(&b) && sbuf_str(&b)[at] == text[at]) {
            at++;
        }
        fprintf(stderr, "%s: written config differs at byte %zu: ...%.60s\n", name, at,
                sbuf_str(&b) + (at > 20 ? at - 20 : 0));
        CHECK(false);
    }
    json_decref((json_t *)(uintptr_t)c.linux_.extra);
    sbuf_free(&b);
    arena_release(&a);
}

static void every_golden_config_is_written_again_byte_for_byte(void)
{
    CHECK(goldens_each(write_again, NULL) >= 10);
}

/* ---- prepared parts (render/prepared.h) ---- */

struct placed {
    const struct render_prepared *p;
    int masked, readonly, capabilities, dev_rules, mounts[2][2];
};

/* Whether `text` holds `before` followed at once by the prepared text. */
static bool placed_after(const char *text, const char *before, const struct oci_prepared *part)
{
    size_t n = strlen(before);
    for (const char *at = strstr(text, before); at; at = strstr(at + 1, before)) {
        if (strncmp(at + n, part->text, part->len) == 0) {
            return true;
        }
    }
    return false;
}

static void count_placed(const char *name, const char *text, size_t len, const json_t *doc,
                         void *ctx)
{
    (void)name;
    (void)len;
    (void)doc;
    struct placed *pl = ctx;
    pl->masked += placed_after(text, "\"maskedPaths\": ", &pl->p->masked_paths);
    pl->readonly += placed_after(text, "\"readonlyPaths\": ", &pl->p->readonly_paths);
    pl->capabilities += placed_after(text, "\"bounding\": ", &pl->p->capabilities);
    pl->dev_rules += placed_after(text, "\"devices\": [", &pl->p->dev_rules);
    for (int priv = 0; priv < 2; priv++) {
        for (int v2 = 0; v2 < 2; v2++) {
            pl->mounts[priv][v2] += placed_after(text, "\"mounts\": [", &pl->p->mounts[priv][v2]);
        }
    }
}

/* Each prepared text is, byte for byte, what the goldens (written item by item) hold after
 * its key: so it was written at the depth the writer is at there, and it is copied there. */
static void prepared_parts_are_the_goldens_bytes_at_their_place(void)
{
    struct render_prepared *p = render_prepared_new();
    CHECK(p != NULL);
    if (!p) {
        return;
    }
    struct placed pl = {.p = p};
    CHECK(goldens_each(count_placed, &pl) >= 10);
    CHECK(pl.masked >= 5 && pl.readonly >= 5 && pl.capabilities >= 3 && pl.dev_rules >= 5);
    CHECK(pl.mounts[0][0] + pl.mounts[0][1] >= 5); /* unprivileged */
    CHECK(pl.mounts[1][0] + pl.mounts[1][1] >= 1); /* the privileged case */
    render_prepared_free(p);
}

static char *write_config_text(const struct oci_config *c, bool compact)
{
    struct sbuf b;
    sbuf_init(&b, 1u << 24);
    struct jw w;
    jw_init(&w, &b, compact, 0);
    oci_write_config(&w, c);
    CHECK_INT(jw_finish(&w), 0);
    return sbuf_take(&b, NULL);
}

/* The writer copies a prepared text exactly where the config holds its items (the same
 * pointers) and it writes pretty at the text's depth; anywhere else it writes the items. The
 * texts here are markers, so the output shows which way each part went. */
static void writer_copies_a_prepared_part_only_for_its_items(void)
{
    size_t len;
    char path[4096];
    snprintf(path, sizeof(path), "%s/tests/render/cases/minimal/expected.json",
             OCIRENDER_SOURCE_DIR);
    char *text = harness_slurp(path, &len);
    json_t *doc = text ? jsonx_loadb(text, len, NULL) : NULL;
    CHECK(doc != NULL);
    struct arena a;
    arena_init(&a, 1u << 24);
    struct oci_config c;
    CHECK(doc && load_config(&a, doc, &c) && c.mounts.n >= 3 && c.linux_.masked_paths.n >= 2);
    if (!doc || c.mounts.n < 3 || c.linux_.masked_paths.n < 2) {
        json_decref(doc);
        free(text);
        arena_release(&a);
        return;
    }
    /* The items as a render's preparation keeps them: copies of the config's. */
    struct oci_mount want_mounts[2] = {c.mounts.v[0], c.mounts.v[1]};
    const char **want_masked = arena_calloc(&a, c.linux_.masked_paths.n, sizeof(char *));
    CHECK(want_masked != NULL);
    memcpy(want_masked, c.linux_.masked_paths.v, c.linux_.masked_paths.n * sizeof(char *));
    char mounts_mark[] = "@MOUNTS@", masked_mark[] = "@MASKED@";
    struct oci_prepared mounts = {.items = want_mounts, .n = 2, .depth = OCI_DEPTH_MOUNTS,
                                  .text = mounts_mark, .len = 8};
    struct oci_prepared masked = {.items = want_masked, .n = c.linux_.masked_paths.n,
                                  .depth = OCI_DEPTH_LINUX_MEMBERS, .text = masked_mark, .len = 8};
    c.mounts.prefix = &mounts;
    c.linux_.masked_text = &masked;
    char *out = write_config_text(&c, false);
    CHECK(out && strstr(out, "\"mounts\": [@MOUNTS@,\n    {") && strstr(out, "\"maskedPaths\": @MASKED@,"));
    free(out);
    /* Compact output is at no prepared depth. */
    out = write_config_text(&c, true);
    CHECK(out && !strstr(out, "@MOUNTS@") && !strstr(out, "@MASKED@"));
    free(out);
    /* Other items: a mount replaced, a list of another length, a text for another depth. */
    struct oci_mount first = c.mounts.v[0];
    c.mounts.v[0].destination = "/elsewhere";
    c.linux_.masked_paths.n--;
    out = write_config_text(&c, false);
    CHECK(out && !strstr(out, "@MOUNTS@") && !strstr(out, "@MASKED@") && strstr(out, "/elsewhere"));
    free(out);
    c.mounts.v[0] = first;
    c.linux_.masked_paths.n++;
    mounts.depth = OCI_DEPTH_MOUNTS + 1;
    out = write_config_text(&c, false);
    CHECK(out && !strstr(out, "@MOUNTS@") && strstr(out, "@MASKED@"));
    free(out);
    json_decref((json_t *)(uintptr_t)c.linux_.extra);
    json_decref(doc);
    free(text);
    arena_release(&a);
}

HARNESS_MAIN(TEST(every_golden_config_is_written_again_byte_for_byte),
             TEST(prepared_parts_are_the_goldens_bytes_at_their_place),
             TEST(writer_copies_a_prepared_part_only_for_its_items))
