/* utf8.c -- cutting UTF-8 text between characters (see include/epos/utf8.h). */
#include "epos/utf8.h"

#include <string.h>

/* The length of the sequence a lead byte starts, 0 for a continuation or
 * invalid byte. */
static size_t utf8_seq_len(unsigned char c)
{
    if (c < 0x80)
        return 1;
    if ((c & 0xE0) == 0xC0)
        return 2;
    if ((c & 0xF0) == 0xE0)
        return 3;
    if ((c & 0xF8) == 0xF0)
        return 4;
    return 0;
}

size_t utf8_cut(const char *s, size_t len, size_t max)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = len < max ? len : max;
    /* The last character's lead byte is at most 3 bytes back. */
    for (size_t back = 1; back <= 4 && back <= n; back++) {
        unsigned char c = p[n - back];
        if ((c & 0xC0) == 0x80)
            continue; /* a continuation byte: its lead is further back */
        size_t need = utf8_seq_len(c);
        return need > back ? n - back : n;
    }
    return n; /* only continuation bytes: invalid, left as it is */
}

void utf8_trim(char *s)
{
    if (s) {
        size_t len = strlen(s);
        s[utf8_cut(s, len, len)] = '\0';
    }
}
