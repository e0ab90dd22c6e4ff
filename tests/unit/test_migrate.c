/* test_migrate.c -- eposctl migrate (migrations, function files) and seed-demo on fresh databases,
 * and the event log functions of schema/. */
#define CTL_TEST_DB "epos_test_migrate"
#include "ctl_harness.h"

/* The main test database, migrated by test_migrate_twice. */
static const char *main_db(void)
{
    static const char *name;
    if (!name)
        name = db_create("");
    return name;
}

static void main_conninfo(char *out, size_t len)
{
    db_conninfo(main_db(), out, len);
}

/* ------------------------------------------------------------ migrate */

static void test_missing_dir(void **state)
{
    char ci[1024], out[4096];
    main_conninfo(ci, sizeof(ci));
    int rc = ctl_run(ci, "migrate --dir /nonexistent/epos-schema", out, sizeof(out));
    assert_int_equal(rc, 1);
    assert_int_equal(count_char(out, '\n'), 1);
    assert_non_null(strstr(out, "/nonexistent/epos-schema"));
    (void)state;
}

static void test_unreachable_database(void **state)
{
    char out[4096];
    int rc = ctl_run("host=127.0.0.1 port=1 user=postgres password=sekrit dbname=nowhere",
                     migrate_args(), out, sizeof(out));
    assert_int_equal(rc, 1);
    assert_int_equal(count_char(out, '\n'), 1);
    assert_true(strncmp(out, "eposctl: cannot connect to PostgreSQL (", 39) == 0);
    assert_non_null(strstr(out, "port=1"));
    assert_null(strstr(out, "sekrit"));
    (void)state;
}

static void test_migrate_twice(void **state)
{
    char ci[1024];
    char *out = malloc(OUT_MAX);
    int migs = schema_file_count("migrations"), funcs = schema_file_count("functions");
    assert_true(migs >= 2 && funcs >= 2);
    main_conninfo(ci, sizeof(ci));

    assert_int_equal(ctl_run(ci, migrate_args(), out, OUT_MAX), 0);
    assert_int_equal(count_lines_with(out, "applied "), migs + funcs);
    assert_int_equal(count_lines_with(out, "applied functions/"), funcs);
    assert_non_null(strstr(out, "applied 001_core.sql\napplied 020_feed.sql\n"));

    assert_int_equal(ctl_run(ci, migrate_args(), out, OUT_MAX), 0);
    assert_int_equal(count_lines_with(out, "applied "), 0);

    PGconn *c = pg_open(ci);
    assert_int_equal(pg_num(c, "SELECT count(*) FROM schema_migrations", NULL), migs);
    assert_int_equal(
        pg_num(c, "SELECT count(*) FROM schema_migrations WHERE version = $1", "020_feed"), 1);
    assert_int_equal(
        pg_num(c, "SELECT count(*) FROM schema_migrations WHERE checksum ~ $1", "^[0-9a-f]{64}$"),
        migs);
    assert_int_equal(pg_num(c, "SELECT count(*) FROM schema_functions", NULL), funcs);
    PQfinish(c);
    free(out);
    (void)state;
}

static void test_recorded_file_missing(void **state)
{
    char ci[1024], out[4096];
    main_conninfo(ci, sizeof(ci));
    assert_int_equal(ctl_run(ci, migrate_args(), out, sizeof(out)), 0);
    PGconn *c = pg_open(ci);
    pg_ok(c, "INSERT INTO schema_migrations (version) VALUES ('099_vanished')");
    assert_int_equal(ctl_run(ci, migrate_args(), out, sizeof(out)), 1);
    assert_int_equal(count_char(out, '\n'), 1);
    assert_non_null(strstr(out, "099_vanished"));
    pg_ok(c, "DELETE FROM schema_migrations WHERE version = '099_vanished'");
    assert_int_equal(ctl_run(ci, migrate_args(), out, sizeof(out)), 0);
    PQfinish(c);
    (void)state;
}

