/*
 * The cgroup parent fact (client/facts.c, README "The cgroup parent") on fake nodes: a fixture
 * root with /proc/self/cgroup and a /sys/fs/cgroup tree. The parent is reported only when the
 * runtime can create the container's cgroup under it: under cgroup v2 a domain cgroup with no
 * processes in cgroup.procs, under v1/hybrid a directory in the hierarchies the path came from.
 * Otherwise it is omitted with a warning that names the cgroup and the reason. Also: this
 * machine's own facts, rendered into a config that passes validate-oci.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client/facts.h"
#include "common/jsonx.h"
#include "common/strutil.h"
#include "tests/client/fixture.h"
#include "tests/unit/rtest.h"

#define OMITTED "host.cgroup.parent omitted, the runtime's default applies"

/* Warnings that mention cgroups at all (none is expected where the parent is fine). */
static size_t cgroup_warnings(const json_t *warnings)
{
    size_t n = 0;
    for (size_t i = 0; i < json_array_size(warnings); i++) {
        const char *m = jsonx_get_str(json_array_get(warnings, i), "message");
        n += m && strstr(m, "cgroup") != NULL;
    }
    return n;
}

static const char *parent_of(const json_t *facts)
{
    return jsonx_get_str(json_object_get(facts, "cgroup"), "parent");
}

/* A fake cgroup v2 node whose process runs in `cgroup`. */
static const char *v2_node(const char *cgroup)
{
    const char *root = fx_tmpdir("cgv2");
    char line[512];
    snprintf(line, sizeof(line), "0::%s\n", cgroup);
    fx_write(root, "proc/self/cgroup", line);
    fx_write(root, "sys/fs/cgroup/cgroup.controllers", "cpuset cpu io memory hugetlb pids\n");
    fx_write(root, "sys/fs/cgroup/cgroup.procs", "1\n"); /* the root may hold processes */
    return root;
}

/* A cgroup directory under the fake v2 hierarchy with its cgroup.procs and cgroup.type. */
static void v2_cgroup(const char *root, const char *cgroup, const char *procs, const char *type)
{
    char rel[512];
    snprintf(rel, sizeof(rel), "sys/fs/cgroup%s/cgroup.procs", cgroup);
    fx_write(root, rel, procs);
    if (type) {
        snprintf(rel, sizeof(rel), "sys/fs/cgroup%s/cgroup.type", cgroup);
        fx_write(root, rel, type);
    }
}

/* Rendered with these facts (and `server_parent` as the server setting): the cgroupsPath. */
static char *rendered_cgroups_path(json_t *facts, const char *server_parent)
{
    struct render_settings settings = {.default_cgroup_parent = server_parent};
    struct render_params params = {.host = facts};
    struct rt t;
    struct rt_in in = {.spec = "image: {name: \"busybox:1.36\"}\n", .params = &params,
                       .settings = &settings};
    CHECK_INT(rt_render(&t, &in), 0);
    const char *p = json_string_value(rt_get(t.config, "linux.cgroupsPath"));
    char *out = p ? str_dup(p) : NULL;
    rt_free(&t);
    return out;
}

/* ---- cgroup v2 ---- */

static void v2_empty_domain_cgroup_is_reported(void)
{
    const char *root = v2_node("/zlayer.slice/containers");
    v2_cgroup(root, "/zlayer.slice/containers", "", "domain\n");
    json_t *w;
    json_t *f = fx_gather_at(root, 1000, 1000, NULL, &w);
    CHECK_INT(json_integer_value(json_object_get(json_object_get(f, "cgroup"), "version")), 2);
    CHECK_STR(parent_of(f), "/zlayer.slice/containers");
    CHECK_INT(cgroup_warnings(w), 0);
    char *path = rendered_cgroups_path(f, "/server-default");
    CHECK(path != NULL && str_has_prefix(path, "/zlayer.slice/containers/"));
    free(path);
    json_decref(f);
    json_decref(w);

    /* no cgroup.type (kernels before 4.14): the processes decide alone */
    fx_rmtree(root);
    root = v2_node("/zlayer.slice/containers");
    v2_cgroup(root, "/zlayer.slice/containers", "", NULL);
    f = fx_gather_at(root, 1000, 1000, NULL, &w);
    CHECK_STR(parent_of(f), "/zlayer.slice/containers");
    json_decref(f);
    json_decref(w);
    fx_rmtree(root);
}

