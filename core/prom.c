/* prom.c -- the Prometheus text exposition shared by the hub and the worker. */
#include "epos/prom.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const double prom_bounds[PROM_NBUCKETS] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                           0.1,    0.25,  0.5,    1,     2.5,  5,     10};

void prom_hist_observe(prom_hist *h, double secs)
{
    if (!(secs > 0)) /* also NaN */
        secs = 0;
    size_t i = 0;
    while (i < PROM_NBUCKETS && secs > prom_bounds[i])
        i++;
    if (i < PROM_NBUCKETS)
        h->bucket[i]++;
    h->count++;
    h->sum += secs;
}

void prom_printf(prom_buf *b, const char *fmt, ...)
{
    if (b->oom)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        size_t room = b->cap - b->len;
        int n = b->s ? vsnprintf(b->s + b->len, room, fmt, ap) : -1;
        va_end(ap);
        if (n >= 0 && (size_t)n < room) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap ? b->cap * 2 : 8192;
        while (n >= 0 && cap < b->len + (size_t)n + 1)
            cap *= 2;
        char *s = realloc(b->s, cap);
        if (!s) {
            b->oom = 1;
            return;
        }
        b->s = s;
        b->cap = cap;
    }
}

void prom_family(prom_buf *b, const char *name, const char *type, const char *help)
{
    prom_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void prom_sample(prom_buf *b, const char *name, const char *labels, double value)
{
    /* %.17g keeps every integer a counter reaches below 2^53 exact. */
    if (labels && *labels)
        prom_printf(b, "%s{%s} %.17g\n", name, labels, value);
    else
        prom_printf(b, "%s %.17g\n", name, value);
}

void prom_counter(prom_buf *b, const char *name, const char *help, double value)
{
    prom_family(b, name, "counter", help);
    prom_sample(b, name, NULL, value);
}

void prom_gauge(prom_buf *b, const char *name, const char *help, double value)
{
    prom_family(b, name, "gauge", help);
    prom_sample(b, name, NULL, value);
}

int prom_label(char *out, size_t outlen, const char *name, const char *value)
{
    size_t len = strlen(out), start = len;
    int n = snprintf(out + len, outlen - len, "%s%s=\"", len ? "," : "", name);
    if (n < 0 || (size_t)n >= outlen - len)
        goto full;
    len += (size_t)n;
    for (const char *v = value ? value : ""; *v; v++) {
        const char *esc = *v == '\\' ? "\\\\" : *v == '"' ? "\\\"" : *v == '\n' ? "\\n" : NULL;
        size_t need = esc ? 2 : 1;
        if (len + need + 2 > outlen)
            goto full;
        if (esc)
            memcpy(out + len, esc, 2);
        else
            out[len] = *v;
        len += need;
    }
    if (len + 2 > outlen)
        goto full;
    out[len++] = '"';
    out[len] = '\0';
    return 0;
full:
    out[start] = '\0';
    return -1;
}

void prom_hist_render(prom_buf *b, const char *name, const char *labels, const prom_hist *h)
{
    const char *sep = labels && *labels ? "," : "";
    const char *lab = labels ? labels : "";
    uint64_t cum = 0;
    for (size_t i = 0; i < PROM_NBUCKETS; i++) {
        cum += h->bucket[i];
        prom_printf(b, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, lab, sep, prom_bounds[i],
                    (unsigned long long)cum);
    }
    prom_printf(b, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, lab, sep,
                (unsigned long long)h->count);
    if (*lab) {
        prom_printf(b, "%s_sum{%s} %.9g\n%s_count{%s} %llu\n", name, lab, h->sum, name, lab,
                    (unsigned long long)h->count);
    } else {
        prom_printf(b, "%s_sum %.9g\n%s_count %llu\n", name, h->sum, name,
                    (unsigned long long)h->count);
    }
}
