#ifndef OCIRENDER_COMMON_COMPILER_H
#define OCIRENDER_COMMON_COMPILER_H

/* Attribute helpers shared by every module. */
#define WARN_UNUSED   __attribute__((warn_unused_result))
#define PRINTF(a, b)  __attribute__((format(printf, a, b)))
#define NONNULL(...)  __attribute__((nonnull(__VA_ARGS__)))
#define UNUSED        __attribute__((unused))
#define NULL_TERMINATED __attribute__((sentinel)) /* a variadic list ends with NULL */

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif
