/*
 * The typed schema walk (render/model.h, render/spec_model.c) must accept exactly what the
 * jansson schema walk accepts, report the same issues at the same paths, and store the same
 * values. Checked on the examples, the golden specs, the bad-input corpus and a few thousand
 * mutations of them (each scalar replaced by values of other types).
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/jsonx.h"
#include "common/sbuf.h"
#include "render/doc.h"
#include "render/dom.h"
#include "render/internal.h"
#include "render/spec.h"
#include "render/request_model.h"
#include "render/spec_model.h"
#include "tests/harness.h"

static int compared, mismatched;

static bool same_value(const struct mtype *t, const void *st, const json_t *old);

static bool zero(const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        if (b[i]) {
            return false;
        }
    }
    return true;
}

static bool same_fields(const struct mfield *fields, const char *obj, const json_t *old)
{
    for (const struct mfield *f = fields; f && f->name; f++) {
        if (!f->at || strcmp(f->name, "host_network") == 0) {
            continue;
        }
        const void *st = obj + f->at - 1;
        const json_t *o = json_object_get(old, f->name);
        if (!o) {
            if (!zero(st, mtype_storage(f->type))) {
                fprintf(stderr, "field %s: stored but absent before\n", f->name);
                return false;
            }
        } else if (!same_value(f->type, st, o)) {
            fprintf(stderr, "field %s differs\n", f->name);
            return false;
        }
    }
    return true;
}

static bool same_value(const struct mtype *t, const void *st, const json_t *old)
{
    switch (t->kind) {
    case MK_STRING:
    case MK_ENUM:
        return *(const char *const *)st && json_is_string(old) &&
               strcmp(*(const char *const *)st, json_string_value(old)) == 0;
    case MK_BOOL: {
        const struct opt_bool *b = st;
        return b->set && json_is_boolean(old) && b->v == json_is_true(old);
    }
    case MK_INT: {
        const struct opt_i64 *i = st;
        return i->set && json_is_integer(old) && i->v == json_integer_value(old);
    }
    case MK_FLOAT: {
        const struct opt_f64 *d = st;
        return d->set && json_is_real(old) && d->v == json_real_value(old);
    }
    case MK_CUSTOM:
        if (strcmp(t->what, "a list of strings") == 0) { /* present-or-not lists */
            const struct opt_list *l = st;
            return l->set && same_value(&mt_string_list, &l->list, old);
        }
        if (strcmp(t->what, "a CDI spec") == 0 || strcmp(t->what, "a seccomp profile") == 0) {
            return jsonx_equal(*(json_t *const *)st, old);
        }
        if (strcmp(t->what, "an image config") == 0) {
            return same_value(&request_image_config_object_mtype, st, old);
        }
        if (strcmp(t->what, "a list of [name, value] pairs") == 0) {
            const struct mlist *l = st;
            if (l->n != json_array_size(old)) {
                return false;
            }
            for (size_t i = 0; i < l->n; i++) {
                const struct env_pair *e = mlist_ptr(l, i);
                const json_t *pair = json_array_get(old, i);
                if (strcmp(e->name, json_string_value(json_array_get(pair, 0))) != 0 ||
                    strcmp(e->value, json_string_value(json_array_get(pair, 1))) != 0) {
                    return false;
                }
            }
            return true;
        }
        if (t->size == sizeof(struct opt_i64) && json_is_integer(old)) {
            const struct opt_i64 *i = st;
            return i->set && i->v == json_integer_value(old);
        }
        return json_is_string(old) && *(const char *const *)st &&
               strcmp(*(const char *const *)st, json_string_value(old)) == 0;
    case MK_OBJECT:
        return !t->size || same_fields(t->fields, *(const char *const *)st, old);
    case MK_TAGGED: {
        if (!t->size) {
            return true;
        }
        const char *tag = json_string_value(json_object_get(old, t->tag));
        for (const struct mvariant *v = t->variants; v->name; v++) {
            if (tag && strcmp(v->name, tag) == 0) {
                const char *obj = *(const char *const *)st;
                return (!t->tag_at || strcmp(*(const char *const *)(obj + t->tag_at - 1), tag) ==
                                          0) &&
                       same_fields(v->fields, obj, old);
            }
        }
        return false;
    }
    case MK_LIST: {
        const struct mlist *l = st;
        size_t es = mtype_storage(t->elem);
        if (l->n != json_array_size(old)) {
            return false;
        }
        for (size_t i = 0; i < l->n; i++) {
            if (!same_value(t->elem, (const char *)l->v + i * es, json_array_get(old, i))) {
                return false;
            }
        }
        return true;
    }
    case MK_MAP: {
        const struct mmap *m = st;
        size_t es = mtype_storage(t->elem);
        if (m->n != json_object_size(old)) {
            return false;
        }
        size_t i = 0;
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)(uintptr_t)old, k, v)
        {
            if (strcmp(m->keys[i], k) != 0 ||
                !same_value(t->elem, (const char *)m->v + i * es, v)) {
                return false;
            }
            i++;
        }
        return true;
    }
    case MK_ANY: return true;
    }
    return false;
}

