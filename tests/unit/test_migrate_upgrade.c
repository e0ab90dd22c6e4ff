/* test_migrate_upgrade.c -- a database built by the previous schema layout, with data, moved to the
 * current one. */
#define CTL_TEST_DB "epos_test_upgrade"
#include "ctl_harness.h"

/* The last commit of the layout with functions inside schema/NNN_*.sql. */
#define PREVIOUS_RELEASE "5d474e8"

/* The previous release's migration files, "schema/001_core.sql\n…", or NULL
 * when the source tree has no git history (a tarball). */
static char *previous_files(void)
{
    char cmd[PATH_MAX + 128], *out = malloc(OUT_MAX);
    snprintf(cmd, sizeof(cmd), "git -C '%s/..' ls-tree --name-only %s schema/ 2>/dev/null",
             schema_dir, PREVIOUS_RELEASE);
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    int rc = ctl_finish(f, out, OUT_MAX);
    if (rc != 0 || !strstr(out, "schema/001_core.sql")) {
        free(out);
        return NULL;
    }
    return out;
}

/* Build the database as the previous eposctl migrate did: each file in one
 * transaction with its row (version only) in schema_migrations. */
static void build_previous(PGconn *c, char *files)
{
    char *text = malloc(OUT_MAX), cmd[PATH_MAX + 256];
    int n = 0;
    for (char *line = strtok(files, "\n"); line; line = strtok(NULL, "\n")) {
        size_t len = strlen(line);
        if (len < 12 || strcmp(line + len - 4, ".sql") != 0)
            continue;
        snprintf(cmd, sizeof(cmd), "git -C '%s/..' show %s:%s", schema_dir, PREVIOUS_RELEASE, line);
        assert_int_equal(ctl_finish(popen(cmd, "r"), text, OUT_MAX), 0);
        pg_ok(c, "BEGIN");
        pg_ok(c, text);
        const char *version = line + strlen("schema/");
        char sql[256];
        snprintf(sql, sizeof(sql), "INSERT INTO schema_migrations (version) VALUES ('%.*s')",
                 (int)(strlen(version) - 4), version);
        pg_ok(c, sql);
        pg_ok(c, "COMMIT");
        n++;
    }
    assert_int_equal(n, 19); /* 001_core … 051_credentials_check */
    free(text);
}

/* One text value of a query without parameters (caller frees). */
static char *pg_text(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
        fail_msg("%s: %s", sql, PQerrorMessage(c));
    char *v = strdup(PQgetvalue(r, 0, 0));
    PQclear(r);
    return v;
}

/* The row count of every table the previous release had, "name:count,…"
 * (the ledgers excepted; upgrade_tables is a temporary table of the names,
 * made before the upgrade, so tables the upgrade adds are not compared). */
static const char table_counts_sql[] =
    "SELECT string_agg(table_name || ':' || (xpath('/row/c/text()',"
    "  query_to_xml(format('SELECT count(*) AS c FROM %I', table_name), false, true, "
    "'')))[1]::text,"
    "  ',' ORDER BY table_name)"
    "  FROM information_schema.tables"
    " WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"
    "   AND table_name NOT IN ('schema_migrations', 'schema_functions')"
    "   AND table_name IN (SELECT t FROM upgrade_tables)";

/* The shape of the schema: columns with types and defaults, constraints,
 * indexes, triggers, owners and grants, and every function with its body,
 * attributes, owner and grants. */
static const char shape_sql[] =
    "SELECT md5(string_agg(x, E'\\n' ORDER BY x)) FROM ("
    " SELECT table_name || '.' || column_name || ' ' || data_type || ' '"
    "        || coalesce(column_default, '') || is_nullable AS x"
    "   FROM information_schema.columns WHERE table_schema = 'public'"
    " UNION ALL SELECT conrelid::regclass::text || ' ' || pg_get_constraintdef(oid)"
    "   FROM pg_constraint WHERE connamespace = 'public'::regnamespace"
    " UNION ALL SELECT indexdef FROM pg_indexes WHERE schemaname = 'public'"
    " UNION ALL SELECT relname || ' ' || relowner::regrole::text || coalesce(relacl::text, '')"
    "   FROM pg_class WHERE relnamespace = 'public'::regnamespace"
    " UNION ALL SELECT pg_get_triggerdef(oid) FROM pg_trigger WHERE NOT tgisinternal"
    " UNION ALL SELECT oid::regprocedure::text || md5(prosrc) || provolatile::text"
    "        || prosecdef::text || coalesce(array_to_string(proconfig, ','), '')"
    "        || proowner::regrole::text || coalesce(proacl::text, '')"
    "   FROM pg_proc WHERE pronamespace = 'public'::regnamespace) s";

/* A chat between two seeded users, with two messages sent through the
 * previous release's epos_chat_send. Returns the chat id. */
