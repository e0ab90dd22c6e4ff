/* csv.h -- RFC 4180 CSV: reading a whole file into rows of fields, writing one field. */
#ifndef EPOS_CSV_H
#define EPOS_CSV_H

#include <stddef.h>
#include <stdio.h>

/* A parsed file: rows[i] has nfields[i] NUL-terminated fields. */
typedef struct csv_table {
    size_t nrows;
    size_t *nfields;
    char ***rows;
} csv_table;

#define CSV_FIELDS_MAX 1024 /* fields in one record */

/* Parse len bytes of CSV (RFC 4180: comma, CRLF or LF, double quotes that
 * double to escape; a UTF-8 byte order mark at the start is skipped; empty
 * lines are skipped; the last record may lack its line end). The text must
 * be valid UTF-8 without NUL. On success fills *t (free with
 * csv_table_free) and returns 0; on bad input returns -1 with a message
 * naming the line in err and *t empty; -2 when out of memory. */
int csv_parse(const char *text, size_t len, csv_table *t, char *err, size_t errlen);

/* Free what csv_parse filled; t may be zeroed or NULL. */
void csv_table_free(csv_table *t);

/* Write s as one field: quoted (inner quotes doubled) when it holds a comma,
 * a quote, CR or LF, or begins or ends with a space; as is otherwise. */
void csv_write_field(FILE *f, const char *s);

#endif
