/*
 * WSL2 facts (client/facts.c, docs/wsl2.md) from fake WSL2 nodes: a fixture root with
 * /proc/sys/kernel/osrelease, a /dev/dxg character device made with mknod (as root) and the
 * WSL library directories. Also: nothing WSL-specific on other kernels, including this
 * machine's own facts, and the facts rendered into a config that passes validate-oci.
 */
#define _GNU_SOURCE /* makedev, mknod */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "client/facts.h"
#include "common/jsonx.h"
#include "common/strutil.h"
#include "tests/client/fixture.h"
#include "tests/unit/rtest.h"

#define WSL_RELEASE "5.15.167.4-microsoft-standard-WSL2"

/* A fake WSL2 node: `release` as the kernel, /dev/dxg as c major:minor when `dxg`, and the
 * library directories named in `libs` ("lib", "drivers", both or none). */
static const char *fake_node(const char *release, bool dxg, unsigned major, unsigned minor,
                             bool lib, bool drivers)
{
    const char *root = fx_tmpdir("wsl");
    char text[256];
    snprintf(text, sizeof(text), "%s\n", release);
    fx_write(root, "proc/sys/kernel/osrelease", text);
    fx_mkdir(root, "dev");
    if (dxg) {
        CHECK_INT(mknod(fx_path(root, "dev/dxg"), S_IFCHR | 0666, makedev(major, minor)), 0);
    }
    if (lib) {
        fx_mkdir(root, "usr/lib/wsl/lib");
    }
    if (drivers) {
        fx_mkdir(root, "usr/lib/wsl/drivers");
    }
    return root;
}

static void full_wsl2_node(void)
{
    if (geteuid() != 0) {
        SKIP("mknod of a fake /dev/dxg needs root");
    }
    const char *root = fake_node(WSL_RELEASE, true, 10, 63, true, true);
    json_t *w;
    json_t *f = fx_gather_at(root, 0, 0, "Ubuntu-24.04", &w);
    json_t *want = json_loads("{\"kernel\": \"" WSL_RELEASE "\", \"distro\": \"Ubuntu-24.04\", "
                              "\"dxg\": {\"major\": 10, \"minor\": 63}, \"lib_dirs\": "
                              "[\"/usr/lib/wsl/lib\", \"/usr/lib/wsl/drivers\"]}",
                              0, NULL);
    CHECK(json_equal(json_object_get(f, "wsl"), want));
    CHECK(fx_warning_for(w, "/proc/sys/kernel/osrelease") == NULL);
    json_decref(want);
    json_decref(f);
    json_decref(w);
    fx_rmtree(root);

    /* numbers past 8 bits: the real major()/minor() */
    root = fake_node(WSL_RELEASE, true, 511, 70000, false, false);
    f = fx_gather_at(root, 0, 0, NULL, &w);
    const json_t *wsl = json_object_get(f, "wsl");
    CHECK_INT(json_integer_value(json_object_get(json_object_get(wsl, "dxg"), "major")), 511);
    CHECK_INT(json_integer_value(json_object_get(json_object_get(wsl, "dxg"), "minor")), 70000);
    CHECK(json_object_get(wsl, "distro") == NULL);
    CHECK_INT(json_array_size(json_object_get(wsl, "lib_dirs")), 0);
    json_decref(f);
    json_decref(w);
    fx_rmtree(root);
}

static void partial_wsl2_nodes(void)
{
    /* no GPU support: no dxg, only what exists */
    const char *root = fake_node("6.6.36.6-microsoft-standard-WSL2", false, 0, 0, true, false);
    json_t *w;
    json_t *f = fx_gather_at(root, 0, 0, "", &w);
    const json_t *wsl = json_object_get(f, "wsl");
    CHECK_STR(jsonx_get_str(wsl, "kernel"), "6.6.36.6-microsoft-standard-WSL2");
    CHECK(json_object_get(wsl, "dxg") == NULL);
    CHECK(json_object_get(wsl, "distro") == NULL); /* an empty name is no name */
    CHECK_INT(json_array_size(json_object_get(wsl, "lib_dirs")), 1);
    CHECK_STR(json_string_value(json_array_get(json_object_get(wsl, "lib_dirs"), 0)),
              "/usr/lib/wsl/lib");
    CHECK_INT(json_array_size(w), 1); /* only the fixture's missing /proc/self/cgroup */
    json_decref(f);
    json_decref(w);
    fx_rmtree(root);

    /* a /dev/dxg that is no character device, a lib "directory" that is a file */
    root = fake_node("5.10.102.1-microsoft-standard-WSL2", false, 0, 0, false, true);
    fx_write(root, "dev/dxg", "not a device");
    fx_write(root, "usr/lib/wsl/lib", "not a directory");
    f = fx_gather_at(root, 0, 0, NULL, &w);
    wsl = json_object_get(f, "wsl");
    CHECK(wsl != NULL);
    CHECK(json_object_get(wsl, "dxg") == NULL);
    CHECK_CONTAINS(fx_warning_for(w, "/dev/dxg"), "not a character device");
    CHECK_INT(json_array_size(json_object_get(wsl, "lib_dirs")), 1);
    CHECK_STR(json_string_value(json_array_get(json_object_get(wsl, "lib_dirs"), 0)),
              "/usr/lib/wsl/drivers");
    json_decref(f);
    json_decref(w);
    fx_rmtree(root);

    /* a custom kernel built from Microsoft's tree keeps the -WSL2 suffix */
    root = fake_node("6.1.21.2-custom-WSL2", false, 0, 0, false, false);
    f = fx_gather_at(root, 0, 0, NULL, &w);
    CHECK_STR(jsonx_get_str(json_object_get(f, "wsl"), "kernel"), "6.1.21.2-custom-WSL2");
    json_decref(f);
    json_decref(w);
    fx_rmtree(root);

    /* a distro name that is not printable ASCII is not sent */
    root = fake_node(WSL_RELEASE, false, 0, 0, false, false);
    f = fx_gather_at(root, 0, 0, "Ubu\ntu", &w);
    CHECK(json_object_get(json_object_get(f, "wsl"), "distro") == NULL);
    CHECK_CONTAINS(fx_warning_for(w, "WSL_DISTRO_NAME"), "not printable");
    json_decref(f);
    json_decref(w);
    fx_rmtree(root);
}