static void v2_cgroup_with_processes_is_omitted_with_the_reason(void)
{
    const char *root = v2_node("/system.slice/zlayer.service");
    v2_cgroup(root, "/system.slice/zlayer.service", "812\n4711\n", "domain\n");
    json_t *w;
    json_t *f = fx_gather_at(root, 1000, 1000, NULL, &w);
    CHECK(parent_of(f) == NULL);
    const char *why = fx_warning_for(w, "/sys/fs/cgroup/system.slice/zlayer.service/cgroup.procs");
    CHECK_CONTAINS(why, "cgroup /system.slice/zlayer.service holds 2 processes");
    CHECK_CONTAINS(why, "cgroup v2 allows no child cgroups");
    CHECK_CONTAINS(why, OMITTED);
    CHECK_CONTAINS(why, "cgroup_parent in the spec");
    CHECK_CONTAINS(why, "--cgroup-parent on the server");
    /* the server's setting applies, then nothing (the runtime's default) */
    char *path = rendered_cgroups_path(f, "/ocirender");
    CHECK(path != NULL && str_has_prefix(path, "/ocirender/"));
    free(path);
    path = rendered_cgroups_path(f, NULL);
    CHECK(path == NULL);
    free(path);
    json_decref(f);
    json_decref(w);
    fx_rmtree(root);

    /* one process, as when ocirender runs alone in a scope: it counts too */
    root = v2_node("/user.slice/user-1000.slice/session-3.scope");
    v2_cgroup(root, "/user.slice/user-1000.slice/session-3.scope", "2345\n", "domain\n");
    f = fx_gather_at(root, 1000, 1000, NULL, &w);
    CHECK(parent_of(f) == NULL);
    CHECK_CONTAINS(
        fx_warning_for(w, "/sys/fs/cgroup/user.slice/user-1000.slice/session-3.scope/cgroup.procs"),
        "cgroup /user.slice/user-1000.slice/session-3.scope holds 1 process (");
    json_decref(f);
    json_decref(w);
    fx_rmtree(root);

    /* more pids than the reader takes in: still not empty */
    size_t size = (2u << 20) + 1;
    char *many = malloc(size);
    CHECK(many != NULL);
    for (size_t i = 0; i + 1 < size; i += 2) {
        memcpy(many + i, "7\n", 2);
    }
    many[size - 1] = '\0';
    root = v2_node("/big.slice");
    v2_cgroup(root, "/big.slice", many, "domain\n");
    free(many);
    f = fx_gather_at(root, 1000, 1000, NULL, &w);
    CHECK(parent_of(f) == NULL);
    CHECK_CONTAINS(fx_warning_for(w, "/sys/fs/cgroup/big.slice/cgroup.procs"),
                   "cgroup /big.slice holds more processes than fit in");
    json_decref(f);
    json_decref(w);
    fx_rmtree(root);
}

static void v2_missing_or_odd_cgroup_is_omitted(void)
{
    /* not under /sys/fs/cgroup at all (another namespace's view, or removed) */
    const char *root = v2_node("/system.slice/gone.service");
    json_t *w;
    json_t *f = fx_gather_at(root, 1000, 1000, NULL, &w);
    CHECK(parent_of(f) == NULL);
    const char *why = fx_warning_for(w, "/sys/fs/cgroup/system.slice/gone.service");
    CHECK_CONTAINS(why, "cgroup /system.slice/gone.service cannot be used there");
    CHECK_CONTAINS(why, "does not exist");
    CHECK_CONTAINS(why, OMITTED);
    json_decref(f);
    json_decref(w);
    fx_rmtree(root);

    /* a file where the directory should be */
    root = v2_node("/a/b");
    fx_write(root, "sys/fs/cgroup/a/b", "x");
    f = fx_gather_at(root, 1000, 1000, NULL, &w);
    CHECK(parent_of(f) == NULL);
    CHECK_CONTAINS(fx_warning_for(w, "/sys/fs/cgroup/a/b"), "not a directory");
    json_decref(f);
    json_decref(w);
    fx_rmtree(root);

    /* a threaded cgroup holds threads, not a container's domain cgroup */
    root = v2_node("/app.slice/db.service");
    v2_cgroup(root, "/app.slice/db.service", "", "threaded\n");
    f = fx_gather_at(root, 1000, 1000, NULL, &w);
    CHECK(parent_of(f) == NULL);
    why = fx_warning_for(w, "/sys/fs/cgroup/app.slice/db.service/cgroup.type");
    CHECK_CONTAINS(why, "cgroup /app.slice/db.service is of type 'threaded'");
    CHECK_CONTAINS(why, OMITTED);
    json_decref(f);
    json_decref(w);
    fx_rmtree(root);

    /* cgroup.procs that cannot be read: unknown is not empty */
    root = v2_node("/app.slice/x.service");
    fx_mkdir(root, "sys/fs/cgroup/app.slice/x.service/cgroup.procs");
    f = fx_gather_at(root, 1000, 1000, NULL, &w);
    CHECK(parent_of(f) == NULL);
    why = fx_warning_for(w, "/sys/fs/cgroup/app.slice/x.service/cgroup.procs");
    CHECK_CONTAINS(why, "cannot read it (not a regular file)");
    CHECK_CONTAINS(why, OMITTED);
    json_decref(f);
    json_decref(w);
    fx_rmtree(root);
}

