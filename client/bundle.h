#ifndef OCIRENDER_CLIENT_BUNDLE_H
#define OCIRENDER_CLIENT_BUNDLE_H

/*
 * OCI bundle materialization: verify an envelope response and write
 *
 *   DIR/                  mode 0700, owned by us, never a symlink
 *   DIR/config.json       mode 0600 (it holds secret values), the text the digest covers (with
 *                         --rootfs, root.path names the real rootfs path: see bundle_write)
 *   DIR/rootfs            a symlink to --rootfs, or a directory (an existing one is kept)
 *   DIR/NAME              each envelope `files` entry, mode 0644
 *   DIR/.ocirender-bundle the manifest: the entries above that ocirender wrote (BUNDLE_MANIFEST)
 *                         and the secrets directory below, as a comment line
 *
 * Secret files (the envelope's `secret_files`) never go into DIR: they are written 0400,
 * owned by the process user, into a fresh generation directory on a memory file system,
 * SECRETS_ROOT/<bundle id>/<generation> (client/bundle_secrets.c), and the config's
 * /run/secrets bind is pointed at it. After the switch the previous generation is deleted;
 * after a failure the new one is. bundle_remove deletes the bundle and its secrets.
 *
 * The whole bundle switches in one atomic step. Writers take turns on an exclusive flock of
 * `<parent>/.<base>.lock` (beside DIR: DIR's inode changes on every write). The new bundle is
 * assembled complete in `<parent>/.<base>.stage-<pid>-<n>` (same file system, 0700), every
 * file and the stage fsync'ed; the entries of DIR that are not ocirender's (an operator's
 * rootfs directory, any other file) are moved into it, one rename each; then
 * renameat2(RENAME_EXCHANGE) swaps stage and DIR (a plain rename when there is no DIR yet) and
 * the parent is fsync'ed. The old bundle, now at the stage path, is deleted: only ocirender's
 * entries are left in it, and nothing is ever deleted recursively. So after a crash DIR is the
 * complete old bundle or the complete new one, never a mix.
 *
 * Crash windows: between the first carry and the exchange, the old bundle lacks the carried
 * entries (they sit in the stage); after the exchange, the old bundle waits at the stage path.
 * The next writer, holding the lock, finds every stage of DIR and settles each entry by one
 * rule, whichever side of the exchange it was on: what ocirender wrote (config.json, the
 * manifest, temporary files, what either manifest lists) is deleted, anything else is put back
 * into DIR. The manifest is written first in a stage and deleted last, so that rule always has
 * it, even when the recovery itself is killed.
 *
 * The envelope and DIR are checked before anything is written (a symlinked or foreign DIR, a
 * directory where a file goes, a populated rootfs --rootfs would replace), so a refusal leaves
 * the old bundle untouched. Where DIR cannot be swapped (a file system without RENAME_EXCHANGE,
 * or DIR or its rootfs is a mount point) the carried entries are put back and the files are
 * replaced one at a time in DIR, config.json last: each file old or new, but not the bundle as
 * a whole. OCIRENDER_TEST_NO_EXCHANGE=1 forces that path, for tests.
 */

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "common/err.h"

#define BUNDLE_TMP_PREFIX ".ocirender-tmp-"
#define BUNDLE_MANIFEST   ".ocirender-bundle"
#define BUNDLE_SECRETS_ROOT "/run/ocirender/secrets" /* default --secrets-dir */

/* Codes of the warnings bundle_write returns (problems that do not fail the write). */
#define BUNDLE_WARN_CLEANUP   "BUNDLE_CLEANUP"   /* something could not be cleaned up */
#define BUNDLE_WARN_RECOVERED "BUNDLE_RECOVERED" /* a killed writer's stage was settled */
#define BUNDLE_WARN_PER_FILE  "BUNDLE_PER_FILE"  /* no atomic swap here: files one at a time */

struct bundle_envelope {
    json_t *root;           /* the parsed envelope (owned) */
    json_t *files;          /* borrowed from root; may be NULL */
    json_t *warnings;       /* borrowed from root; may be NULL */
    json_t *secret_files;   /* borrowed from root; may be NULL: {NAME: {value, uid, gid, mode}} */
    char *config_text;      /* the pretty config text (render_envelope_verify): config.json */
    size_t config_len;
    char digest[72];        /* "sha256:<hex>" */
    bool root_path_set;     /* bundle_write pointed root.path at --rootfs */
};

/*
 * Parse and verify an envelope (jsonx_loadb keeps uint64 values exact): `config` is an object
 * whose pretty serialization hashes to `digest`; `files` names are plain file names. Errors
 * (ERR_SPEC_SYNTAX for bad JSON, ERR_SPEC_INVALID otherwise) name what is wrong.
 */
int bundle_envelope_load(const char *text, size_t len, struct bundle_envelope *out,
                         struct err *err);
/* Wipes the config text (secret values) and releases everything. Idempotent. */
void bundle_envelope_release(struct bundle_envelope *env);

/* Is `name` acceptable as a bundle file name? NULL when it is, else the reason. */
const char *bundle_file_name_problem(const char *name);

/*
 * `dir` as an absolute, lexically normalized path (no ".", no "//", no trailing '/'), joined
 * to the working directory when relative. Refuses ".." components and "/". 0 or -1 with err.
 */
int bundle_abs_path(const char *dir, char *out, size_t size, struct err *err);

/*
 * Write the bundle, atomically as a whole (see above). `rootfs` may be NULL (then DIR/rootfs
 * is a directory: an existing one, populated or not, is kept). With `rootfs`,
 * DIR/rootfs is a symlink to its real absolute path and a bundle-relative root.path in the
 * config is set to that path, because runc refuses a rootfs reached through a symlink; this
 * is one local change to the verified config; the /run/secrets bind's source is the other
 * (secret files go under `secrets_root`, NULL for BUNDLE_SECRETS_ROOT, which must be on tmpfs
 * or ramfs). Problems that do not fail the write are appended to `warnings` (an array, may be
 * NULL) as {code, path, message}, on success and on failure; nothing is printed. 0 or -1 with
 * err (ERR_IO or ERR_USAGE).
 */
int bundle_write(const char *dir, const char *rootfs, const char *secrets_root,
                 struct bundle_envelope *env, json_t *warnings, struct err *err);

/*
 * Delete the bundle at `dir` and its secret files, under the writers' lock. Only an ocirender
 * bundle is touched (a directory, not a symlink, with a manifest): what ocirender wrote is
 * deleted (config.json, the envelope files, a rootfs symlink or empty rootfs directory, the
 * secrets directory the manifest records and the one under `secrets_root`), then DIR when
 * nothing else is left; anything else (an operator's rootfs with content, own files) is kept
 * and named in `warnings`. A missing DIR is not an error (*removed false): its secrets
 * directory is still deleted. 0 or -1 with err.
 */
int bundle_remove(const char *dir, const char *secrets_root, bool *removed, json_t *warnings,
                  struct err *err);

#endif
