/* fuzz_csv.c -- the CSV reader (core/csv.c): any bytes parse or are refused
 * with a message, never crash or leak; what parsed, written back with
 * csv_write_field, parses to the same fields. */
#include "epos/csv.h"
#include "fuzz_util.h"

#include <stdlib.h>

/* Write the table as CSV and parse it again: the same rows and fields. */
static void check_round_trip(const csv_table *t)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    FUZZ_CHECK(f != NULL);
    /* A BOM first: a first field that itself begins with one keeps it. */
    fputs("\xEF\xBB\xBF", f);
    for (size_t i = 0; i < t->nrows; i++) {
        for (size_t j = 0; j < t->nfields[i]; j++) {
            if (j)
                fputc(',', f);
            csv_write_field(f, t->rows[i][j]);
        }
        fputs("\r\n", f);
    }
    fclose(f);
    csv_table again;
    char err[160];
    FUZZ_CHECK(csv_parse(buf, len, &again, err, sizeof(err)) == 0);
    /* An empty line (one empty field) is skipped on reading. */
    size_t k = 0;
    for (size_t i = 0; i < t->nrows; i++) {
        FUZZ_CHECK(k < again.nrows && again.nfields[k] == t->nfields[i]);
        for (size_t j = 0; j < t->nfields[i]; j++)
            FUZZ_CHECK(strcmp(again.rows[k][j], t->rows[i][j]) == 0);
        k++;
    }
    FUZZ_CHECK(k == again.nrows);
    csv_table_free(&again);
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    csv_table t;
    char err[160] = "";
    int rc = csv_parse((const char *)data, size, &t, err, sizeof(err));
    FUZZ_CHECK(rc == 0 || rc == -1 || rc == -2);
    if (rc != 0) {
        FUZZ_CHECK(err[0] != '\0' && t.nrows == 0);
        return 0;
    }
    for (size_t i = 0; i < t.nrows; i++)
        FUZZ_CHECK(t.nfields[i] >= 1 && t.nfields[i] <= CSV_FIELDS_MAX);
    check_round_trip(&t);
    csv_table_free(&t);
    return 0;
}
