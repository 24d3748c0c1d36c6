#ifndef OCIRENDER_RENDER_CDI_H
#define OCIRENDER_RENDER_CDI_H

/*
 * Container Device Interface specs as host facts (the CDI specification, v0.6+).
 *
 * host.cdi is a list; each entry is a CDI spec document, or {"priority": N, "path": P,
 * "spec": DOC} as `ocirender facts` sends it (priority = spec directory index, so /var/run/cdi
 * overrides /etc/cdi). A plain document's priority is its list index. Parsing is strict, as in
 * the CDI library: unknown fields, unknown versions and versions older than the fields used
 * require are errors.
 */

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "common/err.h"
#include "render/internal.h"

extern const struct stype cdi_entry_type;

/*
 * Resolve devices "0".."count-1" of `kind` against the normalized host.cdi entries. A missing
 * device is reported at `count_path` (the spec path of gpu.count).
 * *present tells whether any spec of `kind` exists (CDI is then authoritative).
 * *all_only tells that those specs define the device `all` and nothing else (what nvidia-ctk
 * generates on WSL2): `all` then serves any count, and the caller warns.
 * On success *edits is a new array of containerEdits objects in application order: each
 * touched spec's own edits once (on first use), then each device's edits, in request order.
 */
int cdi_resolve(json_t *const *entries, size_t n_entries, const char *kind, unsigned count,
                const char *count_path, bool *present, bool *all_only, json_t **edits,
                struct err *err);

/* nvidia -> nvidia.com/gpu, amd -> amd.com/gpu, intel -> intel.com/gpu; others NULL. */
const char *cdi_vendor_kind(const char *vendor);

#endif
