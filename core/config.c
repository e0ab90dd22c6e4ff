/* config.c -- defaults, then a "key = value" file, then EPOS_<KEY> environment overrides. */
#include "epos/config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    I(pg_pool_size, 16, 1, 64),
    S(redis_host, "127.0.0.1"),
    I(redis_port, 16379, 1, 65535),
    S(token_secret, ""),
    I(token_ttl, 604800, 60, 31536000),
    S(api_key, ""),
    I(max_frame, 65536, 1024, 16777216),
    I(max_text, 4000, 1, 65536),
    I(send_queue_max, 1048576, 4096, 268435456),
    I(rate_per_sec, 20, 1, 100000),
    I(rate_burst, 60, 1, 1000000),
    I(replay_window, 500, 1, 100000),
    I(history_page_max, 100, 1, 1000),
    I(auth_timeout_ms, 10000, 100, 600000),
    I(login_fail_max, 10, 1, 100000),
    S(smtp_host, "127.0.0.1"),
    I(smtp_port, 2525, 1, 65535),
    I(smtp_starttls, 0, 0, 2),
    S(smtp_user, ""),
    S(smtp_password, ""),
    S(mail_from, "ЭПОС <noreply@epos.local>"),
    S(public_url, "http://127.0.0.1:8080/"),
    I(digest_delay_s, 900, 0, 86400),
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

static int config_apply(epos_config *cfg, const config_key *k, const char *value, char *err,
                        size_t errlen)
{
    char *base = (char *)cfg;
    if (k->type == CFG_STR) {
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

static int config_read_file(epos_config *cfg, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "cannot read config file %s: %s", path, strerror(errno));
        return -1;
    }
    char line[4096], msg[512];
    int lineno = 0, rc = 0;
    while (fgets(line, sizeof(line), f)) {
        lineno++;
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
    if ((cfg->tls_cert[0] != '\0') != (cfg->tls_key[0] != '\0')) {
        snprintf(err, errlen, "tls_cert and tls_key must be set together");
        goto fail;
    }
    return 0;
fail:
    config_free(cfg);
    return -1;
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
