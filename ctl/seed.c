/* seed.c -- eposctl seed-demo: store the demo region idempotently and print it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "epos/auth.h"
#include "seed.h"

/* pg_advisory_xact_lock key of seed-demo ("eposeed"): concurrent seeds queue. */
#define SEED_LOCK_KEY "28548172253013348"

static const char *seed_id_text(char *buf, size_t len, long long id)
{
    snprintf(buf, len, "%lld", id);
    return buf;
}

/* Run a statement that returns no rows we need. 0 or -1 (printed). */
static int seed_exec(PGconn *conn, const char *what, const char *sql, int n, const char *const *p)
{
    PGresult *res = ctl_db_query(conn, what, sql, n, p);
    int rc = res ? 0 : -1;
    PQclear(res);
    return rc;
}

/* Give a demo row its registry id unless it has one, so the demo region
 * can be synced and exported (eposctl roster). table is a constant. A
 * schema from before the roster (no ext_id column: a database about to be
 * upgraded) is seeded without them. */
static int seed_ext_id(PGconn *conn, const char *table, long long id, const char *ext)
{
    char sql[128], idt[24];
    const char *tp[1] = {table};
    PGresult *has = ctl_db_query(conn, "seed-demo: ext_id column",
                                 "SELECT 1 FROM information_schema.columns WHERE table_schema = "
                                 "current_schema() AND table_name = $1 AND column_name = 'ext_id'",
                                 1, tp);
    if (!has)
        return -1;
    int present = PQntuples(has) == 1;
    PQclear(has);
    if (!present)
        return 0;
    snprintf(sql, sizeof(sql), "UPDATE %s SET ext_id = $2 WHERE id = $1 AND ext_id IS NULL", table);
    const char *p[2] = {seed_id_text(idt, sizeof(idt), id), ext};
    return seed_exec(conn, "seed-demo: ext_id", sql, 2, p);
}

static int seed_store_orgs(PGconn *conn, seed_model *m)
{
    char ext[48];
    for (int i = 0; i < m->norgs; i++) {
        const char *p[2] = {m->orgs[i].name, m->orgs[i].kind};
        if (ctl_db_query_id(conn, "seed-demo: orgs",
                            "WITH ins AS (INSERT INTO orgs (name, kind) VALUES ($1, $2)"
                            " ON CONFLICT (name) DO NOTHING RETURNING id)"
                            " SELECT id FROM ins UNION ALL SELECT id FROM orgs WHERE name = $1",
                            2, p, &m->orgs[i].id) != 1)
            return -1;
        snprintf(ext, sizeof(ext), "demo-org-%d", i + 1);
        if (seed_ext_id(conn, "orgs", m->orgs[i].id, ext) != 0)
            return -1;
    }
    for (int i = 0; i < m->ngroups; i++) {
        seed_group *g = &m->groups[i];
        char org[24], lessons[16];
        snprintf(lessons, sizeof(lessons), "%d", g->lessons_per_day);
        const char *p[4] = {seed_id_text(org, sizeof(org), m->orgs[g->org].id), g->name, g->kind,
                            lessons};
        if (ctl_db_query_id(conn, "seed-demo: groups",
                            "WITH ins AS (INSERT INTO groups (org_id, name, kind, lessons_per_day)"
                            " VALUES ($1, $2, $3, $4) ON CONFLICT (org_id, name) DO NOTHING"
                            " RETURNING id) SELECT id FROM ins UNION ALL"
                            " SELECT id FROM groups WHERE org_id = $1 AND name = $2",
                            4, p, &g->id) != 1)
            return -1;
        snprintf(ext, sizeof(ext), "demo-group-%d", i + 1);
        if (seed_ext_id(conn, "groups", g->id, ext) != 0)
            return -1;
    }
    return 0;
}

/* Find the user by login or create them with the demo password; hashing only
 * for new users keeps a second run fast and leaves existing rows untouched. */
static int seed_store_user(PGconn *conn, seed_user *u)
{
    const char *p1[1] = {u->login};
    char ext[96];
    snprintf(ext, sizeof(ext), "demo-%s", u->login);
    int found = ctl_db_query_id(conn, "seed-demo: users", "SELECT id FROM users WHERE login = $1",
                                1, p1, &u->id);
    if (found != 0)
        return found == 1 ? seed_ext_id(conn, "users", u->id, ext) : -1;
    char password[64], hash[256], email[96];
    seed_password(u->login, password, sizeof(password));
    if (auth_hash_password(password, hash, sizeof(hash)) != 0) {
        fprintf(stderr, "eposctl: seed-demo: password hashing failed for %s\n", u->login);
        return -1;
    }
    snprintf(email, sizeof(email), "%s@demo.epos.local", u->login);
    const char *p[5] = {u->login, u->name, email, u->phone, hash};
    return ctl_db_query_id(conn, "seed-demo: users",
                           "INSERT INTO users (login, full_name, email, phone, password_hash)"
                           " VALUES ($1, $2, $3, $4, $5) RETURNING id",
                           5, p, &u->id) == 1
               ? seed_ext_id(conn, "users", u->id, ext)
               : -1;
}

