/*
 * Secret files, run as the `ocirender` program: `materialize` writes the envelope's
 * secret_files 0400 for the process user into a per-bundle directory on a memory file system
 * (never into the bundle), points the /run/secrets bind at it, swaps it with the bundle and
 * cleans up after failures; `remove` deletes both, and refuses what is not a bundle.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <linux/magic.h>
#include <unistd.h>

#include "client/bundle_impl.h"
#include "common/digest.h"
#include "common/jsonx.h"
#include "common/sbuf.h"
#include "tests/client/fixture.h"
#include "tests/harness.h"

#define VALUE_A "pa55-A-d0-not-leak"
#define VALUE_B "pa55-B-d0-not-leak"

/* ---- envelopes: a config with the /run/secrets bind and secret_files ---- */

static json_t *config_with_bind(const char *mark, json_t *linux_obj)
{
    char env[64];
    snprintf(env, sizeof(env), "MARK=%s", mark);
    json_t *c = json_pack("{s:s, s:{s:s}, s:[{s:s, s:s, s:s, s:[s, s]}], s:{s:[s], s:s, "
                          "s:[s, s]}}",
                          "ociVersion", "1.0.2", "root", "path", "rootfs", "mounts",
                          "destination", "/run/secrets", "type", "bind", "source",
                          "/run/ocirender/secrets/web-rep-1", "options", "rbind", "ro",
                          "process", "args", "sh", "cwd", "/", "env", env,
                          "DB_PASSWORD_FILE=/run/secrets/DB_PASSWORD");
    if (linux_obj) {
        json_object_set_new(c, "linux", linux_obj);
    }
    return c;
}

/* A valid envelope around `config` (stolen) with `secret_files` (stolen, may be NULL). */
static json_t *envelope_new(json_t *config, json_t *secret_files)
{
    size_t len;
    char *text = jsonx_dump(config, JSONX_PRETTY, &len);
    char hex[65], digest[72];
    digest_sha256_hex(text, len, hex);
    free(text);
    snprintf(digest, sizeof(digest), "sha256:%s", hex);
    json_t *e = json_pack("{s:o, s:s, s:[], s:{}, s:[]}", "config", config, "digest", digest,
                          "warnings", "files", "secrets");
    if (secret_files) {
        json_object_set_new(e, "secret_files", secret_files);
    }
    return e;
}

static json_t *one_secret(const char *value, long uid, long gid, long mode)
{
    return json_pack("{s:{s:s, s:i, s:i, s:i}}", "DB_PASSWORD", "value", value, "uid", uid,
                     "gid", gid, "mode", mode);
}

/* ---- fixture ---- */

struct fx {
    const char *tmp;     /* on disk: bundles and envelopes */
    char shm[PATH_MAX];  /* on tmpfs: --secrets-dir */
    char bundle[PATH_MAX];
    char env_a[PATH_MAX], env_b[PATH_MAX], env_plain[PATH_MAX];
    long uid, gid;       /* the owner the envelopes ask for */
};

static const char *write_env(struct fx *f, const char *name, json_t *env, char *out)
{
    size_t len;
    char *text = jsonx_dump(env, JSONX_PRETTY, &len);
    fx_write(f->tmp, name, text);
    free(text);
    json_decref(env);
    snprintf(out, PATH_MAX, "%s", fx_path(f->tmp, name));
    return out;
}

static bool on_tmpfs(const char *path)
{
    struct statfs sf;
    return statfs(path, &sf) == 0 && (unsigned long)sf.f_type == (unsigned long)TMPFS_MAGIC;
}

static bool fx_setup(struct fx *f)
{
    memset(f, 0, sizeof(*f));
    if (!on_tmpfs("/dev/shm")) {
        return false;
    }
    f->tmp = fx_tmpdir("secf");
    snprintf(f->shm, sizeof(f->shm), "/dev/shm/ocr-secf-XXXXXX");
    CHECK(mkdtemp(f->shm) != NULL);
    snprintf(f->bundle, sizeof(f->bundle), "%s/bundles/web-1", f->tmp);
    /* As root the files go to another user, as in production; otherwise to ourselves. */
    f->uid = geteuid() == 0 ? 1000 : (long)geteuid();
    f->gid = geteuid() == 0 ? 1001 : (long)getegid();
    write_env(f, "a.json", envelope_new(config_with_bind("A", NULL),
                                        one_secret(VALUE_A, f->uid, f->gid, 0400)), f->env_a);
    write_env(f, "b.json", envelope_new(config_with_bind("B", NULL),
                                        one_secret(VALUE_B, f->uid, f->gid, 0400)), f->env_b);
    write_env(f, "plain.json", envelope_new(config_with_bind("P", NULL), NULL), f->env_plain);
    return true;
}

