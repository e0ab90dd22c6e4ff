/* ratelimit.c -- token buckets keyed by string (an address, a user, an API
 * key): lazily refilled on each take, in a seeded hash table, the least
 * recently used bucket evicted when the table is full. */
#include "ratelimit.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

typedef struct rl_bucket {
    struct rl_bucket *hnext;       /* hash chain */
    struct rl_bucket *prev, *next; /* recency list: head is the latest take */
    uint64_t last_ms;              /* when tokens was last brought up to date */
    double tokens;
    char key[];
} rl_bucket;

struct ratelimit {
    rl_bucket **tab;
    size_t mask, count, max;
    rl_bucket *head, *tail;
    double rate, burst; /* tokens per second, bucket depth */
    uint64_t seed;      /* random: keys come from clients, collisions must not be chosen */
};

/* FNV-1a over the key, started from the random seed. */
static size_t rl_hash(const ratelimit *rl, const char *key)
{
    uint64_t h = 1469598103934665603ULL ^ rl->seed;
    for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
        h ^= *p;
        h *= 1099511628211ULL;
    }
    return (size_t)(h ^ (h >> 29)) & rl->mask;
}

ratelimit *ratelimit_create(double rate, double burst, size_t max)
{
    if (!(rate >= 1) || !(burst >= 1) || max < 1)
        return NULL;
    ratelimit *rl = calloc(1, sizeof(*rl));
    size_t slots = 16;
    while (slots < max)
        slots <<= 1;
    if (!rl || !(rl->tab = calloc(slots, sizeof(*rl->tab)))) {
        free(rl);
        return NULL;
    }
    rl->mask = slots - 1;
    rl->max = max;
    rl->rate = rate;
    rl->burst = burst;
    if (RAND_bytes((unsigned char *)&rl->seed, sizeof(rl->seed)) != 1)
        rl->seed = (uint64_t)(uintptr_t)rl;
    return rl;
}

static void rl_unlink(ratelimit *rl, rl_bucket *b)
{
    if (b->prev)
        b->prev->next = b->next;
    else
        rl->head = b->next;
    if (b->next)
        b->next->prev = b->prev;
    else
        rl->tail = b->prev;
    b->prev = b->next = NULL;
}

static void rl_push_front(ratelimit *rl, rl_bucket *b)
{
    b->next = rl->head;
    if (rl->head)
        rl->head->prev = b;
    rl->head = b;
    if (!rl->tail)
        rl->tail = b;
}

static void rl_drop(ratelimit *rl, rl_bucket *b)
{
    rl_bucket **pp = &rl->tab[rl_hash(rl, b->key)];
    while (*pp != b)
        pp = &(*pp)->hnext;
    *pp = b->hnext;
    rl_unlink(rl, b);
    rl->count--;
    free(b);
}

void ratelimit_free(ratelimit *rl)
{
    if (!rl)
        return;
    for (rl_bucket *b = rl->head, *n; b; b = n) {
        n = b->next;
        free(b);
    }
    free(rl->tab);
    free(rl);
}

static rl_bucket *rl_find(ratelimit *rl, const char *key, size_t slot)
{
    for (rl_bucket *b = rl->tab[slot]; b; b = b->hnext)
        if (strcmp(b->key, key) == 0)
            return b;
    return NULL;
}

uint64_t ratelimit_take(ratelimit *rl, const char *key, uint64_t now_ms)
{
    size_t slot = rl_hash(rl, key);
    rl_bucket *b = rl_find(rl, key, slot);
    if (b) {
        /* The clock may not go back; a bucket never holds more than burst. */
        if (now_ms > b->last_ms) {
            b->tokens += (double)(now_ms - b->last_ms) * rl->rate / 1000.0;
            if (b->tokens > rl->burst)
                b->tokens = rl->burst;
            b->last_ms = now_ms;
        }
        rl_unlink(rl, b);
    } else {
        if (rl->count >= rl->max)
            rl_drop(rl, rl->tail);
        size_t len = strlen(key);
        b = malloc(sizeof(*b) + len + 1);
        if (!b)
            return 0;
        memcpy(b->key, key, len + 1);
        b->tokens = rl->burst;
        b->last_ms = now_ms;
        b->prev = b->next = NULL;
        b->hnext = rl->tab[slot];
        rl->tab[slot] = b;
        rl->count++;
    }
    rl_push_front(rl, b);
    if (b->tokens >= 1) {
        b->tokens -= 1;
        return 0;
    }
    uint64_t wait = (uint64_t)ceil((1 - b->tokens) * 1000.0 / rl->rate);
    return wait ? wait : 1;
}

size_t ratelimit_sweep(ratelimit *rl, uint64_t now_ms)
{
    /* Every bucket is full burst/rate seconds after its last take, and the
     * list is in the order of the last takes: the full ones are its tail. */
    uint64_t idle_ms = (uint64_t)ceil(rl->burst * 1000.0 / rl->rate);
    size_t n = 0;
    while (rl->tail && rl->tail->last_ms + idle_ms <= now_ms) {
        rl_drop(rl, rl->tail);
        n++;
    }
    return n;
}

size_t ratelimit_count(const ratelimit *rl)
{
    return rl ? rl->count : 0;
}

unsigned ratelimit_retry_secs(uint64_t ms)
{
    uint64_t s = (ms + 999) / 1000;
    return s < 1 ? 1 : s > 86400 ? 86400 : (unsigned)s;
}
