/*
 * `ocirender materialize` run as a program: the bundle layout, and every refusal with its exit
 * code, its message and proof that the previous bundle was left exactly as it was.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client/bundle.h"
#include "common/digest.h"
#include "common/jsonx.h"
#include "common/sbuf.h"
#include "tests/client/fixture.h"
#include "tests/harness.h"

/* ---- envelopes ---- */

static json_t *sample_config(const char *mark)
{
    json_t *rl = json_pack("{s:s, s:o, s:o}", "type", "RLIMIT_NOFILE", "soft",
                           jsonx_u64_new(UINT64_MAX), "hard", jsonx_u64_new(UINT64_MAX));
    char env[64];
    snprintf(env, sizeof(env), "MARK=%s", mark);
    return json_pack("{s:s, s:{s:s, s:b}, s:{s:[s], s:s, s:[s], s:[o]}}", "ociVersion", "1.0.2",
                     "root", "path", "rootfs", "readonly", 0, "process", "args", "sh", "cwd",
                     "/", "env", env, "rlimits", rl);
}

/* {config, digest, warnings, files}: a valid envelope around `config` (stolen). */
static json_t *envelope_new(json_t *config, const char *resolv)
{
    size_t len;
    char *text = jsonx_dump(config, JSONX_PRETTY, &len);
    char hex[65], digest[72];
    digest_sha256_hex(text, len, hex);
    free(text);
    snprintf(digest, sizeof(digest), "sha256:%s", hex);
    return json_pack("{s:o, s:s, s:[{s:s, s:s, s:s}], s:{s:s}, s:[]}", "config", config, "digest",
                     digest, "warnings", "code", "TEST", "message", "a server warning", "path",
                     "services.x", "files", "resolv.conf", resolv, "secrets");
}

static const char *write_json(const char *dir, const char *name, const json_t *v)
{
    size_t len;
    char *text = jsonx_dump(v, JSONX_PRETTY, &len);
    fx_write(dir, name, text);
    free(text);
    return fx_path(dir, name);
}

/* The exact config.json text a valid envelope must produce. */
static char *config_text(const json_t *env)
{
    size_t len;
    return jsonx_dump(json_object_get(env, "config"), JSONX_PRETTY, &len);
}

/* ---- bundle snapshots: names, types, modes, symlink targets and file contents ---- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *snapshot(const char *dir)
{
    struct sbuf b;
    sbuf_init(&b, 1u << 24);
    char *names[256];
    size_t n = 0;
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d)) && n < 256) {
        names[n++] = strdup(e->d_name);
    }
    if (d) {
        closedir(d);
    }
    qsort(names, n, sizeof(names[0]), cmp_str);
    struct stat st;
    if (lstat(dir, &st) == 0 && sbuf_addf(&b, ". %o %d\n", st.st_mode, (int)st.st_uid)) {
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        char p[4096], link[4096] = "";
        snprintf(p, sizeof(p), "%s/%s", dir, names[i]);
        if (lstat(p, &st) != 0) {
            continue;
        }
        if (S_ISLNK(st.st_mode)) {
            ssize_t k = readlink(p, link, sizeof(link) - 1);
            link[k > 0 ? k : 0] = '\0';
        }
        char *content = S_ISREG(st.st_mode) ? fx_read(dir, names[i], NULL) : NULL;
        if (sbuf_addf(&b, "%s %o %s [%s]\n", names[i], st.st_mode, link,
                      content ? content : "")) {
            return NULL;
        }
        if (S_ISDIR(st.st_mode) && strcmp(names[i], ".") && strcmp(names[i], "..")) {
            char *sub = snapshot(p);
            if (sbuf_addf(&b, "{%s}\n", sub ? sub : "")) {
                return NULL;
            }
            free(sub);
        }
        free(content);
        free(names[i]);
    }
    return sbuf_take(&b, NULL);
}

/* ---- fixtures ---- */

struct fx {
    const char *tmp;
    char bundle[4096];
    char rootfs[4096];
    char env_a[4096], env_b[4096];
    json_t *a, *b;
};

static void fx_setup(struct fx *f)
{
    f->tmp = fx_tmpdir("mat");
    snprintf(f->bundle, sizeof(f->bundle), "%s/bundles/web-1", f->tmp);
    snprintf(f->rootfs, sizeof(f->rootfs), "%s/rootfs-src", f->tmp);
    fx_write(f->rootfs, "etc/passwd", "root:x:0:0::/:/bin/sh\n");
    f->a = envelope_new(sample_config("A"), "nameserver 10.0.0.1\n");
    f->b = envelope_new(sample_config("B"), "nameserver 10.0.0.2\n");
    snprintf(f->env_a, sizeof(f->env_a), "%s", write_json(f->tmp, "a.json", f->a));
    snprintf(f->env_b, sizeof(f->env_b), "%s", write_json(f->tmp, "b.json", f->b));
}