static void fx_teardown(struct fx *f)
{
    fx_rmtree(f->tmp);
    fx_rmtree(f->shm);
}

static int run_materialize(const struct fx *f, const char *env, char **err)
{
    const char *args[] = {"materialize", "--bundle", f->bundle, "--secrets-dir", f->shm, env,
                          NULL};
    return fx_run(args, NULL, err);
}

static int run_remove(const char *bundle, const char *secrets_dir, char **err)
{
    const char *args[] = {"remove", "--bundle", bundle, "--secrets-dir", secrets_dir, NULL};
    return fx_run(args, NULL, err);
}

/* The per-bundle directory: <shm>/web-1-<16 hex>. */
static const char *per_bundle_dir(const struct fx *f, char *out)
{
    char id[128];
    CHECK_INT(bundle_secrets_id(f->bundle, id, sizeof(id)), 0);
    snprintf(out, PATH_MAX, "%s/%s", f->shm, id);
    return out;
}

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d))) {
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    }
    if (d) {
        closedir(d);
    }
    return d ? n : -1;
}

/* The /run/secrets bind source in the bundle's config.json. */
static char *bind_source(const struct fx *f)
{
    char *text = fx_read(f->bundle, "config.json", NULL);
    json_error_t je;
    json_t *c = text ? json_loads(text, 0, &je) : NULL;
    free(text);
    const json_t *mounts = json_object_get(c, "mounts");
    char *out = NULL;
    for (size_t i = 0; i < json_array_size(mounts); i++) {
        const json_t *m = json_array_get(mounts, i);
        if (strcmp(jsonx_get_str(m, "destination"), "/run/secrets") == 0) {
            out = strdup(jsonx_get_str(m, "source"));
        }
    }
    json_decref(c);
    return out;
}

/* Does any file below `dir` (not following symlinks) contain `needle`? */
static bool tree_contains(const char *dir, const char *needle)
{
    DIR *d = opendir(dir);
    bool found = false;
    struct dirent *e;
    while (d && !found && (e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
            continue;
        }
        char p[PATH_MAX];
        struct stat st;
        snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
        if (lstat(p, &st) != 0) {
            continue;
        }
        if (S_ISDIR(st.st_mode)) {
            found = tree_contains(p, needle);
        } else if (S_ISREG(st.st_mode)) {
            char *text = fx_read(dir, e->d_name, NULL);
            found = text && strstr(text, needle);
            free(text);
        }
    }
    if (d) {
        closedir(d);
    }
    return found;
}

/* ---- materialize ---- */

static void writes_files_outside_the_bundle(void)
{
    struct fx f;
    if (!fx_setup(&f)) {
        SKIP("/dev/shm is not a tmpfs here");
    }
    char *err = NULL, dir[PATH_MAX];
    CHECK_INT(run_materialize(&f, f.env_a, &err), 0);
    CHECK_CONTAINS(err, "1 secret file outside the bundle");
    CHECK(!strstr(err ? err : "", VALUE_A));
    free(err);
    per_bundle_dir(&f, dir);
    CHECK_INT(fx_mode(dir, "."), 0700);
    CHECK_INT(count_entries(dir), 1);
    char *src = bind_source(&f);
    CHECK(src && strncmp(src, dir, strlen(dir)) == 0 && src[strlen(dir)] == '/');
    struct stat st;
    CHECK(src && lstat(src, &st) == 0 && S_ISDIR(st.st_mode));
    CHECK_INT((int)(st.st_mode & 07777), 0500);
    CHECK(st.st_uid == (uid_t)f.uid && st.st_gid == (gid_t)f.gid);
    char *value = src ? fx_read(src, "DB_PASSWORD", NULL) : NULL;
    CHECK_STR(value, VALUE_A);
    free(value);
    CHECK(src && lstat(fx_path(src, "DB_PASSWORD"), &st) == 0);
    CHECK_INT((int)(st.st_mode & 07777), 0400);
    CHECK(st.st_uid == (uid_t)f.uid && st.st_gid == (gid_t)f.gid);
    /* Nothing in the bundle holds the value; the manifest names the directory. */
    CHECK(!tree_contains(f.bundle, VALUE_A));
    char *manifest = fx_read(f.bundle, BUNDLE_MANIFEST, NULL);
    CHECK_CONTAINS(manifest, "#secrets-dir ");
    CHECK_CONTAINS(manifest, dir);
    free(manifest);
    free(src);
    fx_teardown(&f);
}

