/* db.c -- eposctl's blocking libpq helpers: connect with a clear error, run statements. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "ctl.h"

/* First line of a libpq message, without "ERROR:  " or the trailing newline. */
static void ctl_first_line(const char *msg, char *buf, size_t len)
{
    if (!msg)
        msg = "";
    if (strncmp(msg, "ERROR:  ", 8) == 0)
        msg += 8;
    size_t n = strcspn(msg, "\n");
    if (n >= len)
        n = len - 1;
    memcpy(buf, msg, n);
    buf[n] = '\0';
}

PGconn *ctl_db_connect(const ctl_ctx *ctx)
{
    const char *conninfo = ctx->cfg.pg_conninfo ? ctx->cfg.pg_conninfo : "";
    /* Later entries win, so the conninfo (expanded from "dbname") may
     * override our connect_timeout and client_encoding. */
    const char *keys[] = {"connect_timeout", "client_encoding", "application_name", "dbname", NULL};
    const char *vals[] = {"10", "UTF8", "eposctl", conninfo, NULL};
    PGconn *conn = PQconnectdbParams(keys, vals, 1);
    if (conn && PQstatus(conn) == CONNECTION_OK) {
        /* NOTICEs ("… already exists, skipping") are noise on a terminal. */
        PQclear(PQexec(conn, "SET client_min_messages = warning"));
        return conn;
    }
    char pub[1024], reason[512];
    config_redact_conninfo(conninfo, pub, sizeof(pub));
    ctl_first_line(conn ? PQerrorMessage(conn) : "out of memory", reason, sizeof(reason));
    fprintf(stderr, "eposctl: cannot connect to PostgreSQL (%s): %s\n", pub, reason);
    PQfinish(conn);
    return NULL;
}

const char *ctl_db_error(PGconn *conn, const PGresult *res, char *buf, size_t len)
{
    const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    if (primary) {
        const char *detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
        char line[512];
        ctl_first_line(primary, line, sizeof(line));
        if (detail) {
            char d[512];
            ctl_first_line(detail, d, sizeof(d));
            snprintf(buf, len, "%s (%s)", line, d);
        } else {
            snprintf(buf, len, "%s", line);
        }
        return buf;
    }
    ctl_first_line(conn ? PQerrorMessage(conn) : "no connection", buf, len);
    if (!buf[0])
        snprintf(buf, len, "unknown error");
    return buf;
}

int ctl_db_exec(PGconn *conn, const char *sql, const char *what)
{
    PGresult *res = PQexec(conn, sql);
    int ok = PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK;
    if (!ok) {
        char msg[1024];
        fprintf(stderr, "eposctl: %s: %s\n", what, ctl_db_error(conn, res, msg, sizeof(msg)));
    }
    PQclear(res);
    return ok ? 0 : -1;
}

PGresult *ctl_db_query(PGconn *conn, const char *what, const char *sql, int nparams,
                       const char *const *params)
{
    PGresult *res = PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK)
        return res;
    char msg[1024];
    fprintf(stderr, "eposctl: %s: %s\n", what, ctl_db_error(conn, res, msg, sizeof(msg)));
    PQclear(res);
    return NULL;
}

int ctl_db_query_id(PGconn *conn, const char *what, const char *sql, int nparams,
                    const char *const *params, long long *id)
{
    PGresult *res = ctl_db_query(conn, what, sql, nparams, params);
    if (!res)
        return -1;
    int found = PQntuples(res) > 0 && !PQgetisnull(res, 0, 0);
    if (found)
        *id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return found;
}

/* Ask the sentinels of redis_sentinels in turn where the master is: host
 * (of len) and *port. Returns 0, or -1 when none answers. */
static int ctl_redis_master(const ctl_ctx *ctx, char *host, size_t len, int *port)
{
    struct timeval tv = {2, 0};
    char *list = strdup(ctx->cfg.redis_sentinels), *save = NULL;
    int rc = -1;
    for (char *item = list ? strtok_r(list, ",", &save) : NULL; item && rc != 0;
         item = strtok_r(NULL, ",", &save)) {
        char *colon = strrchr(item, ':');
        if (!colon)
            continue;
        *colon = '\0';
        while (*item == ' ')
            item++;
        redisContext *s = redisConnectWithTimeout(item, atoi(colon + 1), tv);
        redisReply *r = s && !s->err ? redisCommand(s, "SENTINEL get-master-addr-by-name %s",
                                                    ctx->cfg.redis_master_name)
                                     : NULL;
        if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
            r->element[0]->type == REDIS_REPLY_STRING &&
            r->element[1]->type == REDIS_REPLY_STRING) {
            snprintf(host, len, "%s", r->element[0]->str);
            *port = atoi(r->element[1]->str);
            rc = 0;
        }
        if (r)
            freeReplyObject(r);
        redisFree(s);
    }
    free(list);
    return rc;
}

redisContext *ctl_redis(const ctl_ctx *ctx)
{
    struct timeval tv = {5, 0};
    char host[256];
    int port = ctx->cfg.redis_port;
    snprintf(host, sizeof(host), "%s", ctx->cfg.redis_host);
    if (ctx->cfg.redis_sentinels[0] && ctl_redis_master(ctx, host, sizeof(host), &port) != 0) {
        fprintf(stderr, "eposctl: no sentinel of redis_sentinels (%s) knows the master %s\n",
                ctx->cfg.redis_sentinels, ctx->cfg.redis_master_name);
        return NULL;
    }
    redisContext *c = redisConnectWithTimeout(host, port, tv);
    if (!c || c->err) {
        fprintf(stderr, "eposctl: cannot connect to Redis at %s:%d: %s\n", host, port,
                c ? c->errstr : "out of memory");
        redisFree(c);
        return NULL;
    }
    redisSetTimeout(c, tv);
    return c;
}
