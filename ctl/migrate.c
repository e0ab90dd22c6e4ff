/* migrate.c -- eposctl migrate: apply schema/NNN_*.sql files not yet recorded in schema_migrations.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

#ifndef EPOS_SOURCE_DIR
#define EPOS_SOURCE_DIR "."
#endif

/* pg_advisory_lock key held while migrating ("eposmig" in ASCII): a second
 * concurrent migrate waits, then finds everything applied. */
#define MIGRATE_LOCK_KEY "28548172270905703"

#define MIGRATE_MAX_FILES 1000

typedef struct migrate_set {
    char *names[MIGRATE_MAX_FILES]; /* "001_core.sql", sorted */
    size_t n;
} migrate_set;

/* "NNN_word.sql": three digits, '_', then letters, digits, '_' or '-'. */
static int migrate_name_ok(const char *name)
{
    size_t len = strlen(name);
    if (len < 9 || strcmp(name + len - 4, ".sql") != 0)
        return 0;
    for (int i = 0; i < 3; i++)
        if (name[i] < '0' || name[i] > '9')
            return 0;
    if (name[3] != '_')
        return 0;
    for (size_t i = 4; i < len - 4; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

static int migrate_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void migrate_set_free(migrate_set *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->names[i]);
    s->n = 0;
}

/* List the migration files of dir, sorted. Returns 0, or -1 after printing. */
static int migrate_scan(const char *dir, migrate_set *s)
{
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "eposctl: migrate: cannot read migration directory %s: %s\n", dir,
                strerror(errno));
        return -1;
    }
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(d)) != NULL) {
        if (!migrate_name_ok(e->d_name))
            continue;
        if (s->n == MIGRATE_MAX_FILES || !(s->names[s->n] = strdup(e->d_name))) {
            fprintf(stderr, "eposctl: migrate: too many files in %s\n", dir);
            rc = -1;
            break;
        }
        s->n++;
    }
    closedir(d);
    if (rc == 0 && s->n == 0) {
        fprintf(stderr, "eposctl: migrate: no NNN_*.sql migration files in %s\n", dir);
        rc = -1;
    }
    if (rc != 0)
        return rc;
    qsort(s->names, s->n, sizeof(s->names[0]), migrate_cmp);
    for (size_t i = 1; i < s->n; i++) {
        if (strncmp(s->names[i - 1], s->names[i], 3) == 0) {
            fprintf(stderr, "eposctl: migrate: two migrations numbered %.3s in %s: %s and %s\n",
                    s->names[i], dir, s->names[i - 1], s->names[i]);
            return -1;
        }
    }
    return 0;
}

/* The version recorded for a file: its name without ".sql". */
static void migrate_version(const char *name, char *out, size_t len)
{
    snprintf(out, len, "%.*s", (int)(strlen(name) - 4), name);
}

/* Read a whole file into a NUL-terminated buffer. NULL after printing. */
static char *migrate_read(const char *dir, const char *name)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t len = 0, cap = 0;
    if (!f)
        goto fail;
    for (;;) {
        if (cap - len < 4096) {
            char *nb = realloc(buf, cap ? cap * 2 : 65536);
            if (!nb)
                goto fail;
            buf = nb;
            cap = cap ? cap * 2 : 65536;
        }
        size_t got = fread(buf + len, 1, cap - len - 1, f);
        len += got;
        if (got == 0)
            break;
    }
    if (ferror(f))
        goto fail;
    fclose(f);
    buf[len] = '\0';
    return buf;
fail:
    fprintf(stderr, "eposctl: migrate: cannot read %s: %s\n", path, strerror(errno));
    if (f)
        fclose(f);
    free(buf);
    return NULL;
}

/* 1-based line of the 1-based character position pos of UTF-8 text sql. */
static int migrate_line_of(const char *sql, long pos)
{
    int line = 1;
    long chars = 0;
    for (const unsigned char *p = (const unsigned char *)sql; *p; p++) {
        if ((*p & 0xC0) == 0x80)
            continue;
        if (++chars >= pos)
            break;
        if (*p == '\n')
            line++;
    }
    return line;
}

/* Report a failed migration file in one line: file, line when known, error. */
static void migrate_report(PGconn *conn, PGresult *res, const char *name, const char *sql)
{
    char msg[1024];
    ctl_db_error(conn, res, msg, sizeof(msg));
    const char *pos = res ? PQresultErrorField(res, PG_DIAG_STATEMENT_POSITION) : NULL;
    if (pos)
        fprintf(stderr, "eposctl: migrate: %s failed at line %d: %s\n", name,
                migrate_line_of(sql, atol(pos)), msg);
    else
        fprintf(stderr, "eposctl: migrate: %s failed: %s\n", name, msg);
}

