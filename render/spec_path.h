#ifndef OCIRENDER_RENDER_SPEC_PATH_H
#define OCIRENDER_RENDER_SPEC_PATH_H

/*
 * Spec paths as errors name them: `services.web.env.PORT`, `storage[0]`, and
 * `labels["app.kubernetes.io/name"]` for a key that is not a plain name. Both schema walks
 * (render/walk.c, render/schema.c) build their current path with these: a push returns the
 * length to pop back to. A path longer than its buffer is cut (paths only appear in errors).
 */

#include <stdbool.h>
#include <stddef.h>

/* Whether a key must be written as ["key"] rather than .key. */
bool spec_path_key_needs_quoting(const char *key);

/* Set the path to `root` (NULL: empty). */
void spec_path_set(char *path, size_t size, size_t *len, const char *root);
size_t spec_path_push_key(char *path, size_t size, size_t *len, const char *key);
size_t spec_path_push_index(char *path, size_t size, size_t *len, size_t i);
void spec_path_pop(char *path, size_t *len, size_t saved);
/* Append a relative path ("resources.memory", `env["a b"]`), after a dot unless the path is
 * empty. */
size_t spec_path_push_path(char *path, size_t size, size_t *len, const char *sub);
/* The whole path `root` + key: "services.web", `sysctls["net.ipv4.ip_forward"]`. */
void spec_path_of_key(char *path, size_t size, const char *root, const char *key);

#endif
