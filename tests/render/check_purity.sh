#!/bin/sh
# render/ must stay pure (ARCHITECTURE.md: no network, filesystem, clock or environment access):
# fail if its archive references any I/O, environment, clock, randomness or network symbol.
set -eu
lib="$OCIRENDER_BIN/render/libocr_render.a"
[ -f "$lib" ] || { echo "missing $lib"; exit 1; }
forbidden='^(open|openat|openat2|fopen|fdopen|read|write|pread|pwrite|stat|lstat|fstat|fstatat|access|opendir|readdir|socket|connect|bind|listen|accept|send|recv|getenv|secure_getenv|setenv|putenv|time|clock_gettime|gettimeofday|rand|random|srand|getrandom|getpid|geteuid|getuid|system|popen|fork|exec.*|dlopen|syslog|printf|fprintf|puts|fputs|curl_.*|MHD_.*|json_load_file|json_dump_file|json_loadf|json_dumpf|json_loadfd|json_dumpfd|yaml_parser_set_input_file)$'
bad=$(nm -u "$lib" | awk '{print $2}' | sed 's/@.*//' | sort -u | grep -E "$forbidden" || true)
if [ -n "$bad" ]; then
    echo "render/ references impure symbols:"; echo "$bad"; exit 1
fi
echo "render/ is pure: $(nm -u "$lib" | awk '{print $2}' | sort -u | wc -l) undefined symbols checked"
