/* mailer.h -- SMTP delivery (libesmtp) on a small pool of threads, results back on the loop. */
#ifndef EPOS_MAILER_H
#define EPOS_MAILER_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "epos/config.h"
#include "epos/prom.h"
#include "mime.h"

/* What became of a mail, as given to its done callback. */
enum {
    MAIL_SENT = 0,     /* the server took responsibility (250 after DATA) */
    MAIL_TEMPFAIL = 1, /* 4xx, no connection, timeout, dropped session, closing,
                        * authentication refused: retry later with backoff */
    MAIL_PERMFAIL = 2, /* 5xx for the sender, the recipient or the data:
                        * do not retry, dead-letter */
};

/* Mails one SMTP session carries at most; more queued mail opens more
 * sessions, in parallel when threads are free. */
#define MAILER_BATCH_MAX 50
/* The breaker: this many temporary failures in a row, with no mail sent
 * between them, mean the relay refuses everything (an outage, not a mail's
 * fault): the mailer pauses MAILER_PAUSE_MIN_MS, doubling each time the
 * first mails after a pause fail too, up to mail_pause_max_ms; mail queued
 * meanwhile is called back at once as an outage; one mail sent closes it. */
#define MAILER_BREAKER_TRIP 5
#define MAILER_PAUSE_MIN_MS 1000
/* Mails accepted and not yet called back; mailer_send refuses past this. */
#define MAILER_QUEUE_MAX 10000
/* Seconds libesmtp waits for the greeting / one envelope reply / the DATA
 * reply / between blocks of data / for the reply to the final dot. */
#define MAILER_TIMEOUT_GREETING 30
#define MAILER_TIMEOUT_ENVELOPE 60
#define MAILER_TIMEOUT_DATA 60
#define MAILER_TIMEOUT_TRANSFER 120
#define MAILER_TIMEOUT_FINAL 120

/* One mail to one recipient. mailer_send copies what it needs; the caller's
 * strings may go as soon as it returns. Text is UTF-8 (see mime.h for how it
 * is cleaned and encoded). */
typedef struct mail {
    const char *from;    /* "Name <addr>" or "addr"; NULL: the config's mail_from */
    const char *to_addr; /* required, ASCII addr-spec */
    const char *to_name; /* display name, may be NULL */
    const char *subject;
    const char *body;           /* text/plain */
    const char *message_id;     /* required, deterministic per notification, e.g.
                                 * "<absence.42.7@epos.local>": a retry of the same
                                 * notification carries the same id */
    const mime_header *headers; /* extra headers, e.g. {"X-EPOS-Kind","absence"} */
    size_t nheaders;
    /* In the done callback's view only: */
    int recorded; /* the accepted hook recorded the result on the sending thread
                   * (or its filter found the mail recorded sent: not sent again) */
    int outage;   /* a temporary failure while the relay refuses everything (the
                   * breaker is open): retry after mailer_pause_ms, no attempt spent */
} mail_t;

/* Runs on the loop thread, exactly once per mail mailer_send accepted.
 * m is the mailer's copy, valid during the call only: from, to_addr,
 * to_name, subject and message_id are set; body and headers are NULL (the
 * message was encoded when it was queued). status is MAIL_*; smtp_code the
 * server's reply code that decided it (0 when there was none: connection
 * failure, timeout, closing); detail one line for the log and email_attempts
 * (the server's text, or the local error), never NULL. The callback may call
 * mailer_send and mailer_close. */
typedef void mailer_done_cb(const mail_t *m, int status, int smtp_code, const char *detail,
                            void *arg);

typedef struct mailer mailer_t;

/* Counters since creation, for /metrics. */
typedef struct mailer_stats {
    uint64_t sessions; /* SMTP sessions started (one connection each) */
    uint64_t attempts; /* mails handed to a session */
    uint64_t sent;     /* callbacks by status */
    uint64_t tempfail;
    uint64_t permfail;
    uint64_t max_batch; /* most mails one session carried */
    uint64_t queued;    /* now: accepted, waiting for a thread */
    uint64_t pauses;    /* times the breaker opened */
    uint64_t in_flight; /* now: in a session */
    prom_hist session_time; /* seconds of each session */
} mailer_stats;

/* Start `threads` sending threads (<= 0: 4; at most 64), each running one
 * blocking libesmtp session at a time, against cfg->smtp_host:smtp_port with
 * cfg->smtp_starttls (0 off, 1 if offered, 2 required; TLS 1.2; the
 * server's certificate must chain to OpenSSL's default store — SSL_CERT_FILE
 * or SSL_CERT_DIR override it — and name the host; an untrusted certificate
 * ends the session, never falls back to plain text) and AUTH (PLAIN, LOGIN,
 * CRAM-MD5 as offered) when cfg->smtp_user is set. The envelope sender is the address of
 * cfg->mail_from. cfg is not kept. The mailer holds the loop open only while mail is outstanding.
 * Returns NULL when mail_from has no valid address, or when memory or
 * threads run out. */
mailer_t *mailer_create(uv_loop_t *loop, const epos_config *cfg, int threads);

/* Queue one mail; cb(m, …, arg) runs later on the loop, never from inside
 * this call. Mails queued in the same loop turn are handed to the threads
 * together, so a burst shares sessions. Returns 0; -EINVAL for a mail that
 * can never be sent (bad address, Message-ID or header name: treat it as a
 * permanent failure); -EAGAIN when MAILER_QUEUE_MAX mails are outstanding;
 * -ESHUTDOWN after mailer_close; -ENOMEM. No callback follows an error. */
int mailer_send(mailer_t *m, const mail_t *mail, mailer_done_cb *cb, void *arg);

/* Hooks run on the sending threads, so a mail's result is recorded the
 * moment the server accepts it, before the session's next command (a crash
 * can then double only a mail whose 250 arrived in the microseconds before
 * the record was sent), and a mail already recorded sent is never sent
 * again. Each thread opens its own context on its first session. */
typedef struct mailer_hooks {
    void *(*open)(void *arg); /* may return NULL: then no hook runs on that thread */
    void (*close)(void *ctx); /* the thread's end */
    /* Before a session: sent[i] = 1 for each of the n mails already recorded sent. */
    void (*filter)(void *ctx, const mail_t *const *mails, size_t n, int *sent);
    /* Right after the server accepted m: record it; 1 when it was recorded. */
    int (*accepted)(void *ctx, const mail_t *m, int code, const char *detail);
    void *arg;
} mailer_hooks;

/* Install the hooks (copied) before the first mailer_send. Loop thread. */
void mailer_set_hooks(mailer_t *m, const mailer_hooks *hooks);

/* Milliseconds until the breaker lets mail through again, 0 when closed. */
int64_t mailer_pause_ms(const mailer_t *m);

/* Stop: mail no thread has taken yet is called back with MAIL_TEMPFAIL
 * ("mailer closing"); sessions under way finish (bounded by the timeouts
 * above) and are called back as usual. Then the threads are joined — the
 * loop never waits on a session — the handles are closed, the mailer is
 * freed and closed(arg) runs (closed may be NULL). Call once, on the loop
 * thread; m is invalid once closed runs. */
void mailer_close(mailer_t *m, void (*closed)(void *arg), void *arg);

/* Copy the counters. Loop thread. */
void mailer_stats_get(mailer_t *m, mailer_stats *out);

#endif
