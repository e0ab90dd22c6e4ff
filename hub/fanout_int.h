/* fanout_int.h -- what fanout.c and fanout_net.c share, and no one else. */
#ifndef EPOS_FANOUT_INT_H
#define EPOS_FANOUT_INT_H

#include "epos/dict.h"
#include "fanout.h"

struct fanout {
    hub *h;
    dict *topics; /* name -> topic */
    dict *users;  /* "uid" -> first session of that user */
    int redis_was_down;
    char origin[16]; /* this hub's name in ctl messages, to skip its own echo */
};

/* Deliver a frame to the local subscribers of topic name (seq < 0: ephemeral). */
void fanout_deliver_text(fanout *f, const char *name, int64_t seq, const char *text, size_t len);
/* Read what the topic missed from PostgreSQL and deliver it in order. */
void fanout_topic_fill(fanout *f, topic *t);

#endif
