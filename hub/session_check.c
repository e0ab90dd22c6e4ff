/* session_check.c -- the periodic check of the sessions behind this hub's
 * live sockets: expired tokens close here, revoked sessions after one query. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "epos/dict.h"
#include "epos/log.h"
#include "fanout.h"
#include "hub.h"

/* The ids of the sessions to ask about, as a PostgreSQL array literal. */
typedef struct check_buf {
    char *text;
    size_t len, cap;
    long long now;
    int n;
} check_buf;

static int check_append(check_buf *b, long long sid)
{
    /* Room for the longest id, its separator and the closing brace. */
    if (b->len + 32 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 4096;
        char *t = realloc(b->text, cap);
        if (!t)
            return -1;
        b->text = t;
        b->cap = cap;
    }
    int n = snprintf(b->text + b->len, b->cap - b->len, "%s%lld", b->n ? "," : "{", sid);
    if (n < 0 || (size_t)n >= b->cap - b->len)
        return -1;
    b->len += (size_t)n;
    b->n++;
    return 0;
}

/* An expired token closes without asking anyone; the rest are collected. */
static int check_collect(session *s, void *arg)
{
    check_buf *b = arg;
    if (s->state != SESS_LIVE || !s->wsi)
        return 0;
    if (s->exp && s->exp <= b->now) {
        session_revoke(s, "expired");
        return 0;
    }
    return check_append(b, (long long)s->sid) != 0;
}

static int check_in_flight;

typedef struct check_dead {
    dict *sids; /* "sid" -> reason (a static string) */
} check_dead;

static int check_close(session *s, void *arg)
{
    char key[24];
    snprintf(key, sizeof(key), "%lld", (long long)s->sid);
    const char *reason = dict_get(((check_dead *)arg)->sids, key);
    if (reason && s->state == SESS_LIVE) {
        log_info("conn=%u user=%lld session %lld %s: closing", s->id, (long long)s->uid,
                 (long long)s->sid, reason);
        session_revoke(s, reason);
    }
    return 0;
}

static const char *check_reason(const char *text)
{
    if (text && strcmp(text, "expired") == 0)
        return "expired";
    if (text && strcmp(text, "disabled") == 0)
        return "disabled";
    return "revoked";
}

static void check_done(PGresult *res, void *arg)
{
    hub *h = arg;
    check_in_flight = 0;
    if (!pgq_ok(res) || !PQntuples(res))
        return;
    check_dead d = {dict_create()};
    if (!d.sids)
        return;
    for (int i = 0; i < PQntuples(res); i++) {
        const char *sid = pgq_get(res, i, "sid");
        if (sid)
            dict_set(d.sids, sid, (void *)check_reason(pgq_get(res, i, "reason")));
    }
    fanout_user_foreach(h->fan, check_close, &d);
    dict_free(d.sids);
}

void session_check_live(hub *h)
{
    if (!h->fan || check_in_flight)
        return;
    check_buf b = {NULL, 0, 0, (long long)time(NULL), 0};
    fanout_user_foreach(h->fan, check_collect, &b);
    if (!b.n || !pgq_live(h->pg))
        goto out;
    b.text[b.len++] = '}'; /* check_append left room for it */
    b.text[b.len] = '\0';
    const char *params[1] = {b.text};
    if (pgq_exec_sql(h->pg, "SELECT sid, reason FROM epos_sessions_dead($1::bigint[])", 1, params,
                     check_done, h) == 0)
        check_in_flight = 1;
out:
    free(b.text);
}
