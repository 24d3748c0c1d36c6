#include "client/cli.h"

#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client/bundle.h"
#include "client/facts.h"
#include "common/fileio.h"
#include "common/jsonx.h"
#include "common/limits.h"
#include "common/sbuf.h"
#include "render/render.h"

char *cli_read_file(const char *path, size_t max, size_t *len, struct err *err)
{
    int fd = strcmp(path, "-") == 0 ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        err_set(err, ERR_IO, path, "cannot open: %s", strerror(errno));
        if (err) {
            err->sys_errno = errno;
        }
        return NULL;
    }
    char *text = file_read_fd(fd, max, 0, len);
    if (!text && errno == EFBIG) {
        err_set(err, ERR_TOO_LARGE, path, "file is larger than %zu bytes", max);
    } else if (!text && errno == ENOMEM) {
        err_set(err, ERR_NOMEM, path, "out of memory (%zu)", max);
    } else if (!text) {
        err_set(err, ERR_IO, path, "cannot read: %s", strerror(errno));
    }
    if (fd != STDIN_FILENO) {
        close(fd);
    }
    return text;
}

json_t *cli_load_json_file(const char *path, struct err *err)
{
    size_t len;
    char *text = cli_read_file(path, LIMIT_FILE_READ, &len, err);
    if (!text) {
        return NULL;
    }
    json_t *v = render_load_document(text, len, RENDER_FMT_AUTO, err);
    free(text);
    if (!v) {
        char prefix[300];
        snprintf(prefix, sizeof(prefix), "%s: ", path);
        err_prefix(err, prefix);
    }
    return v;
}

void cli_print_error(const char *prefix, const struct err *err)
{
    if (err_issue_count(err) == 0) {
        fprintf(stderr, "ocirender: %s%s\n", prefix ? prefix : "", "failed");
        return;
    }
    for (unsigned i = 0; i < err_issue_count(err); i++) {
        const struct err_issue *is = err_issue_at(err, i);
        fprintf(stderr, "ocirender: %s%s%s%s\n", prefix ? prefix : "", is->path,
                is->path[0] ? ": " : "", is->msg);
    }
    if (err_issues_dropped(err)) {
        fprintf(stderr, "ocirender: ... and %u more\n", err_issues_dropped(err));
    }
}

int cli_write_stdout(const char *text, size_t len)
{
    return file_write_all(STDOUT_FILENO, text, len);
}

void cli_print_warnings(const json_t *warnings)
{
    for (size_t i = 0; i < json_array_size(warnings); i++) {
        const json_t *w = json_array_get(warnings, i);
        const char *code = jsonx_get_str(w, "code"), *path = jsonx_get_str(w, "path");
        const char *msg = jsonx_get_str(w, "message");
        fprintf(stderr, "ocirender: warning: [%s] %s%s%s\n", code ? code : "?", path ? path : "",
                path && path[0] ? ": " : "", msg ? msg : "");
    }
}

json_t *cli_gather_facts(const json_t *needs, const char *host_root, const char *rootfs,
                         struct err *err)
{
    struct facts_sources src;
    facts_sources_default(&src);
    if (!host_root) {
        host_root = getenv("OCIRENDER_HOST_ROOT");
    }
    if (host_root && host_root[0]) {
        struct stat st;
        int rc = stat(host_root, &st);
        if (rc != 0 || !S_ISDIR(st.st_mode)) {
            err_set(err, ERR_USAGE, "--host-root", "%s: %s", host_root,
                    rc != 0 ? strerror(errno) : "not a directory");
            return NULL;
        }
        src.root = host_root;
    }
    src.rootfs = rootfs;
    json_t *warnings = NULL;
    json_t *facts = facts_gather(needs, &src, &warnings, err);
    cli_print_warnings(warnings);
    json_decref(warnings);
    return facts;
}

const char *cli_secrets_root(const char *flag)
{
    const char *v = flag ? flag : getenv("OCIRENDER_SECRETS_DIR");
    return v && v[0] ? v : NULL;
}

int cli_materialize_text(const char *text, size_t len, const char *dir, const char *rootfs,
                         const char *secrets_root, bool *bad_envelope, struct err *err)
{
    struct bundle_envelope env;
    *bad_envelope = true;
    if (bundle_envelope_load(text, len, &env, err)) {
        return -1;
    }
    *bad_envelope = false;
    cli_print_warnings(env.warnings);
    json_t *warnings = json_array();
    int rc = warnings ? bundle_write(dir, rootfs, secrets_root, &env, warnings, err) : err_nomem(err);
    cli_print_warnings(warnings);
    json_decref(warnings);
    char path[PATH_MAX];
    if (rc == 0 && bundle_abs_path(dir, path, sizeof(path), NULL) == 0) {
        size_t secrets = json_object_size(env.secret_files);
        fprintf(stderr, "ocirender: bundle %s written (config %s%s, %zu other file%s",
                path, env.digest,
                env.root_path_set ? ", root.path set to the real rootfs path" : "",
                json_object_size(env.files), json_object_size(env.files) == 1 ? "" : "s");
        if (secrets) {
            fprintf(stderr, ", %zu secret file%s outside the bundle", secrets,
                    secrets == 1 ? "" : "s");
        }
        fprintf(stderr, ")\n");
    }
    bundle_envelope_release(&env);
    return rc;
}
