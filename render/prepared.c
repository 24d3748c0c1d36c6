/*
 * The constant parts of configs, prepared once at start-up (render/prepared.h). Not a cache:
 * nothing here depends on any request, and a render that holds other items writes them itself.
 */
#include "render/prepared.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/jw.h"
#include "common/sbuf.h"
#include "render/render.h"

#define PREPARED_TEXT_MAX (1u << 20) /* the largest, a seccomp profile, is about 12 KiB */

/* The writer's text from `skip` on becomes `out`'s. */
static int take_text(struct oci_prepared *out, struct jw *w, struct sbuf *b, size_t skip)
{
    /* Not jw_finish(): its final newline belongs to the whole config, not to a part. */
    size_t len = 0;
    char *text = w->rc ? NULL : sbuf_take(b, &len);
    sbuf_free(b);
    if (!text || len < skip) {
        free(text);
        return -1;
    }
    memmove(text, text + skip, len - skip + 1);
    out->text = text;
    out->len = len - skip;
    return 0;
}

int prepare_strings(struct oci_prepared *out, int depth, const char *const *items, size_t n)
{
    /* The list only borrows the items: nothing writes through them. */
    const struct strv list = {.n = n, .cap = n, .v = (const char **)(uintptr_t)items};
    struct sbuf b;
    struct jw w;
    sbuf_init(&b, PREPARED_TEXT_MAX);
    jw_init(&w, &b, false, depth);
    oci_write_strings(&w, &list);
    *out = (struct oci_prepared){.items = items, .n = n, .depth = depth};
    return take_text(out, &w, &b, 0);
}

/* `n` items of `size` bytes as the first elements of an array whose elements are at `depth`:
 * written inside an array opened one level up, and the text leaves out its '['. */
static int prepare_elements(struct oci_prepared *out, int depth, const void *items, size_t n,
                            size_t size, void (*write_item)(struct jw *, const void *))
{
    struct sbuf b;
    struct jw w;
    sbuf_init(&b, PREPARED_TEXT_MAX);
    jw_init(&w, &b, false, depth - 1);
    jw_array_open(&w);
    for (size_t i = 0; i < n; i++) {
        write_item(&w, (const char *)items + i * size);
    }
    *out = (struct oci_prepared){.items = items, .n = n, .depth = depth};
    return take_text(out, &w, &b, 1);
}

static void write_mount(struct jw *w, const void *m)
{
    oci_write_mount(w, m);
}

static void write_dev_rule(struct jw *w, const void *r)
{
    oci_write_dev_rule(w, r);
}

int prepare_mounts(struct oci_prepared *out, const struct oci_mount *items, size_t n)
{
    return prepare_elements(out, OCI_DEPTH_MOUNTS, items, n, sizeof(*items), write_mount);
}

int prepare_dev_rules(struct oci_prepared *out, const struct oci_dev_rule *items, size_t n)
{
    return prepare_elements(out, OCI_DEPTH_DEV_RULES, items, n, sizeof(*items), write_dev_rule);
}

struct render_prepared *render_prepared_new(void)
{
    struct render_prepared *p = calloc(1, sizeof(*p));
    /* The seccomp profiles are those of the default capability set: process first. */
    if (p && (process_prepare(p) || seccomp_prepare(p) || mounts_prepare(p) ||
              devices_prepare(p) || linux_prepare(p))) {
        render_prepared_free(p);
        p = NULL;
    }
    return p;
}

void render_prepared_free(struct render_prepared *p)
{
    if (!p) {
        return;
    }
    for (size_t i = 0; i < SECCOMP_ABI_SETS; i++) {
        free(p->seccomp[i].text);
    }
    for (size_t i = 0; i < 2; i++) {
        for (size_t j = 0; j < 2; j++) {
            free(p->mounts[i][j].text);
        }
    }
    free(p->dev_rules.text);
    free(p->masked_paths.text);
    free(p->readonly_paths.text);
    free(p->capabilities.text);
    free(p);
}
