/* utf8.h -- cutting UTF-8 text between characters: previews, bounded copies, truncated
 * snprintf output. One place for it, so no preview ends in half a character. */
#ifndef EPOS_UTF8_H
#define EPOS_UTF8_H

#include <stddef.h>

/* How many of the len bytes of s to keep so that at most max are kept and
 * the cut falls between two characters (a character cut by max, or already
 * incomplete at len, is dropped whole). Bytes before the cut are not
 * checked: invalid input stays invalid, it is only never made worse. */
size_t utf8_cut(const char *s, size_t len, size_t max);

/* Drop an incomplete character at the end of the NUL-terminated s (what
 * snprintf leaves when it truncates). s may be NULL. */
void utf8_trim(char *s);

#endif
