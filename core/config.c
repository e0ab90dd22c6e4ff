/* config.c -- defaults, then a "key = value" file, then EPOS_<KEY> environment overrides. */
#include "epos/config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "epos/rds.h"

typedef enum { CFG_STR, CFG_INT } config_type;

typedef struct config_key {
    const char *name;
    config_type type;
    size_t offset;
    const char *dflt;
    long min, max; /* for CFG_INT */
} config_key;

#define S(field, dflt)                                                                             \
    {                                                                                              \
#field, CFG_STR, offsetof(epos_config, field), dflt, 0, 0                                  \
    }
#define I(field, dflt, lo, hi)                                                                     \
    {                                                                                              \
#field, CFG_INT, offsetof(epos_config, field), #dflt, lo, hi                               \
    }

static const config_key config_keys[] = {
    S(listen_host, "127.0.0.1"),
    I(port, 8080, 1, 65535),
    S(tls_cert, ""),
    S(tls_key, ""),
    S(allowed_origins, ""),
    S(web_root, "web"),
    S(pg_conninfo, "host=127.0.0.1 port=15432 user=postgres dbname=epos"),
    S(worker_pg_conninfo, ""),
    S(ctl_pg_conninfo, ""),
    I(pg_pool_size, 16, 1, 64),
    S(redis_host, "127.0.0.1"),
    I(redis_port, 16379, 1, 65535),
    S(redis_sentinels, ""),
    S(redis_master_name, "epos"),
    S(token_secret, ""),
    I(token_ttl, 604800, 60, 31536000),
    S(api_key, ""),
    I(max_frame, 65536, 1024, 16777216),
    I(max_text, 4000, 1, 65536),
    I(send_queue_max, 1048576, 4096, 268435456),
    I(sndbuf, 131072, 0, 16777216),
    I(rate_per_sec, 20, 1, 100000),
    I(rate_burst, 60, 1, 1000000),
    I(replay_window, 500, 1, 100000),
    I(history_page_max, 100, 1, 1000),
    I(roster_max_body, 16777216, 65536, 268435456),
    I(auth_timeout_ms, 10000, 100, 600000),
    I(login_fail_max, 10, 1, 100000),
    I(login_addr_fail_max, 100, 1, 1000000),
    I(login_delay_s, 1, 1, 3600),
    I(login_delay_max_s, 60, 1, 86400),
    I(session_check_s, 5, 1, 3600),
    I(ws_user_max, 20, 1, 100000),
    I(http_user_rate, 20, 1, 1000000),
    I(http_user_burst, 100, 1, 1000000),
    I(http_addr_rate, 50, 1, 1000000),
    I(http_addr_burst, 300, 1, 1000000),
    I(http_key_rate, 200, 1, 1000000),
    I(http_key_burst, 1000, 1, 1000000),
    I(http_head_timeout_s, 10, 1, 3600),
    S(smtp_host, "127.0.0.1"),
    I(smtp_port, 2525, 1, 65535),
    I(smtp_starttls, 0, 0, 2),
    S(smtp_user, ""),
    S(smtp_password, ""),
    S(mail_from, "ЭПОС <noreply@epos.local>"),
    S(public_url, "http://127.0.0.1:8080/"),
    I(digest_delay_s, 900, 0, 86400),
    S(mail_retry, "60,300,900,3600,7200,14400,28800,28800,28800,28800,28800"),
    I(mail_pause_max_ms, 60000, 100, 3600000),
    I(event_retention_days, 400, 31, 36500),
    S(admin_host, "127.0.0.1"),
    I(admin_port, 0, 0, 65535),
    I(worker_concurrency, 64, 1, 10000),
    I(mail_sessions, 2, 1, 64),
    I(job_max_attempts, 8, 1, 1000),
    I(job_claim_idle_ms, 30000, 100, 3600000),
    I(job_backoff_ms, 1000, 1, 3600000),
    S(log_level, "info"),
    S(instance, "epos"),
};

#define CONFIG_NKEYS (sizeof(config_keys) / sizeof(config_keys[0]))

static const config_key *config_find(const char *name)
{
    for (size_t i = 0; i < CONFIG_NKEYS; i++)
        if (strcmp(config_keys[i].name, name) == 0)
            return &config_keys[i];
    return NULL;
}

int config_mail_retry(const char *list, int *out)
{
    int n = 0;
    const char *p = list ? list : "";
    for (;;) {
        while (*p == ' ')
            p++;
        if (!isdigit((unsigned char)*p) || n == CONFIG_MAIL_RETRY_MAX)
            return -1;
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (errno || v < 1 || v > CONFIG_MAIL_RETRY_MAX_S)
            return -1;
        out[n++] = (int)v;
        p = end;
        while (*p == ' ')
            p++;
        if (*p == '\0')
            return n;
        if (*p++ != ',')
            return -1;
    }
}