static void test_failed_file_rolls_back(void **state)
{
    char dir[] = "/tmp/epos_test_migrate_XXXXXX", ci[1024], out[4096], args[PATH_MAX + 32];
    scratch_schema(dir);
    write_file(dir, "migrations/001_ok.sql", "CREATE TABLE t_ok (a int);\n");
    write_file(dir, "migrations/002_bad.sql",
               "-- «half» of this file must not stay\nCREATE TABLE t_half (a int);\n\n"
               "INSERT INTO t_nosuch VALUES (1);\n");
    db_conninfo(db_create("_bad"), ci, sizeof(ci));
    snprintf(args, sizeof(args), "migrate --dir '%s'", dir);

    assert_int_equal(ctl_run(ci, args, out, sizeof(out)), 1);
    assert_non_null(strstr(out, "applied 001_ok.sql\n"));
    assert_non_null(
        strstr(out, "002_bad.sql failed at line 4: relation \"t_nosuch\" does not exist"));
    PGconn *c = pg_open(ci);
    assert_int_equal(pg_num(c, "SELECT count(*) FROM schema_migrations", NULL), 1);
    assert_int_equal(pg_num(c, "SELECT count(*) FROM pg_class WHERE relname = $1", "t_ok"), 1);
    assert_int_equal(pg_num(c, "SELECT count(*) FROM pg_class WHERE relname = $1", "t_half"), 0);
    PQfinish(c);
    scratch_remove(dir);
    (void)state;
}

/* An applied migration edited afterwards stops migrate with one line naming
 * it, before anything else is applied. */
static void test_edited_migration_refused(void **state)
{
    char dir[] = "/tmp/epos_test_migrate_XXXXXX", ci[1024], out[4096], args[PATH_MAX + 32];
    scratch_schema(dir);
    write_file(dir, "migrations/001_t.sql", "CREATE TABLE t_one (a int);\n");
    db_conninfo(db_create("_edit"), ci, sizeof(ci));
    snprintf(args, sizeof(args), "migrate --dir '%s'", dir);
    assert_int_equal(ctl_run(ci, args, out, sizeof(out)), 0);

    write_file(dir, "migrations/001_t.sql", "CREATE TABLE t_one (a int, b int);\n");
    write_file(dir, "migrations/002_t.sql", "CREATE TABLE t_two (a int);\n");
    assert_int_equal(ctl_run(ci, args, out, sizeof(out)), 1);
    assert_int_equal(count_char(out, '\n'), 1);
    assert_non_null(strstr(out, "migration 001_t.sql was edited after it was applied"));
    PGconn *c = pg_open(ci);
    assert_int_equal(pg_num(c, "SELECT count(*) FROM pg_class WHERE relname = $1", "t_two"), 0);

    write_file(dir, "migrations/001_t.sql", "CREATE TABLE t_one (a int);\n");
    assert_int_equal(ctl_run(ci, args, out, sizeof(out)), 0);
    assert_non_null(strstr(out, "applied 002_t.sql\n"));
    assert_int_equal(pg_num(c, "SELECT count(*) FROM pg_class WHERE relname = $1", "t_two"), 1);
    PQfinish(c);
    scratch_remove(dir);
    (void)state;
}

#define FN_A1                                                                                      \
    "CREATE OR REPLACE FUNCTION epos_t_a() RETURNS int LANGUAGE sql AS $$ SELECT epos_t_z() $$;\n"
#define FN_A2                                                                                      \
    "CREATE OR REPLACE FUNCTION epos_t_a() RETURNS int LANGUAGE sql AS $$ SELECT epos_t_z() + 1 "  \
    "$$;\n"
#define FN_Z                                                                                       \
    "CREATE OR REPLACE FUNCTION epos_t_z() RETURNS int LANGUAGE sql AS $$ SELECT count(*)::int "   \
    "FROM t_f $$;\n"

/* Function files: applied after the migrations in any order (a.sql calls a
 * function of z.sql), again only when their text changed, and not at all
 * when a function in them does not compile. */
