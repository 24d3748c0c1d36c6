/*
 * Crash safety of materialize: run it over and over, alternating envelopes A and B, and kill
 * it with SIGKILL after a random delay. A and B differ in config.json, in the content of their
 * envelope files (hosts, resolv.conf), in their set of files (B has one more) and in the rootfs
 * symlink. After every kill the bundle must be entirely A or entirely B: every one of those,
 * compared byte for byte, from the same envelope, and nothing else in DIR (no temporary files,
 * no stale file of the other envelope). Never missing once a run has completed. Beside DIR, at
 * most the stage of the killed run may be left, and the next run removes it.
 *
 * A second test does the same over a bundle whose rootfs directory the operator populated
 * (materialize without --rootfs) next to a file of the operator's: whenever a kill lands, each
 * of those exists exactly once, in DIR or in the killed run's stage, and after the next
 * successful run it is back in DIR. A third races two writers on one DIR.
 *
 * OCIRENDER_CRASH_ITERATIONS overrides the number of kills per test (default 300),
 * OCIRENDER_RACE_ROUNDS the number of races (default 100) and OCIRENDER_CRASH_BUDGET the
 * seconds after which a loop on a very loaded machine may stop early (see budget_start).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "client/bundle.h"
#include "common/digest.h"
#include "common/jsonx.h"
#include "common/strutil.h"
#include "tests/client/fixture.h"
#include "tests/harness.h"

#define EXTRA_FILE "only-in-b"

/* A config of about 1.5 MB, so that writing and fsyncing it takes a while. */
static json_t *big_config(const char *mark, const char *root_path)
{
    json_t *env = json_array();
    for (int i = 0; i < 20000; i++) {
        char kv[128];
        snprintf(kv, sizeof(kv), "VAR_%05d=%s-value-%d-padding-padding-padding", i, mark, i);
        json_array_append_new(env, json_string(kv));
    }
    return json_pack("{s:s, s:{s:s}, s:{s:[s], s:s, s:o}}", "ociVersion", "1.0.2", "root",
                     "path", root_path, "process", "args", "sh", "cwd", "/", "env", env);
}

struct version {
    char path[4096];   /* the envelope file */
    char rootfs[4096]; /* the --rootfs argument (real path), "" for none */
    char *config;      /* the exact expected config.json text */
    size_t len;
    char hosts[64], resolv[64];
    bool extra;        /* has EXTRA_FILE */
};

/*
 * Envelope `mark` in `dir`. With `with_rootfs`, the version's rootfs is <dir>/rootfs-<mark> and
 * root.path already names its real path, so config.json is exactly the config's text.
 */
static void make_version(const char *dir, const char *mark, bool with_rootfs, bool extra,
                         struct version *v)
{
    memset(v, 0, sizeof(*v));
    char rel[64];
    snprintf(rel, sizeof(rel), "rootfs-%s", mark);
    if (with_rootfs) {
        fx_mkdir(dir, rel);
        if (!realpath(fx_path(dir, rel), v->rootfs)) {
            v->rootfs[0] = '\0';
        }
    }
    json_t *config = big_config(mark, with_rootfs ? v->rootfs : "rootfs");
    v->config = jsonx_dump(config, JSONX_PRETTY, &v->len);
    char hex[65], digest[72];
    digest_sha256_hex(v->config, v->len, hex);
    snprintf(digest, sizeof(digest), "sha256:%s", hex);
    snprintf(v->hosts, sizeof(v->hosts), "127.0.0.1 localhost %s\n", mark);
    snprintf(v->resolv, sizeof(v->resolv), "nameserver 10.0.0.%d # %s\n", mark[0], mark);
    v->extra = extra;
    json_t *files = json_pack("{s:s, s:s}", "hosts", v->hosts, "resolv.conf", v->resolv);
    if (extra) {
        json_object_set_new(files, EXTRA_FILE, json_string(mark));
    }
    json_t *env = json_pack("{s:o, s:s, s:o}", "config", config, "digest", digest, "files", files);
    size_t n;
    char *text = jsonx_dump(env, JSONX_COMPACT, &n);
    char name[32];
    snprintf(name, sizeof(name), "env-%s%s.json", mark, with_rootfs ? "-rootfs" : "");
    fx_write(dir, name, text);
    snprintf(v->path, sizeof(v->path), "%s", fx_path(dir, name));
    free(text);
    json_decref(env);
}

