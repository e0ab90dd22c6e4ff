/* csv.c -- RFC 4180 CSV: a whole file into rows of fields, and one field out. */
#include "epos/csv.h"

#include <stdlib.h>
#include <string.h>

#include "epos/jsonx.h"

typedef struct csv_buf {
    char *s;
    size_t len, cap;
} csv_buf;

static int buf_put(csv_buf *b, char c)
{
    if (b->len + 1 >= b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        char *n = realloc(b->s, cap);
        if (!n)
            return -1;
        b->s = n;
        b->cap = cap;
    }
    b->s[b->len++] = c;
    b->s[b->len] = '\0';
    return 0;
}

/* The record being read: its fields so far. */
typedef struct csv_rec {
    char **f;
    size_t n, cap;
} csv_rec;

static void rec_clear(csv_rec *r)
{
    for (size_t i = 0; i < r->n; i++)
        free(r->f[i]);
    free(r->f);
    memset(r, 0, sizeof(*r));
}

/* Move the field in b to the record. -1 out of memory, -3 too many fields. */
static int rec_add(csv_rec *r, csv_buf *b)
{
    if (r->n >= CSV_FIELDS_MAX)
        return -3;
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 16;
        char **n = realloc(r->f, cap * sizeof(*n));
        if (!n)
            return -1;
        r->f = n;
        r->cap = cap;
    }
    r->f[r->n++] = b->s ? b->s : strdup("");
    memset(b, 0, sizeof(*b));
    return r->f[r->n - 1] ? 0 : -1;
}

/* Move the record to the table unless it is an empty line. */
static int table_add(csv_table *t, csv_rec *r)
{
    if (r->n == 1 && r->f[0][0] == '\0') {
        rec_clear(r);
        return 0;
    }
    char ***rows = realloc(t->rows, (t->nrows + 1) * sizeof(*rows));
    if (rows)
        t->rows = rows;
    size_t *nf = rows ? realloc(t->nfields, (t->nrows + 1) * sizeof(*nf)) : NULL;
    if (!nf)
        return -1;
    t->nfields = nf;
    t->rows[t->nrows] = r->f;
    t->nfields[t->nrows++] = r->n;
    memset(r, 0, sizeof(*r));
    return 0;
}

void csv_table_free(csv_table *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->nrows; i++) {
        for (size_t j = 0; j < t->nfields[i]; j++)
            free(t->rows[i][j]);
        free(t->rows[i]);
    }
    free(t->rows);
    free(t->nfields);
    memset(t, 0, sizeof(*t));
}

static int csv_fail(int rc, size_t line, char *err, size_t errlen, const char *what)
{
    if (rc == -1) {
        snprintf(err, errlen, "out of memory");
        return -2;
    }
    snprintf(err, errlen, "line %zu: %s", line, rc == -3 ? "more than 1024 fields" : what);
    return -1;
}

int csv_parse(const char *text, size_t len, csv_table *t, char *err, size_t errlen)
{
    csv_buf b = {0};
    csv_rec r = {0};
    size_t i = 0, line = 1;
    int rc = 0, quoted = 0, closed = 0; /* in a quoted field; its closing quote seen */
    const char *what = NULL;
    memset(t, 0, sizeof(*t));
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
        i = 3;
    if (memchr(text, '\0', len) || !jsonx_utf8_valid(text + i, len - i)) {
        snprintf(err, errlen, "not UTF-8 text");
        return -1;
    }
    for (; i < len && rc == 0 && !what; i++) {
        char c = text[i];
        if (quoted && !closed) {
            if (c == '"' && i + 1 < len && text[i + 1] == '"')
                rc = buf_put(&b, text[i++]);
            else if (c == '"')
                closed = 1;
            else
                rc = buf_put(&b, c);
            if (c == '\n')
                line++;
        } else if (c == ',' || c == '\n' || (c == '\r' && i + 1 < len && text[i + 1] == '\n')) {
            rc = rec_add(&r, &b);
            quoted = closed = 0;
            if (rc == 0 && c != ',') {
                i += c == '\r';
                rc = table_add(t, &r);
                line++;
            }
        } else if (closed) {
            what = "text after a closing quote";
        } else if (c == '"') {
            if (b.len)
                what = "a quote inside an unquoted field";
            quoted = 1;
        } else if (c == '\r') {
            what = "a CR without LF";
        } else {
            rc = buf_put(&b, c);
        }
    }
    if (rc == 0 && !what && quoted && !closed)
        what = "a quoted field is not closed";
    if (rc == 0 && !what && (b.len || quoted || r.n)) {
        rc = rec_add(&r, &b);
        if (rc == 0)
            rc = table_add(t, &r);
    }
    if (rc == 0 && !what)
        return 0;
    free(b.s);
    rec_clear(&r);
    csv_table_free(t);
    return csv_fail(rc, line, err, errlen, what);
}

void csv_write_field(FILE *f, const char *s)
{
    size_t n = strlen(s);
    if (!strpbrk(s, ",\"\r\n") && !(n && (s[0] == ' ' || s[n - 1] == ' '))) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}
