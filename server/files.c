#include "server/files.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/sbuf.h"

void files_free_secret(char *buf, size_t len)
{
    if (buf) {
        mem_wipe(buf, len);
        free(buf);
    }
}

static char *read_fd(int fd, const char *path, const char *what, size_t *len, struct err *err)
{
    struct sbuf b;
    sbuf_init(&b, SERVER_PEM_MAX);
    char chunk[4096];
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            err_set(err, ERR_IO, path, "cannot read %s: %s", what, strerror(errno));
            break;
        }
        if (n == 0) {
            mem_wipe(chunk, sizeof(chunk));
            return sbuf_take(&b, len);
        }
        if (sbuf_addn(&b, chunk, (size_t)n)) {
            err_set(err, ERR_IO, path, "%s is larger than %u bytes", what, SERVER_PEM_MAX);
            break;
        }
    }
    mem_wipe(chunk, sizeof(chunk));
    sbuf_free_secret(&b);
    return NULL;
}

char *files_read_pem(const char *path, const char *what, size_t *len, struct err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        err_set(err, ERR_IO, path, "cannot open %s: %s", what, strerror(errno));
        return NULL;
    }
    char *text = read_fd(fd, path, what, len, err);
    close(fd);
    if (text && !strstr(text, "-----BEGIN ")) {
        files_free_secret(text, *len);
        err_set(err, ERR_IO, path, "%s holds no PEM block", what);
        return NULL;
    }
    return text;
}