static void v2_root_is_no_parent_and_no_warning(void)
{
    const char *root = v2_node("/");
    json_t *w;
    json_t *f = fx_gather_at(root, 1000, 1000, NULL, &w);
    CHECK(parent_of(f) == NULL);
    CHECK_INT(cgroup_warnings(w), 0);
    json_decref(f);
    json_decref(w);
    fx_rmtree(root);
}

static void v2_paths_from_outside_the_namespace_are_not_used(void)
{
    const char *root = v2_node("/../../outside");
    fx_mkdir(root, "sys/fs/cgroup/outside");
    json_t *w;
    json_t *f = fx_gather_at(root, 1000, 1000, NULL, &w);
    CHECK(parent_of(f) == NULL);
    CHECK_CONTAINS(fx_warning_for(w, "/proc/self/cgroup"), "not usable as a parent");
    json_decref(f);
    json_decref(w);
    fx_rmtree(root);
}

/* ---- cgroup v1 and hybrid: no internal-process rule, the directory must exist ---- */

static const char *v1_node(const char *proc_cgroup)
{
    const char *root = fx_tmpdir("cgv1");
    fx_write(root, "proc/self/cgroup", proc_cgroup);
    fx_mkdir(root, "sys/fs/cgroup");
    return root;
}

static void v1_name_systemd_directory_with_processes_is_reported(void)
{
    const char *root = v1_node("12:memory:/docker/abc\n"
                               "11:cpu,cpuacct:/docker/abc\n"
                               "1:name=systemd:/system.slice/zlayer.service\n"
                               "0::/system.slice/zlayer.service\n");
    fx_write(root, "sys/fs/cgroup/systemd/system.slice/zlayer.service/cgroup.procs", "812\n");
    json_t *w;
    json_t *f = fx_gather_at(root, 1000, 1000, NULL, &w);
    CHECK_INT(json_integer_value(json_object_get(json_object_get(f, "cgroup"), "version")), 1);
    CHECK_STR(parent_of(f), "/system.slice/zlayer.service");
    CHECK_INT(cgroup_warnings(w), 0);
    json_decref(f);
    json_decref(w);
    fx_rmtree(root);
}

static void v1_missing_hierarchy_directory_is_omitted(void)
{
    const char *root = v1_node("1:name=systemd:/system.slice/zlayer.service\n");
    json_t *w;
    json_t *f = fx_gather_at(root, 1000, 1000, NULL, &w);
    CHECK(parent_of(f) == NULL);
    const char *why = fx_warning_for(w, "/sys/fs/cgroup/systemd/system.slice/zlayer.service");
    CHECK_CONTAINS(why, "cgroup /system.slice/zlayer.service cannot be used there");
    CHECK_CONTAINS(why, OMITTED);
    json_decref(f);
    json_decref(w);
    fx_rmtree(root);
}

static void v1_hybrid_without_systemd_uses_the_unified_mount(void)
{
    const char *root = v1_node("4:memory:/a\n3:pids:/b\n0::/machine.slice/x.scope\n");
    fx_mkdir(root, "sys/fs/cgroup/unified/machine.slice/x.scope");
    json_t *w;
    json_t *f = fx_gather_at(root, 1000, 1000, NULL, &w);
    CHECK_STR(parent_of(f), "/machine.slice/x.scope");
    json_decref(f);
    json_decref(w);
    fx_rmtree(root);
}