static void fx_teardown(struct fx *f)
{
    json_decref(f->a);
    json_decref(f->b);
    fx_rmtree(f->tmp);
}

static int materialize(const char *bundle, const char *rootfs, const char *env, char **err)
{
    const char *args[] = {"materialize", "--bundle", bundle, rootfs ? "--rootfs" : env,
                          rootfs ? rootfs : NULL, rootfs ? env : NULL, NULL};
    return fx_run(args, NULL, err);
}

/* Materialize A, then try `env` (a bad envelope or setup); expect exit 1, `msg` on stderr and
 * the bundle exactly as A left it. */
static void expect_refusal(struct fx *f, const char *bundle_arg, const char *rootfs_arg,
                           const char *env_arg, const char *msg)
{
    /* The arguments may live in fx_path()'s rotating buffers: copy them first. */
    char bundle[4096], rootfs[4096], env[4096];
    snprintf(bundle, sizeof(bundle), "%s", bundle_arg);
    snprintf(rootfs, sizeof(rootfs), "%s", rootfs_arg ? rootfs_arg : "");
    snprintf(env, sizeof(env), "%s", env_arg);
    char *before = snapshot(f->bundle), *err = NULL;
    CHECK_INT(materialize(bundle, rootfs_arg ? rootfs : NULL, env, &err), 1);
    CHECK_CONTAINS(err, msg);
    char *after = snapshot(f->bundle);
    CHECK_STR(after, before);
    free(before);
    free(after);
    free(err);
}

/* Where the lock and the stages of the bundle live. */
static const char *parent_of(const struct fx *f)
{
    return fx_path(f->tmp, "bundles");
}

static int stage_count(const struct fx *f)
{
    return fx_count_prefix(parent_of(f), ".web-1.stage-");
}

static ino_t inode_of(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0 ? st.st_ino : 0;
}

/* materialize on a file system that cannot exchange directories (the per-file fallback). */
static int materialize_per_file(const char *bundle, const char *rootfs, const char *env,
                                char **err)
{
    setenv("OCIRENDER_TEST_NO_EXCHANGE", "1", 1);
    int rc = materialize(bundle, rootfs, env, err);
    unsetenv("OCIRENDER_TEST_NO_EXCHANGE");
    return rc;
}

static void write_a(struct fx *f)
{
    char *err = NULL;
    CHECK_INT(materialize(f->bundle, NULL, f->env_a, &err), 0);
    free(err);
}

/* ---- layout ---- */

static void writes_bundle_layout(void)
{
    struct fx f;
    fx_setup(&f);
    char *err = NULL;
    CHECK_INT(materialize(f.bundle, NULL, f.env_a, &err), 0);
    CHECK_CONTAINS(err, "warning: [TEST] services.x: a server warning");
    CHECK_CONTAINS(err, "written");
    free(err);
    CHECK_INT(fx_mode(f.bundle, "."), 0700);
    CHECK_INT(fx_mode(f.bundle, "config.json"), 0600);
    CHECK_INT(fx_mode(f.bundle, "resolv.conf"), 0644);
    CHECK_INT(fx_mode(f.bundle, "rootfs"), 0755);
    char *want = config_text(f.a), *got = fx_read(f.bundle, "config.json", NULL);
    CHECK_STR(got, want);
    /* RLIM_INFINITY survives the round trip exactly. */
    CHECK_CONTAINS(got, "\"soft\": 18446744073709551615");
    free(want);
    free(got);
    char *resolv = fx_read(f.bundle, "resolv.conf", NULL);
    CHECK_STR(resolv, "nameserver 10.0.0.1\n");
    free(resolv);
    CHECK_INT(fx_count_prefix(f.bundle, ".ocirender-tmp-"), 0);
    /* The manifest lists what ocirender wrote; neither the lock nor a stage is left beside DIR. */
    CHECK_INT(fx_mode(f.bundle, BUNDLE_MANIFEST), 0600);
    char *manifest = fx_read(f.bundle, BUNDLE_MANIFEST, NULL);
    CHECK_CONTAINS(manifest, "\nconfig.json\n");
    CHECK_CONTAINS(manifest, "\nrootfs\n");
    CHECK_CONTAINS(manifest, "\nresolv.conf\n");
    free(manifest);
    CHECK(access(fx_path(parent_of(&f), ".web-1.lock"), F_OK) != 0);
    CHECK_INT(stage_count(&f), 0);
    CHECK_INT(fx_count_prefix(parent_of(&f), ".web-1"), 0); /* nothing of ours beside DIR */
    fx_teardown(&f);
}