static int seed_store_role(PGconn *conn, const seed_model *m, const seed_role *r)
{
    char uid[24], org[24], gid[24];
    const char *p[3] = {seed_id_text(uid, sizeof(uid), m->users[r->user].id),
                        seed_id_text(org, sizeof(org), m->orgs[r->org].id), r->role};
    if (seed_exec(conn, "seed-demo: staff_roles",
                  "INSERT INTO staff_roles (user_id, org_id, role) VALUES ($1, $2, $3)"
                  " ON CONFLICT DO NOTHING",
                  3, p) != 0)
        return -1;
    for (int i = 0; i < r->ngroups; i++) {
        const char *pg[2] = {uid, seed_id_text(gid, sizeof(gid), m->groups[r->groups[i]].id)};
        if (seed_exec(conn, "seed-demo: teacher_groups",
                      "INSERT INTO teacher_groups (user_id, group_id) VALUES ($1, $2)"
                      " ON CONFLICT DO NOTHING",
                      2, pg) != 0)
            return -1;
    }
    if (r->class_of < 0)
        return 0;
    /* An administrator may have appointed someone else since: keep theirs. */
    const char *pc[2] = {seed_id_text(gid, sizeof(gid), m->groups[r->class_of].id), uid};
    return seed_exec(conn, "seed-demo: class_teachers",
                     "INSERT INTO class_teachers (group_id, user_id) VALUES ($1, $2)"
                     " ON CONFLICT (group_id) DO NOTHING",
                     2, pc);
}

static int seed_store_child(PGconn *conn, const seed_model *m, seed_child *c, int index)
{
    char org[24], cid[24], gid[24], uid[24], ext[48];
    const seed_group *g = &m->groups[c->group];
    const char *p[3] = {seed_id_text(org, sizeof(org), m->orgs[g->org].id), c->name, c->birth_date};
    /* Children have no natural key; the demo's names are unique per org. */
    if (ctl_db_query_id(conn, "seed-demo: children",
                        "WITH old AS (SELECT min(id) AS id FROM children"
                        "             WHERE org_id = $1 AND full_name = $2),"
                        " ins AS (INSERT INTO children (org_id, full_name, birth_date)"
                        "         SELECT $1, $2, $3 FROM old WHERE old.id IS NULL RETURNING id)"
                        " SELECT id FROM ins UNION ALL SELECT id FROM old WHERE id IS NOT NULL",
                        3, p, &c->id) != 1)
        return -1;
    snprintf(ext, sizeof(ext), "demo-child-%d", index + 1);
    if (seed_ext_id(conn, "children", c->id, ext) != 0)
        return -1;
    const char *pe[2] = {seed_id_text(cid, sizeof(cid), c->id),
                         seed_id_text(gid, sizeof(gid), g->id)};
    if (seed_exec(conn, "seed-demo: enrolments",
                  "INSERT INTO enrolments (child_id, group_id) VALUES ($1, $2)"
                  " ON CONFLICT (child_id) DO NOTHING",
                  2, pe) != 0)
        return -1;
    for (int i = 0; i < c->nguardians; i++) {
        const char *pg[2] = {seed_id_text(uid, sizeof(uid), m->users[c->guardians[i]].id), cid};
        if (seed_exec(conn, "seed-demo: guardians",
                      "INSERT INTO guardians (user_id, child_id) VALUES ($1, $2)"
                      " ON CONFLICT DO NOTHING",
                      2, pg) != 0)
            return -1;
    }
    return 0;
}

int seed_store(PGconn *conn, seed_model *m)
{
    if (ctl_db_exec(conn, "BEGIN", "seed-demo") != 0)
        return -1;
    if (ctl_db_exec(conn, "SELECT pg_advisory_xact_lock(" SEED_LOCK_KEY ")", "seed-demo: lock") ||
        seed_store_orgs(conn, m) != 0)
        goto fail;
    for (int i = 0; i < m->nusers; i++)
        if (seed_store_user(conn, &m->users[i]) != 0)
            goto fail;
    for (int i = 0; i < m->nroles; i++)
        if (seed_store_role(conn, m, &m->roles[i]) != 0)
            goto fail;
    for (int i = 0; i < m->nchildren; i++)
        if (seed_store_child(conn, m, &m->children[i], i) != 0)
            goto fail;
    if (ctl_db_exec(conn, "COMMIT", "seed-demo") != 0)
        return -1;
    return 0;
fail:
    PQclear(PQexec(conn, "ROLLBACK"));
    return -1;
}

int ctl_cmd_seed_demo(ctl_ctx *ctx, int argc, char **argv)
{
    int json = 0, rc = CTL_FAIL;
    const ctl_opt opts[] = {{"json", NULL, &json}};
    if (ctl_opts_parse("seed-demo", argc, argv, 1, opts, 1) != 0)
        return CTL_USAGE;
    seed_model *m = malloc(sizeof(*m));
    if (!m) {
        fprintf(stderr, "eposctl: seed-demo: out of memory\n");
        return CTL_FAIL;
    }
    seed_model_build(m);
    PGconn *conn = ctl_db_connect(ctx);
    if (!conn)
        goto out;
    if (seed_store(conn, m) != 0)
        goto out;
    if (json ? seed_print_json(m, stdout) : (seed_print_summary(m, stdout), 0))
        goto out;
    rc = CTL_OK;
out:
    PQfinish(conn);
    free(m);
    return rc;
}
