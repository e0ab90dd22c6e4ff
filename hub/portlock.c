/* portlock.c -- one configuration per public port. Hubs share their port
 * with SO_REUSEPORT, so a hub started by mistake with another configuration
 * would silently take a share of the clients. The hubs of a port keep an
 * abstract unix socket named by the port ("@epos-hub:<host>:<port>", of the
 * network namespace, no file to clean up); whoever holds it tells a newcomer
 * the fingerprint of the values that must agree, and a newcomer whose
 * fingerprint differs refuses to start. When the holder exits, a remaining
 * hub takes the name over on its next tick. */
#include <errno.h>
#include <stddef.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "epos/log.h"
#include "hub.h"

#define PORTLOCK_TEXT_MAX 2048
#define PORTLOCK_TRIES 5 /* bind, or else connect: the holder may be exiting */

/* The keys whose values all hubs of one port must share: what a client or
 * another hub sees of them (a token signed by one verified by the other, one
 * database, one pub/sub, one TLS setting, the same limits and windows). */
static const char *const portlock_keys[] = {
    "listen_host",       "port",
    "tls_cert",          "tls_key",
    "allowed_origins",   "web_root",
    "pg_conninfo",       "redis_host",
    "redis_port",        "token_secret",
    "token_ttl",         "api_key",
    "max_frame",         "max_text",
    "send_queue_max",    "rate_per_sec",
    "rate_burst",        "replay_window",
    "history_page_max",  "auth_timeout_ms",
    "login_fail_max",    "redis_sentinels",
    "redis_master_name",
};

static struct {
    int fd; /* the bound, listening socket while we hold the name, else -1 */
    int polling;
    uv_poll_t poll;
    struct sockaddr_un addr;
    socklen_t addrlen;
    char text[PORTLOCK_TEXT_MAX]; /* "<key> <hash>\n" per key */
    size_t len;
} lock = {.fd = -1};

/* One line per key: the key and the first 16 hex digits of the SHA-256 of
 * its value, so a refusal can name the keys that differ without showing a
 * value (a secret among them). */
static int portlock_fingerprint(const epos_config *cfg)
{
    lock.len = 0;
    for (size_t i = 0; i < sizeof(portlock_keys) / sizeof(portlock_keys[0]); i++) {
        char num[24];
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned mdlen = 0;
        const char *v = config_get(cfg, portlock_keys[i], num, sizeof(num));
        if (!v || !EVP_Digest(v, strlen(v), md, &mdlen, EVP_sha256(), NULL))
            return -1;
        /* Each piece must fit whole: a cut one's return is not what was written. */
        size_t room = sizeof(lock.text) - lock.len;
        int n = snprintf(lock.text + lock.len, room, "%s ", portlock_keys[i]);
        for (int k = 0; k < 8 && n > 0 && (size_t)n < room; k++) {
            int m = snprintf(lock.text + lock.len + n, room - (size_t)n, "%02x", md[k]);
            n = m < 0 ? -1 : n + m;
        }
        if (n <= 0 || lock.len + (size_t)n + 1 >= sizeof(lock.text))
            return -1;
        lock.len += (size_t)n;
        lock.text[lock.len++] = '\n';
    }
    lock.text[lock.len] = '\0';
    return 0;
}

/* A newcomer asks: tell it our fingerprint and hang up. The text is small
 * and the socket new, so one non-blocking write takes it whole. */
static void portlock_on_readable(uv_poll_t *p, int status, int events)
{
    (void)p;
    (void)events;
    for (int i = 0; i < 16 && status == 0; i++) {
        int c = accept4(lock.fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (c < 0)
            return;
        if (write(c, lock.text, lock.len) < 0)
            log_debug("port lock: cannot answer a newcomer: %s", strerror(errno));
        close(c);
    }
}

/* Bind and listen on the name. 0: we hold it; -1 with errno (EADDRINUSE:
 * another process does). */
static int portlock_bind(uv_loop_t *loop)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (bind(fd, (struct sockaddr *)&lock.addr, lock.addrlen) != 0 || listen(fd, 16) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    lock.fd = fd;
    uv_poll_init(loop, &lock.poll, fd);
    lock.polling = 1;
    uv_poll_start(&lock.poll, UV_READABLE, portlock_on_readable);
    return 0;
}

/* Read the holder's fingerprint into buf. Start-up only: it blocks for at
 * most 2 s. Returns the length, or -1 (no holder any more, or it is mute). */
static ssize_t portlock_ask(char *buf, size_t len)
{
    struct timeval tv = {2, 0};
    ssize_t got = 0, n;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&lock.addr, lock.addrlen) != 0) {
        close(fd);
        return -1;
    }
    while ((size_t)got < len - 1 && (n = read(fd, buf + got, len - 1 - (size_t)got)) > 0)
        got += n;
    close(fd);
    buf[got] = '\0';
    return got > 0 ? got : -1;
}

