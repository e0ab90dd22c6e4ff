/* evmsg.c -- encode and decode the pub/sub form of committed events. */
#include "epos/evmsg.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

int64_t evmsg_frame_seq(const char *frame, size_t len)
{
    json_t *v = json_loadb(frame, len, 0, NULL);
    json_t *jseq = v ? json_object_get(v, "seq") : NULL;
    int64_t seq = json_is_integer(jseq) ? (int64_t)json_integer_value(jseq) : -1;
    json_decref(v);
    return seq;
}

int evmsg_channel(char *buf, size_t len, const char *topic)
{
    int n = snprintf(buf, len, "ev:%s", topic);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

char *evmsg_encode(int64_t seq, const char *frame, size_t len, size_t *outlen)
{
    char prefix[24];
    int plen = seq < 0 ? snprintf(prefix, sizeof(prefix), "- ")
                       : snprintf(prefix, sizeof(prefix), "%" PRId64 " ", seq);
    char *msg = malloc((size_t)plen + len);
    if (!msg)
        return NULL;
    memcpy(msg, prefix, (size_t)plen);
    memcpy(msg + plen, frame, len);
    *outlen = (size_t)plen + len;
    return msg;
}

int evmsg_decode(const char *msg, size_t len, int64_t *seq, const char **frame, size_t *flen)
{
    const char *sp = memchr(msg, ' ', len < 24 ? len : 24);
    if (!sp || sp == msg)
        return -1;
    if (sp - msg == 1 && msg[0] == '-') {
        *seq = -1;
    } else {
        int64_t v = 0;
        for (const char *p = msg; p < sp; p++) {
            if (*p < '0' || *p > '9' || v > (INT64_MAX - 9) / 10)
                return -1;
            v = v * 10 + (*p - '0');
        }
        *seq = v;
    }
    *frame = sp + 1;
    *flen = len - (size_t)(sp + 1 - msg);
    return 0;
}