static void nothing_wsl_on_other_kernels(void)
{
    static const char *const releases[] = {"6.1.0-13-amd64", "4.4.0-19041-Microsoft", "", NULL};
    for (size_t i = 0; i < sizeof(releases) / sizeof(releases[0]); i++) {
        /* even with the WSL paths present: the kernel decides */
        const char *root = fx_tmpdir("notwsl");
        if (releases[i]) {
            char text[128];
            snprintf(text, sizeof(text), "%s\n", releases[i]);
            fx_write(root, "proc/sys/kernel/osrelease", text);
        }
        fx_write(root, "dev/dxg", "x");
        fx_mkdir(root, "usr/lib/wsl/lib");
        fx_mkdir(root, "usr/lib/wsl/drivers");
        json_t *w;
        json_t *f = fx_gather_at(root, 0, 0, "Ubuntu", &w);
        CHECK(json_object_get(f, "wsl") == NULL);
        CHECK(fx_warning_for(w, "/dev/dxg") == NULL);
        const char *why = fx_warning_for(w, "/proc/sys/kernel/osrelease");
        if (releases[i] && strstr(releases[i], "Microsoft")) {
            CHECK_CONTAINS(why, "WSL1");
        } else {
            CHECK(why == NULL);
        }
        json_decref(f);
        json_decref(w);
        fx_rmtree(root);
    }
}

/* This machine's own facts: WSL facts exactly when its kernel is a WSL2 kernel. */
static void this_machines_facts(void)
{
    char release[256] = "";
    FILE *in = fopen("/proc/sys/kernel/osrelease", "r"); /* /proc sizes read as 0: no slurp */
    if (!in || !fgets(release, sizeof(release), in) || !release[0]) {
        if (in) {
            fclose(in);
        }
        SKIP("no kernel release in /proc/sys/kernel/osrelease on this machine");
    }
    fclose(in);
    bool wsl2 = strcasestr(release, "microsoft-standard") || strstr(release, "WSL2");
    struct facts_sources src;
    facts_sources_default(&src);
    json_t *w;
    struct err err;
    err_init(&err);
    json_t *f = facts_gather(NULL, &src, &w, &err);
    CHECK(f != NULL);
    printf("# this machine's kernel: %s", release);
    CHECK_INT(json_object_get(f, "wsl") != NULL, wsl2);
    if (!wsl2) {
        for (size_t i = 0; i < json_array_size(w); i++) {
            CHECK(strstr(jsonx_get_str(json_array_get(w, i), "message"), "WSL") == NULL);
        }
    }
    json_decref(f);
    json_decref(w);
}

/* Facts of a fake WSL2 node, rendered: /dev/dxg with its rule; the config passes validate-oci. */
static void fake_node_facts_render(void)
{
    if (geteuid() != 0) {
        SKIP("mknod of a fake /dev/dxg needs root");
    }
    const char *root = fake_node(WSL_RELEASE, true, 10, 63, true, true);
    json_t *w;
    json_t *host = fx_gather_at(root, 0, 0, "Ubuntu", &w);
    struct render_params params = {.host = host};
    struct rt t;
    struct rt_in in = {.spec = "image: {name: \"cuda:12\"}\ncommand: {entrypoint: [/app]}\n"
                               "resources: {gpu: {count: 1}}\n",
                       .params = &params};
    CHECK_INT(rt_render(&t, &in), 0);
    CHECK(rt_device(t.config, "/dev/dxg") != NULL);
    CHECK(rt_has_rule(t.config, "c", 10, 63, "rwm"));
    CHECK(rt_mount(t.config, "/usr/lib/wsl/drivers") != NULL);
    CHECK_STR(rt_env(t.config, "LD_LIBRARY_PATH"), "/usr/lib/wsl/drivers:/usr/lib/wsl/lib");
    CHECK_INT(json_array_size(t.warnings), 0);
    rt_free(&t);
    json_decref(host);
    json_decref(w);
    fx_rmtree(root);
}

RT_MAIN(TEST(full_wsl2_node), TEST(partial_wsl2_nodes), TEST(nothing_wsl_on_other_kernels),
        TEST(this_machines_facts), TEST(fake_node_facts_render))