static void replacing_swaps_the_directory(void)
{
    struct fx f;
    if (!fx_setup(&f)) {
        SKIP("/dev/shm is not a tmpfs here");
    }
    char *err = NULL, dir[PATH_MAX];
    per_bundle_dir(&f, dir);
    CHECK_INT(run_materialize(&f, f.env_a, &err), 0);
    free(err);
    char *old = bind_source(&f);
    CHECK_INT(run_materialize(&f, f.env_b, &err), 0);
    free(err);
    char *cur = bind_source(&f);
    CHECK(old && cur && strcmp(old, cur) != 0);
    CHECK(old && access(old, F_OK) != 0); /* the old generation is gone */
    CHECK_INT(count_entries(dir), 1);
    char *value = cur ? fx_read(cur, "DB_PASSWORD", NULL) : NULL;
    CHECK_STR(value, VALUE_B);
    free(value);
    free(old);
    free(cur);

    /* The per-file fallback (no RENAME_EXCHANGE) swaps them just the same. */
    setenv("OCIRENDER_TEST_NO_EXCHANGE", "1", 1);
    old = bind_source(&f);
    CHECK_INT(run_materialize(&f, f.env_a, &err), 0);
    unsetenv("OCIRENDER_TEST_NO_EXCHANGE");
    CHECK_CONTAINS(err, "one at a time");
    free(err);
    cur = bind_source(&f);
    CHECK(old && cur && strcmp(old, cur) != 0 && access(old, F_OK) != 0);
    CHECK_INT(count_entries(dir), 1);
    free(old);
    free(cur);

    /* An envelope without secret files: the directory goes with the old bundle. */
    CHECK_INT(run_materialize(&f, f.env_plain, &err), 0);
    free(err);
    CHECK(access(dir, F_OK) != 0);
    char *manifest = fx_read(f.bundle, BUNDLE_MANIFEST, NULL);
    CHECK(manifest && !strstr(manifest, "#secrets-dir"));
    free(manifest);
    fx_teardown(&f);
}

/* A write that fails after its secret files were made leaves the old bundle and its files. */
static void failure_keeps_the_old_state(void)
{
    struct fx f;
    if (!fx_setup(&f)) {
        SKIP("/dev/shm is not a tmpfs here");
    }
    char *err = NULL, dir[PATH_MAX], bad[PATH_MAX];
    per_bundle_dir(&f, dir);
    CHECK_INT(run_materialize(&f, f.env_a, &err), 0);
    free(err);
    char *before = fx_read(f.bundle, "config.json", NULL), *src = bind_source(&f);
    /* Owned by uid 70000 in a user namespace that maps only 0..65535. */
    json_t *maps = json_pack("{s:[{s:i, s:i, s:i}], s:[{s:i, s:i, s:i}]}", "uidMappings",
                             "containerID", 0, "hostID", 100000, "size", 65536, "gidMappings",
                             "containerID", 0, "hostID", 100000, "size", 65536);
    write_env(&f, "bad.json", envelope_new(config_with_bind("X", maps),
                                           one_secret(VALUE_B, 70000, 0, 0400)), bad);
    CHECK_INT(run_materialize(&f, bad, &err), 1);
    CHECK_CONTAINS(err, "outside the config's user namespace mappings");
    CHECK(!strstr(err ? err : "", VALUE_B));
    free(err);
    char *after = fx_read(f.bundle, "config.json", NULL);
    CHECK_STR(after, before);
    CHECK_INT(count_entries(dir), 1);
    char *value = src ? fx_read(src, "DB_PASSWORD", NULL) : NULL;
    CHECK_STR(value, VALUE_A);
    free(value);
    free(before);
    free(after);
    free(src);
    fx_teardown(&f);
}

/* Files of a user-namespaced container belong to the mapped host ids. */
static void user_namespace_ids_are_mapped(void)
{
    struct fx f;
    if (!fx_setup(&f)) {
        SKIP("/dev/shm is not a tmpfs here");
    }
    if (geteuid() != 0) {
        fx_teardown(&f);
        SKIP("needs root to give files to other users");
    }
    json_t *maps = json_pack("{s:[{s:i, s:i, s:i}], s:[{s:i, s:i, s:i}]}", "uidMappings",
                             "containerID", 0, "hostID", 100000, "size", 65536, "gidMappings",
                             "containerID", 0, "hostID", 200000, "size", 65536);
    char env[PATH_MAX], *err = NULL;
    write_env(&f, "ns.json", envelope_new(config_with_bind("N", maps),
                                          one_secret(VALUE_A, 1000, 1001, 0400)), env);
    CHECK_INT(run_materialize(&f, env, &err), 0);
    free(err);
    char *src = bind_source(&f);
    struct stat st;
    CHECK(src && lstat(fx_path(src, "DB_PASSWORD"), &st) == 0);
    CHECK(st.st_uid == 101000 && st.st_gid == 201001);
    free(src);
    fx_teardown(&f);
}

