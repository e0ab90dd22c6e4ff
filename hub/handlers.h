/* handlers.h -- one handler per client op of the epos.v1 protocol. Each gets
 * the parsed request (borrowed) and answers on the session, possibly later. */
#ifndef EPOS_HANDLERS_H
#define EPOS_HANDLERS_H

#include <jansson.h>
#include <libpq-fe.h>

#include "session.h"

void handle_auth(session *s, json_t *req);
void handle_send(session *s, json_t *req);
void handle_read(session *s, json_t *req);
void handle_typing(session *s, json_t *req);

/* Recompute the topics of a live session (its user's entitlements changed). */
void auth_refresh_topics(session *s);

/* Map a failed PostgreSQL result to an error code and message for the client.
 * Returns the HTTP status that goes with it. */
int pg_error_map(const PGresult *res, const char **code, const char **message);

#endif
