/*
 * The wire format of a render: the exact text the server answers and the CLI prints, the
 * envelope around it and its digest. One place, so the server, the CLI and the bundle writer
 * cannot disagree about which bytes the digest covers (the pretty config text).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/digest.h"
#include "common/jsonx.h"
#include "common/sbuf.h"
#include "render/render.h"

#define DIGEST_PREFIX "sha256:"
#define DIGEST_PREFIX_LEN (sizeof(DIGEST_PREFIX) - 1)

void render_output_release(struct render_output *out)
{
    if (out && out->text) {
        mem_wipe(out->text, out->len);
        free(out->text);
    }
    if (out) {
        memset(out, 0, sizeof(*out));
    }
}

/* Pretty text of `config` and its "sha256:<hex>" digest. The text is the caller's. */
static int config_text_digest(const json_t *config, struct render_output *text,
                              char digest[RENDER_DIGEST_SIZE])
{
    char hex[65];
    memset(text, 0, sizeof(*text));
    text->text = jsonx_dump(config, JSONX_PRETTY, &text->len);
    if (!text->text || digest_sha256_hex(text->text, text->len, hex)) {
        render_output_release(text);
        return -1;
    }
    snprintf(digest, RENDER_DIGEST_SIZE, DIGEST_PREFIX "%s", hex);
    return 0;
}

/* {config, digest, warnings, files, [secret_files,] secrets}: the members' order is part of
 * the format; secret_files is there only when the service has secrets as files. */
static json_t *envelope_new(const struct render_result *res, const char *digest,
                            const json_t *secrets)
{
    json_t *env = json_object();
    if (!env || json_object_set(env, "config", res->config) ||
        jsonx_set_str(env, "digest", digest) ||
        json_object_set(env, "warnings", res->warnings) ||
        json_object_set(env, "files", res->files) ||
        (json_object_size(res->secret_files) &&
         json_object_set(env, "secret_files", res->secret_files)) ||
        json_object_set_new(env, "secrets", secrets ? json_deep_copy(secrets) : json_array())) {
        json_decref(env);
        return NULL;
    }
    return env;
}

/* The envelope text around the config, with the digest of its pretty text. */
static char *envelope_text(const struct render_result *res, const json_t *secrets, bool compact,
                           size_t *len)
{
    struct render_output pretty;
    char digest[RENDER_DIGEST_SIZE];
    if (config_text_digest(res->config, &pretty, digest)) {
        return NULL;
    }
    render_output_release(&pretty);
    json_t *env = envelope_new(res, digest, secrets);
    char *text = env ? jsonx_dump(env, compact ? JSONX_COMPACT : JSONX_PRETTY, len) : NULL;
    json_decref(env);
    return text;
}

int render_output_text(const struct render_result *res, unsigned form, const json_t *secrets,
                       struct render_output *out, struct err *err)
{
    struct render_output o = {0};
    bool compact = form & RENDER_OUT_COMPACT;
    if (form & RENDER_OUT_ENVELOPE) {
        o.text = envelope_text(res, secrets, compact, &o.len);
    } else {
        o.text = jsonx_dump(res->config, compact ? JSONX_COMPACT : JSONX_PRETTY, &o.len);
    }
    if (!o.text || digest_sha256_hex(o.text, o.len, o.etag)) {
        render_output_release(&o);
        return err_set(err, ERR_NOMEM, NULL, "out of memory rendering the response");
    }
    *out = o;
    return 0;
}

static bool digest_well_formed(const char *d)
{
    if (strncmp(d, DIGEST_PREFIX, DIGEST_PREFIX_LEN) != 0 ||
        strlen(d) != DIGEST_PREFIX_LEN + 64) {
        return false;
    }
    for (const char *p = d + DIGEST_PREFIX_LEN; *p; p++) {
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'))) {
            return false;
        }
    }
    return true;
}

int render_envelope_digest_check(const json_t *digest)
{
    return json_is_string(digest) && digest_well_formed(json_string_value(digest)) ? 0 : -1;
}

int render_envelope_verify(const json_t *envelope, struct render_output *config_text,
                           struct err *err)
{
    const json_t *digest = json_object_get(envelope, "digest");
    if (!digest) {
        return err_set(err, ERR_SPEC_INVALID, "digest",
                       "the envelope has no `digest`: refusing an unverifiable config");
    }
    if (render_envelope_digest_check(digest)) {
        return err_set(err, ERR_SPEC_INVALID, "digest",
                       "`digest` must be \"sha256:\" followed by 64 lower-case hex digits");
    }
    struct render_output text;
    char actual[RENDER_DIGEST_SIZE];
    if (config_text_digest(json_object_get(envelope, "config"), &text, actual)) {
        return err_set(err, ERR_NOMEM, "config", "cannot serialize the config (out of memory)");
    }
    if (strcmp(json_string_value(digest), actual) != 0) {
        render_output_release(&text);
        return err_set(err, ERR_SPEC_INVALID, "digest",
                       "digest mismatch: the envelope says %s but its config hashes to %s; "
                       "refusing to write it",
                       json_string_value(digest), actual);
    }
    memcpy(text.etag, actual + DIGEST_PREFIX_LEN, sizeof(text.etag));
    *config_text = text;
    return 0;
}
