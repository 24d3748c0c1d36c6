#ifndef OCIRENDER_COMMON_SERVER_ENV_H
#define OCIRENDER_COMMON_SERVER_ENV_H

/*
 * OCIRENDER_ALLOW_SERVER_ENV: which variables of the rendering process's own environment `$E:`
 * may read (otherwise $E:VAULT_TOKEN would hand out its credentials). ocirenderd and
 * `ocirender render` read it the same way, with this one parser (docs/operations.md, "Settings").
 *
 * The value is a list of names separated by commas and/or spaces. A name must be a valid
 * environment variable name ([A-Za-z_][A-Za-z0-9_]*, at most 255 bytes): anything else is
 * refused with ERR_USAGE naming OCIRENDER_ALLOW_SERVER_ENV and the bad entry, because a typo
 * there would otherwise silently withhold a variable the operator meant to allow.
 */

#include <jansson.h>

#include "common/err.h"

#define SERVER_ENV_VAR "OCIRENDER_ALLOW_SERVER_ENV"

/*
 * Parse `list` (the variable's value; NULL or "" allows nothing) and look the names up in the
 * environment. *env: a new object name -> value of the allowed names that are set (NULL when
 * nothing is allowed). *missing (may be NULL): a new array of the allowed names that are not
 * set, for a start-up warning. 0, or -1 with err (ERR_USAGE, ERR_NOMEM) and nothing returned.
 */
int server_env_allowed(const char *list, json_t **env, json_t **missing, struct err *err);

#endif
