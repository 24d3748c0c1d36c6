#ifndef OCIRENDER_SERVER_FILES_H
#define OCIRENDER_SERVER_FILES_H

/* Small files the server reads at start-up: TLS material (PEM) kept in memory for
 * libmicrohttpd (which takes PEM text, not paths). */

#include <stddef.h>

#include "common/compiler.h"
#include "common/err.h"

#define SERVER_PEM_MAX (1u << 20)

/* Read a PEM file into a NUL-terminated heap buffer (free with files_free_secret). NULL with
 * ERR_IO naming the file when it is missing, too big or holds no PEM block. */
char *files_read_pem(const char *path, const char *what, size_t *len, struct err *err) WARN_UNUSED;
void files_free_secret(char *buf, size_t len);

#endif
