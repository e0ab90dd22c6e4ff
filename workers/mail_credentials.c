/* mail_credentials.c -- write a credentials mail: mint the one-time set-password link and
 * the text around it (the token lives only in this memory and in the mail). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "epos/auth.h"
#include "epos/jsonx.h"
#include "mail_credentials.h"
#include "publish.h"

#define CRED_TOKEN_CHARS 43 /* base64url: 258 random bits */

static const char mint_sql[] = "SELECT epos_credentials_mint($1::bigint, $2)::text";

typedef struct cred_render {
    worker_t *w;
    mail_credentials_cb *cb;
    void *arg;
    char token[CRED_TOKEN_CHARS + 1];
} cred_render;

static void cred_render_free(cred_render *c)
{
    OPENSSL_cleanse(c->token, sizeof(c->token));
    free(c);
}

/* The text of the mail; NULL when memory ran out. The caller wipes and frees it. */
static char *cred_body(const char *url, const char *token, json_t *who)
{
    const char *name = "", *org = "", *login = "", *until = "";
    jsonx_str(who, "name", &name);
    jsonx_str(who, "org", &org);
    jsonx_str(who, "login", &login);
    jsonx_str(who, "expires_at", &until);
    size_t ulen = strlen(url);
    const char *sep = ulen && url[ulen - 1] == '/' ? "" : "/";
    char *body = NULL;
    if (asprintf(&body,
                 "Здравствуйте, %s!\n\n"
                 "Для вас создан доступ к ЭПОС%s%s%s.\n\n"
                 "Логин: %s\n\n"
                 "Чтобы войти, откройте ссылку и придумайте свой пароль:\n"
                 "%s%s#/set-password?t=%s\n\n"
                 "Ссылка открывается один раз и действует до %s. Если она не сработала,\n"
                 "попросите администратора выдать доступ заново. Если вы не ждали этого\n"
                 "письма, просто удалите его.\n",
                 name, *org ? " (" : "", org, *org ? ")" : "", login, url, sep, token,
                 *until ? until : "истечения 72 часов") < 0)
        return NULL;
    return body;
}

static void cred_on_minted(PGresult *res, void *arg)
{
    cred_render *c = arg;
    const char *text = pgq_ok(res) && PQntuples(res) == 1 && !PQgetisnull(res, 0, 0)
                           ? PQgetvalue(res, 0, 0)
                           : NULL;
    if (!text) {
        char err[300];
        snprintf(err, sizeof(err), "credentials link: %s",
                 !res ? "database connection lost" : PQresultErrorMessage(res));
        err[strcspn(err, "\n")] = '\0';
        c->cb(c->arg, res ? publish_sql_outcome(res) : JOB_RETRY, NULL, err);
        cred_render_free(c);
        return;
    }
    json_t *who = jsonx_parse_object(text, strlen(text), NULL, 0);
    int ok = 0;
    const char *reason = "unexpected answer";
    jsonx_bool(who, "ok", &ok);
    jsonx_str(who, "reason", &reason);
    if (!ok) {
        c->cb(c->arg, who ? JOB_OK : JOB_RETRY, NULL, reason);
    } else {
        char *body = cred_body(c->w->cfg->public_url, c->token, who);
        if (body) {
            c->cb(c->arg, JOB_OK, body, NULL);
            OPENSSL_cleanse(body, strlen(body));
            free(body);
        } else {
            c->cb(c->arg, JOB_RETRY, NULL, "out of memory");
        }
    }
    json_decref(who);
    cred_render_free(c);
}

int mail_credentials_render(worker_t *w, long long grant, mail_credentials_cb *cb, void *arg)
{
    char id[24], digest[65];
    cred_render *c = calloc(1, sizeof(*c));
    if (!c)
        return -1;
    c->w = w;
    c->cb = cb;
    c->arg = arg;
    snprintf(id, sizeof(id), "%lld", grant);
    const char *params[2] = {id, digest};
    if (!w->pg || auth_random_text(c->token, CRED_TOKEN_CHARS) != 0 ||
        auth_secret_digest(c->token, digest, sizeof(digest)) != 0 ||
        pgq_exec_sql(w->pg, mint_sql, 2, params, cred_on_minted, c) != 0) {
        cred_render_free(c);
        return -1;
    }
    return 0;
}
