#ifndef OCIRENDER_COMMON_PARAM_H
#define OCIRENDER_COMMON_PARAM_H

/*
 * Transport text (HTTP query parameters, command-line flags) into typed values, for the
 * adapters: libraries such as render/ take the typed values and never see the text. A value
 * that does not parse is BAD_REQUEST at the parameter's name, quoting the text.
 */

#include <stdbool.h>
#include <stdint.h>

#include "common/compiler.h"
#include "common/err.h"

/* A decimal integer in 0..max. */
int param_u64(const char *name, const char *text, uint64_t max, uint64_t *out,
              struct err *err) WARN_UNUSED;
/* Exactly "true" or "false". */
int param_bool(const char *name, const char *text, bool *out, struct err *err) WARN_UNUSED;

#endif