static pid_t spawn_materialize(const char *bundle, const struct version *v)
{
    char bin[4096];
    snprintf(bin, sizeof(bin), "%s/ocirender", OCIRENDER_BINARY_DIR);
    const char *argv[8];
    size_t n = 0;
    argv[n++] = bin;
    argv[n++] = "materialize";
    argv[n++] = "--bundle";
    argv[n++] = bundle;
    if (v->rootfs[0]) {
        argv[n++] = "--rootfs";
        argv[n++] = v->rootfs;
    }
    argv[n++] = v->path;
    argv[n] = NULL;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    pid_t pid = -1;
    if (posix_spawn(&pid, bin, &fa, NULL, (char *const *)(uintptr_t)argv, environ) != 0) {
        pid = -1;
    }
    posix_spawn_file_actions_destroy(&fa);
    return pid;
}

static int wait_status(pid_t pid)
{
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return status;
}

static bool exited_ok(int status)
{
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static unsigned random_below(unsigned n)
{
    unsigned r = 0;
    if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
        r = (unsigned)now_us();
    }
    return n ? r % n : 0;
}

static int env_count(const char *name, int fallback)
{
    const char *s = getenv(name);
    uint64_t n = 0;
    if (!s || str_to_u64(s, &n) || n == 0 || n > 100000) {
        return fallback;
    }
    return (int)n;
}

/*
 * On a machine that keeps up, each loop below runs its full count. On one so loaded that a
 * run takes many times longer, the full count would outlast the test's timeout: a loop then
 * stops once it has done `floor` rounds and spent OCIRENDER_CRASH_BUDGET seconds (default 60).
 * Every round still asserts everything; only the number of rounds adapts, and the summary line
 * says when it did.
 */
struct budget {
    double start_us, limit_us;
    int floor;
};

static struct budget budget_start(int floor)
{
    return (struct budget){.start_us = now_us(),
                           .limit_us = env_count("OCIRENDER_CRASH_BUDGET", 60) * 1e6,
                           .floor = floor};
}

static bool budget_spent(const struct budget *b, int rounds_done)
{
    return rounds_done >= b->floor && now_us() - b->start_us > b->limit_us;
}

/* 0: missing, 1: a, 2: b, -1: anything else. */
static int which_bytes(const char *dir, const char *name, const char *a, size_t alen,
                       const char *b, size_t blen)
{
    size_t len = 0;
    char *got = fx_read(dir, name, &len);
    if (!got) {
        return 0;
    }
    int r = (len == alen && memcmp(got, a, alen) == 0)   ? 1
            : (len == blen && memcmp(got, b, blen) == 0) ? 2
                                                         : -1;
    free(got);
    return r;
}

static int which_str(const char *dir, const char *name, const char *a, const char *b)
{
    return which_bytes(dir, name, a, strlen(a), b, strlen(b));
}

/* The rootfs: which version's symlink, or 3 for a directory (the versions without --rootfs). */
static int which_rootfs(const char *dir, const struct version *a, const struct version *b)
{
    struct stat st;
    if (lstat(fx_path(dir, "rootfs"), &st) != 0) {
        return 0;
    }
    if (S_ISDIR(st.st_mode)) {
        return 3;
    }
    char link[4096];
    ssize_t n = readlink(fx_path(dir, "rootfs"), link, sizeof(link) - 1);
    link[n > 0 ? n : 0] = '\0';
    return strcmp(link, a->rootfs) == 0 ? 1 : strcmp(link, b->rootfs) == 0 ? 2 : -1;
}

