/* admin.h -- a process's own admin port: GET /metrics, /healthz and /readyz
 * on a small HTTP/1.1 responder bound to the loop (loopback by default), so
 * that every hub and worker can be scraped even when hubs share their public
 * port. */
#ifndef EPOS_ADMIN_H
#define EPOS_ADMIN_H

#include <uv.h>

#include "epos/prom.h"

typedef struct admin_server admin_server;

/* What the process contributes. metrics renders every family onto b;
 * ready writes one line per dependency ("postgresql: up") onto b and returns
 * 1 when the process can serve, 0 when not. Either may be NULL. */
typedef struct admin_hooks {
    void (*metrics)(void *arg, prom_buf *b);
    int (*ready)(void *arg, prom_buf *b);
    void *arg;
} admin_hooks;

/* The answer to GET path: the status (200, 503 for /readyz when not ready or
 * when memory ran out, 404 for another path), the body in *body (the caller
 * frees body->s) and its content type in *ctype. The admin port and the hub's
 * public port answer with this one function. */
int admin_answer(const admin_hooks *h, const char *path, prom_buf *body, const char **ctype);

/* Listen on host:port (IPv4 or IPv6 literal; port 0: a free port, see
 * admin_port) and serve the three paths with hooks (copied). Returns the
 * server, or NULL with one line in err. */
admin_server *admin_start(uv_loop_t *loop, const char *host, int port, const admin_hooks *hooks,
                          char *err, size_t errlen);

/* The port actually bound. */
int admin_port(const admin_server *a);

/* Stop listening and close every open connection; the server frees itself
 * once the loop has run their close callbacks. NULL is a no-op. */
void admin_close(admin_server *a);

#endif
