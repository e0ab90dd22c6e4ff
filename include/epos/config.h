/* config.h -- process configuration: a key = value file, then EPOS_* overrides. */
#ifndef EPOS_CONFIG_H
#define EPOS_CONFIG_H

#include <stddef.h>

typedef struct epos_config {
    /* network */
    char *listen_host;     /* listen_host        default 127.0.0.1 */
    int port;              /* port               default 8080 */
    char *tls_cert;        /* tls_cert           PEM path; TLS is on when cert and key are set */
    char *tls_key;         /* tls_key */
    char *allowed_origins; /* allowed_origins    comma list; empty: same host only */
    char *web_root;        /* web_root           static files of the web client */
    char *admin_host;      /* admin_host         the admin port's address, default 127.0.0.1 */
    int admin_port;        /* admin_port         /metrics /healthz /readyz of this process;
                              0 (default): a free port, logged at start */
    /* stores */
    char *pg_conninfo;        /* pg_conninfo        libpq connection string (the hub's role) */
    char *worker_pg_conninfo; /* worker_pg_conninfo the worker's, when not pg_conninfo */
    char *
        ctl_pg_conninfo; /* ctl_pg_conninfo    eposctl's (the schema owner), when not pg_conninfo */
    int pg_pool_size;    /* pg_pool_size       connections per process, default 16 */
    char *redis_host;    /* redis_host         default 127.0.0.1 */
    int redis_port;      /* redis_port         default 6379 (unused with redis_sentinels) */
    char *redis_sentinels;   /* redis_sentinels    Sentinel "ip:port,ip:port"; set: the master is
                                found and followed through them */
    char *redis_master_name; /* redis_master_name  the master's name there, default epos */
    /* auth */
    char *token_secret; /* token_secret       HMAC key of session tokens */
    int token_ttl;      /* token_ttl          seconds, default 7 days */
    char *api_key;      /* api_key            key of POST /api/publish */
    /* limits */
    int max_frame;          /* max_frame          bytes of one client frame, default 65536 */
    int max_text;           /* max_text           characters of a chat message, default 4000 */
    int send_queue_max;     /* send_queue_max     bytes queued to one connection, default 1 MiB */
    int sndbuf;             /* sndbuf             SO_SNDBUF of each client socket, 0 kernel's, default 128 KiB */
    int rate_per_sec;       /* rate_per_sec       client frames per second per connection, default 20 */
    int rate_burst;         /* rate_burst         token bucket depth, default 60 */
    int replay_window;      /* replay_window      events replayed per topic on resume, default 500 */
    int history_page_max;   /* history_page_max   default 100 */
    int roster_max_body;    /* roster_max_body    bytes of a POST /api/roster body, default 16 MiB */
    int auth_timeout_ms;    /* auth_timeout_ms    default 10000 */
    int login_fail_max;     /* login_fail_max     free failed logins per login+address before delays, default 10 */
    int login_addr_fail_max; /* login_addr_fail_max failed logins per address per 15 min, default 100 */
    int login_delay_s;      /* login_delay_s      first wait after login_fail_max failures (doubles), default 1 */
    int login_delay_max_s;  /* login_delay_max_s  longest wait between failed logins, default 60 */
    int session_check_s;    /* session_check_s    live sockets' sessions checked every, default 5 */
    int ws_user_max;        /* ws_user_max        WebSockets per user per hub, default 20 */
    int http_user_rate;     /* http_user_rate     API requests per second per user, default 20 */
    int http_user_burst;    /* http_user_burst    default 100 */
    int http_addr_rate;     /* http_addr_rate     API requests per second per address, default 50 */
    int http_addr_burst;    /* http_addr_burst    default 300 */
    int http_key_rate;      /* http_key_rate      API-key (publish) requests per second, default 200 */
    int http_key_burst;     /* http_key_burst     default 1000 */
    int http_head_timeout_s; /* http_head_timeout_s a request head must arrive whole within, default 10 */
    /* mail */
    char *smtp_host;          /* smtp_host          default 127.0.0.1 */
    int smtp_port;            /* smtp_port          default 2525 */
    int smtp_starttls;        /* smtp_starttls      0 no, 1 if offered, 2 required */
    char *smtp_user;          /* smtp_user */
    char *smtp_password;      /* smtp_password */
    char *mail_from;          /* mail_from          default "ЭПОС <noreply@epos.local>" */
    char *public_url;         /* public_url         links in mail, default http://127.0.0.1:8080/ */
    int digest_delay_s;       /* digest_delay_s     unread chat email delay, default 900 */
    char *mail_retry;         /* mail_retry         waits (s) before each retry of a mail a server
                               *                    deferred (4xx), comma-separated; dead after the last */
    int mail_pause_max_ms;    /* mail_pause_max_ms  longest pause of the mailer while the relay
                               *                    refuses everything (the breaker), default 60000 */
    int event_retention_days; /* event_retention_days events kept for resume, default 400 */
    /* worker */
    int worker_concurrency; /* worker_concurrency jobs in flight per worker, default 64 */
    int mail_sessions;      /* mail_sessions      parallel SMTP sessions per worker, default 2 */
    int job_max_attempts;   /* job_max_attempts   default 8 */
    int job_claim_idle_ms;  /* job_claim_idle_ms  a dead worker's jobs are claimed after, default
                               30000 */
    int job_backoff_ms;     /* job_backoff_ms     first retry delay (doubles), default 1000 */
    /* misc */
    char *log_level; /* log_level          debug|info|warn|error, default info */
    char *instance;  /* instance           name in logs and consumer ids */
} epos_config;

/* Fill cfg with defaults, then the file at path (NULL: no file), then the
 * environment (EPOS_PORT overrides "port", and so on). Returns 0, or -1 with
 * one line naming the bad key or file in err. Free with config_free(). */
int config_load(epos_config *cfg, const char *path, char *err, size_t errlen);

/* Set one key from its text form. Returns 0, or -1 with a message in err. */
int config_set(epos_config *cfg, const char *key, const char *value, char *err, size_t errlen);

/* Longest mail_retry list, and the longest wait of one step (a week). */
#define CONFIG_MAIL_RETRY_MAX 64
#define CONFIG_MAIL_RETRY_MAX_S 604800

/* Parse a mail_retry list ("60,300,900": seconds, spaces allowed around
 * the commas) into out (room for CONFIG_MAIL_RETRY_MAX). Returns how many
 * waits it holds (at least 1), or -1 when it is empty, too long, or holds
 * anything but whole numbers from 1 to CONFIG_MAIL_RETRY_MAX_S. */
int config_mail_retry(const char *list, int *out);

/* Make cfg->pg_conninfo the connection string of process "worker" or "ctl":
 * its own key (worker_pg_conninfo, ctl_pg_conninfo) when set. EPOS_PG_CONNINFO
 * in the environment without EPOS_<PROCESS>_PG_CONNINFO clears those keys at
 * load, so it then points every process at one database. */
void config_pg_for(epos_config *cfg, const char *process);

/* The text form of key's value (a string key's own text, or an int written
 * into buf), or NULL for an unknown key. */
const char *config_get(const epos_config *cfg, const char *key, char *buf, size_t len);

void config_free(epos_config *cfg);

/* Write conninfo (a libpq key=value string or URI) into out (size len,
 * always terminated) as libpq parsed it, every secret dropped (password,
 * sslpassword: the keys libpq itself hides), for logs and error messages.
 * Returns 0, or -1 when conninfo does not parse (out says so, and nothing
 * of the input is copied: it may hold a password). A value cut by len is
 * dropped whole. */
int config_redact_conninfo(const char *conninfo, char *out, size_t len);

#endif