static void reads_stdin_and_replaces(void)
{
    struct fx f;
    fx_setup(&f);
    write_a(&f);
    const char *args[] = {"materialize", "--bundle", f.bundle, NULL};
    char *err = NULL;
    CHECK_INT(fx_run(args, f.env_b, &err), 0);
    free(err);
    char *want = config_text(f.b), *got = fx_read(f.bundle, "config.json", NULL);
    CHECK_STR(got, want);
    free(want);
    free(got);
    fx_teardown(&f);
}

static void tightens_existing_directory_mode(void)
{
    struct fx f;
    fx_setup(&f);
    fx_mkdir(f.bundle, ".");
    chmod(f.bundle, 0755);
    write_a(&f);
    CHECK_INT(fx_mode(f.bundle, "."), 0700);
    fx_teardown(&f);
}

static void rootfs_symlink_and_root_path(void)
{
    struct fx f;
    fx_setup(&f);
    /* Reached through a symlink: the link and root.path name the real path. */
    char via[4096], real[PATH_MAX];
    snprintf(via, sizeof(via), "%s/rootfs-link", f.tmp);
    CHECK_INT(symlink(f.rootfs, via), 0);
    CHECK(realpath(f.rootfs, real) != NULL);
    char *err = NULL;
    CHECK_INT(materialize(f.bundle, via, f.env_a, &err), 0);
    CHECK_CONTAINS(err, "root.path set to the real rootfs path");
    free(err);
    char link[4096];
    ssize_t n = readlink(fx_path(f.bundle, "rootfs"), link, sizeof(link) - 1);
    link[n > 0 ? n : 0] = '\0';
    CHECK_STR(link, real);
    char *text = fx_read(f.bundle, "config.json", NULL);
    json_t *cfg = jsonx_loadb(text, strlen(text), NULL);
    CHECK_STR(jsonx_get_str(json_object_get(cfg, "root"), "path"), real);
    json_decref(cfg);
    free(text);
    fx_teardown(&f);
}

static void rootfs_transitions(void)
{
    struct fx f;
    fx_setup(&f);
    char *err = NULL;
    /* An empty rootfs directory becomes the symlink (atomic exchange). */
    write_a(&f);
    CHECK_INT(materialize(f.bundle, f.rootfs, f.env_b, &err), 0);
    free(err);
    struct stat st;
    CHECK(lstat(fx_path(f.bundle, "rootfs"), &st) == 0 && S_ISLNK(st.st_mode));
    /* Without --rootfs an existing symlink is kept, and root.path names where it leads. */
    char real[PATH_MAX];
    CHECK(realpath(f.rootfs, real) != NULL);
    CHECK_INT(materialize(f.bundle, NULL, f.env_a, &err), 0);
    CHECK_CONTAINS(err, "root.path set to the real rootfs path");
    free(err);
    CHECK(lstat(fx_path(f.bundle, "rootfs"), &st) == 0 && S_ISLNK(st.st_mode));
    char *text = fx_read(f.bundle, "config.json", NULL);
    CHECK_CONTAINS(text, real);
    free(text);
    /* An operator's own symlink (not written by ocirender) is kept the same way. */
    CHECK_INT(unlink(fx_path(f.bundle, "rootfs")), 0);
    CHECK_INT(fx_symlink(f.bundle, "rootfs", f.rootfs), 0);
    CHECK_INT(materialize(f.bundle, NULL, f.env_b, &err), 0);
    free(err);
    char link[PATH_MAX];
    ssize_t n = readlink(fx_path(f.bundle, "rootfs"), link, sizeof(link) - 1);
    link[n > 0 ? n : 0] = '\0';
    CHECK_STR(link, f.rootfs);
    /* Without a rootfs at all the new bundle gets an empty directory. */
    CHECK_INT(unlink(fx_path(f.bundle, "rootfs")), 0);
    CHECK_INT(materialize(f.bundle, NULL, f.env_a, &err), 0);
    free(err);
    CHECK(lstat(fx_path(f.bundle, "rootfs"), &st) == 0 && S_ISDIR(st.st_mode));
    /* A populated rootfs directory is kept when no --rootfs is given. */
    fx_write(f.bundle, "rootfs/bin/app", "#!/bin/sh\n");
    CHECK_INT(materialize(f.bundle, NULL, f.env_b, &err), 0);
    free(err);
    char *app = fx_read(f.bundle, "rootfs/bin/app", NULL);
    CHECK_STR(app, "#!/bin/sh\n");
    free(app);
    CHECK_INT(fx_count_prefix(f.bundle, ".ocirender-tmp-"), 0);
    fx_teardown(&f);
}

