/* svc_mailer.c -- the worker service that owns the SMTP mailer (w->mailer) from start to stop.
 *
 * Two sending threads, each carrying one reused SMTP session at a time,
 * unless EPOS_MAIL_THREADS (1..64) says otherwise; host, port, STARTTLS,
 * AUTH and the sender come from the configuration (smtp_*, mail_from). */
#include <stdlib.h>

#include "epos/log.h"
#include "mailer.h"
#include "worker.h"

#define SVC_MAILER_THREADS 2

static int svc_mailer_threads(void)
{
    const char *v = getenv("EPOS_MAIL_THREADS");
    char *end;
    long n = v ? strtol(v, &end, 10) : 0;
    if (!v || *end || n < 1 || n > 64)
        return SVC_MAILER_THREADS;
    return (int)n;
}

int svc_mailer_start(worker_t *w)
{
    int threads = svc_mailer_threads();
    w->mailer = mailer_create(w->loop, w->cfg, threads);
    if (!w->mailer)
        return -1;
    log_info("mailer: %d SMTP sessions at most to %s:%d", threads, w->cfg->smtp_host,
             w->cfg->smtp_port);
    return 0;
}

/* Mail not yet taken by a thread is called back as a temporary failure;
 * sessions under way finish in the mailer's threads. */
void svc_mailer_stop(worker_t *w)
{
    struct mailer *m = w->mailer;
    w->mailer = NULL;
    if (m)
        mailer_close(m, NULL, NULL);
}
