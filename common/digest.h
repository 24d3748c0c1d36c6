#ifndef OCIRENDER_COMMON_DIGEST_H
#define OCIRENDER_COMMON_DIGEST_H

#include <stddef.h>

/* Lower-case hex SHA-256 of buf into out (65 bytes with the NUL). 0, or -1 on failure. */
int digest_sha256_hex(const void *buf, size_t len, char out[65]);

#endif
