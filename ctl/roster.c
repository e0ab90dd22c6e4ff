/* roster.c -- eposctl roster import DIR | export DIR: OneRoster 1.2 CSV through the sync of POST
 * /api/roster.
 *
 * import builds the roster document from the CSV files (roster_csv_read.c)
 * and calls the same SQL function as the route, epos_api_roster, then tells
 * the hubs whose topics changed ("refresh:<uid>" on Redis channel ctl), as
 * the hub does after the route. export writes what epos_roster_export
 * returns (roster_csv.c). */
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ctl.h"
#include "roster_csv.h"

static const char *const roster_kinds[] = {"orgs",     "groups",   "people",   "staff",
                                           "bindings", "children", "guardians"};

static int roster_usage(void)
{
    fprintf(stderr,
            "usage: eposctl roster import DIR   (OneRoster 1.2 CSV: orgs.csv, classes.csv,\n"
            "                                    users.csv, enrollments.csv, roles.csv)\n"
            "       eposctl roster export DIR\n");
    return CTL_USAGE;
}

static void roster_print(const json_t *body)
{
    size_t i;
    json_t *r;
    for (size_t k = 0; k < sizeof(roster_kinds) / sizeof(roster_kinds[0]); k++) {
        json_t *c = json_object_get(json_object_get(body, "counts"), roster_kinds[k]);
        printf("%-10s created %lld, updated %lld, unchanged %lld, ended %lld, rejected %lld\n",
               roster_kinds[k], (long long)json_integer_value(json_object_get(c, "created")),
               (long long)json_integer_value(json_object_get(c, "updated")),
               (long long)json_integer_value(json_object_get(c, "unchanged")),
               (long long)json_integer_value(json_object_get(c, "ended")),
               (long long)json_integer_value(json_object_get(c, "rejected")));
    }
    json_array_foreach(json_object_get(body, "rejected"), i, r)
    {
        fprintf(stderr, "rejected %s[%lld] %s: %s (%s)\n",
                json_string_value(json_object_get(r, "kind")),
                (long long)json_integer_value(json_object_get(r, "index")),
                json_string_value(json_object_get(r, "key"))
                    ? json_string_value(json_object_get(r, "key"))
                    : "-",
                json_string_value(json_object_get(r, "message")),
                json_string_value(json_object_get(r, "code")));
    }
}

/* Tell every hub to recompute the topics of these users. Returns how many could not be told. */
static size_t roster_refresh(const ctl_ctx *ctx, const json_t *uids)
{
    size_t n = json_array_size(uids), lost = 0, i;
    json_t *u;
    if (!n)
        return 0;
    redisContext *c = ctl_redis(ctx);
    if (!c)
        return n;
    json_array_foreach(uids, i, u)
    {
        redisReply *r =
            redisCommand(c, "PUBLISH ctl refresh:%lld", (long long)json_integer_value(u));
        lost += !(r && r->type == REDIS_REPLY_INTEGER);
        freeReplyObject(r);
    }
    redisFree(c);
    return lost;
}

static int roster_import(const ctl_ctx *ctx, PGconn *conn, const char *dir)
{
    int rc = CTL_FAIL;
    json_t *doc = roster_csv_read(dir), *out = NULL;
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    PGresult *res = NULL;
    if (!text)
        goto out;
    const char *params[1] = {text};
    res = ctl_db_query(conn, "roster import",
                       "SELECT epos_api_roster(NULL, NULL, NULL, '{}'::jsonb, $1::jsonb)::text", 1,
                       params);
    out = res && PQntuples(res) == 1 ? json_loads(PQgetvalue(res, 0, 0), 0, NULL) : NULL;
    if (!out)
        goto out;
    json_t *body = json_object_get(out, "body");
    roster_print(body);
    size_t lost = roster_refresh(ctx, json_object_get(out, "refresh"));
    if (lost)
        fprintf(stderr,
                "eposctl: the sync is committed, but %zu users' open screens were not told "
                "(they follow on their next connection)\n",
                lost);
    rc = json_array_size(json_object_get(body, "rejected")) || lost ? CTL_FAIL : CTL_OK;
out:
    json_decref(out);
    PQclear(res);
    free(text);
    json_decref(doc);
    return rc;
}

static int roster_export(PGconn *conn, const char *dir)
{
    PGresult *res =
        ctl_db_query(conn, "roster export", "SELECT epos_roster_export()::text", 0, NULL);
    json_t *doc = res && PQntuples(res) == 1 ? json_loads(PQgetvalue(res, 0, 0), 0, NULL) : NULL;
    int rc = doc && roster_csv_write(doc, dir) == 0 ? CTL_OK : CTL_FAIL;
    json_decref(doc);
    PQclear(res);
    return rc;
}

int ctl_cmd_roster(ctl_ctx *ctx, int argc, char **argv)
{
    if (argc != 3 || (strcmp(argv[1], "import") != 0 && strcmp(argv[1], "export") != 0))
        return roster_usage();
    PGconn *conn = ctl_db_connect(ctx);
    if (!conn)
        return CTL_FAIL;
    int rc = strcmp(argv[1], "import") == 0 ? roster_import(ctx, conn, argv[2])
                                            : roster_export(conn, argv[2]);
    PQfinish(conn);
    return rc;
}
