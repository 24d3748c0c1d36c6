#ifndef OCIRENDER_COMMON_HOSTARCH_H
#define OCIRENDER_COMMON_HOSTARCH_H

/*
 * The running kernel's machine name (`uname -m`: "x86_64", "aarch64", "armv7l"...): the node's
 * architecture fact (`ocirender facts` reports it as host.arch) and the server's own, which
 * the renderer assumes when a request gives none.
 */

#include <stddef.h>

/* Fills `buf` and returns it; NULL when uname() fails or the name does not fit. Thread-safe. */
const char *host_machine(char *buf, size_t size);

#endif