/* Apply one file and record it, in one transaction. Returns 0 or -1 (printed). */
static int migrate_apply(PGconn *conn, const char *dir, const char *name)
{
    char version[256];
    const char *params[1] = {version};
    int rc = -1;
    char *sql = migrate_read(dir, name);
    if (!sql)
        return -1;
    migrate_version(name, version, sizeof(version));
    if (ctl_db_exec(conn, "BEGIN", name) != 0)
        goto out;
    PGresult *res = PQexec(conn, sql);
    if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK) {
        migrate_report(conn, res, name, sql);
        PQclear(res);
        goto rollback;
    }
    PQclear(res);
    res = PQexecParams(conn, "INSERT INTO schema_migrations (version) VALUES ($1)", 1, NULL, params,
                       NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        migrate_report(conn, res, name, sql);
        PQclear(res);
        goto rollback;
    }
    PQclear(res);
    res = PQexec(conn, "COMMIT");
    /* A deferred constraint fails at COMMIT: that is this file's error too. */
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        migrate_report(conn, res, name, sql);
        PQclear(res);
        goto out;
    }
    PQclear(res);
    printf("applied %s\n", name);
    fflush(stdout);
    rc = 0;
    goto out;
rollback:
    PQclear(PQexec(conn, "ROLLBACK"));
out:
    free(sql);
    return rc;
}

/* Fail when a recorded version has no file: the schema directory does not
 * match the database (an old checkout, a deleted or renamed file). */
static int migrate_check_recorded(PGresult *applied, const migrate_set *s, const char *dir)
{
    char version[256];
    for (int r = 0; r < PQntuples(applied); r++) {
        const char *v = PQgetvalue(applied, r, 0);
        int found = 0;
        for (size_t i = 0; i < s->n && !found; i++) {
            migrate_version(s->names[i], version, sizeof(version));
            found = strcmp(version, v) == 0;
        }
        if (!found) {
            fprintf(stderr,
                    "eposctl: migrate: migration %s is recorded in schema_migrations but %s/%s.sql "
                    "is missing\n",
                    v, dir, v);
            return -1;
        }
    }
    return 0;
}

static int migrate_is_applied(PGresult *applied, const char *name)
{
    char version[256];
    migrate_version(name, version, sizeof(version));
    for (int r = 0; r < PQntuples(applied); r++)
        if (strcmp(PQgetvalue(applied, r, 0), version) == 0)
            return 1;
    return 0;
}

/* With the lock held: apply every file not yet recorded. */
static int migrate_run(PGconn *conn, const migrate_set *s, const char *dir)
{
    if (ctl_db_exec(conn,
                    "CREATE TABLE IF NOT EXISTS schema_migrations ("
                    " version text PRIMARY KEY,"
                    " applied_at timestamptz NOT NULL DEFAULT now())",
                    "migrate: creating schema_migrations") != 0)
        return -1;
    PGresult *applied =
        ctl_db_query(conn, "migrate: reading schema_migrations",
                     "SELECT version FROM schema_migrations ORDER BY version", 0, NULL);
    if (!applied)
        return -1;
    int rc = migrate_check_recorded(applied, s, dir);
    size_t done = 0;
    for (size_t i = 0; rc == 0 && i < s->n; i++) {
        if (migrate_is_applied(applied, s->names[i]))
            continue;
        rc = migrate_apply(conn, dir, s->names[i]);
        done += rc == 0;
    }
    if (rc == 0 && done == 0)
        printf("schema is up to date (%zu migrations)\n", s->n);
    PQclear(applied);
    return rc;
}

int ctl_cmd_migrate(ctl_ctx *ctx, int argc, char **argv)
{
    const char *dir = NULL;
    const ctl_opt opts[] = {{"dir", &dir, NULL}};
    migrate_set set = {.n = 0};
    PGconn *conn = NULL;
    int rc = CTL_FAIL;

    if (ctl_opts_parse("migrate", argc, argv, 1, opts, 1) != 0)
        return CTL_USAGE;
    if (!dir)
        dir = getenv("EPOS_SCHEMA_DIR");
    if (!dir || !*dir)
        dir = EPOS_SOURCE_DIR "/schema";
    if (migrate_scan(dir, &set) != 0)
        goto out;
    conn = ctl_db_connect(ctx);
    if (!conn)
        goto out;
    if (ctl_db_exec(conn, "SELECT pg_advisory_lock(" MIGRATE_LOCK_KEY ")",
                    "migrate: taking the migration lock") != 0)
        goto out;
    if (migrate_run(conn, &set, dir) == 0)
        rc = CTL_OK;
    /* The lock is the session's: PQfinish releases it. */
out:
    PQfinish(conn);
    migrate_set_free(&set);
    return rc;
}