static void v1_agreeing_controllers_need_every_hierarchy(void)
{
    const char *proc = "4:memory:/svc/a\n3:pids:/svc/a\n2:cpu,cpuacct:/svc/a\n";
    const char *root = v1_node(proc);
    fx_mkdir(root, "sys/fs/cgroup/memory/svc/a");
    fx_mkdir(root, "sys/fs/cgroup/pids/svc/a");
    fx_mkdir(root, "sys/fs/cgroup/cpu,cpuacct/svc/a");
    json_t *w;
    json_t *f = fx_gather_at(root, 1000, 1000, NULL, &w);
    CHECK_STR(parent_of(f), "/svc/a");
    CHECK_INT(cgroup_warnings(w), 0);
    json_decref(f);
    json_decref(w);
    fx_rmtree(root);

    root = v1_node(proc);
    fx_mkdir(root, "sys/fs/cgroup/memory/svc/a");
    fx_mkdir(root, "sys/fs/cgroup/cpu,cpuacct/svc/a");
    f = fx_gather_at(root, 1000, 1000, NULL, &w);
    CHECK(parent_of(f) == NULL);
    CHECK_CONTAINS(fx_warning_for(w, "/sys/fs/cgroup/pids/svc/a"), "does not exist");
    json_decref(f);
    json_decref(w);
    fx_rmtree(root);
}

static void v1_disagreeing_controllers_warn(void)
{
    const char *root = v1_node("4:memory:/a\n3:pids:/b\n");
    json_t *w;
    json_t *f = fx_gather_at(root, 1000, 1000, NULL, &w);
    CHECK(parent_of(f) == NULL);
    CHECK_CONTAINS(fx_warning_for(w, "/proc/self/cgroup"), "different cgroups");
    json_decref(f);
    json_decref(w);
    fx_rmtree(root);
}

/* ---- this machine ---- */

/*
 * The real node: a parent is reported only where the rule allows, any omission says why, and
 * the facts render into a valid config. Under v2 ocirender's own process is in the cgroup it
 * reads, so a real v2 node never reports the cgroup it runs in.
 */
static void this_machines_facts(void)
{
    struct facts_sources src;
    facts_sources_default(&src);
    json_t *w;
    struct err err;
    err_init(&err);
    json_t *f = facts_gather(NULL, &src, &w, &err);
    CHECK(f != NULL);
    long long version = json_integer_value(json_object_get(json_object_get(f, "cgroup"),
                                                           "version"));
    CHECK(version == 1 || version == 2);
    const char *parent = parent_of(f);
    printf("# this machine: cgroup v%lld, parent %s, %zu cgroup warning(s)\n", version,
           parent ? parent : "(none)", cgroup_warnings(w));
    for (size_t i = 0; i < json_array_size(w); i++) {
        printf("#   %s: %s\n", jsonx_get_str(json_array_get(w, i), "path"),
               jsonx_get_str(json_array_get(w, i), "message"));
    }
    if (version == 2) {
        CHECK(parent == NULL);
    }
    if (parent) {
        CHECK(parent[0] == '/' && strcmp(parent, "/") != 0);
    }
    char *path = rendered_cgroups_path(f, NULL);
    CHECK_INT(path != NULL, parent != NULL);
    free(path);
    json_decref(f);
    json_decref(w);
}

RT_MAIN(TEST(v2_empty_domain_cgroup_is_reported),
        TEST(v2_cgroup_with_processes_is_omitted_with_the_reason),
        TEST(v2_missing_or_odd_cgroup_is_omitted), TEST(v2_root_is_no_parent_and_no_warning),
        TEST(v2_paths_from_outside_the_namespace_are_not_used),
        TEST(v1_name_systemd_directory_with_processes_is_reported),
        TEST(v1_missing_hierarchy_directory_is_omitted),
        TEST(v1_hybrid_without_systemd_uses_the_unified_mount),
        TEST(v1_agreeing_controllers_need_every_hierarchy), TEST(v1_disagreeing_controllers_warn),
        TEST(this_machines_facts))
