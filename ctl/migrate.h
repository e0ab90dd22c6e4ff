/* migrate.h -- what the parts of eposctl migrate share: the schema files as read from disk. */
#ifndef EPOS_CTL_MIGRATE_H
#define EPOS_CTL_MIGRATE_H

#include <libpq-fe.h>
#include <stddef.h>

#define MIGRATE_MAX_FILES 1000

/* One schema file: its name in its directory, its text and its checksum. */
typedef struct migrate_file {
    char *name;   /* "001_core.sql" or "chat.sql" */
    char *sql;    /* the whole file, NUL-terminated */
    char sum[65]; /* lowercase hex SHA-256 of the file's bytes */
} migrate_file;

/* The files of one directory, sorted by name. */
typedef struct migrate_set {
    migrate_file *files; /* n of them, malloc'd */
    size_t n;
} migrate_set;

/* The two kinds of schema directory. */
typedef enum migrate_kind {
    MIGRATE_NUMBERED,  /* migrations/NNN_name.sql: three digits, each number once */
    MIGRATE_FUNCTIONS, /* functions/<domain>.sql: lowercase letters, digits, '_' */
} migrate_kind;

/* Read every file of dir that belongs to kind (others are ignored), sorted
 * by name, with its text and checksum. A missing directory is an empty set
 * when optional, else an error. Returns 0, or -1 after printing one line. */
int migrate_scan(const char *dir, migrate_kind kind, int optional, migrate_set *s);

/* Free what migrate_scan read; s is empty afterwards. */
void migrate_set_free(migrate_set *s);

/* The file of s named name, or NULL. */
const migrate_file *migrate_find(const migrate_set *s, const char *name);

/* Print one line "eposctl: migrate: <label> failed[ at line N]: <error>" for
 * a failed statement of sql (line from the error's position when known). */
void migrate_report(PGconn *conn, PGresult *res, const char *label, const char *sql);

/* Run sql (a whole file, many statements) on conn inside the caller's
 * transaction. Returns 0, or -1 after migrate_report(label). */
int migrate_exec_file(PGconn *conn, const char *label, const char *sql);

/* Apply every file of fns whose checksum differs from the one recorded in
 * schema_functions, all in one transaction with their new checksums, then
 * check that every epos_* function compiles and settle owners and grants
 * (epos_schema_settle). With force set, this runs even when no file changed
 * (a migration may have broken a function or made a table).
 * Returns 0, or -1 after printing one line (nothing of it stays). */
int migrate_functions(PGconn *conn, const migrate_set *fns, int force);

#endif
