/*
 * Host facts gathering (client/facts.c) against fixture trees: facts_sources.root points every
 * host path into a temp dir, so each case builds exactly the /proc, /sys, /etc and /var/run it
 * needs.
 */
#define _GNU_SOURCE /* makedev, mknod */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "client/facts.h"
#include "common/jsonx.h"
#include "render/seccomp.h"
#include "tests/client/fixture.h"
#include "tests/harness.h"

/* Gather with `needs_json` (NULL: basics) against fixture root `root`. */
static json_t *gather(const char *root, const char *needs_json, const char *rootfs,
                      json_t **warnings, struct err *err)
{
    struct facts_sources src;
    facts_sources_default(&src);
    src.root = root;
    src.rootfs = rootfs;
    src.uid = 1000;
    src.gid = 1000;
    src.cdi_extra_dirs = NULL;
    json_t *needs = needs_json ? json_loads(needs_json, 0, NULL) : NULL;
    json_t *facts = facts_gather(needs, &src, warnings, err);
    json_decref(needs);
    return facts;
}

static long long int_at(const json_t *obj, const char *a, const char *b)
{
    const json_t *v = json_object_get(json_object_get(obj, a), b);
    return json_is_integer(v) ? json_integer_value(v) : -1;
}

static const char *str_at(const json_t *obj, const char *a, const char *b)
{
    return jsonx_get_str(json_object_get(obj, a), b);
}

/* ---- basics ---- */

static void basics_without_needs(void)
{
    const char *root = fx_tmpdir("facts");
    json_t *w;
    struct err err;
    err_init(&err);
    json_t *f = gather(root, NULL, NULL, &w, &err);
    CHECK(f != NULL);
    CHECK_INT(int_at(f, "user", "uid"), 1000);
    CHECK_INT(int_at(f, "user", "gid"), 1000);
    CHECK(json_object_get(f, "subuid") == NULL);
    CHECK_INT(int_at(f, "cgroup", "version"), 1);
    CHECK(json_is_array(json_object_get(f, "devices")));
    CHECK(json_object_get(f, "cdi") == NULL);
    CHECK(json_object_get(f, "rootfs") == NULL);
    /* /proc/self/cgroup is absent in this fixture: said so, no parent. */
    CHECK_CONTAINS(fx_warning_for(w, "/proc/self/cgroup"), "cannot read it");
    json_decref(f);
    json_decref(w);
    fx_rmtree(root);
}

/* host.arch: the kernel's machine name, as given or from uname(); the renderer accepts it. */
static void arch_is_the_machine_name(void)
{
    const char *root = fx_tmpdir("facts");
    struct facts_sources src;
    facts_sources_default(&src);
    src.root = root;
    src.uid = 1000;
    src.gid = 1000;
    src.machine = "armv7l";
    json_t *w;
    struct err err;
    err_init(&err);
    json_t *f = facts_gather(NULL, &src, &w, &err);
    CHECK_STR(jsonx_get_str(f, "arch"), "armv7l");
    json_decref(f);
    json_decref(w);
    struct utsname u;
    CHECK_INT(uname(&u), 0);
    f = gather(root, NULL, NULL, &w, &err);
    CHECK_STR(jsonx_get_str(f, "arch"), u.machine);
    CHECK(seccomp_default_arches(u.machine) != NULL); /* this test machine has tables */
    json_decref(f);
    json_decref(w);
    fx_rmtree(root);
}

static void user_name_from_fixture_passwd(void)
{
    const char *root = fx_tmpdir("facts");
    fx_write(root, "etc/passwd", "root:x:0:0::/root:/bin/sh\nalice:x:1000:1000::/home/a:/bin/sh\n");
    json_t *w;
    struct err err;
    err_init(&err);
    json_t *f = gather(root, NULL, NULL, &w, &err);
    CHECK_STR(str_at(f, "user", "name"), "alice");
    json_decref(f);
    json_decref(w);
    fx_rmtree(root);
}

/* cgroup facts: tests/client/test_facts_cgroup.c */

/* ---- subordinate ids ---- */

