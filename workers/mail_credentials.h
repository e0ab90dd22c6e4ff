/* mail_credentials.h -- the body of a credentials mail: a one-time set-password link minted
 * when the mail is written, so no secret ever rests in the outbox, Redis or a log. */
#ifndef EPOS_MAIL_CREDENTIALS_H
#define EPOS_MAIL_CREDENTIALS_H

#include "worker.h"

/* Called once on the loop. body is the mail's text (valid during the call
 * only; wiped after), or NULL with rc JOB_OK when the grant needs no mail
 * any more (used or replaced by newer credentials: err says which), or
 * JOB_RETRY / JOB_FAIL with err. */
typedef void mail_credentials_cb(void *arg, int rc, const char *body, const char *err);

/* Draw a random token for credential grant `grant`, store only its SHA-256
 * (epos_credentials_mint: a link minted before for the grant stops working)
 * and write the mail text with the link <public_url>#/set-password?t=<token>.
 * Returns 0 (cb will be called, never before this returns), or -1 when the
 * query could not be queued (cb will not be called). */
int mail_credentials_render(worker_t *w, long long grant, mail_credentials_cb *cb, void *arg);

#endif
