#ifndef OCIRENDER_RENDER_RENDER_H
#define OCIRENDER_RENDER_RENDER_H

/*
 * render: a pure library that turns a ZLayer spec plus request inputs into an OCI runtime
 * config.json (docs/rendering.md, docs/api.md). No network, filesystem, clock, environment or
 * process globals: everything is an argument, so equal inputs give byte-identical output.
 *
 * Life of a render:
 *   1. render_request_parse()       body (plain spec or envelope) + query/flag parameters
 *   2. render_request_secret_refs() the $S: references the selected service needs
 *   3. (caller fetches the secret values, in one batch)
 *   4. render_execute()             config + warnings + bundle files
 *   5. render_output_text()         the exact response text: config.json or the envelope
 *
 * Thread-safety: all functions are reentrant; a request may be read by several threads at once
 * but not freed while in use. Errors: struct err (common/err.h); codes SPEC_SYNTAX (400),
 * SPEC_INVALID (422), BAD_REQUEST (400), TOO_LARGE (413), SECRET_NOT_FOUND (422), NOMEM.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/compiler.h"
#include "common/err.h"

enum render_format {
    RENDER_FMT_AUTO = 0, /* sniff: '{' or '[' first is JSON, anything else YAML */
    RENDER_FMT_JSON = 1,
    RENDER_FMT_YAML = 2,
};

/*
 * Values from outside the body (HTTP query parameters, CLI flags), already typed by the
 * adapter that read them (common/param.h). They override the envelope's members. Strings are
 * NULL when not given; a number counts only with its has_ flag. `host` and `image_config`
 * (borrowed) replace the envelope's members when non-NULL.
 */
enum render_flag {
    RENDER_FLAG_UNSET = 0,
    RENDER_FLAG_FALSE = 1,
    RENDER_FLAG_TRUE = 2,
};

#define RENDER_REPLICA_MAX UINT32_MAX
#define RENDER_NODE_ID_MAX INT64_MAX /* larger node ids are SPEC_INVALID at "node_id" */

struct render_params {
    const char *service;
    const char *role;
    const char *hostname;
    const char *scope;
    bool has_replica;
    uint32_t replica;
    bool has_node_id;
    uint64_t node_id;
    enum render_flag host_network;
    const json_t *host;
    const json_t *image_config;
};

struct render_request; /* opaque, owned by the caller after parse */

int render_request_parse(const char *body, size_t len, enum render_format fmt,
                         const struct render_params *params, struct render_request **out,
                         struct err *err) WARN_UNUSED;
void render_request_free(struct render_request *req);

/* Borrowed views, valid while the request lives. */
const char *render_request_service(const struct render_request *req);
const char *render_request_scope(const struct render_request *req);        /* effective scope */
const char *render_request_container_id(const struct render_request *req); /* "web-rep-1" */
bool render_request_is_envelope(const struct render_request *req);

/*
 * One $S: reference of the selected service's env. `scope` is the
 * effective scope: the request scope, plus "/{svc}" for @svc forms; env forms use
 * "env:{env}" or "project:{p}:env:{env}". `version` is 0 for latest.
 */
struct render_secret_ref {
    char *env;    /* env key that uses it */
    char *ref;    /* the value as written, e.g. "$S:db/password@3" (the key for secret values) */
    char *scope;
    char *name;   /* secret name below the scope */
    char *field;  /* NULL: the secret's `value` */
    unsigned version;
    char *path;   /* spec path, for errors: "services.web.env.DB_PASSWORD" */
};

struct render_secret_refs {
    size_t n;
    struct render_secret_ref *items;
};

/* Lists the references in env-key order. A malformed reference is SPEC_INVALID naming it. */
int render_request_secret_refs(const struct render_request *req, struct render_secret_refs *out,
                               struct err *err) WARN_UNUSED;
void render_secret_refs_release(struct render_secret_refs *refs);

/* Parse one reference (exposed for tests and the secrets module). 0 or -1 with `err`. */
int render_parse_secret_ref(const char *value, const char *base_scope, const char *path,
                            struct render_secret_ref *out, struct err *err) WARN_UNUSED;
void render_secret_ref_clear(struct render_secret_ref *ref);

struct render_prepared;

/* Process-wide settings the server or CLI passes in (never read from the environment here). */
struct render_settings {
    const char *default_cgroup_parent; /* OCIRENDER_CGROUP_PARENT, or NULL */
    const json_t *server_env;          /* allowed server environment for $E:, or NULL */
    bool placeholder_secrets;          /* /validate: $S: values become "<secret:REF>" */
    const char *native_arch;           /* the caller's `uname -m`: the node's architecture
                                        * when host.arch is absent (with a warning); NULL:
                                        * the architecture ocirender was built for */
    const struct render_prepared *prepared; /* constant parts prepared at start-up, or NULL
                                             * (the same bytes, written the slow way) */
};

/*
 * Constant parts of configs prepared once at start-up, as text: the default seccomp profile
 * of each architecture with the default capability set, the default mounts, the device
 * cgroup's standard rules, the masked and read-only paths and the default capability list.
 * A render copies a part where its config holds exactly that part, instead of writing it
 * again (render/prepared.h). Not a cache: nothing in it depends on any request. NULL when
 * out of memory. Read-only afterwards, so threads may share it.
 */
