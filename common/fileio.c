#include "common/fileio.h"

#include <errno.h>
#include <stdint.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/err.h"
#include "common/sbuf.h"

#define READ_CHUNK 16384

/* errno for an sbuf failure code. */
static int sbuf_errno(int rc)
{
    return rc == ERR_TOO_LARGE ? EFBIG : ENOMEM;
}

/* Refuse what is not a regular file when asked to, before reading a byte; reserve the size. */
static int read_prepare(int fd, size_t max, unsigned flags, struct sbuf *b)
{
    struct stat st;
    if (fstat(fd, &st) != 0) {
        return -1;
    }
    if ((flags & FILE_READ_REGULAR) && !S_ISREG(st.st_mode)) {
        errno = EINVAL;
        return -1;
    }
    if (!S_ISREG(st.st_mode) || st.st_size <= 0) {
        return 0; /* a pipe, or a /proc file that reports size 0 but reads normally */
    }
    /* The size is a hint, not a verdict: sysfs files report 4096 whatever they hold, so the
     * cap is enforced on what is read (at most one chunk past it). */
    size_t hint = (uint64_t)st.st_size < max ? (size_t)st.st_size : max;
    int rc = sbuf_reserve(b, hint);
    if (rc) {
        errno = sbuf_errno(rc);
        return -1;
    }
    return 0;
}

static int read_rest(int fd, unsigned flags, struct sbuf *b)
{
    char chunk[READ_CHUNK];
    int rc = 0;
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            rc = n < 0 ? -1 : 0;
            break;
        }
        int add = sbuf_addn(b, chunk, (size_t)n);
        if (add) {
            errno = sbuf_errno(add);
            rc = -1;
            break;
        }
    }
    if (flags & FILE_READ_SECRET) {
        int saved = errno;
        mem_wipe(chunk, sizeof(chunk));
        errno = saved;
    }
    return rc;
}

char *file_read_fd(int fd, size_t max, unsigned flags, size_t *len)
{
    struct sbuf b;
    if (flags & FILE_READ_SECRET) {
        sbuf_init_secret(&b, max);
    } else {
        sbuf_init(&b, max);
    }
    if (read_prepare(fd, max, flags, &b) || read_rest(fd, flags, &b)) {
        int saved = errno;
        sbuf_free(&b); /* wipes in secret mode */
        errno = saved;
        return NULL;
    }
    char *out = sbuf_take(&b, len);
    if (!out) {
        errno = ENOMEM;
    }
    return out;
}

char *file_read_path(const char *path, size_t max, unsigned flags, size_t *len)
{
    if (strcmp(path, "-") == 0) {
        return file_read_fd(STDIN_FILENO, max, flags, len);
    }
    int oflags = O_RDONLY | O_CLOEXEC | O_NOCTTY;
    if (flags & FILE_READ_REGULAR) {
        oflags |= O_NONBLOCK;
    }
    int fd = open(path, oflags);
    if (fd < 0) {
        return NULL;
    }
    char *text = file_read_fd(fd, max, flags, len);
    int saved = errno;
    close(fd);
    errno = saved;
    return text;
}

int file_write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            if (n == 0) {
                errno = EIO;
            }
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int failed_at(const char **step, const char *what)
{
    if (step) {
        *step = what;
    }
    return -1;
}

int file_write_new(int dfd, const char *name, const void *data, size_t len, mode_t mode,
                   const char **step)
{
    int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        return failed_at(step, "cannot create");
    }
    const char *what = NULL;
    if (file_write_all(fd, data, len) != 0) {
        what = "cannot write";
    } else if (fchmod(fd, mode) != 0) {
        what = "cannot set the file mode";
    } else if (fsync(fd) != 0) {
        what = "cannot fsync";
    }
    int saved = errno;
    if (close(fd) != 0 && !what) {
        what = "cannot close";
        saved = errno;
    }
    if (what) {
        (void)unlinkat(dfd, name, 0);
        errno = saved;
        return failed_at(step, what);
    }
    return 0;
}

int file_write_atomic(int dfd, const char *name, const char *tmp, const void *data, size_t len,
                      mode_t mode, const char **step)
{
    if (file_write_new(dfd, tmp, data, len, mode, step)) {
        return -1;
    }
    if (renameat(dfd, tmp, dfd, name) != 0) {
        int saved = errno;
        (void)unlinkat(dfd, tmp, 0);
        errno = saved;
        return failed_at(step, "cannot rename into place");
    }
    return 0;
}

int file_fsync_dir(int dfd)
{
    return fsync(dfd);
}