/* Entries of DIR other than those a bundle of `v` (and the operator's `foreign`) has. */
static int unexpected_entries(const char *dir, const struct version *v, const char *foreign)
{
    static const char *const common[] = {"config.json", BUNDLE_MANIFEST, "rootfs", "hosts",
                                         "resolv.conf"};
    DIR *d = opendir(dir);
    int n = 0;
    const struct dirent *e;
    while (d && (e = readdir(d))) {
        bool known = strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
                     (v->extra && strcmp(e->d_name, EXTRA_FILE) == 0) ||
                     (foreign && strcmp(e->d_name, foreign) == 0);
        for (size_t i = 0; i < ARRAY_LEN(common); i++) {
            known = known || strcmp(e->d_name, common[i]) == 0;
        }
        if (!known) {
            fprintf(stderr, "  unexpected entry %s/%s\n", dir, e->d_name);
            n++;
        }
    }
    if (d) {
        closedir(d);
    }
    return n;
}

/*
 * 1 when the bundle is entirely A, 2 when entirely B, 0 when there is no bundle, -1 for a mix
 * (described on stderr). `foreign` is an operator's file that may be present.
 */
static int bundle_state(const char *dir, const struct version *a, const struct version *b,
                        const char *foreign)
{
    int c = which_bytes(dir, "config.json", a->config, a->len, b->config, b->len);
    int h = which_str(dir, "hosts", a->hosts, b->hosts);
    int r = which_str(dir, "resolv.conf", a->resolv, b->resolv);
    struct stat st;
    int x = lstat(fx_path(dir, EXTRA_FILE), &st) == 0 ? 2 : 1; /* only B has it */
    int fs = which_rootfs(dir, a, b);
    int want_fs = !a->rootfs[0] ? 3 : c;
    if (c == 0 && h == 0 && r == 0 && fs == 0 && lstat(dir, &st) != 0) {
        return 0;
    }
    int mode = fx_mode(dir, "config.json"), dmode = fx_mode(dir, ".");
    int manifest = fx_mode(dir, BUNDLE_MANIFEST);
    if (c <= 0 || h != c || r != c || x != c || fs != want_fs || mode != 0600 ||
        dmode != 0700 || manifest != 0600 ||
        unexpected_entries(dir, c == 2 ? b : a, foreign) != 0) {
        fprintf(stderr, "  mix: config=%d hosts=%d resolv=%d extra=%d rootfs=%d (want %d) "
                "mode=%o dir=%o manifest=%o\n", c, h, r, x, fs, want_fs, mode, dmode, manifest);
        return -1;
    }
    return c;
}

/* Stage directories of the bundle `name` in `parent`. */
static int count_stages(const char *parent, const char *name)
{
    char prefix[256];
    snprintf(prefix, sizeof(prefix), ".%s.stage-", name);
    return fx_count_prefix(parent, prefix);
}

/* How many of <parent>/<name>/<rel> and <parent>/.<name>.stage-N-M/<rel> exist. */
static int count_copies(const char *parent, const char *name, const char *rel, bool *in_stage)
{
    char prefix[256];
    snprintf(prefix, sizeof(prefix), ".%s.stage-", name);
    struct stat st;
    char p[4096];
    snprintf(p, sizeof(p), "%s/%s/%s", parent, name, rel);
    int n = lstat(p, &st) == 0;
    DIR *d = opendir(parent);
    const struct dirent *e;
    while (d && (e = readdir(d))) {
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0) {
            snprintf(p, sizeof(p), "%s/%s/%s", parent, e->d_name, rel);
            if (lstat(p, &st) == 0) {
                n++;
                *in_stage = true;
            }
        }
    }
    if (d) {
        closedir(d);
    }
    return n;
}