static void cleans_stale_temporaries(void)
{
    struct fx f;
    fx_setup(&f);
    write_a(&f);
    fx_write(f.bundle, ".ocirender-tmp-999-0", "half a config");
    fx_mkdir(f.bundle, ".ocirender-tmp-999-1");
    fx_symlink(f.bundle, ".ocirender-tmp-999-2", "/tmp");
    CHECK_INT(fx_count_prefix(f.bundle, ".ocirender-tmp-"), 3);
    char *err = NULL;
    CHECK_INT(materialize(f.bundle, NULL, f.env_b, &err), 0);
    free(err);
    CHECK_INT(fx_count_prefix(f.bundle, ".ocirender-tmp-"), 0);
    fx_teardown(&f);
}

static void does_not_write_through_symlinks(void)
{
    struct fx f;
    fx_setup(&f);
    fx_write(f.tmp, "victim", "precious\n");
    fx_symlink(f.bundle, "config.json", fx_path(f.tmp, "victim"));
    fx_symlink(f.bundle, "resolv.conf", fx_path(f.tmp, "victim"));
    chmod(f.bundle, 0700);
    write_a(&f);
    char *victim = fx_read(f.tmp, "victim", NULL);
    CHECK_STR(victim, "precious\n");
    free(victim);
    struct stat st;
    CHECK(lstat(fx_path(f.bundle, "config.json"), &st) == 0 && S_ISREG(st.st_mode));
    CHECK(lstat(fx_path(f.bundle, "resolv.conf"), &st) == 0 && S_ISREG(st.st_mode));
    fx_teardown(&f);
}

/* ---- refusals ---- */

static void refuses_symlinked_bundle_dir(void)
{
    struct fx f;
    fx_setup(&f);
    write_a(&f);
    char link[4096];
    snprintf(link, sizeof(link), "%s/bundles/link", f.tmp);
    CHECK_INT(symlink(f.bundle, link), 0);
    expect_refusal(&f, link, NULL, f.env_b, "the directory is a symlink");
    fx_teardown(&f);
}

static void refuses_bundle_dir_that_is_a_file(void)
{
    struct fx f;
    fx_setup(&f);
    write_a(&f);
    fx_write(f.tmp, "bundles/file", "x");
    expect_refusal(&f, fx_path(f.tmp, "bundles/file"), NULL, f.env_b,
                   "it exists and is not a directory");
    fx_teardown(&f);
}

static void refuses_dotdot_in_bundle_path(void)
{
    struct fx f;
    fx_setup(&f);
    write_a(&f);
    char p[4096];
    snprintf(p, sizeof(p), "%s/bundles/x/../web-1", f.tmp);
    expect_refusal(&f, p, NULL, f.env_b, "contains a '..' component");
    fx_teardown(&f);
}

/* Envelope B with one change applied. */
static const char *variant(struct fx *f, const char *name, const char *key, json_t *value)
{
    json_t *v = json_deep_copy(f->b);
    /* json_deep_copy cannot copy u64 boxes (their key holds a NUL): reuse B's config. */
    json_object_set(v, "config", json_object_get(f->b, "config"));
    if (value) {
        json_object_set_new(v, key, value);
    } else {
        json_object_del(v, key);
    }
    const char *p = write_json(f->tmp, name, v);
    json_decref(v);
    return p;
}

static void refuses_bad_file_names(void)
{
    static const struct {
        const char *name, *msg;
    } cases[] = {
        {"..", "the name contains '..'"},
        {"a..b", "the name contains '..'"},
        {"../escape", "contains '/'"},
        {"etc/hosts", "contains '/'"},
        {"config.json", "reserved for the bundle"},
        {"rootfs", "reserved for the bundle"},
        {".ocirender-tmp-1-1", "reserved for temporary files"},
        {".ocirender-bundle", "reserved for the bundle manifest"},
        {"", "the name is empty"},
        {"line\nbreak", "control character"},
    };
    struct fx f;
    fx_setup(&f);
    write_a(&f);
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        const char *p = variant(&f, "bad-name.json", "files",
                                json_pack("{s:s}", cases[i].name, "x"));
        expect_refusal(&f, f.bundle, NULL, p, cases[i].msg);
    }
    const char *p = variant(&f, "bad-content.json", "files", json_pack("{s:i}", "hosts", 1));
    expect_refusal(&f, f.bundle, NULL, p, "must be a string");
    fx_teardown(&f);
}

static void refuses_digest_problems(void)
{
    struct fx f;
    fx_setup(&f);
    write_a(&f);
    const char *p = variant(&f, "mismatch.json", "digest", json_string(jsonx_get_str(f.a, "digest")));
    expect_refusal(&f, f.bundle, NULL, p, "digest mismatch: the envelope says sha256:");
    p = variant(&f, "nodigest.json", "digest", NULL);
    expect_refusal(&f, f.bundle, NULL, p, "the envelope has no `digest`");
    p = variant(&f, "baddigest.json", "digest", json_string("md5:abc"));
    expect_refusal(&f, f.bundle, NULL, p, "64 lower-case hex digits");
    fx_teardown(&f);
}