static bool same_issues(const struct err *a, const struct err *b)
{
    if (a->code != b->code || err_issue_count(a) != err_issue_count(b)) {
        return false;
    }
    for (unsigned i = 0; i < err_issue_count(a); i++) {
        const struct err_issue *x = err_issue_at(a, i), *y = err_issue_at(b, i);
        if (strcmp(x->path, y->path) != 0 || strcmp(x->msg, y->msg) != 0) {
            fprintf(stderr, "  issue %u: old '%s: %s' new '%s: %s'\n", i, x->path, x->msg,
                    y->path, y->msg);
            return false;
        }
    }
    return true;
}

/* Walk `text` both ways as a DeploymentSpec (or a bare ServiceSpec without `version`, or an
 * envelope). Returns whether the document was valid. */
static bool check_walks_agree(const char *text, size_t len, const char *what)
{
    struct doc doc;
    struct err perr;
    err_init(&perr);
    if (doc_parse(text, len, 0, &doc, &perr)) {
        return false; /* syntax: the loaders' parity is tested in unit_substrate */
    }
    struct arena a;
    arena_init(&a, 1u << 26);
    struct dnode *root = dom_parse(&a, text, len, 0, NULL, &perr);
    CHECK(root != NULL);
    bool deployment = json_object_get(doc.root, "version") != NULL;
    bool envelope = json_object_get(doc.root, "spec") != NULL;
    const struct stype *ot = envelope     ? &request_envelope_type
                             : deployment ? &spec_deployment_type
                                          : &spec_service_type;
    const struct mtype *nt = envelope     ? &request_envelope_mtype
                             : deployment ? &spec_deployment_mtype
                                          : &spec_service_mtype;

    static struct err_issues oi, ni;
    struct err oe, ne;
    err_init_issues(&oe, &oi);
    err_init_issues(&ne, &ni);
    struct walk ow;
    walk_init(&ow, &doc, &oe, "");
    json_t *old = walk_norm(&ow, ot, doc.root);
    struct mwalk nw;
    mwalk_init(&nw, &a, &ne, "");
    void *obj = NULL;
    int rc = root ? mwalk_fill(&nw, nt, root, &obj) : -1;
    compared++;
    bool ok = (old != NULL) == (rc == 0) && same_issues(&oe, &ne) &&
              (!old || same_value(nt, &obj, old));
    if (envelope && obj) {
        request_model_release_cdi(((struct envelope *)obj)->host);
        request_model_release_options(((struct envelope *)obj)->options);
    }
    if (ok && old && !deployment && !envelope) {
        ok = ((const struct spec_service *)obj)->host_network ==
             json_is_true(json_object_get(old, "host_network"));
    }
    if (!ok) {
        mismatched++;
        fprintf(stderr, "walks disagree on %s: old %s (%s: %s), new %s (%s: %s)\n", what,
                old ? "ok" : "error", err_path(&oe), err_message(&oe), rc ? "error" : "ok",
                err_path(&ne), err_message(&ne));
    }
    bool valid = old != NULL;
    json_decref(old);
    doc_release(&doc);
    arena_release(&a);
    return valid;
}

/* Replace the value after the n-th ": " (or "- ") with each replacement in turn. */
static void check_mutations(const char *text, const char *what)
{
    static const char *const values[] = {"x", "0", "-1", "1.5", "true", "~", "[a, 1]",
                                         "{a: b}", "''", "0o17", "99999999999999999999",
                                         "bridge:x", "1777", "512Mi", "cron", "host"};
    size_t len = strlen(text);
    for (size_t pos = 0; pos + 2 < len; pos++) {
        bool colon = text[pos] == ':' && text[pos + 1] == ' ';
        bool dash = text[pos] == '-' && text[pos + 1] == ' ' && (pos == 0 || text[pos - 1] == ' ' ||
                                                                 text[pos - 1] == '\n');
        if (!colon && !dash) {
            continue;
        }
        size_t vstart = pos + 2, vend = vstart;
        while (vend < len && text[vend] != '\n') {
            vend++;
        }
        for (size_t v = 0; v < sizeof(values) / sizeof(values[0]); v++) {
            struct sbuf b;
            sbuf_init(&b, len + 64);
            if (sbuf_addn(&b, text, vstart) || sbuf_add(&b, values[v]) ||
                sbuf_addn(&b, text + vend, len - vend)) {
                CHECK(false);
                return;
            }
            char label[256];
            snprintf(label, sizeof(label), "%s at byte %zu = %s", what, vstart, values[v]);
            check_walks_agree(sbuf_str(&b), sbuf_len(&b), label);
            sbuf_free(&b);
        }
    }
}