static void test_function_files(void **state)
{
    char dir[] = "/tmp/epos_test_migrate_XXXXXX", ci[1024], out[4096], args[PATH_MAX + 32];
    scratch_schema(dir);
    write_file(dir, "migrations/001_t.sql",
               "CREATE TABLE t_f (a int); INSERT INTO t_f VALUES (1);\n");
    write_file(dir, "functions/a.sql", FN_A1);
    write_file(dir, "functions/z.sql", FN_Z);
    db_conninfo(db_create("_fn"), ci, sizeof(ci));
    snprintf(args, sizeof(args), "migrate --dir '%s'", dir);
    assert_int_equal(ctl_run(ci, args, out, sizeof(out)), 0);
    assert_non_null(
        strstr(out, "applied 001_t.sql\napplied functions/a.sql\napplied functions/z.sql\n"));
    PGconn *c = pg_open(ci);
    assert_int_equal(pg_num(c, "SELECT epos_t_a()", NULL), 1);

    /* Unchanged: nothing applied. Changed: only that file. */
    assert_int_equal(ctl_run(ci, args, out, sizeof(out)), 0);
    assert_int_equal(count_lines_with(out, "applied "), 0);
    write_file(dir, "functions/a.sql", FN_A2);
    assert_int_equal(ctl_run(ci, args, out, sizeof(out)), 0);
    assert_int_equal(count_lines_with(out, "applied "), 1);
    assert_non_null(strstr(out, "applied functions/a.sql\n"));
    assert_int_equal(pg_num(c, "SELECT epos_t_a()", NULL), 2);

    /* A body that does not compile: one line naming file and function, and
     * nothing of this run stays (a.sql changed in the same run). */
    write_file(dir, "functions/a.sql", FN_A1);
    write_file(dir, "functions/b.sql",
               "CREATE OR REPLACE FUNCTION epos_t_b() RETURNS int LANGUAGE sql AS $$\n"
               "    SELECT a FROM t_nosuch $$;\n");
    assert_int_equal(ctl_run(ci, args, out, sizeof(out)), 1);
    assert_int_equal(count_char(out, '\n'), 1);
    assert_non_null(
        strstr(out, "functions/b.sql: epos_t_b() does not compile: relation \"t_nosuch\""));
    assert_int_equal(pg_num(c, "SELECT epos_t_a()", NULL), 2);
    assert_int_equal(pg_num(c, "SELECT count(*) FROM pg_proc WHERE proname = $1", "epos_t_b"), 0);
    assert_int_equal(pg_num(c, "SELECT count(*) FROM schema_functions", NULL), 2);
    PQfinish(c);
    scratch_remove(dir);
    (void)state;
}

static void test_concurrent_migrates(void **state)
{
    char ci[1024], out1[8192], out2[8192];
    int migs = schema_file_count("migrations");
    int files = migs + schema_file_count("functions");
    db_conninfo(db_create("_conc"), ci, sizeof(ci));
    /* Both start before either reads the result; the advisory lock decides. */
    FILE *a = ctl_start(ci, migrate_args());
    FILE *b = ctl_start(ci, migrate_args());
    assert_int_equal(ctl_finish(a, out1, sizeof(out1)), 0);
    assert_int_equal(ctl_finish(b, out2, sizeof(out2)), 0);
    assert_int_equal(count_lines_with(out1, "applied ") + count_lines_with(out2, "applied "),
                     files);
    PGconn *c = pg_open(ci);
    assert_int_equal(pg_num(c, "SELECT count(*) FROM schema_migrations", NULL), migs);
    PQfinish(c);
    (void)state;
}

/* ------------------------------------------------------------ event log */