struct render_prepared;
struct render_prepared *render_prepared_new(void);
void render_prepared_free(struct render_prepared *p);

/* The rendered config: typed data in an arena of its own (render/oci.h), written once by
 * render_output_text(). It borrows strings from the request, so it is only read while the
 * request lives (releasing it afterwards is fine). */
struct render_config;

/* Something the user should know about a render that went on. Lives as long as its result. */
struct render_warning {
    const char *code;    /* stable identifier, e.g. "seccomp_arch_assumed" (docs/api.md) */
    const char *message;
    const char *path;    /* the spec path ("services.web.devices[0]") or request member */
};

struct render_result {
    struct render_config *config; /* the OCI runtime config */
    /* In the order the render met them. Typed, in the config's arena: the common render has
     * a warning or two, and building each as a document cost more than the rest of it. */
    const struct render_warning *warnings;
    size_t n_warnings;
    json_t *files;    /* {"resolv.conf": "...", "hosts": "..."}: bundle files; NULL: none */
    json_t *secret_files; /* {"NAME": {"value", "uid", "gid", "mode"}}: secrets as files;
                           * NULL: none */
};

/*
 * Render the selected service. `secret_values` (borrowed; may be NULL when there are no
 * references) maps each reference text (render_secret_ref.ref) to its resolved string value.
 * On success fills `out` (release with render_result_release); on failure leaves it empty.
 */
int render_execute(const struct render_request *req, const struct render_settings *settings,
                   const json_t *secret_values, struct render_result *out,
                   struct err *err) WARN_UNUSED;
void render_result_release(struct render_result *res);
/* The warnings as a document [{"code", "message", "path"}] (the envelope's and /validate's
 * shape). New reference, or NULL when out of memory. */
json_t *render_result_warnings_json(const struct render_result *res);
/* The config as a document (for tests and callers that inspect it). New reference, or NULL
 * when out of memory. */
json_t *render_result_config_json(const struct render_result *res);

/*
 * The wire format. render_output_text() writes a result as the exact bytes the
 * server answers and `ocirender render` prints: config.json (pretty by default), or with
 * RENDER_OUT_ENVELOPE the envelope {"config", "digest", "warnings", "files", "secret_files"
 * (only when not empty), "secrets"} whose digest is "sha256:<hex>" of the pretty config text. `secrets` (borrowed, may be NULL for [])
 * is the caller's [{env, ref, scope, provider, version}] list. `etag` is the hex SHA-256 of
 * `text`. The text may hold secret values: render_output_release() wipes it before freeing.
 */
enum render_output_flags {
    RENDER_OUT_ENVELOPE = 1u << 0,
    RENDER_OUT_COMPACT = 1u << 1, /* no whitespace, no trailing newline */
};

#define RENDER_DIGEST_SIZE 72 /* "sha256:" + 64 hex digits + NUL */

struct render_output {
    char *text;
    size_t len;
    char etag[65];
};

int render_output_text(const struct render_result *res, unsigned flags, const json_t *secrets,
                       struct render_output *out, struct err *err) WARN_UNUSED;
void render_output_release(struct render_output *out);

/*
 * Verify an envelope's digest against its config: SPEC_INVALID at "digest" when it is missing,
 * malformed or does not match the pretty config text. On success `config_text` holds that text
 * (the bytes to write as config.json; release with render_output_release) and its etag.
 * render_envelope_digest_check() only checks the digest's form: 0 or -1.
 */
int render_envelope_verify(const json_t *envelope, struct render_output *config_text,
                           struct err *err) WARN_UNUSED;
int render_envelope_digest_check(const json_t *digest);

/*
 * The host facts the selected service needs, so the node can gather exactly those:
 * {"devices": [paths], "dirs": [paths], "files": [paths], "env": [names], "cdi_kinds": [kinds]}.
 * New reference, NULL on OOM.
 */
json_t *render_request_fact_needs(const struct render_request *req, struct err *err) WARN_UNUSED;

/*
 * Check one host.cdi entry (a CDI spec document, or {"priority", "path", "spec"} as `ocirender
 * facts` sends it) with the rules a render applies to it, so the node can skip a broken spec
 * the way the CDI library does instead of failing every render. Errors (SPEC_INVALID, NOMEM)
 * name paths below `path`, e.g. "host.cdi[0].spec.devices[0].name".
 */
int render_cdi_entry_check(const json_t *entry, const char *path, struct err *err) WARN_UNUSED;

/*
 * Load any YAML or JSON document (CDI specs, facts files, image configs) into plain JSON with
 * the same safety rules as specs (one document, no aliases/tags/duplicates, depth and size
 * limits). YAML plain scalars take their YAML 1.2 core-schema types. The top level must be a
 * mapping. New reference, or NULL with `err` set.
 */
json_t *render_load_document(const char *buf, size_t len, enum render_format fmt,
                             struct err *err) WARN_UNUSED;

#endif
