/* ctl_harness.h -- what the eposctl tests share: scratch databases, running eposctl, reading
 * results. Define CTL_TEST_DB (the prefix of the scratch databases) before including. */
#ifndef EPOS_TEST_CTL_HARNESS_H
#define EPOS_TEST_CTL_HARNESS_H

#include <dirent.h>
#include <libgen.h>
#include <limits.h>
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <libpq-fe.h>

#define OUT_MAX (1 << 20)
#define MAX_DBS 8

static char admin_conninfo[1024];
static char ctl_path[PATH_MAX];
static char schema_dir[PATH_MAX];
static char db_names[MAX_DBS][64];
static int ndbs;

/* ------------------------------------------------------------ helpers */

static inline PGconn *pg_open(const char *conninfo)
{
    PGconn *c = PQconnectdb(conninfo);
    if (PQstatus(c) != CONNECTION_OK)
        fail_msg("cannot connect (%s): %s", conninfo, PQerrorMessage(c));
    PQclear(PQexec(c, "SET client_min_messages = warning"));
    return c;
}

static inline void pg_ok(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(c));
    PQclear(r);
}

/* First column of the first row of a one-parameter query, as a number. */
static inline long long pg_num(PGconn *c, const char *sql, const char *param)
{
    const char *p[1] = {param};
    PGresult *r = PQexecParams(c, sql, param ? 1 : 0, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) < 1)
        fail_msg("%s: %s", sql, PQerrorMessage(c));
    long long v = atoll(PQgetvalue(r, 0, 0));
    PQclear(r);
    return v;
}

/* The conninfo of a test database on the admin server. */
static inline void db_conninfo(const char *db, char *out, size_t len)
{
    snprintf(out, len, "%s dbname=%s", admin_conninfo, db);
}

/* Create a fresh database "epos_test_migrate_<pid><suffix>", dropped at the end. */
static inline const char *db_create(const char *suffix)
{
    assert_true(ndbs < MAX_DBS);
    char *name = db_names[ndbs++];
    snprintf(name, sizeof(db_names[0]), CTL_TEST_DB "_%d%s", (int)getpid(), suffix);
    PGconn *c = pg_open(admin_conninfo);
    char sql[160];
    snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s", name);
    pg_ok(c, sql);
    snprintf(sql, sizeof(sql), "CREATE DATABASE %s", name);
    pg_ok(c, sql);
    PQfinish(c);
    return name;
}

/* Start eposctl with args against conninfo, its stdout+stderr piped to us. */
static inline FILE *ctl_start(const char *conninfo, const char *args)
{
    char cmd[PATH_MAX + 512];
    setenv("EPOS_PG_CONNINFO", conninfo, 1);
    unsetenv("EPOS_SCHEMA_DIR");
    snprintf(cmd, sizeof(cmd), "'%s' %s 2>&1", ctl_path, args);
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    return f;
}

/* Read everything into out; returns the exit status (-1: did not exit). */
static inline int ctl_finish(FILE *f, char *out, size_t len)
{
    size_t n = fread(out, 1, len - 1, f);
    out[n] = '\0';
    int st = pclose(f);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static inline int ctl_run(const char *conninfo, const char *args, char *out, size_t len)
{
    return ctl_finish(ctl_start(conninfo, args), out, len);
}

static inline int count_lines_with(const char *text, const char *needle)
{
    int n = 0;
    for (const char *p = text; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

static inline int count_char(const char *text, char ch)
{
    int n = 0;
    for (; *text; text++)
        n += *text == ch;
    return n;
}

/* Number of *.sql files in schema/<sub> (migrations or functions). */
static inline int schema_file_count(const char *sub)
{
    char path[PATH_MAX + 32];
    snprintf(path, sizeof(path), "%s/%s", schema_dir, sub);
    DIR *d = opendir(path);
    assert_non_null(d);
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        n += len > 4 && strcmp(e->d_name + len - 4, ".sql") == 0;
    }
    closedir(d);
    return n;
}

static inline char *migrate_args(void)
{
    static char args[PATH_MAX + 32];
    snprintf(args, sizeof(args), "migrate --dir '%s'", schema_dir);
    return args;
}

/* ------------------------------------------------------------ setup */

static inline int group_setup(void **state)
{
    const char *admin = getenv("EPOS_TEST_PG_ADMIN");
    snprintf(admin_conninfo, sizeof(admin_conninfo), "%s",
             admin && *admin ? admin : "host=127.0.0.1 port=45432 user=postgres dbname=postgres");

    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n < 0)
        return -1;
    exe[n] = '\0';
    char *dir = dirname(exe);
    const char *ctl = getenv("EPOS_CTL");
    if (ctl && *ctl)
        snprintf(ctl_path, sizeof(ctl_path), "%s", ctl);
    else
        snprintf(ctl_path, sizeof(ctl_path), "%s/eposctl", dir);
    if (access(ctl_path, X_OK) != 0) {
        fprintf(stderr, CTL_TEST_DB ": %s not found: build the eposctl target first\n", ctl_path);
        return -1;
    }
    const char *src = getenv("EPOS_SOURCE_DIR");
    if (src && *src)
        snprintf(schema_dir, sizeof(schema_dir), "%s/schema", src);
    else
        snprintf(schema_dir, sizeof(schema_dir), "%s/../schema", dir);

    PGconn *c = PQconnectdb(admin_conninfo);
    int ok = PQstatus(c) == CONNECTION_OK;
    if (!ok)
        fprintf(stderr, CTL_TEST_DB ": PostgreSQL (%s): %s", admin_conninfo, PQerrorMessage(c));
    PQfinish(c);
    (void)state;
    return ok ? 0 : -1;
}

static inline int group_teardown(void **state)
{
    PGconn *c = PQconnectdb(admin_conninfo);
    for (int i = 0; i < ndbs && PQstatus(c) == CONNECTION_OK; i++) {
        char sql[160];
        snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", db_names[i]);
        PQclear(PQexec(c, sql));
    }
    PQfinish(c);
    (void)state;
    return 0;
}

static inline void write_file(const char *dir, const char *name, const char *text)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* A scratch schema directory with empty migrations/ and functions/ in
 * dir (a mkdtemp template, rewritten); remove it with scratch_remove. */
static inline void scratch_schema(char *dir)
{
    char sub[PATH_MAX];
    assert_non_null(mkdtemp(dir));
    snprintf(sub, sizeof(sub), "%s/migrations", dir);
    assert_int_equal(mkdir(sub, 0700), 0);
    snprintf(sub, sizeof(sub), "%s/functions", dir);
    assert_int_equal(mkdir(sub, 0700), 0);
}

static inline void scratch_remove(const char *dir)
{
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

#endif