static void refuses_bad_envelopes(void)
{
    struct fx f;
    fx_setup(&f);
    write_a(&f);
    const char *p = variant(&f, "noconfig.json", "config", NULL);
    expect_refusal(&f, f.bundle, NULL, p, "the envelope has no `config`");
    p = variant(&f, "strconfig.json", "config", json_string("{}"));
    expect_refusal(&f, f.bundle, NULL, p, "`config` must be an object");
    fx_write(f.tmp, "broken.json", "{\"config\": {\"ociVersion\": \"1.0.2\",\n  oops}");
    expect_refusal(&f, f.bundle, NULL, fx_path(f.tmp, "broken.json"),
                   "the envelope is not valid JSON");
    expect_refusal(&f, f.bundle, NULL, fx_path(f.tmp, "broken.json"), "line 2");
    fx_write(f.tmp, "empty.json", "");
    expect_refusal(&f, f.bundle, NULL, fx_path(f.tmp, "empty.json"), "not valid JSON");
    fx_write(f.tmp, "array.json", "[1, 2]");
    expect_refusal(&f, f.bundle, NULL, fx_path(f.tmp, "array.json"), "must be a JSON object");
    write_json(f.tmp, "plain.json", json_object_get(f.b, "config"));
    expect_refusal(&f, f.bundle, NULL, fx_path(f.tmp, "plain.json"),
                   "this is a plain config.json, not an envelope");
    fx_write(f.tmp, "dup.json", "{\"config\": {}, \"config\": {}}");
    expect_refusal(&f, f.bundle, NULL, fx_path(f.tmp, "dup.json"), "duplicate");
    expect_refusal(&f, f.bundle, NULL, fx_path(f.tmp, "missing.json"), "cannot open");
    fx_teardown(&f);
}

static void refuses_rootfs_clobbering(void)
{
    struct fx f;
    fx_setup(&f);
    write_a(&f);
    fx_write(f.bundle, "rootfs/etc/os-release", "ID=mine\n");
    expect_refusal(&f, f.bundle, f.rootfs, f.env_b,
                   "refusing to replace a non-empty rootfs directory with a symlink");
    fx_teardown(&f);

    fx_setup(&f);
    write_a(&f);
    rmdir(fx_path(f.bundle, "rootfs"));
    fx_write(f.bundle, "rootfs", "a file");
    expect_refusal(&f, f.bundle, NULL, f.env_b, "neither a directory nor a symlink");
    fx_teardown(&f);

    fx_setup(&f);
    write_a(&f);
    expect_refusal(&f, f.bundle, fx_path(f.tmp, "no-such-rootfs"), f.env_b,
                   "--rootfs: No such file or directory");
    fx_write(f.tmp, "plainfile", "x");
    expect_refusal(&f, f.bundle, fx_path(f.tmp, "plainfile"), f.env_b,
                   "--rootfs: not a directory");
    fx_teardown(&f);
}

static void refuses_directory_in_place_of_a_file(void)
{
    struct fx f;
    fx_setup(&f);
    write_a(&f);
    unlink(fx_path(f.bundle, "resolv.conf"));
    fx_mkdir(f.bundle, "resolv.conf");
    expect_refusal(&f, f.bundle, NULL, f.env_b, "a directory is in the way of this file");
    fx_teardown(&f);

    fx_setup(&f);
    write_a(&f);
    unlink(fx_path(f.bundle, BUNDLE_MANIFEST));
    fx_mkdir(f.bundle, BUNDLE_MANIFEST);
    expect_refusal(&f, f.bundle, NULL, f.env_b, "a directory is in the way of this file");
    fx_teardown(&f);
}

static void refuses_symlinked_lock_file(void)
{
    struct fx f;
    fx_setup(&f);
    write_a(&f);
    fx_write(f.tmp, "victim", "precious\n");
    unlink(fx_path(parent_of(&f), ".web-1.lock"));
    CHECK_INT(fx_symlink(parent_of(&f), ".web-1.lock", fx_path(f.tmp, "victim")), 0);
    expect_refusal(&f, f.bundle, NULL, f.env_b, "the lock file is a symlink");
    char *victim = fx_read(f.tmp, "victim", NULL);
    CHECK_STR(victim, "precious\n");
    free(victim);
    fx_teardown(&f);
}

/* ---- the whole-bundle switch ---- */

