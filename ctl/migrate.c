/* migrate.c -- eposctl migrate: apply new schema/migrations once (checksums kept), then changed
 * schema/functions.
 *
 * The schema has two parts (docs/ARCHITECTURE.md, "The SQL layer"):
 *   migrations/NNN_name.sql  tables, indexes, triggers' wiring, data changes;
 *                            applied once each, in number order, recorded in
 *                            schema_migrations with the file's SHA-256, which
 *                            every later run checks (an applied migration is
 *                            never edited: a change is a new migration);
 *   functions/<domain>.sql   every epos_* function, CREATE OR REPLACE; a file
 *                            is applied again whenever its SHA-256 differs from
 *                            the one in schema_functions.
 * Functions come after the migrations, so a migration never calls an epos_*
 * function, and a trigger's function lives beside its trigger in a migration.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "migrate.h"

#ifndef EPOS_SOURCE_DIR
#define EPOS_SOURCE_DIR "."
#endif

/* pg_advisory_lock key held while migrating ("eposmig" in ASCII): a second
 * concurrent migrate waits, then finds everything applied. */
#define MIGRATE_LOCK_KEY "28548172270905703"

/* Migrations of the layout before schema/migrations (up to 051, release
 * 5d474e8) that held only functions: now in functions/, so a database built
 * by that layout drops their rows when it is adopted. */
static const char *const migrate_retired[] = {
    "002_events",         "003_inline",      "010_identity",
    "011_chat",           "021_news_acks",   "022_publish",
    "044_reminders_next", "050_credentials", "051_credentials_check",
};

/* The bookkeeping tables. A ledger of the previous layout has no checksum
 * column: it gets one (NULL until adopted). */
static const char migrate_ledger_sql[] =
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " version text PRIMARY KEY,"
    " applied_at timestamptz NOT NULL DEFAULT now(),"
    " checksum text);"
    "ALTER TABLE schema_migrations ADD COLUMN IF NOT EXISTS checksum text;"
    "CREATE TABLE IF NOT EXISTS schema_functions ("
    " file text PRIMARY KEY,"
    " checksum text NOT NULL,"
    " applied_at timestamptz NOT NULL DEFAULT now())";

/* The version recorded for a file: its name without ".sql". */
static void migrate_version(const char *name, char *out, size_t len)
{
    snprintf(out, len, "%.*s", (int)(strlen(name) - 4), name);
}

/* The migration file recorded as version v, or NULL. */
static const migrate_file *migrate_of_version(const migrate_set *s, const char *v)
{
    char version[256];
    for (size_t i = 0; i < s->n; i++) {
        migrate_version(s->files[i].name, version, sizeof(version));
        if (strcmp(version, v) == 0)
            return &s->files[i];
    }
    return NULL;
}

static int migrate_is_retired(const char *v)
{
    for (size_t i = 0; i < sizeof(migrate_retired) / sizeof(migrate_retired[0]); i++)
        if (strcmp(migrate_retired[i], v) == 0)
            return 1;
    return 0;
}

/* Apply one migration and record it with its checksum, in one transaction.
 * Returns 0 or -1 (printed). */
static int migrate_apply(PGconn *conn, const migrate_file *f)
{
    char version[256];
    const char *params[2] = {version, f->sum};
    migrate_version(f->name, version, sizeof(version));
    if (ctl_db_exec(conn, "BEGIN", f->name) != 0)
        return -1;
    if (migrate_exec_file(conn, f->name, f->sql) != 0)
        goto rollback;
    PGresult *res =
        PQexecParams(conn, "INSERT INTO schema_migrations (version, checksum) VALUES ($1, $2)", 2,
                     NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        migrate_report(conn, res, f->name, NULL);
        PQclear(res);
        goto rollback;
    }
    PQclear(res);
    res = PQexec(conn, "COMMIT");
    /* A deferred constraint fails at COMMIT: that is this file's error too. */
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        migrate_report(conn, res, f->name, f->sql);
        PQclear(res);
        return -1;
    }
    PQclear(res);
    printf("applied %s\n", f->name);
    fflush(stdout);
    return 0;
rollback:
    PQclear(PQexec(conn, "ROLLBACK"));
    return -1;
}

/* A database built by the previous layout: rows without a checksum. Each
 * gets the checksum of its file, or goes when its migration held only
 * functions; one transaction. Returns 0, or -1 after printing. */
static int migrate_adopt(PGconn *conn, PGresult *ledger, const migrate_set *s)
{
    int kept = 0, retired = 0, legacy = 0;
    for (int r = 0; r < PQntuples(ledger); r++) {
        const char *v = PQgetvalue(ledger, r, 0);
        legacy += PQgetisnull(ledger, r, 1) &&
                  (migrate_of_version(s, v) != NULL || migrate_is_retired(v));
    }
    if (!legacy)
        return 0;
    if (ctl_db_exec(conn, "BEGIN", "migrate: adopting the previous layout") != 0)
        return -1;
    for (int r = 0; r < PQntuples(ledger); r++) {
        if (!PQgetisnull(ledger, r, 1))
            continue;
        const char *v = PQgetvalue(ledger, r, 0);
        const migrate_file *f = migrate_of_version(s, v);
        const char *params[2] = {v, f ? f->sum : NULL};
        const char *sql = f ? "UPDATE schema_migrations SET checksum = $2 WHERE version = $1"
                            : "DELETE FROM schema_migrations WHERE version = $1";
        if (!f && !migrate_is_retired(v))
            continue; /* reported as missing by migrate_verify */
        PGresult *res =
            ctl_db_query(conn, "migrate: adopting the previous layout", sql, f ? 2 : 1, params);
        if (!res)
            goto rollback;
        PQclear(res);
        kept += f != NULL;
        retired += f == NULL;
    }
    if (ctl_db_exec(conn, "COMMIT", "migrate: adopting the previous layout") != 0)
        return -1;
    printf("adopted the previous schema layout: %d migrations checksummed, %d retired (their "
           "functions are in functions/)\n",
           kept, retired);
    return 0;
rollback:
    PQclear(PQexec(conn, "ROLLBACK"));
    return -1;
}

