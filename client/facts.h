#ifndef OCIRENDER_CLIENT_FACTS_H
#define OCIRENDER_CLIENT_FACTS_H

/*
 * Host facts gathering: reads this node, never changes it. Nothing is
 * created, joined or written; cgroups are only read (/proc/self/cgroup, /sys/fs/cgroup).
 *
 * What is gathered (each part only when the spec needs it, see render_request_fact_needs):
 *   arch      the kernel's machine name (uname -m: x86_64, aarch64, armv7l...), which the
 *             default seccomp profile's architectures follow
 *   user      euid/egid and the passwd name of the euid
 *   subuid/subgid  the first well-formed range for that name or numeric uid
 *   cgroup    version (2 when /sys/fs/cgroup/cgroup.controllers exists) and parent, the
 *             cgroup this process runs in, only when the runtime can create a child cgroup
 *             in it ("/" is no parent): v2, a directory under /sys/fs/cgroup of type domain
 *             whose cgroup.procs is empty (the "no internal processes" rule; our own process
 *             counts); v1/hybrid, a directory in each hierarchy the path was read from
 *             (/sys/fs/cgroup/systemd, /unified, /<controllers>). Otherwise a warning names
 *             the cgroup and why it was omitted.
 *   devices   stat() of each device path (spec devices, GPU candidates, CDI device nodes)
 *             with the real major()/minor()
 *   cdi       CDI specs of the kinds the spec uses from /etc/cdi, /var/run/cdi and then
 *             $CDI_SPEC_DIRS, as {priority, path, spec} entries; priority is the directory
 *             index, so later directories override earlier ones. Files that do not parse or
 *             are not valid CDI specs are skipped with a warning.
 *   dirs/files  the MPS directories and time-slicing files that exist
 *   env       the values of the $E: names that are set
 *   rootfs    /etc/passwd and /etc/group of --rootfs, read without following symlinks out of
 *             the rootfs
 *   wsl       only on WSL2 (kernel release with "microsoft-standard" or ending in "-WSL2"):
 *             the release, $WSL_DISTRO_NAME, /dev/dxg's numbers when it is a character
 *             device, and which of /usr/lib/wsl/lib and /usr/lib/wsl/drivers are directories
 */

#include <sys/types.h>

#include <jansson.h>

#include "common/err.h"

struct facts_sources {
    const char *root;      /* prefix for every host path read ("" for the real host; tests use
                            * a fixture tree). Reported paths never include it. */
    const char *rootfs;    /* container rootfs for passwd/group, or NULL */
    long uid, gid;         /* -1: geteuid()/getegid() */
    const char *user_name; /* NULL: look up the uid (NSS on the real host, <root>/etc/passwd
                            * under a fixture root) */
    const char *cdi_extra_dirs; /* ':'-separated extra CDI spec dirs ($CDI_SPEC_DIRS), or NULL */
    const char *wsl_distro;     /* the WSL2 distro's name ($WSL_DISTRO_NAME), or NULL */
    const char *machine;        /* the architecture to report; NULL: uname -m (tests set it) */
};

/* Real host defaults: root "", euid/egid, $CDI_SPEC_DIRS, $WSL_DISTRO_NAME. */
void facts_sources_default(struct facts_sources *src);

/*
 * Gather the facts `needs` asks for (render_request_fact_needs output; may be NULL for only
 * the basics). Returns a new host-facts object; `*warnings` (new array of {path, message})
 * lists what was skipped (unreadable CDI specs, non-device paths, malformed subid lines, a
 * rootfs without /etc/group...). NULL with `err` on failure: out of memory, or a --rootfs that
 * cannot be opened or whose passwd/group cannot be read safely (ERR_IO).
 */
json_t *facts_gather(const json_t *needs, const struct facts_sources *src, json_t **warnings,
                     struct err *err);

/* Read <rootfs>/<relpath> (a regular file) without letting symlinks leave the rootfs
 * (openat2 RESOLVE_IN_ROOT, or a walk that refuses every symlink where openat2 is
 * unavailable). Heap buffer or NULL with err (ERR_IO with sys_errno, or ERR_TOO_LARGE). */
char *facts_read_in_root(const char *rootfs, const char *relpath, size_t max, struct err *err);

/* The subordinate id range of `user` (name, or the decimal uid) from a subuid/subgid file:
 * the first well-formed matching line. 0 and out params set when found; -1 otherwise. */
int facts_subid_lookup(const char *path, const char *user, unsigned long uid,
                       unsigned long *start, unsigned long *count);

#endif
