#ifndef OCIRENDER_RENDER_SPEC_H
#define OCIRENDER_RENDER_SPEC_H

/* The normalized request model shared by the files of render/. */

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "render/internal.h"
#include "render/arena.h"
#include "render/render.h"
#include "render/request_model.h"
#include "render/spec_model.h"

struct render_request {
    struct arena arena;       /* the parsed documents, their typed model, the strings below */
    const struct spec_deployment *deployment; /* NULL for a bare ServiceSpec */
    const struct spec_service *service;       /* the selected service */
    char *service_name;
    char *deployment_name;    /* NULL for a bare ServiceSpec */
    char *container_service;  /* ContainerId.service */
    uint32_t replica;
    char *role;
    uint64_t node_id;
    char *container_id;       /* ContainerId Display form */
    const struct image_config *image_config; /* NULL when not given */
    const struct host_facts *host;           /* never NULL (all-absent when not given) */
    const struct render_options *options;    /* never NULL */
    struct host_facts *host_owned;           /* what render_request_free releases */
    struct render_options *options_owned;
    char *scope;              /* effective scope for $S: */
    char *hostname;           /* explicit hostname (params or options), or NULL */
    int host_network;         /* -1: not given; else 0/1 */
    bool envelope;
    struct render_secret_refs refs; /* the service env's $S: references, parsed once */
    char *bad_ref_key;        /* env key of the first malformed reference (refs stop there) */
    char *bad_ref_msg;        /* and its error message */
};

/* Parse the service env's $S: references into req->refs (env.c). -1 only when out of memory:
 * a malformed reference is kept and reported when the caller asks for the references or
 * renders. */
int request_parse_secret_refs(struct render_request *req, struct err *err);

#endif
