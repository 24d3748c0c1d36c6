#ifndef OCIRENDER_TESTS_CLIENT_FIXTURE_H
#define OCIRENDER_TESTS_CLIENT_FIXTURE_H

/* Helpers for client tests: fixture trees in a temp dir, and running the ocirender binary. */

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <jansson.h>

/* A fresh directory under $TMPDIR (or /tmp); the path is static storage per call slot. */
const char *fx_tmpdir(const char *tag);
/* Remove a tree (no symlink is followed). */
void fx_rmtree(const char *path);

/* <dir>/<rel>: parent directories are created. 0 or -1. */
int fx_write(const char *dir, const char *rel, const char *text);
int fx_mkdir(const char *dir, const char *rel);
int fx_symlink(const char *dir, const char *rel, const char *target);
/* Whole file into a heap buffer (free()), or NULL. */
char *fx_read(const char *dir, const char *rel, size_t *len);
/* Join into a static rotating buffer. */
const char *fx_path(const char *dir, const char *rel);
/* Mode bits (07777) of <dir>/<rel> without following a symlink, or -1. */
int fx_mode(const char *dir, const char *rel);
/* Number of entries whose name starts with prefix. */
int fx_count_prefix(const char *dir, const char *prefix);

/*
 * Run <build>/ocirender with argv (NULL-terminated, without the program name); stdin from
 * `in` (a file path) or /dev/null. Returns the exit status (128+signal when killed); *errout
 * (heap, may be NULL) receives stderr.
 */
int fx_run(const char *const *args, const char *in, char **errout);

/* The message of the warning whose path is `path` in a facts warning list, or NULL. */
const char *fx_warning_for(const json_t *warnings, const char *path);

/*
 * The basic facts of the fake node under `root`, gathered as user uid:gid with `distro` as
 * WSL_DISTRO_NAME (NULL: unset). Aborts the test with the error when gathering fails.
 */
json_t *fx_gather_at(const char *root, long uid, long gid, const char *distro,
                     json_t **warnings);

#endif