static long long put_chat(PGconn *c)
{
    pg_ok(c, "INSERT INTO chats (kind, title, org_id, created_by)"
             " SELECT 'group', 'upgrade', min(id), NULL FROM orgs");
    pg_ok(c, "INSERT INTO chat_members (chat_id, user_id)"
             " SELECT (SELECT max(id) FROM chats), id FROM users ORDER BY id LIMIT 2");
    pg_ok(c, "SELECT epos_chat_send((SELECT min(user_id) FROM chat_members"
             " WHERE chat_id = (SELECT max(id) FROM chats)), (SELECT max(id) FROM chats),"
             " 'up-1', 'до обновления')");
    pg_ok(c, "SELECT epos_chat_send((SELECT max(user_id) FROM chat_members"
             " WHERE chat_id = (SELECT max(id) FROM chats)), (SELECT max(id) FROM chats),"
             " 'up-2', 'ещё одно')");
    return pg_num(c, "SELECT max(id) FROM chats", NULL);
}

static void test_upgrade_previous_release(void **state)
{
    char ci[1024], fresh[1024], chat[32];
    char *out = malloc(OUT_MAX), *files = previous_files();
    if (!files) {
        free(out);
        fprintf(stderr, "test_migrate_upgrade: no git history of %s in %s/..: skipped\n",
                PREVIOUS_RELEASE, schema_dir);
        skip();
    }
    db_conninfo(db_create("_old"), ci, sizeof(ci));
    PGconn *c = pg_open(ci);
    build_previous(c, files);
    free(files);
    assert_int_equal(ctl_run(ci, "seed-demo", out, OUT_MAX), 0);
    snprintf(chat, sizeof(chat), "chat:%lld", put_chat(c));
    pg_ok(c, "CREATE TEMP TABLE upgrade_tables AS SELECT table_name::text AS t"
             " FROM information_schema.tables WHERE table_schema = 'public'");
    char *counts = pg_text(c, table_counts_sql);

    assert_int_equal(ctl_run(ci, migrate_args(), out, OUT_MAX), 0);
    assert_non_null(strstr(out, "adopted the previous schema layout: "));
    assert_int_equal(count_lines_with(out, "applied functions/"), schema_file_count("functions"));
    /* The migrations after the previous layout's ten kept ones (052_roles …). */
    assert_int_equal(count_lines_with(out, "applied ") -
                         count_lines_with(out, "applied functions/"),
                     schema_file_count("migrations") - 10);

    /* No row lost or added; the ledger is the new one. */
    char *after = pg_text(c, table_counts_sql);
    assert_string_equal(after, counts);
    assert_int_equal(
        pg_num(c, "SELECT count(*) FROM schema_migrations WHERE checksum ~ $1", "^[0-9a-f]{64}$"),
        schema_file_count("migrations"));
    assert_int_equal(pg_num(c, "SELECT count(*) FROM schema_migrations", NULL),
                     schema_file_count("migrations"));
    assert_int_equal(pg_num(c, "SELECT count(*) FROM schema_functions", NULL),
                     schema_file_count("functions"));

    /* The schema is exactly the one a fresh database gets. */
    db_conninfo(db_create("_fresh"), fresh, sizeof(fresh));
    assert_int_equal(ctl_run(fresh, migrate_args(), out, OUT_MAX), 0);
    PGconn *f = pg_open(fresh);
    char *want = pg_text(f, shape_sql), *got = pg_text(c, shape_sql);
    assert_string_equal(got, want);
    PQfinish(f);

    /* The functions work on the old data: the chat's log goes on gap-free. */
    assert_int_equal(pg_num(c, "SELECT max(seq) FROM events WHERE topic = $1", chat), 2);
    pg_ok(c, "SELECT epos_chat_send((SELECT min(user_id) FROM chat_members"
             " WHERE chat_id = (SELECT max(id) FROM chats)), (SELECT max(id) FROM chats),"
             " 'up-3', 'после обновления')");
    assert_int_equal(pg_num(c, "SELECT max(seq) FROM events WHERE topic = $1", chat), 3);
    assert_int_equal(pg_num(c, "SELECT count(*) FROM events WHERE topic = $1", chat), 3);
    assert_int_equal(
        pg_num(c, "SELECT count(*) FROM chat_messages WHERE text = $1", "до обновления"), 1);
    /* A repeated cid of the old release finds its message. */
    assert_int_equal(pg_num(c,
                            "SELECT (epos_chat_send((SELECT min(user_id) FROM chat_members"
                            " WHERE chat_id = (SELECT max(id) FROM chats)),"
                            " (SELECT max(id) FROM chats), $1, 'x')::jsonb ->> 'seq')::int",
                            "up-1"),
                     1);

    /* And again: nothing to do. */
    assert_int_equal(ctl_run(ci, migrate_args(), out, OUT_MAX), 0);
    assert_int_equal(count_lines_with(out, "applied "), 0);
    assert_null(strstr(out, "adopted"));

    free(counts);
    free(after);
    free(want);
    free(got);
    free(out);
    PQfinish(c);
    (void)state;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_upgrade_previous_release),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