/* 1 when text holds line (n bytes, ending in a newline) as a whole line. */
static int portlock_has_line(const char *text, const char *line, size_t n)
{
    for (const char *t = text; *t;) {
        const char *nl = strchr(t, '\n');
        if (!nl)
            return 0;
        if ((size_t)(nl - t) + 1 == n && memcmp(t, line, n) == 0)
            return 1;
        t = nl + 1;
    }
    return 0;
}

/* The keys of ours whose line the holder's text does not carry, into out. */
static void portlock_diff(const char *theirs, char *out, size_t outlen)
{
    out[0] = '\0';
    for (const char *line = lock.text; *line;) {
        const char *nl = strchr(line, '\n');
        size_t n = (size_t)(nl - line) + 1;
        if (!portlock_has_line(theirs, line, n)) {
            size_t used = strlen(out);
            snprintf(out + used, outlen - used, "%s%.*s", used ? ", " : "", (int)strcspn(line, " "),
                     line);
        }
        line = nl + 1;
    }
}

int portlock_take(hub *h, char *err, size_t errlen)
{
    const epos_config *cfg = &h->cfg;
    memset(&lock.addr, 0, sizeof(lock.addr));
    lock.addr.sun_family = AF_UNIX;
    /* sun_path[0] = '\0': an abstract name, its length is what follows. */
    int n = snprintf(lock.addr.sun_path + 1, sizeof(lock.addr.sun_path) - 1, "epos-hub:%s:%d",
                     cfg->listen_host, cfg->port);
    if (n < 0 || (size_t)n >= sizeof(lock.addr.sun_path) - 1) {
        snprintf(err, errlen, "listen_host is too long for the port lock's name");
        return -1;
    }
    lock.addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
    if (portlock_fingerprint(cfg) != 0) {
        snprintf(err, errlen, "cannot compute the configuration's fingerprint");
        return -1;
    }
    char theirs[PORTLOCK_TEXT_MAX], diff[512];
    for (int i = 0; i < PORTLOCK_TRIES; i++) {
        if (portlock_bind(h->loop) == 0)
            return 0;
        if (errno != EADDRINUSE)
            break;
        if (portlock_ask(theirs, sizeof(theirs)) < 0)
            continue; /* the holder is going away: try to bind again */
        if (strcmp(theirs, lock.text) == 0)
            return 0; /* the same configuration: join */
        portlock_diff(theirs, diff, sizeof(diff));
        snprintf(err, errlen,
                 "port %s:%d is held by hubs of another configuration (%s differ); "
                 "stop them or use another port",
                 cfg->listen_host, cfg->port, diff[0] ? diff : "the key set");
        return -1;
    }
    snprintf(err, errlen, "cannot take the lock of port %s:%d: %s", cfg->listen_host, cfg->port,
             strerror(errno));
    return -1;
}

void portlock_tick(hub *h)
{
    if (lock.fd >= 0 || lock.addrlen == 0 || h->stopping)
        return;
    if (portlock_bind(h->loop) == 0)
        log_info("took over the configuration lock of port %s:%d", h->cfg.listen_host, h->cfg.port);
}

static void portlock_closed(uv_handle_t *handle)
{
    (void)handle;
    close(lock.fd);
    lock.fd = -1;
}

void portlock_release(void)
{
    if (!lock.polling)
        return;
    lock.polling = 0;
    lock.addrlen = 0;
    uv_close((uv_handle_t *)&lock.poll, portlock_closed);
}