static void expect_refused(struct fx *f, const char *env, const char *secrets_dir,
                           const char *msg)
{
    const char *args[] = {"materialize", "--bundle", f->bundle, "--secrets-dir", secrets_dir,
                          env, NULL};
    char *err = NULL;
    CHECK_INT(fx_run(args, NULL, &err), 1);
    CHECK_CONTAINS(err, msg);
    CHECK(!strstr(err ? err : "", VALUE_A));
    free(err);
    CHECK(access(f->bundle, F_OK) != 0); /* nothing was written */
}

static void refusals(void)
{
    struct fx f;
    if (!fx_setup(&f)) {
        SKIP("/dev/shm is not a tmpfs here");
    }
    char env[PATH_MAX];
    /* A directory on disk: the files would outlive a reboot. */
    expect_refused(&f, f.env_a, fx_path(f.tmp, "on-disk"), "not on tmpfs or ramfs");
    CHECK_INT(count_entries(fx_path(f.tmp, "on-disk")), 0);
    /* Group or others may never read a secret. */
    write_env(&f, "mode.json",
              envelope_new(config_with_bind("M", NULL), one_secret(VALUE_A, 1, 1, 0440)), env);
    expect_refused(&f, env, f.shm, "owner bits only");
    /* A name that is not a plain file name. */
    write_env(&f, "name.json",
              envelope_new(config_with_bind("M", NULL),
                           json_pack("{s:{s:s, s:i, s:i, s:i}}", "../x", "value", VALUE_A,
                                     "uid", 1, "gid", 1, "mode", 256)),
              env);
    expect_refused(&f, env, f.shm, "refusing secret file '../x'");
    /* Secret files but nowhere to bind them. */
    json_t *config = config_with_bind("M", NULL);
    json_object_set_new(config, "mounts", json_array());
    write_env(&f, "nobind.json", envelope_new(config, one_secret(VALUE_A, 1, 1, 256)), env);
    expect_refused(&f, env, f.shm, "no bind mount at /run/secrets");
    CHECK_INT(count_entries(f.shm), 0);
    fx_teardown(&f);
}

/* OCIRENDER_SECRETS_DIR is the default of --secrets-dir. */
static void secrets_dir_from_the_environment(void)
{
    struct fx f;
    if (!fx_setup(&f)) {
        SKIP("/dev/shm is not a tmpfs here");
    }
    char *err = NULL, dir[PATH_MAX];
    setenv("OCIRENDER_SECRETS_DIR", f.shm, 1);
    const char *args[] = {"materialize", "--bundle", f.bundle, f.env_a, NULL};
    CHECK_INT(fx_run(args, NULL, &err), 0);
    free(err);
    CHECK_INT(count_entries(per_bundle_dir(&f, dir)), 1);
    const char *rm[] = {"remove", "--bundle", f.bundle, NULL};
    CHECK_INT(fx_run(rm, NULL, &err), 0);
    unsetenv("OCIRENDER_SECRETS_DIR");
    free(err);
    CHECK(access(dir, F_OK) != 0);
    fx_teardown(&f);
}

/* A plain config.json render cannot carry the values: `ocirender render` says so. */
static void plain_render_notes_the_missing_values(void)
{
    const char *tmp = fx_tmpdir("secr");
    fx_write(tmp, "spec.yaml", "version: v1\ndeployment: dep\nservices:\n  web:\n"
                               "    image: {name: busybox}\n"
                               "    env: {TOKEN_FILE: \"$S:token\"}\n");
    fx_write(tmp, "secrets.json", "{\"dep\": {\"token\": \"" VALUE_A "\"}}\n");
    chmod(fx_path(tmp, "secrets.json"), 0600);
    char spec[PATH_MAX], secrets[PATH_MAX], *err = NULL;
    snprintf(spec, sizeof(spec), "%s", fx_path(tmp, "spec.yaml"));
    snprintf(secrets, sizeof(secrets), "%s", fx_path(tmp, "secrets.json"));
    const char *plain[] = {"render", "--secrets-file", secrets, spec, NULL};
    CHECK_INT(fx_run(plain, NULL, &err), 0);
    CHECK_CONTAINS(err, "1 secret file (env keys ending in _FILE) is not in config.json");
    CHECK(!strstr(err ? err : "", VALUE_A));
    free(err);
    const char *envelope[] = {"render", "--secrets-file", secrets, "--envelope", spec, NULL};
    CHECK_INT(fx_run(envelope, NULL, &err), 0);
    CHECK(!strstr(err ? err : "", "secret file"));
    free(err);
    fx_rmtree(tmp);
}

