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
