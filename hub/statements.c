/* statements.c -- the hub's hot statements, prepared on every connection of
 * its pool (the rest, one per API route, run as unnamed statements). */
#include "hub.h"

const pgq_stmt hub_statements[] = {
    {"ws_hello", "SELECT epos_ws_hello($1, $2) AS hello"},
    /* Every write of a socket checks its session in the same round trip:
     * a revoked one stops acting even when the hubs never heard of it. */
    {"chat_send", "SELECT epos_chat_send(v.uid, $2, $3, $4) AS result FROM "
                  "(SELECT $1::bigint AS uid, epos_require_session($5, $1)) v"},
    {"chat_read", "SELECT epos_chat_read(v.uid, $2, $3) AS result FROM "
                  "(SELECT $1::bigint AS uid, epos_require_session($4, $1)) v"},
    {"chat_typing", "SELECT epos_chat_typing_ok(v.uid, $2) AS result FROM "
                    "(SELECT $1::bigint AS uid, epos_require_session($3, $1)) v"},
    {"events_after", "SELECT seq, frame FROM epos_events_after($1, $2, $3)"},
    {"topics_seq", "SELECT topic, seq FROM epos_topics_seq("
                   "ARRAY(SELECT jsonb_array_elements_text($1::jsonb)))"},
    {NULL, NULL},
};
