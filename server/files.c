#include "server/files.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fileio.h"
#include "common/sbuf.h"

void files_free_secret(char *buf, size_t len)
{
    if (buf) {
        mem_wipe(buf, len);
        free(buf);
    }
}

char *files_read_pem(const char *path, const char *what, size_t *len, struct err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        err_set(err, ERR_IO, path, "cannot open %s: %s", what, strerror(errno));
        return NULL;
    }
    char *text = file_read_fd(fd, SERVER_PEM_MAX, FILE_READ_SECRET, len);
    if (!text && errno == EFBIG) {
        err_set(err, ERR_IO, path, "%s is larger than %u bytes", what, SERVER_PEM_MAX);
    } else if (!text) {
        err_set(err, ERR_IO, path, "cannot read %s: %s", what, strerror(errno));
    }
    close(fd);
    if (text && !strstr(text, "-----BEGIN ")) {
        files_free_secret(text, *len);
        err_set(err, ERR_IO, path, "%s holds no PEM block", what);
        return NULL;
    }
    return text;
}