static void subid_first_wellformed_line_wins(void)
{
    const char *root = fx_tmpdir("subid");
    fx_write(root, "etc/passwd", "alice:x:1000:1000::/h:/bin/sh\n");
    fx_write(root, "etc/subuid",
             "# comment\n"
             "\n"
             "bob:100000:65536\n"
             "alice:abc:65536\n"       /* malformed start */
             "alice:-5:65536\n"        /* sign */
             "alice:100000:0\n"        /* zero count */
             "alice:4294967295:2\n"    /* past 2^32 */
             "alice:200000\n"          /* missing field */
             "alice:300000:65536\n"    /* the first good one */
             "alice:400000:65536\n");
    fx_write(root, "etc/subgid", "1000:500000:1000\n"); /* numeric uid entry */
    json_t *w;
    struct err err;
    err_init(&err);
    json_t *f = gather(root, NULL, NULL, &w, &err);
    CHECK_INT(int_at(f, "subuid", "start"), 300000);
    CHECK_INT(int_at(f, "subuid", "count"), 65536);
    CHECK_INT(int_at(f, "subgid", "start"), 500000);
    CHECK_INT(int_at(f, "subgid", "count"), 1000);
    /* Each malformed line naming alice is reported; bob's lines are not our business. */
    int malformed = 0;
    for (size_t i = 0; i < json_array_size(w); i++) {
        const json_t *x = json_array_get(w, i);
        if (strcmp(jsonx_get_str(x, "path"), "/etc/subuid") == 0) {
            CHECK_CONTAINS(jsonx_get_str(x, "message"), "malformed");
            malformed++;
        }
    }
    CHECK_INT(malformed, 5);
    json_decref(f);
    json_decref(w);
    fx_rmtree(root);
}

static void subid_lookup_public_api(void)
{
    const char *root = fx_tmpdir("subid");
    fx_write(root, "subuid", "alice:1:2:3\n1000:700000:10\nalice:800000:20");
    const char *p = fx_path(root, "subuid");
    unsigned long start = 0, count = 0;
    /* "alice:1:2:3" has four fields: malformed; the numeric uid entry matches next. */
    CHECK_INT(facts_subid_lookup(p, "alice", 1000, &start, &count), 0);
    CHECK_INT(start, 700000);
    CHECK_INT(count, 10);
    /* A last line without a newline is read too. */
    CHECK_INT(facts_subid_lookup(p, "alice", 2000, &start, &count), 0);
    CHECK_INT(start, 800000);
    CHECK_INT(facts_subid_lookup(p, "carol", 3000, &start, &count), -1);
    CHECK_INT(facts_subid_lookup(fx_path(root, "missing"), "alice", 1000, &start, &count), -1);
    fx_rmtree(root);
}

/* ---- CDI ---- */

static const char cdi_json_a[] =
    "{\"cdiVersion\": \"0.6.0\", \"kind\": \"nvidia.com/gpu\", \"devices\": [{\"name\": \"0\", "
    "\"containerEdits\": {\"deviceNodes\": [{\"path\": \"/dev/nvidia0\"}]}}], "
    "\"containerEdits\": {\"env\": [\"NVIDIA_A=1\"]}}";
static const char cdi_yaml_b[] = "cdiVersion: \"0.6.0\"\n"
                                 "kind: nvidia.com/gpu\n"
                                 "devices:\n"
                                 "  - name: \"0\"\n"
                                 "    containerEdits:\n"
                                 "      deviceNodes:\n"
                                 "        - path: /dev/nvidia0\n"
                                 "          hostPath: /dev/nvidia-host0\n";
static const char cdi_other_kind[] =
    "{\"cdiVersion\": \"0.6.0\", \"kind\": \"vendor.example/fpga\", \"devices\": [{\"name\": "
    "\"f0\", \"containerEdits\": {\"env\": [\"F=1\"]}}]}";
static const char cdi_no_devices[] = "cdiVersion: \"0.6.0\"\nkind: nvidia.com/gpu\ndevices: []\n";

