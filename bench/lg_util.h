/* lg_util.h -- the load generator's clock, JSON field scanners and latency percentiles. */
/* Included by loadgen.c only (see lg_ws.h for why bench parts are headers). */
#ifndef LG_UTIL_H
#define LG_UTIL_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static inline int64_t lg_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Find "key" in the JSON text m[0..len) and return a pointer to its value
 * (after the colon and blanks), or NULL. A scan, not a parse: parsing every
 * one of hundreds of thousands of deliveries would make the load generator,
 * not the server, the thing measured. Both `"k":v` and `"k": v` (jsonb's text
 * form) match; the first occurrence wins, so callers ask for keys that occur
 * once in the frames they read. */
static inline const char *lg_json_find(const char *m, size_t len, const char *key)
{
    size_t kl = strlen(key);
    const char *end = m + len;
    const char *p = m;
    while (p + kl + 2 < end) {
        const char *q = memchr(p, '"', (size_t)(end - p));
        if (!q || q + kl + 2 > end)
            return NULL;
        if (memcmp(q + 1, key, kl) == 0 && q[kl + 1] == '"') {
            const char *v = q + kl + 2;
            while (v < end && (*v == ' ' || *v == '\t'))
                v++;
            if (v < end && *v == ':') {
                v++;
                while (v < end && (*v == ' ' || *v == '\t'))
                    v++;
                return v < end ? v : NULL;
            }
        }
        p = q + 1;
    }
    return NULL;
}

/* The integer value of key, or -1 when absent or not a non-negative integer. */
static inline long long lg_json_int(const char *m, size_t len, const char *key)
{
    const char *v = lg_json_find(m, len, key);
    const char *end = m + len;
    if (!v || v >= end || *v < '0' || *v > '9')
        return -1;
    long long x = 0;
    while (v < end && *v >= '0' && *v <= '9')
        x = x * 10 + (*v++ - '0');
    return x;
}

/* 1 when key's value is the string s. */
static inline int lg_json_is(const char *m, size_t len, const char *key, const char *s)
{
    const char *v = lg_json_find(m, len, key);
    size_t sl = strlen(s);
    const char *end = m + len;
    return v && v + sl + 2 <= end && v[0] == '"' && memcmp(v + 1, s, sl) == 0 && v[sl + 1] == '"';
}

/* The string value of key: pointer past the opening quote and its length
 * (no escapes expected), or NULL. */
static inline const char *lg_json_str(const char *m, size_t len, const char *key, size_t *slen)
{
    const char *v = lg_json_find(m, len, key);
    const char *end = m + len;
    if (!v || *v != '"')
        return NULL;
    const char *q = memchr(v + 1, '"', (size_t)(end - v - 1));
    if (!q)
        return NULL;
    *slen = (size_t)(q - v - 1);
    return v + 1;
}

static inline int lg_cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile p (0..100) of v[0..n) sorted ascending; 0 when n == 0. */
static inline int64_t lg_pct(const int64_t *v, size_t n, double p)
{
    if (n == 0)
        return 0;
    size_t r = (size_t)(p / 100.0 * (double)n + 0.999999);
    if (r < 1)
        r = 1;
    if (r > n)
        r = n;
    return v[r - 1];
}

/* CPU seconds (user + system) this process has used: shows whether the load
 * generator, not the server, was the bottleneck. */
static inline double lg_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static inline double lg_ms(int64_t ns)
{
    return (double)ns / 1e6;
}

#endif
