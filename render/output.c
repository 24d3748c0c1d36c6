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
#include "common/limits.h"
#include "common/sbuf.h"
#include "common/jw.h"
#include "render/oci.h"
#include "render/render.h"

#define DIGEST_PREFIX "sha256:"
#define DIGEST_PREFIX_LEN (sizeof(DIGEST_PREFIX) - 1)
/* Room for a typical config at once: growing a secret buffer copies and wipes it. */
#define OUTPUT_FIRST_ROOM (32u << 10)

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

/* "sha256:<hex>" of a text. */
static int text_digest(const char *text, size_t len, char digest[RENDER_DIGEST_SIZE])
{
    memcpy(digest, DIGEST_PREFIX, DIGEST_PREFIX_LEN);
    return digest_sha256_hex(text, len, digest + DIGEST_PREFIX_LEN);
}

/* Pretty text of a config document and its digest (envelopes read back from a server). The
 * text is the caller's. */
static int config_text_digest(const json_t *config, struct render_output *text,
                              char digest[RENDER_DIGEST_SIZE])
{
    memset(text, 0, sizeof(*text));
    text->text = jsonx_dump(config, JSONX_PRETTY, &text->len);
    if (!text->text || text_digest(text->text, text->len, digest)) {
        render_output_release(text);
        return -1;
    }
    return 0;
}

/* The config text as config.json holds it (pretty), or compact. */
static int write_config(const struct render_result *res, bool compact, struct sbuf *b)
{
    struct jw w;
    jw_init(&w, b, compact, 0);
    oci_write_config(&w, res->config->oci);
    return jw_finish(&w);
}

static void write_warnings(struct jw *w, const struct render_result *res)
{
    jw_key(w, "warnings");
    jw_array_open(w);
    for (size_t i = 0; i < res->n_warnings; i++) {
        jw_object_open(w);
        jw_member_string(w, "code", res->warnings[i].code);
        jw_member_string(w, "message", res->warnings[i].message);
        jw_member_string(w, "path", res->warnings[i].path);
        jw_object_close(w);
    }
    jw_array_close(w);
}

/* {config, digest, warnings, files, [secret_files,] secrets}: the members' order is part of
 * the format; secret_files is there only when the service has secrets as files. */
static int write_envelope(const struct render_result *res, const json_t *secrets, bool compact,
                          struct sbuf *b)
{
    struct sbuf pretty;
    char digest[RENDER_DIGEST_SIZE];
    sbuf_init_secret(&pretty, LIMIT_OUTPUT);
    if (sbuf_reserve(&pretty, OUTPUT_FIRST_ROOM) || write_config(res, false, &pretty) ||
        text_digest(sbuf_str(&pretty), sbuf_len(&pretty), digest)) {
        sbuf_free_secret(&pretty);
        return -1;
    }
    sbuf_free_secret(&pretty);
    struct jw w;
    jw_init(&w, b, compact, 0);
    jw_object_open(&w);
    jw_key(&w, "config");
    oci_write_config(&w, res->config->oci);
    jw_member_string(&w, "digest", digest);
    write_warnings(&w, res);
    jw_key(&w, "files");
    if (res->files) {
        oci_write_json(&w, res->files);
    } else {
        jw_object_open(&w);
        jw_object_close(&w);
    }
    if (json_object_size(res->secret_files)) {
        jw_key(&w, "secret_files");
        oci_write_json(&w, res->secret_files);
    }
    jw_key(&w, "secrets");
    if (secrets) {
        oci_write_json(&w, secrets);
    } else {
        jw_array_open(&w);
        jw_array_close(&w);
    }
    jw_object_close(&w);
    return jw_finish(&w);
}

int render_output_text(const struct render_result *res, unsigned form, const json_t *secrets,
                       struct render_output *out, struct err *err)
{
    struct render_output o = {0};
    struct sbuf b;
    bool compact = form & RENDER_OUT_COMPACT;
    sbuf_init_secret(&b, LIMIT_OUTPUT);
    int rc = sbuf_reserve(&b, OUTPUT_FIRST_ROOM) ? ERR_NOMEM
             : (form & RENDER_OUT_ENVELOPE) ? write_envelope(res, secrets, compact, &b)
                                               : write_config(res, compact, &b);
    if (rc) {
        sbuf_free_secret(&b);
        return rc == ERR_TOO_LARGE
                   ? err_set(err, ERR_TOO_LARGE, NULL, "the rendered document exceeds %u bytes",
                             LIMIT_OUTPUT)
                   : err_set(err, ERR_NOMEM, NULL, "out of memory rendering the response");
    }
    o.text = sbuf_take(&b, &o.len);
    if (!o.text || digest_sha256_hex(o.text, o.len, o.etag)) {
        render_output_release(&o);
        return err_set(err, ERR_NOMEM, NULL, "out of memory rendering the response");
    }
    *out = o;
    return 0;
}

json_t *render_result_config_json(const struct render_result *res)
{
    struct render_output text;
    struct err err;
    err_init(&err);
    if (render_output_text(res, 0, NULL, &text, &err)) {
        return NULL;
    }
    json_t *config = jsonx_loadb(text.text, text.len, NULL);
    render_output_release(&text);
    return config;
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
