/* mailer_internal.h -- what workers/mailer.c (queue, threads, loop side) and
 * workers/mailer_session.c (one libesmtp session) share; not a public header. */
#ifndef EPOS_MAILER_INTERNAL_H
#define EPOS_MAILER_INTERNAL_H

#include <pthread.h>

#include <openssl/ssl.h> /* before libesmtp.h: declares smtp_starttls_set_ctx */
#include <auth-client.h> /* before libesmtp.h: declares smtp_auth_set_context */
#include <libesmtp.h>

#include "mailer.h"

/* One accepted mail, from mailer_send until its callback has run. */
typedef struct mailer_job {
    struct mailer_job *next;
    mail_t view; /* what the callback sees; points at the copies below */
    char *from, *to_addr, *to_name, *subject, *message_id;
    char *env_from; /* envelope sender when mail->from was given, else NULL */
    char *text;     /* the encoded message */
    mailer_done_cb *cb;
    void *arg;
    smtp_message_t msg; /* during its session only */
    smtp_recipient_t rcpt;
    int settled; /* its status is known (the server answered its DATA) */
    int tried;   /* it went through a session (counts for the breaker) */
    int status, code;
    char detail[200];
} mailer_job;

typedef struct job_list {
    mailer_job *head, *tail;
    size_t n;
} job_list;

struct mailer {
    uv_loop_t *loop;
    uv_async_t async;    /* threads → loop: mail done, thread exited */
    uv_timer_t flush;    /* hands the mail staged this loop turn to the threads */
    job_list staged;     /* loop thread only */
    size_t outstanding;  /* loop thread only: accepted, not yet called back */
    int closing;         /* loop thread only */
    unsigned temp_run;   /* loop thread only: temporary failures since the last mail sent */
    char run_addr[256];  /* loop thread only: the first recipient of that run */
    int run_mixed;       /* loop thread only: the run has failures to other recipients too */
    unsigned pause_ms;   /* loop thread only: the breaker's pause, 0 closed */
    uint64_t open_until; /* loop thread only: uv_now when the pause ends */
    int pause_max_ms;
    int handles_open; /* loop thread only: async and flush until closed */
    void (*closed)(void *);
    void *closed_arg;

    pthread_mutex_t lock; /* guards everything below */
    pthread_cond_t wake;
    job_list queue; /* waiting for a thread */
    job_list done;  /* finished, waiting for the loop */
    int idle;       /* threads not in a session */
    int exited;
    int stopping;
    uint64_t in_flight;
    mailer_stats stats;

    int nthreads;
    pthread_t *threads;
    mailer_hooks hooks; /* set before the first session, read-only after */
    /* Settings, copied from the config and read-only once threads run. */
    char server[300];
    enum starttls_option starttls;
    SSL_CTX *tls; /* shared by every session when STARTTLS is on */
    char *user, *password;
    char *from_name, *from_addr;
};

/* mailer.c */

/* Settle j without a session: status MAIL_*, code (0: no reply), detail
 * (copied, cut to fit). */
void mailer_job_fail(mailer_job *j, int status, int code, const char *detail);

/* mailer_session.c */

/* Send the batch in one SMTP session (one connection) and set every job's
 * status, code and detail; frees each job's text. hctx is the thread's
 * hook context (NULL: no hooks): mails already recorded sent are left out,
 * each accepted mail is recorded at once. Reads only m's settings,
 * which are fixed once the threads run, so it takes no lock. Blocks up to
 * the MAILER_TIMEOUT_* limits: sending threads only. */
void mailer_session_run(mailer_t *m, job_list *batch, void *hctx);
/* A TLS 1.2 client context checking against OpenSSL's default store, for
 * every STARTTLS session of the mailer; NULL when OpenSSL fails. */
SSL_CTX *mailer_tls_new(void);

#endif
