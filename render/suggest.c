#include "render/suggest.h"
#include <stdio.h>
#include <string.h>
#include "common/strutil.h"

void suggest_fit_words(char *s, size_t max)
{
    size_t n = strlen(s);
    if (n <= max || max < 8) {
        return;
    }
    size_t cut = max - 3;
    while (cut > 0 && s[cut] != ' ') {
        cut--;
    }
    if (cut == 0) {
        cut = max - 3;
    }
    while (cut > 0 && (s[cut - 1] == ',' || s[cut - 1] == ' ')) {
        cut--;
    }
    memcpy(s + cut, "...", 4);
}

/* The list is never cut mid-word: a word goes in only when there is still room after it to say
 * how many are left out. */
void suggest_join_words(char *buf, size_t size, const char *const *words)
{
    size_t total = 0, n = 0;
    while (words[total]) {
        total++;
    }
    buf[0] = '\0';
    for (size_t i = 0; i < total; i++) {
        char more[32] = "";
        if (i + 1 < total) { /* keep room to say how many are left out after this one */
            snprintf(more, sizeof(more), ", and %zu more", total - i - 1);
        }
        size_t need = (i ? 2 : 0) + strlen(words[i]) + 2;
        if (n + need + strlen(more) >= size) {
            snprintf(buf + n, size - n, "%sand %zu more", i ? ", " : "", total - i);
            return;
        }
        n += (size_t)snprintf(buf + n, size - n, "%s`%s`", i ? ", " : "", words[i]);
    }
}

/*
 * A likely typo: at most one edit for words of up to three characters, two for longer ones,
 * and fewer edits than the candidate has characters. The first of equally close candidates
 * wins.
 */
const char *suggest_nearest_word(const char *word, const char *const *candidates)
{
    size_t limit = strlen(word) <= 3 ? 1 : 2;
    const char *best = NULL;
    size_t best_d = limit + 1;
    for (size_t i = 0; candidates[i]; i++) {
        size_t d = str_edit_distance(word, candidates[i], limit);
        if (d < best_d && d < strlen(candidates[i])) {
            best = candidates[i];
            best_d = d;
        }
    }
    return best;
}

/* Sized so the whole message, line and column included, fits in an issue. */
void suggest_unknown_word(char *msg, size_t size, const char *what, const char *word,
                          const char *const *listed, const char *const *candidates)
{
    char shown[80];
    if (strlen(word) < sizeof(shown) - 4) {
        snprintf(shown, sizeof(shown), "%s", word);
    } else {
        snprintf(shown, sizeof(shown), "%.*s...", (int)sizeof(shown) - 4, word);
    }
    const char *near = suggest_nearest_word(word, candidates);
    if (near) {
        snprintf(msg, size, "unknown %s `%s`, did you mean `%s`?", what, shown, near);
        return;
    }
    if (!listed[0]) {
        snprintf(msg, size, "unknown %s `%s`", what, shown);
        return;
    }
    char head[160];
    snprintf(head, sizeof(head), "unknown %s `%s`, expected one of ", what, shown);
    char list[ERR_MSG_MAX];
    size_t room = ERR_MSG_MAX - 1 - SUGGEST_MARK_ROOM - strlen(head);
    suggest_join_words(list, room < sizeof(list) ? room + 1 : sizeof(list), listed);
    snprintf(msg, size, "%s%s", head, list);
}