/* ---- remove ---- */

static void remove_deletes_bundle_and_secrets(void)
{
    struct fx f;
    if (!fx_setup(&f)) {
        SKIP("/dev/shm is not a tmpfs here");
    }
    char *err = NULL, dir[PATH_MAX];
    per_bundle_dir(&f, dir);
    CHECK_INT(run_materialize(&f, f.env_a, &err), 0);
    free(err);
    /* The manifest's record is used even when --secrets-dir now names another place. */
    CHECK_INT(run_remove(f.bundle, fx_path(f.tmp, "elsewhere"), &err), 0);
    CHECK_CONTAINS(err, "removed");
    free(err);
    CHECK(access(f.bundle, F_OK) != 0);
    CHECK(access(dir, F_OK) != 0);
    CHECK_INT(count_entries(fx_path(f.tmp, "bundles")), 0); /* no lock file left either */
    /* Removing again is not an error. */
    CHECK_INT(run_remove(f.bundle, f.shm, &err), 0);
    CHECK_CONTAINS(err, "does not exist");
    free(err);
    fx_teardown(&f);
}

static void remove_keeps_what_it_did_not_write(void)
{
    struct fx f;
    if (!fx_setup(&f)) {
        SKIP("/dev/shm is not a tmpfs here");
    }
    char *err = NULL, dir[PATH_MAX];
    per_bundle_dir(&f, dir);
    CHECK_INT(run_materialize(&f, f.env_a, &err), 0);
    free(err);
    fx_write(f.bundle, "notes.txt", "mine\n");
    fx_write(f.bundle, "rootfs/bin/app", "binary\n");
    CHECK_INT(run_remove(f.bundle, f.shm, &err), 0);
    CHECK_CONTAINS(err, "notes.txt: kept");
    CHECK_CONTAINS(err, "rootfs: kept");
    free(err);
    char *notes = fx_read(f.bundle, "notes.txt", NULL);
    CHECK_STR(notes, "mine\n");
    free(notes);
    CHECK(access(fx_path(f.bundle, "rootfs/bin/app"), F_OK) == 0);
    CHECK(access(fx_path(f.bundle, "config.json"), F_OK) != 0);
    CHECK(access(dir, F_OK) != 0);
    fx_teardown(&f);
}

static void remove_refuses_what_is_not_a_bundle(void)
{
    struct fx f;
    if (!fx_setup(&f)) {
        SKIP("/dev/shm is not a tmpfs here");
    }
    char *err = NULL;
    fx_write(f.tmp, "plain/keep.txt", "data\n");
    CHECK_INT(run_remove(fx_path(f.tmp, "plain"), f.shm, &err), 1);
    CHECK_CONTAINS(err, "not an ocirender bundle");
    free(err);
    CHECK(access(fx_path(f.tmp, "plain/keep.txt"), F_OK) == 0);

    CHECK_INT(run_materialize(&f, f.env_a, &err), 0);
    free(err);
    fx_symlink(f.tmp, "link", f.bundle);
    CHECK_INT(run_remove(fx_path(f.tmp, "link"), f.shm, &err), 1);
    CHECK_CONTAINS(err, "refusing to remove a symlink");
    free(err);
    CHECK(access(fx_path(f.bundle, "config.json"), F_OK) == 0);

    const char *usage[] = {"remove", NULL};
    CHECK_INT(fx_run(usage, NULL, &err), 1);
    CHECK_CONTAINS(err, "--bundle DIR is required");
    free(err);
    fx_teardown(&f);
}

HARNESS_MAIN(TEST(writes_files_outside_the_bundle), TEST(replacing_swaps_the_directory),
             TEST(failure_keeps_the_old_state), TEST(user_namespace_ids_are_mapped),
             TEST(refusals), TEST(secrets_dir_from_the_environment),
             TEST(plain_render_notes_the_missing_values),
             TEST(remove_deletes_bundle_and_secrets), TEST(remove_keeps_what_it_did_not_write),
             TEST(remove_refuses_what_is_not_a_bundle))