/* Append one event; returns its seq and (when frame) a copy of its frame. */
static long long append(PGconn *c, const char *topic, char **frame)
{
    const char *p[1] = {topic};
    PGresult *r = PQexecParams(c,
                               "SELECT seq, frame FROM epos_event_append($1, 'test.ping',"
                               " '{\"n\": 1, \"text\": \"a\\nb\"}')",
                               1, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
        fail_msg("epos_event_append: %s", PQerrorMessage(c));
    long long seq = atoll(PQgetvalue(r, 0, 0));
    if (frame)
        *frame = strdup(PQgetvalue(r, 0, 1));
    PQclear(r);
    return seq;
}

static void check_frame(const char *frame, const char *topic, long long seq)
{
    json_error_t jerr;
    assert_null(strchr(frame, '\n'));
    json_t *f = json_loads(frame, 0, &jerr);
    assert_non_null(f);
    assert_string_equal(json_string_value(json_object_get(f, "op")), "event");
    assert_string_equal(json_string_value(json_object_get(f, "topic")), topic);
    assert_int_equal(json_integer_value(json_object_get(f, "seq")), seq);
    assert_string_equal(json_string_value(json_object_get(f, "type")), "test.ping");
    json_t *data = json_object_get(f, "data");
    assert_string_equal(json_string_value(json_object_get(data, "text")), "a\nb");
    regex_t re;
    assert_int_equal(regcomp(&re,
                             "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z$",
                             REG_EXTENDED | REG_NOSUB),
                     0);
    assert_int_equal(regexec(&re, json_string_value(json_object_get(f, "ts")), 0, NULL, 0), 0);
    regfree(&re);
    json_decref(f);
}

static void test_event_append_gap_free(void **state)
{
    char ci[1024], out[4096], *frame = NULL;
    main_conninfo(ci, sizeof(ci));
    assert_int_equal(ctl_run(ci, migrate_args(), out, sizeof(out)), 0);
    PGconn *a = pg_open(ci), *b = pg_open(ci);

    assert_int_equal(append(a, "chat:900001", &frame), 1);
    check_frame(frame, "chat:900001", 1);
    free(frame);
    assert_int_equal(append(a, "chat:900001", NULL), 2);
    assert_int_equal(append(a, "chat:900002", NULL), 1); /* topics are independent */

    /* A rolled-back append gives its number back. */
    pg_ok(a, "BEGIN");
    assert_int_equal(append(a, "chat:900001", NULL), 3);
    pg_ok(a, "ROLLBACK");
    assert_int_equal(append(a, "chat:900001", NULL), 3);

    /* A writer waiting on the topic gets the number the rolled-back one had. */
    pg_ok(a, "BEGIN");
    assert_int_equal(append(a, "chat:900001", NULL), 4);
    const char *p[1] = {"chat:900001"};
    assert_int_equal(PQsendQueryParams(b,
                                       "SELECT seq FROM epos_event_append($1, 'test.ping', NULL)",
                                       1, NULL, p, NULL, NULL, 0),
                     1);
    pg_ok(a, "ROLLBACK");
    PGresult *r = PQgetResult(b);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    assert_string_equal(PQgetvalue(r, 0, 0), "4");
    PQclear(r);
    while ((r = PQgetResult(b)) != NULL)
        PQclear(r);

    assert_int_equal(pg_num(a, "SELECT count(*) FROM events WHERE topic = $1", "chat:900001"), 4);
    assert_int_equal(pg_num(a, "SELECT max(seq) FROM events WHERE topic = $1", "chat:900001"), 4);
    /* The stored ts is the one in the frame (milliseconds). */
    assert_int_equal(pg_num(a,
                            "SELECT count(*) FROM events WHERE topic = $1"
                            " AND ts <> date_trunc('milliseconds', ts)",
                            "chat:900001"),
                     0);
    PQfinish(a);
    PQfinish(b);
    (void)state;
}

/* ------------------------------------------------------------ seed and topics */

static json_t *find_user(json_t *doc, const char *login, const char *role)
{
    size_t i;
    json_t *u;
    json_array_foreach(json_object_get(doc, "users"), i, u)
    {
        if (strcmp(json_string_value(json_object_get(u, "login")), login) == 0 &&
            strcmp(json_string_value(json_object_get(u, "role")), role) == 0)
            return u;
    }
    fail_msg("no user %s with role %s in the seed JSON", login, role);
    return NULL;
}

/* The user's topics, "\n"-separated with a leading and trailing "\n". */
static char *user_topics(PGconn *c, json_int_t uid)
{
    char id[32];
    snprintf(id, sizeof(id), "%lld", (long long)uid);
    const char *p[1] = {id};
    PGresult *r =
        PQexecParams(c, "SELECT t FROM epos_user_topics($1) t", 1, NULL, p, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    char *out = calloc(1, 65536);
    strcat(out, "\n");
    for (int i = 0; i < PQntuples(r); i++) {
        strncat(out, PQgetvalue(r, i, 0), 65536 - strlen(out) - 3);
        strcat(out, "\n");
    }
    PQclear(r);
    return out;
}

static int has_topic(const char *topics, const char *kind, json_int_t id)
{
    char needle[64];
    snprintf(needle, sizeof(needle), "\n%s:%lld\n", kind, (long long)id);
    return strstr(topics, needle) != NULL;
}

static int in_array(json_t *arr, json_int_t v)
{
    size_t i;
    json_t *x;
    json_array_foreach(arr, i, x) if (json_integer_value(x) == v) return 1;
    return 0;
}

static json_int_t group_org(json_t *doc, json_int_t gid)
{
    size_t i;
    json_t *g;
    json_array_foreach(json_object_get(doc, "groups"), i, g)
    {
        if (json_integer_value(json_object_get(g, "id")) == gid)
            return json_integer_value(json_object_get(g, "org_id"));
    }
    fail_msg("no group %lld", (long long)gid);
    return 0;
}

static void check_parent_topics(PGconn *c, json_t *doc, json_t *parent)
{
    json_int_t uid = json_integer_value(json_object_get(parent, "id"));
    json_t *gids = json_object_get(parent, "group_ids");
    char *t = user_topics(c, uid);
    assert_true(has_topic(t, "user", uid));
    size_t i;
    json_t *g;
    json_array_foreach(json_object_get(doc, "groups"), i, g)
    {
        json_int_t gid = json_integer_value(json_object_get(g, "id"));
        /* Their children's groups (and orgs), never another group's. */
        assert_int_equal(has_topic(t, "group", gid), in_array(gids, gid));
        if (in_array(gids, gid))
            assert_true(has_topic(t, "org", group_org(doc, gid)));
    }
    free(t);
}

static void check_staff_topics(PGconn *c, json_t *doc, json_t *staff, int admin)
{
    json_int_t uid = json_integer_value(json_object_get(staff, "id"));
    json_int_t org = json_integer_value(json_object_get(staff, "org_id"));
    json_t *gids = json_object_get(staff, "group_ids");
    char *t = user_topics(c, uid);
    assert_true(has_topic(t, "org", org));
    assert_int_equal(has_topic(t, "orgstaff", org), admin);
    size_t i;
    json_t *g;
    json_array_foreach(json_object_get(doc, "groups"), i, g)
    {
        json_int_t gid = json_integer_value(json_object_get(g, "id"));
        int mine = admin ? group_org(doc, gid) == org : in_array(gids, gid);
        assert_int_equal(has_topic(t, "timesheet", gid), mine);
    }
    free(t);
}

static long long seeded_rows(PGconn *c)
{
    return pg_num(c,
                  "SELECT (SELECT count(*) FROM users) + (SELECT count(*) FROM children)"
                  " + (SELECT count(*) FROM guardians) + (SELECT count(*) FROM teacher_groups)"
                  " + (SELECT count(*) FROM staff_roles) + (SELECT count(*) FROM enrolments)",
                  NULL);
}

static void test_seed_demo_and_topics(void **state)
{
    char ci[1024];
    char *out1 = malloc(OUT_MAX), *out2 = malloc(OUT_MAX);
    main_conninfo(ci, sizeof(ci));
    assert_int_equal(ctl_run(ci, migrate_args(), out1, OUT_MAX), 0);
    assert_int_equal(ctl_run(ci, "seed-demo --json", out1, OUT_MAX), 0);
    PGconn *c = pg_open(ci);
    long long rows = seeded_rows(c);
    assert_int_equal(ctl_run(ci, "seed-demo --json", out2, OUT_MAX), 0);
    assert_string_equal(out1, out2);
    assert_int_equal(seeded_rows(c), rows);

    json_error_t jerr;
    json_t *doc = json_loads(out1, 0, &jerr);
    if (!doc)
        fail_msg("seed-demo --json: %s at line %d", jerr.text, jerr.line);
    assert_int_equal(json_array_size(json_object_get(doc, "orgs")), 2);
    assert_int_equal(json_array_size(json_object_get(doc, "groups")), 7);
    assert_true(json_array_size(json_object_get(doc, "children")) >= 150);

    json_t *p1 = find_user(doc, "parent1", "parent");
    assert_int_equal(json_array_size(json_object_get(p1, "child_ids")), 2);
    check_parent_topics(c, doc, p1);
    check_parent_topics(c, doc, find_user(doc, "parent7", "parent"));
    check_staff_topics(c, doc, find_user(doc, "teacher1", "teacher"), 0);
    check_staff_topics(c, doc, find_user(doc, "teacher10", "class_teacher"), 0);
    check_staff_topics(c, doc, find_user(doc, "admin1", "admin"), 1);
    check_staff_topics(c, doc, find_user(doc, "admin2", "admin"), 1);

    /* One person, two roles: a kindergarten teacher whose child is at school. */
    json_t *tp = find_user(doc, "teacher3", "parent"), *tt = find_user(doc, "teacher3", "teacher");
    assert_int_equal(json_integer_value(json_object_get(tp, "id")),
                     json_integer_value(json_object_get(tt, "id")));
    char *t = user_topics(c, json_integer_value(json_object_get(tt, "id")));
    json_int_t child_group =
        json_integer_value(json_array_get(json_object_get(tp, "group_ids"), 0));
    json_int_t bound = json_integer_value(json_array_get(json_object_get(tt, "group_ids"), 0));
    assert_true(has_topic(t, "group", child_group));
    assert_false(has_topic(t, "timesheet", child_group));
    assert_true(has_topic(t, "timesheet", bound));
    free(t);

    json_decref(doc);
    PQfinish(c);
    free(out1);
    free(out2);
    (void)state;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_missing_dir),
        cmocka_unit_test(test_unreachable_database),
        cmocka_unit_test(test_migrate_twice),
        cmocka_unit_test(test_recorded_file_missing),
        cmocka_unit_test(test_failed_file_rolls_back),
        cmocka_unit_test(test_edited_migration_refused),
        cmocka_unit_test(test_function_files),
        cmocka_unit_test(test_concurrent_migrates),
        cmocka_unit_test(test_event_append_gap_free),
        cmocka_unit_test(test_seed_demo_and_topics),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
