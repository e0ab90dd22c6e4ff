/* prom.h -- the Prometheus text exposition (format 0.0.4) every process of
 * EPOS renders its /metrics with: a growable buffer, families with HELP and
 * TYPE, samples, and latency histograms with one fixed set of buckets. */
#ifndef EPOS_PROM_H
#define EPOS_PROM_H

#include <stddef.h>
#include <stdint.h>

/* The text being built. Start zeroed ({0}); free s when done. oom is set
 * (and the text stops growing) when memory runs out. */
typedef struct prom_buf {
    char *s;
    size_t len, cap;
    int oom;
} prom_buf;

/* Upper bounds in seconds of the histogram buckets (+Inf is implied): from
 * half a millisecond, which a query on loopback takes, to 10 s. */
#define PROM_NBUCKETS 14
extern const double prom_bounds[PROM_NBUCKETS];

/* One histogram: counts per bucket (not cumulative; rendering adds them up),
 * the sum of every observation and their number. Start zeroed. */
typedef struct prom_hist {
    uint64_t bucket[PROM_NBUCKETS];
    uint64_t count;
    double sum;
} prom_hist;

/* Count one observation of secs seconds (negative counts as 0). */
void prom_hist_observe(prom_hist *h, double secs);

/* printf onto b. */
void prom_printf(prom_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* "# HELP name help" and "# TYPE name type" (type: counter, gauge,
 * histogram). Each family is announced once, before its samples. */
void prom_family(prom_buf *b, const char *name, const char *type, const char *help);

/* One sample: name{labels} value. labels is NULL or the text inside the
 * braces (label="value",...), made with prom_label. */
void prom_sample(prom_buf *b, const char *name, const char *labels, double value);

/* A family of one unlabelled sample. */
void prom_counter(prom_buf *b, const char *name, const char *help, double value);
void prom_gauge(prom_buf *b, const char *name, const char *help, double value);

/* name="value" into out with value escaped (backslash, quote, newline), after
 * a comma when out already holds a label. Returns 0, or -1 when it does not
 * fit (out is then unchanged). */
int prom_label(char *out, size_t outlen, const char *name, const char *value);

/* The samples of histogram h: name_bucket{labels,le="..."} (cumulative),
 * name_sum{labels} and name_count{labels}. Announce the family first with
 * prom_family(b, name, "histogram", help). labels may be NULL. */
void prom_hist_render(prom_buf *b, const char *name, const char *labels, const prom_hist *h);

#endif