/* B with a second file, hosts. */
static const char *two_files_variant(struct fx *f)
{
    return variant(f, "two-files.json", "files",
                   json_pack("{s:s, s:s}", "resolv.conf", "nameserver 10.0.0.2\n", "hosts",
                             "127.0.0.1 localhost\n"));
}

static void switches_whole_directory(void)
{
    struct fx f;
    fx_setup(&f);
    char *err = NULL;
    CHECK_INT(materialize(f.bundle, NULL, two_files_variant(&f), &err), 0);
    free(err);
    CHECK(fx_mode(f.bundle, "hosts") == 0644);
    ino_t before = inode_of(f.bundle);
    write_a(&f);
    /* A new directory took DIR's place, without B's hosts: the previous envelope's files do
     * not linger. */
    CHECK(inode_of(f.bundle) != before);
    CHECK_INT(fx_mode(f.bundle, "hosts"), -1);
    char *resolv = fx_read(f.bundle, "resolv.conf", NULL);
    CHECK_STR(resolv, "nameserver 10.0.0.1\n");
    free(resolv);
    CHECK_INT(fx_mode(f.bundle, "."), 0700);
    CHECK_INT(stage_count(&f), 0);
    fx_teardown(&f);
}

/* The operator's entries: a populated rootfs, a file, a directory, an empty directory, a
 * symlink. Each survives a rewrite. */
static void add_operator_entries(struct fx *f)
{
    fx_write(f->bundle, "rootfs/bin/app", "#!/bin/sh\n");
    fx_write(f->bundle, "notes.txt", "mine\n");
    fx_write(f->bundle, "data/keep", "kept\n");
    fx_mkdir(f->bundle, "empty-dir");
    fx_symlink(f->bundle, "link", "/nonexistent");
}

static void check_operator_entries(struct fx *f)
{
    char *app = fx_read(f->bundle, "rootfs/bin/app", NULL), *notes = fx_read(f->bundle,
                                                                             "notes.txt", NULL);
    char *keep = fx_read(f->bundle, "data/keep", NULL);
    CHECK_STR(app, "#!/bin/sh\n");
    CHECK_STR(notes, "mine\n");
    CHECK_STR(keep, "kept\n");
    free(app);
    free(notes);
    free(keep);
    struct stat st;
    CHECK(lstat(fx_path(f->bundle, "empty-dir"), &st) == 0 && S_ISDIR(st.st_mode));
    CHECK(lstat(fx_path(f->bundle, "link"), &st) == 0 && S_ISLNK(st.st_mode));
}

static void keeps_operator_entries(void)
{
    struct fx f;
    fx_setup(&f);
    write_a(&f);
    add_operator_entries(&f);
    char *err = NULL;
    CHECK_INT(materialize(f.bundle, NULL, f.env_b, &err), 0);
    free(err);
    check_operator_entries(&f);
    char *want = config_text(f.b), *got = fx_read(f.bundle, "config.json", NULL);
    CHECK_STR(got, want);
    free(want);
    free(got);
    CHECK_INT(stage_count(&f), 0);
    fx_teardown(&f);
}

static void per_file_fallback(void)
{
    struct fx f;
    fx_setup(&f);
    char *err = NULL;
    CHECK_INT(materialize(f.bundle, NULL, two_files_variant(&f), &err), 0);
    free(err);
    add_operator_entries(&f);
    chmod(f.bundle, 0755);
    ino_t before = inode_of(f.bundle);
    CHECK_INT(materialize_per_file(f.bundle, NULL, f.env_a, &err), 0);
    CHECK_CONTAINS(err, "its files are replaced one at a time");
    free(err);
    /* Written in place: the same directory, the layout and the operator's entries kept, the
     * stale hosts removed after the commit point, no stage or temporary file left. */
    CHECK(inode_of(f.bundle) == before);
    CHECK_INT(fx_mode(f.bundle, "."), 0700);
    check_operator_entries(&f);
    char *want = config_text(f.a), *got = fx_read(f.bundle, "config.json", NULL);
    CHECK_STR(got, want);
    free(want);
    free(got);
    CHECK_INT(fx_mode(f.bundle, "config.json"), 0600);
    CHECK_INT(fx_mode(f.bundle, BUNDLE_MANIFEST), 0600);
    CHECK_INT(fx_mode(f.bundle, "hosts"), -1);
    CHECK_INT(stage_count(&f), 0);
    CHECK_INT(fx_count_prefix(f.bundle, ".ocirender-tmp-"), 0);
    /* rootfs transitions work there too. */
    unlink(fx_path(f.bundle, "rootfs/bin/app"));
    rmdir(fx_path(f.bundle, "rootfs/bin"));
    CHECK_INT(materialize_per_file(f.bundle, f.rootfs, f.env_b, &err), 0);
    free(err);
    struct stat st;
    CHECK(lstat(fx_path(f.bundle, "rootfs"), &st) == 0 && S_ISLNK(st.st_mode));
    fx_teardown(&f);
}