static int config_apply(epos_config *cfg, const config_key *k, const char *value, char *err,
                        size_t errlen)
{
    char *base = (char *)cfg;
    if (k->type == CFG_STR) {
        int waits[CONFIG_MAIL_RETRY_MAX];
        if (strcmp(k->name, "mail_retry") == 0 && config_mail_retry(value, waits) < 0) {
            snprintf(err, errlen,
                     "%s: \"%s\" is not a list of 1 to %d waits in seconds (1 to %d), "
                     "comma-separated",
                     k->name, value, CONFIG_MAIL_RETRY_MAX, CONFIG_MAIL_RETRY_MAX_S);
            return -1;
        }
        char *copy = strdup(value);
        if (!copy) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        char **slot = (char **)(base + k->offset);
        free(*slot);
        *slot = copy;
        return 0;
    }
    char *end;
    errno = 0;
    long v = strtol(value, &end, 10);
    if (errno || end == value || *end != '\0' || v < k->min || v > k->max) {
        snprintf(err, errlen, "%s: \"%s\" is not a whole number from %ld to %ld", k->name, value,
                 k->min, k->max);
        return -1;
    }
    *(int *)(base + k->offset) = (int)v;
    return 0;
}

int config_set(epos_config *cfg, const char *key, const char *value, char *err, size_t errlen)
{
    const config_key *k = config_find(key);
    if (!k) {
        snprintf(err, errlen, "unknown key \"%s\"", key);
        return -1;
    }
    return config_apply(cfg, k, value, err, errlen);
}

static char *config_trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

/* The "key = value" lines of f over cfg; path names f in messages. */
static int config_read_stream(epos_config *cfg, FILE *f, const char *path, char *err, size_t errlen)
{
    char *line = NULL, msg[512];
    size_t cap = 0;
    ssize_t n;
    int lineno = 0, rc = 0;
    /* getline: a line of any length is one line (a fixed buffer cut long
     * values short and read their tail as a line of its own). */
    while ((n = getline(&line, &cap, f)) >= 0) {
        lineno++;
        if (memchr(line, '\0', (size_t)n)) {
            snprintf(err, errlen, "%s:%d: NUL byte in the line", path, lineno);
            rc = -1;
            break;
        }
        char *s = config_trim(line);
        if (*s == '\0' || *s == '#')
            continue;
        char *eq = strchr(s, '=');
        if (!eq) {
            snprintf(err, errlen, "%s:%d: expected \"key = value\"", path, lineno);
            rc = -1;
            break;
        }
        *eq = '\0';
        char *key = config_trim(s), *val = config_trim(eq + 1);
        size_t vl = strlen(val);
        if (vl >= 2 && val[0] == '"' && val[vl - 1] == '"') {
            val[vl - 1] = '\0';
            val++;
        }
        if (config_set(cfg, key, val, msg, sizeof(msg)) != 0) {
            snprintf(err, errlen, "%s:%d: %s", path, lineno, msg);
            rc = -1;
            break;
        }
    }
    free(line);
    return rc;
}

static int config_read_file(epos_config *cfg, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "cannot read config file %s: %s", path, strerror(errno));
        return -1;
    }
    int rc = config_read_stream(cfg, f, path, err, errlen);
    fclose(f);
    return rc;
}

static int config_read_env(epos_config *cfg, char *err, size_t errlen)
{
    char envname[128], msg[512];
    for (size_t i = 0; i < CONFIG_NKEYS; i++) {
        const config_key *k = &config_keys[i];
        size_t n = (size_t)snprintf(envname, sizeof(envname), "EPOS_%s", k->name);
        for (size_t j = 5; j < n; j++)
            envname[j] = (char)toupper((unsigned char)envname[j]);
        const char *v = getenv(envname);
        if (v && config_apply(cfg, k, v, msg, sizeof(msg)) != 0) {
            snprintf(err, errlen, "environment %s: %s", envname, msg);
            return -1;
        }
    }
    return 0;
}

