/* fuzz_util.h -- helpers shared by the fuzz targets: a reference UTF-8
 * validator, input splitting, and the failure report. */
#ifndef EPOS_FUZZ_UTIL_H
#define EPOS_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* An invariant of the code under test does not hold: report and abort, so
 * libFuzzer saves the input as a crash. */
#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond);           \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* Length of the well-formed UTF-8 sequence at p (Unicode 15, table 3-7), or
 * 0. Written from the table, independently of the code under test. */
static inline size_t fuzz_utf8_seq(const unsigned char *p, size_t avail)
{
    static const struct {
        unsigned char lead_lo, lead_hi, b1_lo, b1_hi;
        size_t n;
    } rows[] = {
        {0xC2, 0xDF, 0x80, 0xBF, 2}, {0xE0, 0xE0, 0xA0, 0xBF, 3}, {0xE1, 0xEC, 0x80, 0xBF, 3},
        {0xED, 0xED, 0x80, 0x9F, 3}, {0xEE, 0xEF, 0x80, 0xBF, 3}, {0xF0, 0xF0, 0x90, 0xBF, 4},
        {0xF1, 0xF3, 0x80, 0xBF, 4}, {0xF4, 0xF4, 0x80, 0x8F, 4},
    };
    if (avail == 0)
        return 0;
    if (p[0] < 0x80)
        return 1;
    for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
        if (p[0] < rows[r].lead_lo || p[0] > rows[r].lead_hi)
            continue;
        if (avail < rows[r].n || p[1] < rows[r].b1_lo || p[1] > rows[r].b1_hi)
            return 0;
        for (size_t i = 2; i < rows[r].n; i++)
            if (p[i] < 0x80 || p[i] > 0xBF)
                return 0;
        return rows[r].n;
    }
    return 0;
}

/* 1 when s[0..n) is well-formed UTF-8 without NUL. */
static inline int fuzz_utf8_valid(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        size_t l = fuzz_utf8_seq(p + i, n - i);
        if (l == 0 || p[i] == 0)
            return 0;
        i += l;
    }
    return 1;
}

/* Count of code points of well-formed s[0..n). */
static inline size_t fuzz_utf8_count(const char *s, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n; c++)
        i += fuzz_utf8_seq((const unsigned char *)s + i, n - i);
    return c;
}

/* Cut the input at each occurrence of sep: *piece is the next one
 * (NUL-terminated, malloc'd, caller frees), returns 0 when none is left. */
typedef struct fuzz_split {
    const uint8_t *p, *end;
    uint8_t sep;
    int done;
} fuzz_split;

static inline int fuzz_split_next(fuzz_split *sp, char **piece, size_t *len)
{
    if (sp->done)
        return 0;
    const uint8_t *e = memchr(sp->p, sp->sep, (size_t)(sp->end - sp->p));
    if (!e) {
        e = sp->end;
        sp->done = 1;
    }
    *len = (size_t)(e - sp->p);
    *piece = malloc(*len + 1);
    if (!*piece)
        abort();
    memcpy(*piece, sp->p, *len);
    (*piece)[*len] = '\0';
    sp->p = e < sp->end ? e + 1 : e;
    return 1;
}

#endif
