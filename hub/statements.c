/* statements.c -- the hub's hot statements, prepared on every connection of
 * its pool (the rest, one per API route, run as unnamed statements). */
#include "hub.h"

const pgq_stmt hub_statements[] = {
    {"ws_hello", "SELECT epos_ws_hello($1, $2) AS hello"},
    {"chat_send", "SELECT epos_chat_send($1, $2, $3, $4) AS result"},
    {"chat_read", "SELECT epos_chat_read($1, $2, $3) AS result"},
    {"chat_typing", "SELECT epos_chat_typing_ok($1, $2) AS result"},
    {"events_after", "SELECT seq, frame FROM epos_events_after($1, $2, $3)"},
    {"topics_seq", "SELECT topic, seq FROM epos_topics_seq("
                   "ARRAY(SELECT jsonb_array_elements_text($1::jsonb)))"},
    {NULL, NULL},
};