int config_load(epos_config *cfg, const char *path, char *err, size_t errlen)
{
    memset(cfg, 0, sizeof(*cfg));
    for (size_t i = 0; i < CONFIG_NKEYS; i++)
        if (config_apply(cfg, &config_keys[i], config_keys[i].dflt, err, errlen) != 0)
            goto fail;
    if (path && config_read_file(cfg, path, err, errlen) != 0)
        goto fail;
    if (config_read_env(cfg, err, errlen) != 0)
        goto fail;
    /* EPOS_PG_CONNINFO alone in the environment points every process at
     * that database: the per-process keys of the file do not apply then. */
    if (getenv("EPOS_PG_CONNINFO")) {
        if (!getenv("EPOS_WORKER_PG_CONNINFO"))
            cfg->worker_pg_conninfo[0] = '\0';
        if (!getenv("EPOS_CTL_PG_CONNINFO"))
            cfg->ctl_pg_conninfo[0] = '\0';
    }
    if (rds_sentinels_check(cfg->redis_sentinels, cfg->redis_master_name, err, errlen) != 0)
        goto fail;
    if ((cfg->tls_cert[0] != '\0') != (cfg->tls_key[0] != '\0')) {
        snprintf(err, errlen, "tls_cert and tls_key must be set together");
        goto fail;
    }
    return 0;
fail:
    config_free(cfg);
    return -1;
}

void config_pg_for(epos_config *cfg, const char *process)
{
    char **own = strcmp(process, "worker") == 0 ? &cfg->worker_pg_conninfo
                 : strcmp(process, "ctl") == 0  ? &cfg->ctl_pg_conninfo
                                                : NULL;
    if (!own || !*own || !**own)
        return;
    char *tmp = cfg->pg_conninfo;
    cfg->pg_conninfo = *own;
    *own = tmp;
}

const char *config_get(const epos_config *cfg, const char *key, char *buf, size_t len)
{
    const config_key *k = config_find(key);
    if (!k)
        return NULL;
    const char *base = (const char *)cfg;
    if (k->type == CFG_STR)
        return *(char *const *)(base + k->offset);
    snprintf(buf, len, "%d", *(const int *)(base + k->offset));
    return buf;
}

void config_free(epos_config *cfg)
{
    char *base = (char *)cfg;
    for (size_t i = 0; i < CONFIG_NKEYS; i++) {
        if (config_keys[i].type != CFG_STR)
            continue;
        char **slot = (char **)(base + config_keys[i].offset);
        free(*slot);
        *slot = NULL;
    }
}

/* Append " key=value" to out at *o, quoting the value the way libpq parses
 * it. Returns 0, or -1 (out unchanged) when it does not fit whole. */
static int config_conninfo_append(char *out, size_t len, size_t *o, const char *key,
                                  const char *val)
{
    int quote = val[0] == '\0' || strpbrk(val, " '\\\t") != NULL;
    size_t need = (*o ? 1 : 0) + strlen(key) + 1 + (quote ? 2 : 0);
    for (const char *p = val; *p; p++)
        need += quote && (*p == '\'' || *p == '\\') ? 2 : 1;
    if (need >= len - *o)
        return -1;
    char *w = out + *o;
    w += sprintf(w, "%s%s=%s", *o ? " " : "", key, quote ? "'" : "");
    for (const char *p = val; *p; p++) {
        if (quote && (*p == '\'' || *p == '\\'))
            *w++ = '\\';
        *w++ = *p;
    }
    if (quote)
        *w++ = '\'';
    *w = '\0';
    *o = (size_t)(w - out);
    return 0;
}

int config_redact_conninfo(const char *conninfo, char *out, size_t len)
{
    if (!out || len == 0)
        return -1;
    out[0] = '\0';
    char *err = NULL;
    PQconninfoOption *opts = PQconninfoParse(conninfo ? conninfo : "", &err);
    if (!opts) {
        /* libpq's message may quote the input: never copy it. */
        snprintf(out, len, "unparsable pg_conninfo");
        PQfreemem(err);
        return -1;
    }
    /* Where it connects first, in this order (the part a reader looks
     * for), then the rest in libpq's order. */
    static const char *const first[] = {"host", "hostaddr", "port", "dbname", "user"};
    const size_t nfirst = sizeof(first) / sizeof(first[0]);
    size_t o = 0;
    for (size_t i = 0; i <= nfirst; i++) {
        for (PQconninfoOption *opt = opts; opt->keyword; opt++) {
            size_t rank = 0;
            while (rank < nfirst && strcmp(opt->keyword, first[rank]) != 0)
                rank++;
            /* dispchar "*" is libpq's own mark of a secret ("hide the value"). */
            int secret = strchr(opt->dispchar, '*') != NULL || strstr(opt->keyword, "password");
            if (rank == i && opt->val && !secret)
                config_conninfo_append(out, len, &o, opt->keyword, opt->val);
        }
    }
    PQconninfoFree(opts);
    return 0;
}
