/*
 * Fields that describe the container but that an OCI config rendered here cannot carry: each
 * one the spec sets gets a warning with its path, so none is dropped silently. Fields meant for
 * the orchestrator (scale, depends, endpoints, health, placement, ...) are not the renderer's
 * and get none; README.md lists both sets, and tests/unit/test_changes.c checks them.
 */
#include <string.h>

#include "common/strutil.h"
#include "render/ctx.h"

/* A user namespace is rendered exactly when the node is rootless; any other mode is not. */
static int warn_userns_mode(struct rctx *c)
{
    const char *mode = c->svc->userns_mode;
    const char *node_mode = c->rootless ? "private" : "host";
    if (!mode || !*mode || strcmp(mode, node_mode) == 0) {
        return 0;
    }
    return rctx_warn(c, "userns_mode_not_rendered", "userns_mode",
                     "userns_mode '%s' is not rendered: on this %s node the container %s", mode,
                     c->rootless ? "rootless" : "rootful",
                     c->rootless ? "gets a private user namespace mapping the node user and its "
                                   "subordinate ids"
                                 : "shares the host's user namespace");
}

/* Joining a named bridge or another container's namespace needs the node's network setup (or
 * the other container's pid), which the renderer does not have. */
static int warn_network_mode(struct rctx *c)
{
    const char *mode = c->svc->network_mode;
    if (!mode || !(str_has_prefix(mode, "bridge:") || str_has_prefix(mode, "container:"))) {
        return 0;
    }
    return rctx_warn(c, "network_mode_not_rendered", "network_mode",
                     "network_mode '%s' is not rendered: the container gets %s", mode,
                     c->host_network ? "the host's network namespace"
                                     : "a new network namespace of its own, joined to nothing");
}

/* An OCI config has no stdin setting: the process that starts the container decides. */
static int warn_stdin_open(struct rctx *c)
{
    if (!(c->svc->stdin_open.set && c->svc->stdin_open.v)) {
        return 0;
    }
    return rctx_warn(c, "stdin_open_not_rendered", "stdin_open",
                     "stdin_open is not rendered: an OCI config has no stdin setting, whoever "
                     "starts the container decides whether its stdin stays open");
}

/* Hyper-V isolation is a Windows container feature; a Linux container is an isolated process. */
static int warn_isolation(struct rctx *c)
{
    const char *mode = c->svc->isolation;
    if (!str_eq(mode, "hyperv")) {
        return 0;
    }
    return rctx_warn(c, "isolation_not_rendered", "isolation",
                     "isolation 'hyperv' is not rendered: the Linux container runs as an "
                     "isolated process (what 'process' means)");
}

int render_warn_unrendered(struct rctx *c)
{
    return warn_userns_mode(c) || warn_network_mode(c) || warn_stdin_open(c) || warn_isolation(c)
               ? -1
               : 0;
}
