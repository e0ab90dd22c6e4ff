/* migrate_funcs.c -- eposctl migrate's repeatable part: apply changed schema/functions files, check
 * every function. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "migrate.h"

/* The epos_* functions of the schema and the validator of their language. */
static const char migrate_funcs_sql[] =
    "SELECT p.oid, p.proname, p.oid::regprocedure::text, l.lanname"
    "  FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang"
    " WHERE p.pronamespace = 'public'::regnamespace AND p.proname LIKE 'epos\\_%'"
    "   AND l.lanname IN ('sql', 'plpgsql')"
    " ORDER BY 3";

/* Ownership and grants after every run that applied something
 * (schema/functions/roles.sql); absent in a schema without that file. */
static const char migrate_settle_sql[] =
    "DO $$ BEGIN"
    " IF to_regprocedure('epos_schema_settle()') IS NOT NULL THEN"
    " PERFORM epos_schema_settle(); END IF; END $$";

/* Is an object of the schema not yet epos_ctl's (a superuser made it, or
 * the database predates the roles)? Then settling is due though nothing
 * changed. */
static const char migrate_unsettled_sql[] =
    "SELECT to_regrole('epos_ctl') IS NOT NULL AND ("
    " EXISTS (SELECT 1 FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace"
    "          AND c.relkind IN ('r', 'p', 'v', 'm') AND c.relowner <> to_regrole('epos_ctl'))"
    " OR EXISTS (SELECT 1 FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace"
    "          AND p.proowner <> to_regrole('epos_ctl')"
    "          AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass"
    "                           AND d.objid = p.oid AND d.deptype = 'e')))";

/* Was the file's current text applied? */
static int migrate_func_current(PGresult *recorded, const migrate_file *f)
{
    for (int r = 0; r < PQntuples(recorded); r++)
        if (strcmp(PQgetvalue(recorded, r, 0), f->name) == 0)
            return strcmp(PQgetvalue(recorded, r, 1), f->sum) == 0;
    return 0;
}

/* The function file that defines proname ("FUNCTION <name>(" in its text),
 * for the error message; "functions" when none does. */
static const char *migrate_func_file(const migrate_set *fns, const char *proname, char *buf,
                                     size_t len)
{
    char needle[200];
    snprintf(needle, sizeof(needle), "FUNCTION %s(", proname);
    for (size_t i = 0; i < fns->n; i++) {
        if (strstr(fns->files[i].sql, needle)) {
            snprintf(buf, len, "functions/%s", fns->files[i].name);
            return buf;
        }
    }
    return "functions";
}

/* With check_function_bodies on, run each epos_* function's language
 * validator: a SQL function's body is parsed and planned against the
 * tables and functions as they now are, a PL/pgSQL one is compiled. The
 * files were loaded with the check off, so that a function may call one
 * defined in a file applied after its own. Returns 0, or -1 after printing. */
static int migrate_funcs_validate(PGconn *conn, const migrate_set *fns)
{
    if (ctl_db_exec(conn, "SET LOCAL check_function_bodies = on", "migrate: checking functions"))
        return -1;
    PGresult *list = ctl_db_query(conn, "migrate: listing functions", migrate_funcs_sql, 0, NULL);
    if (!list)
        return -1;
    int rc = 0;
    for (int r = 0; rc == 0 && r < PQntuples(list); r++) {
        const char *params[1] = {PQgetvalue(list, r, 0)};
        const char *sql = strcmp(PQgetvalue(list, r, 3), "sql") == 0
                              ? "SELECT fmgr_sql_validator($1::oid)"
                              : "SELECT plpgsql_validator($1::oid)";
        PGresult *res = PQexecParams(conn, sql, 1, NULL, params, NULL, NULL, 0);
        if (PQresultStatus(res) != PGRES_TUPLES_OK) {
            char msg[1024], file[300];
            fprintf(stderr, "eposctl: migrate: %s: %s does not compile: %s\n",
                    migrate_func_file(fns, PQgetvalue(list, r, 1), file, sizeof(file)),
                    PQgetvalue(list, r, 2), ctl_db_error(conn, res, msg, sizeof(msg)));
            rc = -1;
        }
        PQclear(res);
    }
    PQclear(list);
    return rc;
}

/* Apply the file and record its checksum (inside the open transaction). */
static int migrate_func_apply(PGconn *conn, const migrate_file *f)
{
    char label[300];
    snprintf(label, sizeof(label), "functions/%s", f->name);
    if (migrate_exec_file(conn, label, f->sql) != 0)
        return -1;
    const char *params[2] = {f->name, f->sum};
    PGresult *res = ctl_db_query(conn, "migrate: recording a function file",
                                 "INSERT INTO schema_functions (file, checksum) VALUES ($1, $2)"
                                 " ON CONFLICT (file) DO UPDATE"
                                 " SET checksum = EXCLUDED.checksum, applied_at = now()",
                                 2, params);
    if (!res)
        return -1;
    PQclear(res);
    return 0;
}

int migrate_functions(PGconn *conn, const migrate_set *fns, int force)
{
    PGresult *recorded = ctl_db_query(conn, "migrate: reading schema_functions",
                                      "SELECT file, checksum FROM schema_functions", 0, NULL);
    if (!recorded)
        return -1;
    char *todo = calloc(fns->n + 1, 1);
    size_t changed = 0;
    int rc = -1;
    if (!todo) {
        fprintf(stderr, "eposctl: migrate: out of memory\n");
        goto out;
    }
    for (size_t i = 0; i < fns->n; i++) {
        todo[i] = !migrate_func_current(recorded, &fns->files[i]);
        changed += todo[i];
    }
    if (changed == 0 && !force) {
        PGresult *u =
            ctl_db_query(conn, "migrate: checking owners", migrate_unsettled_sql, 0, NULL);
        if (!u)
            goto out;
        force = strcmp(PQgetvalue(u, 0, 0), "t") == 0;
        PQclear(u);
        rc = 0;
        if (!force)
            goto out;
        rc = -1;
    }
    /* One transaction for every changed file: a function and a helper it
     * calls, changed together in two files, never show one without the other. */
    if (ctl_db_exec(conn, "BEGIN", "migrate: applying functions") != 0)
        goto out;
    if (ctl_db_exec(conn, "SET LOCAL check_function_bodies = off", "migrate: applying functions"))
        goto rollback;
    for (size_t i = 0; i < fns->n; i++)
        if (todo[i] && migrate_func_apply(conn, &fns->files[i]) != 0)
            goto rollback;
    if (migrate_funcs_validate(conn, fns) != 0)
        goto rollback;
    if (ctl_db_exec(conn, migrate_settle_sql, "migrate: settling owners and grants") != 0)
        goto rollback;
    if (ctl_db_exec(conn, "COMMIT", "migrate: applying functions") != 0)
        goto out;
    for (size_t i = 0; i < fns->n; i++)
        if (todo[i])
            printf("applied functions/%s\n", fns->files[i].name);
    fflush(stdout);
    rc = 0;
    goto out;
rollback:
    PQclear(PQexec(conn, "ROLLBACK"));
out:
    free(todo);
    PQclear(recorded);
    return rc;
}