/* Every recorded migration has its file, unchanged since it was applied. */
static int migrate_verify(PGresult *ledger, const migrate_set *s, const char *dir)
{
    for (int r = 0; r < PQntuples(ledger); r++) {
        const char *v = PQgetvalue(ledger, r, 0);
        const migrate_file *f = migrate_of_version(s, v);
        if (!f) {
            fprintf(stderr,
                    "eposctl: migrate: migration %s is recorded in schema_migrations but %s/%s.sql "
                    "is missing\n",
                    v, dir, v);
            return -1;
        }
        const char *sum = PQgetvalue(ledger, r, 1);
        if (!PQgetisnull(ledger, r, 1) && strcmp(sum, f->sum) != 0) {
            fprintf(stderr,
                    "eposctl: migrate: migration %s was edited after it was applied (sha256 %.12s "
                    "recorded, %.12s now): restore it and put the change in a new migration\n",
                    f->name, sum, f->sum);
            return -1;
        }
    }
    return 0;
}

static PGresult *migrate_ledger(PGconn *conn)
{
    return ctl_db_query(conn, "migrate: reading schema_migrations",
                        "SELECT version, checksum FROM schema_migrations ORDER BY version", 0,
                        NULL);
}

static int migrate_is_applied(PGresult *ledger, const migrate_file *f)
{
    char version[256];
    migrate_version(f->name, version, sizeof(version));
    for (int r = 0; r < PQntuples(ledger); r++)
        if (strcmp(PQgetvalue(ledger, r, 0), version) == 0)
            return 1;
    return 0;
}

/* Create or update the ledger tables. A database built before the roles
 * (052) has them owned by whoever migrated it then: say how to hand it over. */
static int migrate_ledger_create(PGconn *conn)
{
    PGresult *res = PQexec(conn, migrate_ledger_sql);
    int rc = PQresultStatus(res) == PGRES_COMMAND_OK ? 0 : -1;
    if (rc != 0) {
        char msg[1024];
        const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        fprintf(stderr, "eposctl: migrate: creating the ledger: %s%s\n",
                ctl_db_error(conn, res, msg, sizeof(msg)),
                state && strcmp(state, "42501") == 0
                    ? " (a database built before the roles: run migrate once as its owner, "
                      "the superuser, to hand it to epos_ctl)"
                    : "");
    }
    PQclear(res);
    return rc;
}

/* With the lock held: adopt an old ledger, verify, apply the new
 * migrations, then the changed function files. */
static int migrate_run(PGconn *conn, const migrate_set *migs, const migrate_set *fns,
                       const char *dir)
{
    if (migrate_ledger_create(conn) != 0)
        return -1;
    PGresult *ledger = migrate_ledger(conn);
    if (!ledger)
        return -1;
    int rc = migrate_adopt(conn, ledger, migs);
    if (rc == 0) {
        PQclear(ledger);
        ledger = migrate_ledger(conn);
        rc = ledger ? migrate_verify(ledger, migs, dir) : -1;
    }
    size_t done = 0;
    for (size_t i = 0; rc == 0 && i < migs->n; i++) {
        if (migrate_is_applied(ledger, &migs->files[i]))
            continue;
        rc = migrate_apply(conn, &migs->files[i]);
        done += rc == 0;
    }
    if (rc == 0)
        rc = migrate_functions(conn, fns, done > 0);
    if (rc == 0)
        printf("schema is up to date (%zu migrations, %zu function files)\n", migs->n, fns->n);
    PQclear(ledger);
    return rc;
}

int ctl_cmd_migrate(ctl_ctx *ctx, int argc, char **argv)
{
    const char *dir = NULL;
    const ctl_opt opts[] = {{"dir", &dir, NULL}};
    migrate_set migs = {0}, fns = {0};
    char sub[4096];
    PGconn *conn = NULL;
    int rc = CTL_FAIL;

    if (ctl_opts_parse("migrate", argc, argv, 1, opts, 1) != 0)
        return CTL_USAGE;
    if (!dir)
        dir = getenv("EPOS_SCHEMA_DIR");
    if (!dir || !*dir)
        dir = EPOS_SOURCE_DIR "/schema";
    snprintf(sub, sizeof(sub), "%s/migrations", dir);
    if (migrate_scan(sub, MIGRATE_NUMBERED, 0, &migs) != 0)
        goto out;
    snprintf(sub, sizeof(sub), "%s/functions", dir);
    if (migrate_scan(sub, MIGRATE_FUNCTIONS, 1, &fns) != 0)
        goto out;
    conn = ctl_db_connect(ctx);
    if (!conn)
        goto out;
    if (ctl_db_exec(conn, "SELECT pg_advisory_lock(" MIGRATE_LOCK_KEY ")",
                    "migrate: taking the migration lock") != 0)
        goto out;
    snprintf(sub, sizeof(sub), "%s/migrations", dir);
    if (migrate_run(conn, &migs, &fns, sub) == 0)
        rc = CTL_OK;
    /* The lock is the session's: PQfinish releases it. */
out:
    PQfinish(conn);
    migrate_set_free(&migs);
    migrate_set_free(&fns);
    return rc;
}