/* A stage as a writer of B leaves it when killed after carrying DIR's rootfs and notes.txt
 * out, before the exchange. */
static void fake_interrupted_stage(struct fx *f, const char *stage)
{
    char *text = config_text(f->b);
    fx_write(parent_of(f), fx_path(stage, BUNDLE_MANIFEST), "# test\nconfig.json\nresolv.conf\n");
    fx_write(parent_of(f), fx_path(stage, "config.json"), text);
    fx_write(parent_of(f), fx_path(stage, "resolv.conf"), "nameserver 10.0.0.2\n");
    free(text);
    char from[4096], to[4096];
    for (const char *const *n = (const char *const[]){"rootfs", "notes.txt", NULL}; *n; n++) {
        snprintf(from, sizeof(from), "%s/%s", f->bundle, *n);
        snprintf(to, sizeof(to), "%s/%s/%s", parent_of(f), stage, *n);
        CHECK_INT(rename(from, to), 0);
    }
}

static void rolls_back_interrupted_write(void)
{
    struct fx f;
    fx_setup(&f);
    write_a(&f);
    fx_write(f.bundle, "rootfs/bin/app", "#!/bin/sh\n");
    fx_write(f.bundle, "notes.txt", "mine\n");
    char *before = snapshot(f.bundle);
    fake_interrupted_stage(&f, ".web-1.stage-99999-0");
    CHECK_INT(fx_mode(f.bundle, "rootfs"), -1);
    /* The next writer rolls back first: then its --rootfs meets the populated rootfs again and
     * is refused, which shows the old bundle exactly as it was. */
    char *err = NULL;
    CHECK_INT(materialize(f.bundle, f.rootfs, f.env_b, &err), 1);
    CHECK_CONTAINS(err, "cleaned up");
    CHECK_CONTAINS(err, ".web-1.stage-99999-0, left by an interrupted write");
    CHECK_CONTAINS(err, "refusing to replace a non-empty rootfs directory");
    free(err);
    char *after = snapshot(f.bundle);
    CHECK_STR(after, before);
    CHECK_INT(stage_count(&f), 0);
    free(before);
    free(after);
    fx_teardown(&f);
}

static void cleans_up_after_exchange(void)
{
    struct fx f;
    fx_setup(&f);
    write_a(&f);
    char *err = NULL;
    CHECK_INT(materialize(f.bundle, NULL, f.env_b, &err), 0);
    free(err);
    fx_write(f.bundle, "rootfs/bin/app", "#!/bin/sh\n");
    char *before = snapshot(f.bundle);
    /* The old bundle A as the exchange leaves it at the stage path: what was ocirender's, a
     * --rootfs symlink the new bundle replaced, and a temporary file of an older version. */
    const char *stage = ".web-1.stage-99999-1";
    char *a_text = config_text(f.a);
    fx_write(parent_of(&f), fx_path(stage, "config.json"), a_text);
    fx_write(parent_of(&f), fx_path(stage, "resolv.conf"), "nameserver 10.0.0.1\n");
    fx_write(parent_of(&f), fx_path(stage, BUNDLE_MANIFEST), "config.json\nrootfs\nresolv.conf\n");
    fx_write(parent_of(&f), fx_path(stage, ".ocirender-tmp-5-5"), "half");
    fx_symlink(parent_of(&f), fx_path(stage, "rootfs"), f.rootfs);
    free(a_text);
    CHECK_INT(materialize(f.bundle, f.rootfs, f.env_a, &err), 1);
    CHECK_CONTAINS(err, "cleaned up");
    free(err);
    char *after = snapshot(f.bundle);
    CHECK_STR(after, before);
    CHECK_INT(stage_count(&f), 0);
    /* The symlink went, not what it pointed to. */
    CHECK_INT(fx_mode(f.rootfs, "etc/passwd") >= 0, 1);
    free(before);
    free(after);
    fx_teardown(&f);
}

