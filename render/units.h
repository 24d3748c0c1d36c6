#ifndef OCIRENDER_RENDER_UNITS_H
#define OCIRENDER_RENDER_UNITS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Memory sizes as the original renderer reads them: Ki/Mi/Gi/Ti (binary), K/M/G/T and
 * k/m/g/t (decimal), or bare bytes; a leading '+' is allowed; overflow is an error. */
int units_parse_memory(const char *text, uint64_t *out, char *why, size_t why_size);

/* humantime durations ("30s", "1h 30m", "500ms"), in milliseconds. */
int units_parse_duration(const char *text, uint64_t *ms_out, char *why, size_t why_size);

/* File modes written in octal: "1777", "01777" and "0o1777" all mean 01777. */
int units_parse_mode(const char *text, uint32_t *out, char *why, size_t why_size);

#endif
