#ifndef OCIRENDER_TESTS_YAML_DIFF_H
#define OCIRENDER_TESTS_YAML_DIFF_H

/*
 * The differential check of render/yaml_fast.c against libyaml: for one input, libyaml's
 * event sequence and the fast path's must be the same (types, start line and column, scalar
 * bytes, style and implicit flags, collection styles), unless the fast path declined.
 */

#include <stddef.h>

enum ydiff {
    YDIFF_SAME,      /* the fast path took the input and every event matches */
    YDIFF_DECLINED,  /* the fast path left the input to libyaml */
    YDIFF_DIFFERENT, /* a defect: `why` says where */
};

enum ydiff ydiff_check(const char *buf, size_t len, char *why, size_t why_size);

#endif