/*
 * Where a kill landed, from the stage it left: 1 when the stage holds the version being
 * written (before the exchange), 2 when it holds the other one (after it: the old bundle
 * waits at the stage path), 0 when there is no stage or no config.json in it yet.
 */
static int stage_side(const char *parent, const struct version *writing,
                      const struct version *other)
{
    DIR *d = opendir(parent);
    const struct dirent *e;
    int side = 0;
    while (d && side == 0 && (e = readdir(d))) {
        if (strncmp(e->d_name, ".bundle.stage-", 14) == 0) {
            char rel[300];
            snprintf(rel, sizeof(rel), "%s/config.json", e->d_name);
            int w = which_bytes(parent, rel, writing->config, writing->len, other->config,
                                other->len);
            side = w > 0 ? w : 0;
        }
    }
    if (d) {
        closedir(d);
    }
    return side;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/*
 * How long an uninterrupted run takes decides the range of kill delays: the median of a few
 * runs over an existing bundle (the exchange path), after a first one that creates it. The
 * bundle ends as A.
 */
static double time_runs(const char *bundle, const struct version *a, const struct version *b)
{
    double t[5];
    CHECK(exited_ok(wait_status(spawn_materialize(bundle, a))));
    for (size_t i = 0; i < ARRAY_LEN(t); i++) {
        double t0 = now_us();
        CHECK(exited_ok(wait_status(spawn_materialize(bundle, i % 2 ? b : a))));
        t[i] = now_us() - t0;
    }
    qsort(t, ARRAY_LEN(t), sizeof(t[0]), cmp_double);
    return t[ARRAY_LEN(t) / 2];
}

/*
 * Wait `delay_us` microseconds or until the child exits, whichever comes first; true when it
 * exited. A run that completes before its kill time is not waited for to the end of the delay
 * (the kill would find it gone anyway): once the delays have grown on a loaded machine, that
 * sleep used to be most of the test's time.
 */
static bool exited_within(pid_t pid, unsigned delay_us)
{
    struct timespec ts = {.tv_sec = delay_us / 1000000,
                          .tv_nsec = (long)(delay_us % 1000000) * 1000};
    int fd = pidfd_open(pid, 0);
    if (fd < 0) { /* a kernel before 5.3: sleep the whole delay */
        nanosleep(&ts, NULL);
        return false;
    }
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int r;
    while ((r = ppoll(&p, 1, &ts, NULL)) < 0 && errno == EINTR) {
    }
    close(fd);
    return r > 0;
}

/* Start materialize of `v` and SIGKILL it after a random delay. 1 killed, 0 completed, -1
 * failed. */
static int run_and_kill(const char *bundle, const struct version *v, double full_us,
                        unsigned *delay_out)
{
    pid_t pid = spawn_materialize(bundle, v);
    CHECK(pid > 0);
    unsigned delay = random_below((unsigned)(full_us * 1.2) + 1);
    if (!exited_within(pid, delay)) {
        kill(pid, SIGKILL);
    }
    int st = wait_status(pid);
    *delay_out = delay;
    if (WIFSIGNALED(st)) {
        return 1;
    }
    if (!exited_ok(st)) {
        fprintf(stderr, "  materialize exited with status %d\n", WEXITSTATUS(st));
        return -1;
    }
    return 0;
}

static void killed_materialize_leaves_old_or_new(void)
{
    const char *tmp = fx_tmpdir("crash");
    char bundle[4096];
    snprintf(bundle, sizeof(bundle), "%s/bundle", tmp);
    struct version a, b;
    make_version(tmp, "A", true, false, &a);
    make_version(tmp, "B", true, true, &b);
    CHECK(a.rootfs[0] && b.rootfs[0]);
    int iterations = env_count("OCIRENDER_CRASH_ITERATIONS", 300);

    double full_us = time_runs(bundle, &a, &b);
    CHECK_INT(bundle_state(bundle, &a, &b, NULL), 1);
    printf("# an uninterrupted run takes %.1f ms (median of 5)\n", full_us / 1000.0);

    int seen[3] = {0, 1, 0}, completed = 0, killed = 0, stages_left = 0, bad = 0, runs = 0;
    int sides[3] = {0, 0, 0}, unchanged = 0, last_state = 1;
    struct budget budget = budget_start(60);
    for (int i = 0; i < iterations && !bad && !budget_spent(&budget, i); i++, runs++) {
        unsigned delay;
        const struct version *writing = i % 2 ? &a : &b, *other = i % 2 ? &b : &a;
        /* A loaded machine runs materialize slower than it did when timed: when the kills
         * keep landing before the exchange, the range of delays grows, so the test covers
         * the whole run at any speed instead of depending on the load staying as it was. */
        if (unchanged >= 8) {
            full_us *= 1.5;
            unchanged = 0;
        }
        int r = run_and_kill(bundle, writing, full_us, &delay);
        sides[stage_side(tmp, writing, other)]++;
        killed += r == 1;
        completed += r == 0;
        bad += r < 0;
        int state = bundle_state(bundle, &a, &b, NULL);
        int stages = count_stages(tmp, "bundle");
        /* A completed run leaves no stage; a killed one at most its own. */
        if (state <= 0 || stages > (r == 1 ? 1 : 0)) {
            fprintf(stderr, "  iteration %d (delay %u us, %s): state=%d stages=%d\n", i, delay,
                    r == 1 ? "killed" : "completed", state, stages);
            bad++;
        }
        seen[state > 0 ? state : 0]++;
        unchanged = state == last_state ? unchanged + 1 : 0;
        last_state = state;
        stages_left += stages;
    }
    CHECK_INT(bad, 0);
    /* Both versions were observed: kills did not only ever hit before the exchange. */
    CHECK(seen[1] > 0 && seen[2] > 0);
    printf("# %d kills over %d runs (%d completed, delays up to %.1f ms); the bundle was "
           "entirely A %d times and entirely B %d times%s; a killed run's stage was left %d "
           "times (%d with the new bundle staged, before the exchange; %d with the old one, "
           "after it)%s\n",
           killed, runs, completed, full_us * 1.2 / 1000.0, seen[1], seen[2],
           bad ? "" : ", never a mix", stages_left, sides[1], sides[2],
           runs < iterations && !bad ? "; stopped early: the time budget was spent" : "");

    /* The next clean run removes the stale stage. */
    CHECK(exited_ok(wait_status(spawn_materialize(bundle, &b))));
    CHECK_INT(count_stages(tmp, "bundle"), 0);
    CHECK_INT(bundle_state(bundle, &a, &b, NULL), 2);
    free(a.config);
    free(b.config);
    fx_rmtree(tmp);
}

/* The operator's rootfs content and file: each exists exactly once, in DIR or in a stage. */
static bool operator_data_once(const char *tmp, bool *in_stage)
{
    return count_copies(tmp, "bundle", "rootfs/bin/app", in_stage) == 1 &&
           count_copies(tmp, "bundle", "notes.txt", in_stage) == 1;
}

static void killed_materialize_keeps_populated_rootfs(void)
{
    const char *tmp = fx_tmpdir("crash-rootfs");
    char bundle[4096];
    snprintf(bundle, sizeof(bundle), "%s/bundle", tmp);
    struct version a, b;
    make_version(tmp, "A", false, false, &a);
    make_version(tmp, "B", false, true, &b);
    int iterations = env_count("OCIRENDER_CRASH_ITERATIONS", 300);

    double full_us = time_runs(bundle, &a, &b);
    CHECK_INT(fx_write(bundle, "rootfs/bin/app", "#!/bin/sh\necho app\n"), 0);
    CHECK_INT(fx_write(bundle, "notes.txt", "the operator's\n"), 0);

    int killed = 0, completed = 0, bad = 0, in_stage_seen = 0, seen[3] = {0, 1, 0}, runs = 0;
    struct budget budget = budget_start(60);
    for (int i = 0; i < iterations && !bad && !budget_spent(&budget, i); i++, runs++) {
        unsigned delay;
        int r = run_and_kill(bundle, i % 2 ? &a : &b, full_us, &delay);
        killed += r == 1;
        completed += r == 0;
        bad += r < 0;
        bool in_stage = false;
        bool once = operator_data_once(tmp, &in_stage);
        /* While the operator's entries sit in the killed run's stage the old bundle lacks
         * them (the documented window); otherwise it is whole. */
        int state = in_stage ? which_bytes(bundle, "config.json", a.config, a.len, b.config,
                                           b.len)
                             : bundle_state(bundle, &a, &b, "notes.txt");
        if (!once || state <= 0) {
            fprintf(stderr, "  iteration %d (delay %u us): operator data once=%d state=%d\n", i,
                    delay, once, state);
            bad++;
        }
        in_stage_seen += in_stage;
        seen[state > 0 ? state : 0]++;
    }
    CHECK_INT(bad, 0);
    printf("# %d kills over %d runs (%d completed) over a populated rootfs: the operator's "
           "files were %s; a kill left them in the stage %d times; config A %d times, B %d "
           "times%s\n", killed, runs, completed, bad ? "NOT always kept" : "never lost or doubled",
           in_stage_seen, seen[1], seen[2],
           runs < iterations && !bad ? "; stopped early: the time budget was spent" : "");

    /* After any kill, the next successful run puts everything back in DIR. */
    CHECK(exited_ok(wait_status(spawn_materialize(bundle, &a))));
    CHECK_INT(count_stages(tmp, "bundle"), 0);
    CHECK_INT(bundle_state(bundle, &a, &b, "notes.txt"), 1);
    char *app = fx_read(bundle, "rootfs/bin/app", NULL), *notes = fx_read(bundle, "notes.txt",
                                                                           NULL);
    CHECK_STR(app, "#!/bin/sh\necho app\n");
    CHECK_STR(notes, "the operator's\n");
    free(app);
    free(notes);
    free(a.config);
    free(b.config);
    fx_rmtree(tmp);
}

static void racing_writers_end_whole(void)
{
    const char *tmp = fx_tmpdir("race");
    char bundle[4096];
    snprintf(bundle, sizeof(bundle), "%s/bundle", tmp);
    struct version a, b;
    make_version(tmp, "A", true, false, &a);
    make_version(tmp, "B", true, true, &b);
    int rounds = env_count("OCIRENDER_RACE_ROUNDS", 100);
    int won[3] = {0, 0, 0}, bad = 0, raced = 0;
    struct budget budget = budget_start(20);
    for (int i = 0; i < rounds && !bad && !budget_spent(&budget, i); i++, raced++) {
        pid_t pa = spawn_materialize(bundle, &a), pb = spawn_materialize(bundle, &b);
        int sa = wait_status(pa), sb = wait_status(pb);
        int state = bundle_state(bundle, &a, &b, NULL);
        int stages = count_stages(tmp, "bundle");
        if (!exited_ok(sa) || !exited_ok(sb) || state <= 0 || stages != 0) {
            fprintf(stderr, "  round %d: exit %d/%d state=%d stages=%d\n", i, sa, sb, state,
                    stages);
            bad++;
        }
        won[state > 0 ? state : 0]++;
    }
    CHECK_INT(bad, 0);
    printf("# %d races of two writers: the bundle ended entirely A %d times and entirely B %d "
           "times%s%s\n", raced, won[1], won[2], bad ? "" : ", with no leftovers",
           raced < rounds && !bad ? "; stopped early: the time budget was spent" : "");
    free(a.config);
    free(b.config);
    fx_rmtree(tmp);
}

HARNESS_MAIN(TEST(killed_materialize_leaves_old_or_new),
             TEST(killed_materialize_keeps_populated_rootfs), TEST(racing_writers_end_whole))
