/* The growable lists of the typed OCI config (render/oci.h), all in the render's arena. */
#include "render/oci.h"

#include <string.h>

#define FIRST_ROOM 8

int strv_push(struct arena *a, struct strv *list, const char *s)
{
    const char **v = arena_grow(a, list->v, list->n, &list->cap, sizeof(*v), FIRST_ROOM);
    if (!v) {
        return -1;
    }
    list->v = v;
    list->v[list->n++] = s;
    return 0;
}

int strv_push_copy(struct arena *a, struct strv *list, const char *s)
{
    const char *copy = arena_strndup(a, s, strlen(s));
    return copy ? strv_push(a, list, copy) : -1;
}

long strv_find(const struct strv *list, const char *s)
{
    for (size_t i = 0; i < list->n; i++) {
        if (strcmp(list->v[i], s) == 0) {
            return (long)i;
        }
    }
    return -1;
}

/* One more zeroed item at the end of a list of `elem`-byte items. */
static void *push_item(struct arena *a, void **v, size_t *n, size_t *cap, size_t elem)
{
    char *grown = arena_grow(a, *v, *n, cap, elem, FIRST_ROOM);
    if (!grown) {
        return NULL;
    }
    *v = grown;
    char *item = grown + (*n)++ * elem;
    memset(item, 0, elem);
    return item;
}

struct oci_mount *oci_mounts_push(struct arena *a, struct oci_mounts *list)
{
    void *v = list->v;
    struct oci_mount *m = push_item(a, &v, &list->n, &list->cap, sizeof(*m));
    list->v = v;
    return m;
}

void oci_mounts_remove(struct oci_mounts *list, size_t i)
{
    memmove(&list->v[i], &list->v[i + 1], (list->n - i - 1) * sizeof(list->v[0]));
    list->n--;
}

struct oci_device *oci_devices_push(struct arena *a, struct oci_devices *list)
{
    void *v = list->v;
    struct oci_device *d = push_item(a, &v, &list->n, &list->cap, sizeof(*d));
    list->v = v;
    return d;
}

struct oci_dev_rule *oci_dev_rules_push(struct arena *a, struct oci_dev_rules *list)
{
    void *v = list->v;
    struct oci_dev_rule *r = push_item(a, &v, &list->n, &list->cap, sizeof(*r));
    list->v = v;
    return r;
}

int oci_gids_push(struct arena *a, struct oci_gids *list, uint32_t gid)
{
    void *v = list->v;
    uint32_t *slot = push_item(a, &v, &list->n, &list->cap, sizeof(*slot));
    list->v = v;
    if (!slot) {
        return -1;
    }
    *slot = gid;
    return 0;
}

struct oci_hook *oci_hook_push(struct arena *a, struct oci_config *c, const char *name)
{
    struct oci_hook_list *l = NULL;
    for (size_t i = 0; i < c->n_hook_lists; i++) {
        if (strcmp(c->hook_lists[i].name, name) == 0) {
            l = &c->hook_lists[i];
        }
    }
    if (!l) {
        if (c->n_hook_lists == OCI_HOOK_LISTS_MAX) {
            return NULL;
        }
        l = &c->hook_lists[c->n_hook_lists++];
        l->name = name;
    }
    void *v = l->hooks;
    struct oci_hook *h = push_item(a, &v, &l->n, &l->cap, sizeof(*h));
    l->hooks = v;
    return h;
}