static void cleans_up_stage_killed_early(void)
{
    struct fx f;
    fx_setup(&f);
    write_a(&f);
    /* Killed while writing the manifest; and killed after it, while writing config.json (B's
     * `hosts`, unknown to A, must not leak into A's bundle). */
    fx_write(parent_of(&f), ".web-1.stage-99999-2/.ocirender-tmp-manifest", "# partial\nconf");
    fx_write(parent_of(&f), ".web-1.stage-99999-3/" BUNDLE_MANIFEST,
             "config.json\nhosts\nresolv.conf\nrootfs\n");
    fx_write(parent_of(&f), ".web-1.stage-99999-3/hosts", "127.0.0.1 localhost\n");
    fx_write(parent_of(&f), ".web-1.stage-99999-3/config.json", "{\"ociVer");
    fx_mkdir(parent_of(&f), ".web-1.stage-99999-3/rootfs");
    CHECK_INT(stage_count(&f), 2);
    char *before = snapshot(f.bundle), *err = NULL;
    CHECK_INT(materialize(f.bundle, NULL, fx_path(f.tmp, "missing.json"), &err), 1);
    free(err);
    /* An unreadable envelope is refused before the lock is taken: it recovers nothing. The
     * next write does, before its own refusal. */
    CHECK_INT(stage_count(&f), 2);
    fx_write(f.bundle, "rootfs/x", "populated");
    CHECK_INT(materialize(f.bundle, f.rootfs, f.env_b, &err), 1);
    CHECK_CONTAINS(err, "refusing to replace a non-empty rootfs directory");
    free(err);
    CHECK_INT(stage_count(&f), 0);
    CHECK_INT(fx_mode(f.bundle, "hosts"), -1);
    unlink(fx_path(f.bundle, "rootfs/x"));
    char *after = snapshot(f.bundle);
    CHECK_STR(after, before);
    free(before);
    free(after);
    fx_teardown(&f);
}

static void leaves_other_stages_alone(void)
{
    struct fx f;
    fx_setup(&f);
    write_a(&f);
    /* Another bundle's stage whose name starts like ours, a name that is not a stage, and a
     * file named like a stage: none is ours to touch. */
    fx_write(parent_of(&f), ".web-1.stage-1.stage-5-0/config.json", "other");
    fx_write(parent_of(&f), ".web-1.stage-x/config.json", "other");
    fx_write(parent_of(&f), ".web-1.stage-7-7", "a file");
    char *err = NULL;
    CHECK_INT(materialize(f.bundle, NULL, f.env_b, &err), 0);
    CHECK_CONTAINS(err, "named like a stage of this bundle, but not a directory");
    free(err);
    CHECK_INT(fx_mode(parent_of(&f), ".web-1.stage-1.stage-5-0/config.json") >= 0, 1);
    CHECK_INT(fx_mode(parent_of(&f), ".web-1.stage-x/config.json") >= 0, 1);
    CHECK_INT(fx_mode(parent_of(&f), ".web-1.stage-7-7") >= 0, 1);
    fx_teardown(&f);
}

static void refuses_directory_of_another_user(void)
{
    if (geteuid() != 0) {
        SKIP("chown to another uid needs root");
    }
    struct fx f;
    fx_setup(&f);
    write_a(&f);
    CHECK_INT(chown(f.bundle, 12345, 12345), 0);
    expect_refusal(&f, f.bundle, NULL, f.env_b, "owned by uid 12345, not by this user (uid 0)");
    fx_teardown(&f);
}

static void usage_errors(void)
{
    char *err = NULL;
    const char *a1[] = {"materialize", "env.json", NULL};
    CHECK_INT(fx_run(a1, NULL, &err), 1);
    CHECK_CONTAINS(err, "--bundle DIR is required");
    free(err);
    const char *a2[] = {"materialize", "--bundle", "/tmp/x", "a", "b", NULL};
    CHECK_INT(fx_run(a2, NULL, &err), 1);
    CHECK_CONTAINS(err, "at most one ENVELOPE");
    free(err);
    const char *a3[] = {"materialize", "--bundle", "/", "-", NULL};
    CHECK_INT(fx_run(a3, NULL, &err), 1);
    free(err);
    const char *a4[] = {"materialize", "--help", NULL};
    CHECK_INT(fx_run(a4, NULL, &err), 0);
    free(err);
}

HARNESS_MAIN(TEST(writes_bundle_layout), TEST(reads_stdin_and_replaces),
             TEST(tightens_existing_directory_mode), TEST(rootfs_symlink_and_root_path),
             TEST(rootfs_transitions), TEST(cleans_stale_temporaries),
             TEST(does_not_write_through_symlinks), TEST(refuses_symlinked_bundle_dir),
             TEST(refuses_bundle_dir_that_is_a_file), TEST(refuses_dotdot_in_bundle_path),
             TEST(refuses_bad_file_names), TEST(refuses_digest_problems),
             TEST(refuses_bad_envelopes), TEST(refuses_rootfs_clobbering),
             TEST(refuses_directory_in_place_of_a_file),
             TEST(refuses_directory_of_another_user), TEST(refuses_symlinked_lock_file),
             TEST(switches_whole_directory), TEST(keeps_operator_entries),
             TEST(per_file_fallback), TEST(rolls_back_interrupted_write),
             TEST(cleans_up_after_exchange), TEST(cleans_up_stage_killed_early),
             TEST(leaves_other_stages_alone), TEST(usage_errors))
