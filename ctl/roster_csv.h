/* roster_csv.h -- the roster document (POST /api/roster) to and from OneRoster 1.2 CSV files. */
#ifndef EPOS_ROSTER_CSV_H
#define EPOS_ROSTER_CSV_H

#include <jansson.h>

/* Write orgs.csv, classes.csv, users.csv, roles.csv and enrollments.csv of
 * the document into the existing directory dir. Returns 0, or -1 after
 * printing which file could not be written. */
int roster_csv_write(const json_t *doc, const char *dir);

/* Read the files of dir into a new delta document (orgs.csv, classes.csv,
 * users.csv and enrollments.csv are required, roles.csv optional). Returns
 * the document, or NULL after printing the file, line and what is wrong. */
json_t *roster_csv_read(const char *dir);

#endif
