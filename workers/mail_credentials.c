/* mail_credentials.c -- write a credentials mail: mint the one-time set-password link and
 * render the text around it (the token lives only in this memory and in the mail). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "epos/auth.h"
#include "epos/jsonx.h"
#include "mail_credentials.h"
#include "mailtext.h"
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

/* The text of the mail from the "credentials" template (workers/templates/credentials.txt);
 * NULL when memory ran out. The caller wipes and frees it. */
static char *cred_body(const char *url, const char *token, json_t *who)
{
    size_t ulen = strlen(url);
    const char *sep = ulen && url[ulen - 1] == '/' ? "" : "/";
    char *link = NULL, *subject = NULL, *body = NULL;
    if (asprintf(&link, "%s%s#/set-password?t=%s", url, sep, token) < 0)
        return NULL;
    json_t *data =
        json_pack("{s:O?, s:O?, s:O?, s:O?, s:s}", "name", json_object_get(who, "name"), "org",
                  json_object_get(who, "org"), "login", json_object_get(who, "login"), "expires_at",
                  json_object_get(who, "expires_at"), "link", link);
    if (data)
        mailtext_render("credentials", data, url, &subject, &body);
    /* The token rests nowhere but in the mail: wipe the copies (the data's string too). */
    const char *in_data = json_string_value(json_object_get(data, "link"));
    if (in_data)
        OPENSSL_cleanse((char *)in_data, strlen(in_data));
    OPENSSL_cleanse(link, strlen(link));
    free(link);
    json_decref(data);
    free(subject);
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
