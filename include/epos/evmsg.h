/* evmsg.h -- the form in which a committed event travels between processes:
 * Redis channel "ev:<topic>", message "<seq> <frame>" ("- <frame>" for an
 * ephemeral frame), so a hub orders frames without parsing their JSON. The
 * hub, the workers and eposctl all publish through these. */
#ifndef EPOS_EVMSG_H
#define EPOS_EVMSG_H

#include <stddef.h>
#include <stdint.h>

/* The "seq" member of an event frame's JSON, or -1 when it has none. */
int64_t evmsg_frame_seq(const char *frame, size_t len);

/* "ev:<topic>" into buf. Returns 0, or -1 when it does not fit. */
int evmsg_channel(char *buf, size_t len, const char *topic);

/* The message for frame (seq < 0: ephemeral), malloc'd (caller frees) with
 * its length in *outlen; NULL on allocation failure. */
char *evmsg_encode(int64_t seq, const char *frame, size_t len, size_t *outlen);

/* Split a message: *seq (-1: ephemeral) and the frame inside msg.
 * Returns 0, or -1 when msg is not of that form. */
int evmsg_decode(const char *msg, size_t len, int64_t *seq, const char **frame, size_t *flen);

#endif