static void cdi_dirs_in_priority_order(void)
{
    const char *root = fx_tmpdir("cdi");
    fx_write(root, "etc/cdi/a.json", cdi_json_a);
    fx_write(root, "etc/cdi/broken.json", "{\"cdiVersion\": ");
    fx_write(root, "etc/cdi/invalid.yaml", cdi_no_devices);
    fx_write(root, "etc/cdi/other.json", cdi_other_kind);
    fx_write(root, "etc/cdi/ignored.yml", cdi_yaml_b); /* CDI reads .json and .yaml only */
    fx_write(root, "etc/cdi/notes.txt", "not a spec");
    fx_mkdir(root, "etc/cdi/sub.json");                /* no recursion */
    fx_write(root, "var/run/cdi/b.yaml", cdi_yaml_b);
    fx_write(root, "opt/cdi/c.json", cdi_json_a);
    struct facts_sources src;
    facts_sources_default(&src);
    src.root = root;
    src.uid = 0;
    src.gid = 0;
    src.cdi_extra_dirs = "::relative/dir:/opt/cdi:";
    json_t *needs = json_pack("{s:[s]}", "cdi_kinds", "nvidia.com/gpu");
    json_t *w;
    struct err err;
    err_init(&err);
    json_t *f = facts_gather(needs, &src, &w, &err);
    const json_t *cdi = json_object_get(f, "cdi");
    CHECK_INT(json_array_size(cdi), 3);
    const char *paths[] = {"/etc/cdi/a.json", "/var/run/cdi/b.yaml", "/opt/cdi/c.json"};
    for (size_t i = 0; i < 3 && i < json_array_size(cdi); i++) {
        const json_t *e = json_array_get(cdi, i);
        CHECK_INT(json_integer_value(json_object_get(e, "priority")), (long long)i);
        CHECK_STR(jsonx_get_str(e, "path"), paths[i]);
        CHECK_STR(str_at(e, "spec", "kind"), "nvidia.com/gpu");
    }
    /* The YAML spec arrives as JSON with its hostPath. */
    const json_t *b = json_object_get(json_array_get(cdi, 1), "spec");
    const json_t *node = json_array_get(
        json_object_get(json_object_get(json_array_get(json_object_get(b, "devices"), 0),
                                        "containerEdits"),
                        "deviceNodes"),
        0);
    CHECK_STR(jsonx_get_str(node, "hostPath"), "/dev/nvidia-host0");
    CHECK_CONTAINS(fx_warning_for(w, "/etc/cdi/broken.json"), "skipped CDI spec");
    CHECK_CONTAINS(fx_warning_for(w, "/etc/cdi/invalid.yaml"), "skipped invalid CDI spec");
    CHECK_CONTAINS(fx_warning_for(w, "/etc/cdi/invalid.yaml"), "at least one device");
    CHECK_CONTAINS(fx_warning_for(w, "relative/dir"), "not an absolute path");
    CHECK(fx_warning_for(w, "/etc/cdi/other.json") == NULL);
    CHECK(fx_warning_for(w, "/etc/cdi/ignored.yml") == NULL);
    json_decref(f);
    json_decref(w);
    json_decref(needs);
    fx_rmtree(root);
}

static void cdi_not_scanned_without_kinds(void)
{
    const char *root = fx_tmpdir("cdi");
    fx_write(root, "etc/cdi/a.json", cdi_json_a);
    json_t *w;
    struct err err;
    err_init(&err);
    json_t *f = gather(root, "{\"devices\": []}", NULL, &w, &err);
    CHECK(f && json_object_get(f, "cdi") == NULL);
    json_decref(f);
    json_decref(w);
    fx_rmtree(root);
}

/* ---- devices, dirs, files, env ---- */

static const json_t *device_entry(const json_t *facts, const char *path)
{
    const json_t *devs = json_object_get(facts, "devices");
    for (size_t i = 0; i < json_array_size(devs); i++) {
        if (strcmp(jsonx_get_str(json_array_get(devs, i), "path"), path) == 0) {
            return json_array_get(devs, i);
        }
    }
    return NULL;
}

static void devices_fifo_regular_and_missing(void)
{
    const char *root = fx_tmpdir("dev");
    fx_write(root, "etc/notadev", "x");
    fx_mkdir(root, "dev");
    CHECK_INT(mkfifo(fx_path(root, "dev/myfifo"), 0600), 0);
    json_t *w;
    struct err err;
    err_init(&err);
    json_t *f = gather(root,
                       "{\"devices\": [\"/dev/myfifo\", \"/etc/notadev\", \"/dev/missing\", "
                       "\"/dev/myfifo\"]}",
                       NULL, &w, &err);
    CHECK_INT(json_array_size(json_object_get(f, "devices")), 1);
    CHECK_STR(jsonx_get_str(device_entry(f, "/dev/myfifo"), "type"), "p");
    CHECK(json_object_get(device_entry(f, "/dev/myfifo"), "major") == NULL);
    CHECK_CONTAINS(fx_warning_for(w, "/etc/notadev"), "not a device node");
    /* A missing device is left to the renderer, which warns that it skips it. */
    CHECK(fx_warning_for(w, "/dev/missing") == NULL);
    json_decref(f);
    json_decref(w);
    fx_rmtree(root);
}

