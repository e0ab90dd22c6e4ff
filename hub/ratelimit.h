/* ratelimit.h -- token buckets keyed by string, in bounded memory. */
#ifndef EPOS_RATELIMIT_H
#define EPOS_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

typedef struct ratelimit ratelimit;

/* A set of buckets that each hold up to burst tokens and gain rate tokens
 * per second; a key seen for the first time starts full. At most max keys
 * are kept: the least recently used bucket makes room for a new one (a
 * dropped bucket comes back full, so max must exceed the keys active within
 * burst/rate seconds). Returns NULL when out of memory or rate/burst < 1. */
ratelimit *ratelimit_create(double rate, double burst, size_t max);
void ratelimit_free(ratelimit *rl);

/* Take one token from key's bucket at now_ms (a monotonic clock). Returns 0
 * when one was taken, else the milliseconds until one will be there (>= 1);
 * a refused take takes nothing. Out of memory: 0 (fail open: a limit is not
 * worth refusing service for). */
uint64_t ratelimit_take(ratelimit *rl, const char *key, uint64_t now_ms);

/* Forget the buckets that are full again at now_ms (idle for burst/rate
 * seconds): they cost memory and say nothing. Returns how many went. */
size_t ratelimit_sweep(ratelimit *rl, uint64_t now_ms);

/* Buckets kept now. */
size_t ratelimit_count(const ratelimit *rl);

/* Whole seconds a client is told to wait (Retry-After) for a wait of ms: >= 1. */
unsigned ratelimit_retry_secs(uint64_t ms);

#endif
