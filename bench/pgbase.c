/* pgbase.c -- the baseline of the chat benchmark: latency of a bare INSERT + COMMIT at a paced
 * rate. */
#include <getopt.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Shaped like a chat message row, with the same kinds of unique keys. */
static const char *pgbase_ddl =
    "CREATE TABLE IF NOT EXISTS bench_base (id bigserial PRIMARY KEY, chat_id bigint NOT NULL, "
    "seq bigint NOT NULL, sender_id bigint NOT NULL, cid text NOT NULL, text text NOT NULL, "
    "ts timestamptz NOT NULL DEFAULT now(), UNIQUE (chat_id, seq), UNIQUE (sender_id, cid));"
    "TRUNCATE bench_base";
static const char *pgbase_insert = "INSERT INTO bench_base (chat_id, seq, sender_id, cid, text) "
                                   "VALUES ($1, $2, $3, $4, $5)";

typedef struct pgbase_worker {
    pthread_t tid;
    int id;
    int count;    /* inserts this worker makes */
    int64_t *lat; /* their latencies, ns */
    int errors;
} pgbase_worker;

static const char *conninfo = "host=127.0.0.1 port=5432 dbname=postgres";
static int rate = 2000, total = 20000, warmup = 2000, nworkers = 4;
static int64_t t_start;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void sleep_until(int64_t t)
{
    int64_t d = t - now_ns();
    if (d <= 0)
        return;
    struct timespec ts = {.tv_sec = d / 1000000000, .tv_nsec = d % 1000000000};
    nanosleep(&ts, NULL);
}

/* Worker w makes inserts w, w + W, w + 2W, ... of the schedule (one every 1/rate s). */
static void *pgbase_run(void *arg)
{
    pgbase_worker *w = arg;
    PGconn *pg = PQconnectdb(conninfo);
    char chat[24], seq[24], sender[24], cid[48];
    const char *vals[5] = {chat, seq, sender, cid, "Добрый день! Сообщение нагрузочного теста."};
    if (PQstatus(pg) != CONNECTION_OK) {
        fprintf(stderr, "pgbase: %s", PQerrorMessage(pg));
        w->errors = w->count;
        goto out;
    }
    PGresult *r = PQprepare(pg, "ins", pgbase_insert, 5, NULL);
    PQclear(r);
    for (int i = 0; i < w->count; i++) {
        long long m = (long long)i * nworkers + w->id;
        snprintf(chat, sizeof(chat), "%lld", m % 500);
        snprintf(seq, sizeof(seq), "%lld", m);
        snprintf(sender, sizeof(sender), "%lld", m % 1000);
        snprintf(cid, sizeof(cid), "pgbase-%lld", m);
        sleep_until(t_start + m * 1000000000 / rate);
        int64_t t0 = now_ns();
        r = PQexecPrepared(pg, "ins", 5, vals, NULL, NULL, 0);
        w->lat[i] = now_ns() - t0;
        if (PQresultStatus(r) != PGRES_COMMAND_OK && w->errors++ < 3)
            fprintf(stderr, "pgbase: %s", PQresultErrorMessage(r));
        PQclear(r);
    }
out:
    PQfinish(pg);
    return NULL;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static double pct_ms(const int64_t *v, size_t n, double p)
{
    size_t r = (size_t)(p / 100.0 * (double)n + 0.999999);
    return n ? (double)v[(r < 1 ? 1 : r > n ? n : r) - 1] / 1e6 : 0;
}

static int pgbase_prepare_table(void)
{
    PGconn *pg = PQconnectdb(conninfo);
    int rc = -1;
    if (PQstatus(pg) != CONNECTION_OK) {
        fprintf(stderr, "pgbase: %s", PQerrorMessage(pg));
        goto out;
    }
    PGresult *r = PQexec(pg, pgbase_ddl);
    if (PQresultStatus(r) == PGRES_COMMAND_OK)
        rc = 0;
    else
        fprintf(stderr, "pgbase: %s", PQresultErrorMessage(r));
    PQclear(r);
out:
    PQfinish(pg);
    return rc;
}

static int pgbase_parse(int argc, char **argv)
{
    static const struct option lo[] = {{"conninfo", 1, 0, 'c'},    {"rate", 1, 0, 'r'},
                                       {"count", 1, 0, 'n'},       {"warmup", 1, 0, 'w'},
                                       {"connections", 1, 0, 'j'}, {0, 0, 0, 0}};
    int o;
    while ((o = getopt_long(argc, argv, "c:r:n:w:j:", lo, NULL)) != -1) {
        switch (o) {
        case 'c':
            conninfo = optarg;
            break;
        case 'r':
            rate = atoi(optarg);
            break;
        case 'n':
            total = atoi(optarg);
            break;
        case 'w':
            warmup = atoi(optarg);
            break;
        case 'j':
            nworkers = atoi(optarg);
            break;
        default:
            fputs("usage: pgbase --conninfo STR [--rate 2000] [--count 20000] [--warmup 2000] "
                  "[--connections 4]\n",
                  stderr);
            return -1;
        }
    }
    return rate > 0 && total > 0 && nworkers > 0 && nworkers <= 64 && warmup < total ? 0 : -1;
}

int main(int argc, char **argv)
{
    pgbase_worker w[64];
    int errors = 0;
    size_t n = 0;
    if (pgbase_parse(argc, argv) != 0 || pgbase_prepare_table() != 0)
        return 2;
    int64_t *all = malloc(sizeof(int64_t) * (size_t)total);
    if (!all)
        return 1;
    t_start = now_ns() + 200000000; /* let every connection be made before the first insert */
    for (int i = 0; i < nworkers; i++) {
        w[i] = (pgbase_worker){.id = i, .count = total / nworkers + (i < total % nworkers)};
        w[i].lat = malloc(sizeof(int64_t) * (size_t)w[i].count);
        pthread_create(&w[i].tid, NULL, pgbase_run, &w[i]);
    }
    for (int i = 0; i < nworkers; i++) {
        pthread_join(w[i].tid, NULL);
        errors += w[i].errors;
        for (int k = 0; k < w[i].count; k++)
            if ((long long)k * nworkers + i >= warmup)
                all[n++] = w[i].lat[k];
        free(w[i].lat);
    }
    double secs = (double)(now_ns() - t_start) / 1e9;
    qsort(all, n, sizeof(int64_t), cmp_i64);
    printf("{\"mode\":\"pg-insert-commit\",\"rate\":%d,\"count\":%d,\"connections\":%d,"
           "\"achieved_rate\":%.0f,\"errors\":%d,\"latency_ms\":{\"n\":%zu,\"p50\":%.3f,"
           "\"p90\":%.3f,\"p99\":%.3f,\"max\":%.3f}}\n",
           rate, total, nworkers, total / secs, errors, n, pct_ms(all, n, 50), pct_ms(all, n, 90),
           pct_ms(all, n, 99), n ? (double)all[n - 1] / 1e6 : 0);
    free(all);
    return errors ? 1 : 0;
}
