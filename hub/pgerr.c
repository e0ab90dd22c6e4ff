/* pgerr.c -- map PostgreSQL errors of the API functions to client errors. */
#include <string.h>

#include "epos/log.h"
#include "handlers.h"
#include "http.h"

static const struct {
    const char *sqlstate;
    int status;
    const char *code;
} pgerr_map[] = {
    {"EP400", 400, "bad_request"}, {"EP401", 401, "unauthorized"}, {"EP403", 403, "forbidden"},
    {"EP404", 404, "not_found"},   {"EP409", 409, "conflict"},     {"EP429", 429, "rate_limited"},
};

int pg_error_map(const PGresult *res, const char **code, const char **message)
{
    if (!res) {
        *code = "unavailable";
        *message = "База данных недоступна, повторите позже";
        return 503;
    }
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    const char *primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    for (size_t i = 0; state && i < sizeof(pgerr_map) / sizeof(pgerr_map[0]); i++) {
        if (strcmp(state, pgerr_map[i].sqlstate) == 0) {
            *code = pgerr_map[i].code;
            *message = primary ? primary : "";
            return pgerr_map[i].status;
        }
    }
    /* Class 22 is a data exception: a bad date or number the client sent. */
    if (state && strncmp(state, "22", 2) == 0) {
        *code = "bad_request";
        *message = "Неверное значение в запросе";
        return 400;
    }
    /* Class 08 and 57P: the connection or the server went away mid-query. */
    if (state && (strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0)) {
        *code = "unavailable";
        *message = "База данных недоступна, повторите позже";
        return 503;
    }
    log_error("SQL error %s: %s", state ? state : "?", PQresultErrorMessage(res));
    *code = "internal";
    *message = "Внутренняя ошибка сервера";
    return 500;
}

void http_reply_pg_error(http_req *r, const PGresult *res)
{
    const char *code, *message;
    int status = pg_error_map(res, &code, &message);
    http_reply_error(r, status, code, message);
}
