#ifndef OCIRENDER_COMMON_FILEIO_H
#define OCIRENDER_COMMON_FILEIO_H

/*
 * Whole-file I/O for every module: reading a file with a cap, writing one atomically, making
 * a directory's entries durable. Failures return NULL or -1 with errno set, so each caller
 * words its own message (what the file is for, which flag to fix).
 *
 * Reading: EINTR is retried; the result is NUL-terminated (the NUL is not counted in *len).
 * Errors: EFBIG past `max` (at most one 16 KiB chunk past it is read), EINVAL for a file that
 * is not regular under FILE_READ_REGULAR, ENOMEM, or read(2)'s errno.
 */

#include <stddef.h>
#include <sys/types.h>

#include "common/compiler.h"

enum file_read_flags {
    FILE_READ_REGULAR = 1u << 0, /* refuse a FIFO, socket, device or directory (EINVAL) */
    FILE_READ_SECRET = 1u << 1,  /* the text may be a secret: buffers wiped on growth and
                                  * failure; the caller wipes the result */
};

/* Read `fd` to its end. A heap buffer (free(), or wipe first with FILE_READ_SECRET). */
char *file_read_fd(int fd, size_t max, unsigned flags, size_t *len) WARN_UNUSED;

/* Open `path` (O_RDONLY | O_CLOEXEC | O_NOCTTY, plus O_NONBLOCK with FILE_READ_REGULAR so a
 * FIFO planted there cannot hang us; "-" is standard input) and read it whole. */
char *file_read_path(const char *path, size_t max, unsigned flags, size_t *len)
    WARN_UNUSED NONNULL(1);

/* write(2) until done; EINTR retried, a zero-byte write is EIO. 0 or -1 with errno. */
int file_write_all(int fd, const void *data, size_t len) WARN_UNUSED;

/*
 * Create `name` in `dfd` exclusively (never through a symlink), write all of `data`, set
 * `mode`, fsync and close. On failure the partial file is removed, errno is kept and *step
 * (may be NULL) names the step that failed ("cannot create", "cannot write", ...).
 */
int file_write_new(int dfd, const char *name, const void *data, size_t len, mode_t mode,
                   const char **step) WARN_UNUSED NONNULL(2);

/*
 * Replace `name` in `dfd` atomically: the data goes to the new file `tmp` (file_write_new),
 * which is then renamed over `name`. Readers see the old file or the new one, never a part.
 * The rename is durable only after file_fsync_dir(dfd). 0, or -1 with errno and *step.
 */
int file_write_atomic(int dfd, const char *name, const char *tmp, const void *data, size_t len,
                      mode_t mode, const char **step) WARN_UNUSED NONNULL(2, 3);

/* fsync a directory so that the entries created, renamed or removed in it are durable. */
int file_fsync_dir(int dfd) WARN_UNUSED;

#endif