static void for_each_file(const char *rel, const char *suffix, bool mutate)
{
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s/%s", OCIRENDER_SOURCE_DIR, rel);
    DIR *d = opendir(dir);
    for (struct dirent *e; d && (e = readdir(d));) {
        size_t l = strlen(e->d_name), sl = strlen(suffix);
        if (e->d_name[0] == '.' || l < sl || strcmp(e->d_name + l - sl, suffix) != 0) {
            continue;
        }
        char path[4600];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        size_t len;
        char *text = harness_slurp(path, &len);
        if (text) {
            check_walks_agree(text, len, path);
            if (mutate) {
                check_mutations(text, path);
            }
        }
        free(text);
    }
    if (d) {
        closedir(d);
    }
}

/* Every stored field and every cross-field rule at least once. */
static const char kitchen_sink[] =
    "version: v1\n"
    "deployment: sink\n"
    "services:\n"
    "  web:\n"
    "    rtype: cron\n"
    "    schedule: 0 0 * * * *\n"
    "    image: {name: ghcr.io/acme/web:1.2}\n"
    "    resources:\n"
    "      cpu: 0.5\n"
    "      memory: 512Mi\n"
    "      pids_limit: 100\n"
    "      cpuset: 0-1\n"
    "      cpu_shares: 512\n"
    "      memory_swap: -1\n"
    "      memory_reservation: 256Mi\n"
    "      memory_swappiness: 10\n"
    "      oom_score_adj: -5\n"
    "      oom_kill_disable: true\n"
    "      blkio_weight: 300\n"
    "      gpu: {count: 2, vendor: nvidia, mode: x, model: a100, sharing: mps,\n"
    "            distributed: {backend: nccl, master_port: 29500}, mps_pipe_dir: /p,\n"
    "            mps_log_dir: /l, time_slice_index: 1, time_slicing_config_path: /t}\n"
    "    env: {A: '1', B: two, C: 3}\n"
    "    command: {entrypoint: [/bin/app], args: [--x, '1'], workdir: /srv}\n"
    "    endpoints: [{name: http, protocol: http, port: 80}, {name: grpc, protocol: tcp, port: 81}]\n"
    "    scale: {mode: adaptive, min: 1, max: 3}\n"
    "    replica_groups: [{role: leader, count: 1}]\n"
    "    depends: [{service: db, condition: healthy}]\n"
    "    devices: [{path: /dev/fuse, read: true, write: false, mknod: true}]\n"
    "    storage:\n"
    "      - {type: bind, source: /a, target: /b, readonly: true}\n"
    "      - {type: named, name: data, target: /d, tier: cached, size: 1Gi}\n"
    "      - {type: anonymous, target: /e}\n"
    "      - {type: tmpfs, target: /t, size: 64Mi, mode: 1777}\n"
    "      - {type: s3, bucket: b, prefix: p, target: /s, readonly: false}\n"
    "    capabilities: [NET_ADMIN]\n"
    "    cap_drop: [MKNOD]\n"
    "    privileged: false\n"
    "    host_network: true\n"
    "    cgroup_parent: /x\n"
    "    hostname: web-1\n"
    "    dns: [1.1.1.1]\n"
    "    extra_hosts: ['db:10.0.0.2']\n"
    "    labels: {team: a, tier: web}\n"
    "    user: '1000:1000'\n"
    "    stop_signal: SIGTERM\n"
    "    sysctls: {net.ipv4.ip_forward: '1'}\n"
    "    ulimits: {nofile: {soft: 10}, nproc: {hard: 20}, core: {soft: 1, hard: 2}}\n"
    "    security_opt: [no-new-privileges]\n"
    "    pid_mode: host\n"
    "    ipc_mode: host\n"
    "    extra_groups: [video]\n"
    "    read_only_root_fs: true\n"
    "    tty: true\n"
    "    stdin_open: false\n"
    "    userns_mode: host\n"
    "  db:\n"
    "    image: {name: postgres}\n"
    "    network_mode: {bridge: {name: b0}}\n"
    "  side:\n"
    "    image: {name: busybox}\n"
    "    network_mode: {container: {id: abc}}\n";

