#define _GNU_SOURCE /* mkdtemp, nftw */
#include "tests/client/fixture.h"

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <fcntl.h>
#include <ftw.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "client/facts.h"
#include "common/err.h"
#include "common/jsonx.h"



const char *fx_tmpdir(const char *tag)
{
    static char bufs[8][256];
    static unsigned slot;
    char *b = bufs[slot++ % 8];
    const char *base = getenv("TMPDIR");
    snprintf(b, 256, "%s/ocr-%s-XXXXXX", base && *base ? base : "/tmp", tag);
    return mkdtemp(b);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (flag == FTW_DP) {
        /* Directories may have been left 0000 or 0500 by a test. */
        (void)chmod(path, 0700);
        (void)rmdir(path);
        return 0;
    }
    (void)unlink(path);
    return 0;
}

void fx_rmtree(const char *path)
{
    if (path) {
        nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    }
}

const char *fx_path(const char *dir, const char *rel)
{
    static char bufs[8][4096];
    static unsigned slot;
    char *b = bufs[slot++ % 8];
    snprintf(b, 4096, "%s/%s", dir, rel);
    return b;
}

static int mkparents(const char *full)
{
    char p[4096];
    snprintf(p, sizeof(p), "%s", full);
    for (char *s = p + 1; *s; s++) {
        if (*s == '/') {
            *s = '\0';
            if (mkdir(p, 0755) != 0 && errno != EEXIST) {
                return -1;
            }
            *s = '/';
        }
    }
    return 0;
}

int fx_write(const char *dir, const char *rel, const char *text)
{
    const char *p = fx_path(dir, rel);
    if (mkparents(p)) {
        return -1;
    }
    FILE *f = fopen(p, "w");
    if (!f) {
        return -1;
    }
    size_t n = strlen(text);
    int rc = fwrite(text, 1, n, f) == n ? 0 : -1;
    return fclose(f) == 0 ? rc : -1;
}

int fx_mkdir(const char *dir, const char *rel)
{
    const char *p = fx_path(dir, rel);
    return mkparents(p) || (mkdir(p, 0755) != 0 && errno != EEXIST) ? -1 : 0;
}

int fx_symlink(const char *dir, const char *rel, const char *target)
{
    const char *p = fx_path(dir, rel);
    return mkparents(p) || symlink(target, p) != 0 ? -1 : 0;
}

char *fx_read(const char *dir, const char *rel, size_t *len)
{
    FILE *f = fopen(fx_path(dir, rel), "r");
    if (!f) {
        return NULL;
    }
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap + 1);
    size_t got;
    while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            char *nb = realloc(buf, 2 * cap + 1);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    fclose(f);
    if (buf) {
        buf[n] = '\0';
        if (len) {
            *len = n;
        }
    }
    return buf;
}

int fx_mode(const char *dir, const char *rel)
{
    struct stat st;
    return lstat(fx_path(dir, rel), &st) == 0 ? (int)(st.st_mode & 07777) : -1;
}

int fx_count_prefix(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d))) {
        n += strncmp(e->d_name, prefix, strlen(prefix)) == 0;
    }
    if (d) {
        closedir(d);
    }
    return n;
}

int fx_run(const char *const *args, const char *in, char **errout)
{
    char bin[4096], errpath[] = "/tmp/ocr-stderr-XXXXXX";
    snprintf(bin, sizeof(bin), "%s/ocirender", OCIRENDER_BINARY_DIR);
    int efd = mkstemp(errpath);
    if (efd < 0) {
        return -1;
    }
    const char *argv[64];
    size_t n = 0;
    argv[n++] = bin;
    for (size_t i = 0; args[i] && n < 63; i++) {
        argv[n++] = args[i];
    }
    argv[n] = NULL;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, in ? in : "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, efd, 2);
    pid_t pid;
    int rc = posix_spawn(&pid, bin, &fa, NULL, (char *const *)(uintptr_t)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    int status = 0;
    if (rc == 0) {
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
    }
    close(efd);
    if (errout) {
        *errout = fx_read("/", errpath + 1, NULL);
    }
    unlink(errpath);
    if (rc != 0) {
        return -1;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

const char *fx_warning_for(const json_t *warnings, const char *path)
{
    for (size_t i = 0; i < json_array_size(warnings); i++) {
        const json_t *w = json_array_get(warnings, i);
        const char *p = jsonx_get_str(w, "path");
        if (p && strcmp(p, path) == 0) {
            return jsonx_get_str(w, "message");
        }
    }
    return NULL;
}

json_t *fx_gather_at(const char *root, long uid, long gid, const char *distro,
                     json_t **warnings)
{
    struct facts_sources src;
    facts_sources_default(&src);
    src.root = root;
    src.uid = uid;
    src.gid = gid;
    src.cdi_extra_dirs = NULL;
    src.wsl_distro = distro;
    struct err err;
    err_init(&err);
    json_t *facts = facts_gather(NULL, &src, warnings, &err);
    if (!facts) {
        fprintf(stderr, "facts_gather(%s) failed: %s: %s\n", root, err_path(&err),
                err_message(&err));
        abort();
    }
    return facts;
}