static void devices_real_major_minor(void)
{
    if (geteuid() != 0) {
        SKIP("mknod needs root: device numbers are checked only as root");
    }
    const char *root = fx_tmpdir("dev");
    fx_mkdir(root, "dev");
    /* Numbers past 8 bits prove major()/minor() are used, not the old 8-bit split. */
    CHECK_INT(mknod(fx_path(root, "dev/big"), S_IFCHR | 0660, makedev(511, 70000)), 0);
    CHECK_INT(chmod(fx_path(root, "dev/big"), 0660), 0); /* whatever the umask */
    CHECK_INT(mknod(fx_path(root, "dev/blk"), S_IFBLK | 0600, makedev(8, 16)), 0);
    CHECK_INT(mknod(fx_path(root, "dev/nvidia-host0"), S_IFCHR | 0666, makedev(195, 0)), 0);
    fx_write(root, "var/run/cdi/b.yaml", cdi_yaml_b);
    json_t *w;
    struct err err;
    err_init(&err);
    json_t *f = gather(root,
                       "{\"devices\": [\"/dev/big\", \"/dev/blk\"], "
                       "\"cdi_kinds\": [\"nvidia.com/gpu\"]}",
                       NULL, &w, &err);
    const json_t *big = device_entry(f, "/dev/big");
    CHECK_STR(jsonx_get_str(big, "type"), "c");
    CHECK_INT(json_integer_value(json_object_get(big, "major")), 511);
    CHECK_INT(json_integer_value(json_object_get(big, "minor")), 70000);
    CHECK_INT(json_integer_value(json_object_get(big, "mode")), 0660);
    const json_t *blk = device_entry(f, "/dev/blk");
    CHECK_STR(jsonx_get_str(blk, "type"), "b");
    CHECK_INT(json_integer_value(json_object_get(blk, "major")), 8);
    CHECK_INT(json_integer_value(json_object_get(blk, "minor")), 16);
    /* CDI device nodes are stat()ed by hostPath. */
    const json_t *gpu = device_entry(f, "/dev/nvidia-host0");
    CHECK_INT(json_integer_value(json_object_get(gpu, "major")), 195);
    json_decref(f);
    json_decref(w);
    fx_rmtree(root);
}

static void dirs_and_files_that_exist(void)
{
    const char *root = fx_tmpdir("mps");
    fx_mkdir(root, "tmp/nvidia-mps");
    fx_write(root, "tmp/nvidia-log", "a file, not a directory");
    fx_write(root, "etc/ts.yaml", "version: v1\n");
    fx_mkdir(root, "etc/dir.yaml");
    json_t *w;
    struct err err;
    err_init(&err);
    json_t *f = gather(root,
                       "{\"dirs\": [\"/tmp/nvidia-mps\", \"/tmp/nvidia-log\", \"/tmp/none\"], "
                       "\"files\": [\"/etc/ts.yaml\", \"/etc/dir.yaml\", \"/etc/none\"]}",
                       NULL, &w, &err);
    const json_t *dirs = json_object_get(f, "dirs"), *files = json_object_get(f, "files");
    CHECK_INT(json_array_size(dirs), 1);
    CHECK_STR(json_string_value(json_array_get(dirs, 0)), "/tmp/nvidia-mps");
    CHECK_INT(json_array_size(files), 1);
    CHECK_STR(json_string_value(json_array_get(files, 0)), "/etc/ts.yaml");
    json_decref(f);
    json_decref(w);
    fx_rmtree(root);
}

static void env_values_that_are_set(void)
{
    const char *root = fx_tmpdir("env");
    setenv("OCR_FACTS_SET", "value with = and spaces", 1);
    unsetenv("OCR_FACTS_UNSET");
    json_t *w;
    struct err err;
    err_init(&err);
    json_t *f = gather(root, "{\"env\": [\"OCR_FACTS_SET\", \"OCR_FACTS_UNSET\"]}", NULL, &w,
                       &err);
    const json_t *env = json_object_get(f, "env");
    CHECK_INT(json_object_size(env), 1);
    CHECK_STR(jsonx_get_str(env, "OCR_FACTS_SET"), "value with = and spaces");
    json_decref(f);
    json_decref(w);
    fx_rmtree(root);
}

