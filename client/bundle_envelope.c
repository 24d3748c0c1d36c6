/* Parsing and verifying an envelope: config, digest, files (client/bundle.h). */
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

#include "common/jsonx.h"
#include "common/sbuf.h"
#include "common/strutil.h"
#include "render/render.h"

void bundle_envelope_release(struct bundle_envelope *env)
{
    if (env->config_text) {
        mem_wipe(env->config_text, env->config_len);
        free(env->config_text);
    }
    jsonx_wipe_strings(env->secret_files);
    json_decref(env->root);
    memset(env, 0, sizeof(*env));
}

const char *bundle_file_name_problem(const char *name)
{
    if (!name[0]) {
        return "the name is empty";
    }
    if (strlen(name) > NAME_MAX) {
        return "the name is longer than 255 bytes";
    }
    if (strchr(name, '/')) {
        return "the name contains '/' (bundle files are plain file names)";
    }
    if (strstr(name, "..")) {
        return "the name contains '..'";
    }
    if (strcmp(name, ".") == 0) {
        return "the name is '.'";
    }
    if (strcmp(name, "config.json") == 0 || strcmp(name, "rootfs") == 0) {
        return "the name is reserved for the bundle itself";
    }
    if (strcmp(name, BUNDLE_MANIFEST) == 0) {
        return "the name is reserved for the bundle manifest";
    }
    if (str_has_prefix(name, BUNDLE_TMP_PREFIX)) {
        return "the name is reserved for temporary files";
    }
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        if (*p < 0x20 || *p == 0x7f) {
            return "the name contains a control character";
        }
    }
    return NULL;
}

static int check_files(json_t *files, struct err *err)
{
    if (!json_is_object(files)) {
        return err_set(err, ERR_SPEC_INVALID, "files", "`files` must be an object of strings");
    }
    if (json_object_size(files) > BUNDLE_FILES_MAX) {
        return err_set(err, ERR_SPEC_INVALID, "files", "more than %d bundle files",
                       BUNDLE_FILES_MAX);
    }
    const char *name;
    json_t *text;
    json_object_foreach(files, name, text)
    {
        const char *path = "files";
        const char *problem = bundle_file_name_problem(name);
        if (problem) {
            err_set(err, ERR_SPEC_INVALID, path, "refusing bundle file '%s': %s", name, problem);
        } else if (!json_is_string(text)) {
            err_set(err, ERR_SPEC_INVALID, path, "the content of '%s' must be a string", name);
        }
    }
    return err_is_set(err) ? -1 : 0;
}

/* `config` is there and is an object: the envelope's core, checked before its digest. */
static int check_config(const json_t *root, struct err *err)
{
    if (!json_is_object(root)) {
        return err_set(err, ERR_SPEC_INVALID, "", "the envelope must be a JSON object");
    }
    const json_t *config = json_object_get(root, "config");
    if (!config && json_object_get(root, "ociVersion")) {
        return err_set(err, ERR_SPEC_INVALID, "",
                       "this is a plain config.json, not an envelope (ask for format=envelope, "
                       "or use `ocirender render --envelope`)");
    }
    if (!config) {
        return err_set(err, ERR_SPEC_INVALID, "config", "the envelope has no `config`");
    }
    if (!json_is_object(config)) {
        return err_set(err, ERR_SPEC_INVALID, "config", "`config` must be an object");
    }
    return 0;
}

/* The members beside the config: bundle files and warnings. */
static int check_extras(json_t *root, struct bundle_envelope *out, struct err *err)
{
    out->files = json_object_get(root, "files");
    if (out->files && check_files(out->files, err)) {
        return -1;
    }
    out->secret_files = json_object_get(root, "secret_files");
    if (out->secret_files &&
        bundle_secret_files_check(out->secret_files, json_object_get(root, "config"), err)) {
        return -1;
    }
    out->warnings = json_object_get(root, "warnings");
    if (out->warnings && !json_is_array(out->warnings)) {
        return err_set(err, ERR_SPEC_INVALID, "warnings", "`warnings` must be an array");
    }
    return 0;
}

int bundle_envelope_refresh_text(struct bundle_envelope *env, struct err *err)
{
    size_t len;
    char *text = jsonx_dump(json_object_get(env->root, "config"), JSONX_PRETTY, &len);
    if (!text) {
        return err_nomem(err);
    }
    mem_wipe(env->config_text, env->config_len);
    free(env->config_text);
    env->config_text = text;
    env->config_len = len;
    return 0;
}

int bundle_envelope_load(const char *text, size_t len, struct bundle_envelope *out,
                         struct err *err)
{
    memset(out, 0, sizeof(*out));
    json_error_t je;
    out->root = jsonx_loadb(text, len, &je);
    if (!out->root) {
        return err_set(err, ERR_SPEC_SYNTAX, "", "the envelope is not valid JSON: %s (line %d, "
                       "column %d)", je.text, je.line, je.column);
    }
    /* The digest is the wire format's own check (render/output.c): present, well formed, and
     * the hash of the pretty config text, which is what config.json gets. */
    struct render_output config_text;
    if (check_config(out->root, err) ||
        render_envelope_verify(out->root, &config_text, err)) {
        bundle_envelope_release(out);
        return -1;
    }
    out->config_text = config_text.text;
    out->config_len = config_text.len;
    snprintf(out->digest, sizeof(out->digest), "%s", jsonx_get_str(out->root, "digest"));
    if (check_extras(out->root, out, err)) {
        bundle_envelope_release(out);
        return -1;
    }
    return 0;
}
