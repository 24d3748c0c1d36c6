/* The manifest: the entries of a bundle that ocirender wrote, one name a line. */
#include "client/bundle_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fileio.h"
#include "common/sbuf.h"
#include "common/strutil.h"

/* ---- the manifest: which entries of a bundle ocirender wrote ---- */

/* The secret files' directory outside the bundle (bundle_secrets.c), as a comment line so
 * that readers which only know entry names skip it. */
#define SECRETS_DIR_LINE "#secrets-dir "

int bundle_manifest_secrets_dir(int dfd, char *out, size_t size)
{
    out[0] = '\0';
    int fd = openat(dfd, BUNDLE_MANIFEST, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        return errno == ENOENT ? 0 : -1;
    }
    size_t len = 0;
    char *text = file_read_fd(fd, MANIFEST_MAX, FILE_READ_REGULAR, &len);
    int saved = errno;
    close(fd);
    if (!text) {
        errno = saved;
        return -1;
    }
    for (char *line = text, *next; line; line = next) {
        next = strchr(line, '\n');
        if (next) {
            *next++ = '\0';
        }
        if (str_has_prefix(line, SECRETS_DIR_LINE)) {
            snprintf(out, size, "%s", line + strlen(SECRETS_DIR_LINE));
        }
    }
    free(text);
    return 0;
}

/* A manifest line that could not be a bundle entry is ignored. */
static bool plausible_entry_name(const char *name)
{
    return name[0] && strlen(name) <= NAME_MAX && !strchr(name, '/') && !bundle_is_dot_or_dotdot(name);
}

/*
 * The names `dfd`'s manifest lists, as a new set in *out. A missing manifest is an empty set:
 * a bundle written before manifests existed, a directory the operator made, or a stage killed
 * before its manifest was complete (it is written first, under a temporary name). 0, or -1
 * with errno.
 */
int bundle_manifest_read(int dfd, json_t **out)
{
    json_t *set = json_object();
    if (!set) {
        errno = ENOMEM;
        return -1;
    }
    int fd = openat(dfd, BUNDLE_MANIFEST, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
        *out = set;
        return 0;
    }
    size_t len = 0;
    char *text = fd >= 0 ? file_read_fd(fd, MANIFEST_MAX, FILE_READ_REGULAR, &len) : NULL;
    int saved = errno;
    if (fd >= 0) {
        close(fd);
    }
    int rc = text ? 0 : -1;
    for (char *line = text, *next; rc == 0 && line; line = next) {
        next = strchr(line, '\n');
        if (next) {
            *next++ = '\0';
        }
        if (line[0] != '#' && plausible_entry_name(line) && bundle_names_add(set, line)) {
            rc = -1;
            saved = ENOMEM;
        }
    }
    free(text);
    if (rc) {
        json_decref(set);
        errno = saved;
        return -1;
    }
    *out = set;
    return 0;
}

char *bundle_manifest_text(json_t *names, const char *secrets_dir, size_t *len)
{
    struct sbuf b;
    sbuf_init(&b, MANIFEST_MAX);
    int rc = sbuf_add(&b, "# Written by ocirender: the entries of this bundle it manages. They are\n"
                          "# replaced when the bundle is written again; anything else is kept.\n");
    if (secrets_dir && secrets_dir[0]) {
        rc = rc || sbuf_add(&b, SECRETS_DIR_LINE) || sbuf_add(&b, secrets_dir) ||
             sbuf_addc(&b, '\n');
    }
    const char *name;
    json_t *v;
    json_object_foreach(names, name, v)
    {
        rc = rc || sbuf_add(&b, name) || sbuf_addc(&b, '\n');
    }
    return rc ? NULL : sbuf_take(&b, len);
}

/*
 * Is `name` an entry ocirender writes? config.json, the manifest, temporary files, and what
 * either manifest lists. Given the manifests of the two bundles around an exchange, the answer
 * is the same before it (new stage, old DIR) and after it (old bundle at the stage path, new
 * DIR): that is what lets one routine, stage_dispose, both roll back and clean up. The rootfs
 * has its own rule (see settle_rootfs).
 */
bool bundle_name_is_ours(const char *name, const json_t *a, const json_t *b)
{
    return strcmp(name, "config.json") == 0 || strcmp(name, BUNDLE_MANIFEST) == 0 ||
           str_has_prefix(name, BUNDLE_TMP_PREFIX) || bundle_names_has(a, name) || bundle_names_has(b, name);
}