/* Envelopes: host facts of every kind, options, container, image config. */
static const char envelope_sink[] =
    "spec: {image: {name: busybox}}\n"
    "service: web\n"
    "container: {service: web, replica: 2, role: leader, node_id: 7}\n"
    "image_config: {config: {Entrypoint: [/e], Cmd: [c], Env: ['A=1'], WorkingDir: /w,\n"
    "               User: '1:1', Labels: {x: y}}}\n"
    "options:\n"
    "  hostname: h\n"
    "  host_network: false\n"
    "  cwd: /c\n"
    "  args: [a, b]\n"
    "  env: [[K, v], [L, '2']]\n"
    "  volume_paths: {data: /v}\n"
    "  socket_path: /run/s.sock\n"
    "  bundle_dir: /b\n"
    "  scope: s\n"
    "  oci_version: 1.0.2\n"
    "  seccomp_profile: {defaultAction: SCMP_ACT_ERRNO, architectures: [SCMP_ARCH_X86_64],\n"
    "                    syscalls: [{names: [read, write], action: SCMP_ACT_ALLOW}]}\n"
    "host:\n"
    "  arch: x86_64\n"
    "  user: {uid: 1000, gid: 1000, name: u}\n"
    "  subuid: {start: 100000, count: 65536}\n"
    "  subgid: {start: 100000, count: 65536}\n"
    "  cgroup: {version: 2, parent: /p}\n"
    "  devices: [{path: /dev/nvidia0, type: c, major: 195, minor: 0, mode: 438, uid: 0, gid: 0}]\n"
    "  dirs: []\n"
    "  files: [/etc/x]\n"
    "  env: {HOME: /root}\n"
    "  rootfs: {passwd: 'root:x:0:0::/root:/bin/sh', group: 'root:x:0:'}\n"
    "  wsl: {kernel: 5.15.0-microsoft-standard-WSL2, distro: Debian, dxg: {major: 10, minor: 63},\n"
    "        lib_dirs: [/usr/lib/wsl/lib]}\n"
    "  cdi:\n"
    "    - {priority: 1, path: /etc/cdi/n.yaml, spec: {cdiVersion: 0.6.0, kind: nvidia.com/gpu,\n"
    "       devices: [{name: '0', containerEdits: {deviceNodes: [{path: /dev/nvidia0}]}}]}}\n";

/* Each golden case's host facts and options, inside an envelope. */
static void check_golden_envelopes(void)
{
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s/tests/render/cases", OCIRENDER_SOURCE_DIR);
    DIR *d = opendir(dir);
    for (struct dirent *e; d && (e = readdir(d));) {
        if (e->d_name[0] == '.') {
            continue;
        }
        char path[4600];
        size_t hl = 0, ol = 0;
        snprintf(path, sizeof(path), "%s/%s/host.json", dir, e->d_name);
        char *host = harness_slurp(path, &hl);
        snprintf(path, sizeof(path), "%s/%s/options.json", dir, e->d_name);
        char *options = harness_slurp(path, &ol);
        struct sbuf b;
        sbuf_init(&b, 1u << 22);
        if (sbuf_addf(&b, "{\"spec\": {\"image\": {\"name\": \"busybox\"}}, \"host\": %s, "
                          "\"options\": %s}",
                      host ? host : "{}", options ? options : "{}")) {
            CHECK(false);
        } else {
            check_walks_agree(sbuf_str(&b), sbuf_len(&b), e->d_name);
        }
        sbuf_free(&b);
        free(host);
        free(options);
    }
    if (d) {
        closedir(d);
    }
}

static void typed_walk_matches_the_schema_walk(void)
{
    CHECK(check_walks_agree(envelope_sink, strlen(envelope_sink), "envelope sink"));
    check_mutations(envelope_sink, "envelope sink");
    check_golden_envelopes();
    CHECK(check_walks_agree(kitchen_sink, strlen(kitchen_sink), "kitchen sink"));
    check_mutations(kitchen_sink, "kitchen sink");
    for_each_file("examples", ".yaml", true);
    for_each_file("tests/corpus/bad", ".yaml", false);
    for_each_file("tests/corpus/bad", ".json", false);
    fprintf(stderr, "%d documents compared, %d mismatched\n", compared, mismatched);
    CHECK(compared > 1000);
    CHECK_INT(mismatched, 0);
}

HARNESS_MAIN(TEST(typed_walk_matches_the_schema_walk))