/* ---- rootfs ---- */

static void rootfs_passwd_group_inside_root(void)
{
    const char *tmp = fx_tmpdir("rootfs");
    char rootfs[4096];
    snprintf(rootfs, sizeof(rootfs), "%s/rootfs", tmp);
    fx_write(tmp, "outside", "HOST SECRET\n");
    fx_write(rootfs, "etc/passwd", "app:x:1234:1234::/home/app:/bin/sh\n");
    fx_write(rootfs, "usr/lib/group.real", "app:x:1234:\nstaff:x:2000:app\n");
    /* An absolute symlink is resolved inside the rootfs, not on the host. */
    fx_symlink(rootfs, "etc/group", "/usr/lib/group.real");
    json_t *w;
    struct err err;
    err_init(&err);
    json_t *f = gather(tmp, NULL, rootfs, &w, &err);
    CHECK_STR(str_at(f, "rootfs", "passwd"), "app:x:1234:1234::/home/app:/bin/sh\n");
    CHECK_STR(str_at(f, "rootfs", "group"), "app:x:1234:\nstaff:x:2000:app\n");
    json_decref(f);
    json_decref(w);

    /* A symlink that climbs out of the rootfs stays inside it (and finds nothing there). */
    unlink(fx_path(rootfs, "etc/passwd"));
    fx_symlink(rootfs, "etc/passwd", "../../../../../../outside");
    err_init(&err);
    f = gather(tmp, NULL, rootfs, &w, &err);
    CHECK(f != NULL);
    CHECK(str_at(f, "rootfs", "passwd") == NULL);
    CHECK_CONTAINS(fx_warning_for(w, "etc/passwd"), "No such file");
    json_decref(f);
    json_decref(w);

    /* A FIFO cannot hang the client. */
    unlink(fx_path(rootfs, "etc/passwd"));
    CHECK_INT(mkfifo(fx_path(rootfs, "etc/passwd"), 0600), 0);
    err_init(&err);
    f = gather(tmp, NULL, rootfs, &w, &err);
    CHECK_CONTAINS(fx_warning_for(w, "etc/passwd"), "not a regular file");
    json_decref(f);
    json_decref(w);
    fx_rmtree(tmp);
}

static void rootfs_missing_is_an_error(void)
{
    const char *tmp = fx_tmpdir("rootfs");
    json_t *w = NULL;
    struct err err;
    err_init(&err);
    json_t *f = gather(tmp, NULL, fx_path(tmp, "nope"), &w, &err);
    CHECK(f == NULL);
    CHECK(w == NULL);
    CHECK_INT(err.code, ERR_IO);
    CHECK_CONTAINS(err_message(&err), "cannot open the rootfs");
    fx_write(tmp, "file", "x");
    err_init(&err);
    f = gather(tmp, NULL, fx_path(tmp, "file"), &w, &err);
    CHECK(f == NULL);
    CHECK_CONTAINS(err_message(&err), "not a directory");
    fx_rmtree(tmp);
}

static void read_in_root_limits(void)
{
    const char *tmp = fx_tmpdir("inroot");
    fx_write(tmp, "etc/big", "0123456789");
    struct err err;
    err_init(&err);
    char *t = facts_read_in_root(tmp, "etc/big", 4, &err);
    CHECK(t == NULL);
    CHECK_INT(err.code, ERR_TOO_LARGE);
    err_init(&err);
    t = facts_read_in_root(tmp, "etc/big", 100, &err);
    CHECK_STR(t, "0123456789");
    free(t);
    err_init(&err);
    t = facts_read_in_root(tmp, "etc", 100, &err);
    CHECK(t == NULL);
    CHECK_CONTAINS(err_message(&err), "not a regular file");
    fx_rmtree(tmp);
}

HARNESS_MAIN(TEST(basics_without_needs), TEST(arch_is_the_machine_name),
             TEST(user_name_from_fixture_passwd),
             TEST(subid_first_wellformed_line_wins), TEST(subid_lookup_public_api),
             TEST(cdi_dirs_in_priority_order), TEST(cdi_not_scanned_without_kinds),
             TEST(devices_fifo_regular_and_missing), TEST(devices_real_major_minor),
             TEST(dirs_and_files_that_exist), TEST(env_values_that_are_set),
             TEST(rootfs_passwd_group_inside_root), TEST(rootfs_missing_is_an_error),
             TEST(read_in_root_limits))
