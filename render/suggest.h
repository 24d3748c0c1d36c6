#ifndef OCIRENDER_RENDER_SUGGEST_H
#define OCIRENDER_RENDER_SUGGEST_H

/*
 * The wording both schema walks (walk.c for specs and requests, schema.c for CDI specs and
 * seccomp profiles) share for unknown words and long messages: pure functions on strings.
 */

#include <stddef.h>
#include "common/err.h"

/* Room an issue keeps for " (line L, column C)" after its message. */
#define SUGGEST_MARK_ROOM 40

/* Size of a message buffer before it is fitted into an issue. */
#define SUGGEST_MSG_SIZE (ERR_MSG_MAX + 64)

/* Shorten `s` to at most `max` bytes at a word boundary, ending in "...", so a message that does
 * not fit is never cut mid-word. */
void suggest_fit_words(char *s, size_t max);

/* `a`, `b`, `c` into buf (NULL-terminated `words`), whole words only: when the list does not
 * fit, as many as fit followed by "and N more". */
void suggest_join_words(char *buf, size_t size, const char *const *words);

/* The candidate closest to `word` when it is a likely typo of it, else NULL. */
const char *suggest_nearest_word(const char *word, const char *const *candidates);

/*
 * "unknown field `platfor`, did you mean `platform`?" when one valid word is close, else
 * "unknown field `x`, expected one of `a`, `b`, ..." listing what fits, into msg (at least
 * SUGGEST_MSG_SIZE bytes for the whole text). `what` names the kind of word ("field",
 * "value"), `listed` are the words to show, `candidates` those to suggest from (listed words
 * plus aliases); both NULL-terminated.
 */
void suggest_unknown_word(char *msg, size_t size, const char *what, const char *word,
                          const char *const *listed, const char *const *candidates);

#endif
