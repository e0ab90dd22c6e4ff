/* api_limit.c -- the HTTP API's request budgets: token buckets (ratelimit.c)
 * per client address, per signed-in user and per API key, kept by each hub
 * process on its own; a request over a budget is answered 429 with
 * Retry-After before any handler runs. */
#include <inttypes.h>
#include <stdio.h>

#include "epos/log.h"
#include "http.h"
#include "hub.h"
#include "ratelimit.h"

#define API_LIMIT_KEYS 65536 /* buckets per kind; the least recently used makes room */

static ratelimit *by_addr, *by_user, *by_key;

static uint64_t api_limit_take(ratelimit **rl, int rate, int burst, const char *key)
{
    if (!*rl)
        *rl = ratelimit_create(rate, burst, API_LIMIT_KEYS);
    return *rl ? ratelimit_take(*rl, key, hub_now_ms()) : 0;
}

int api_limit_admit(http_req *r)
{
    const epos_config *cfg = &the_hub->cfg;
    uint64_t wait;
    /* Another subsystem publishing from one address is one client with a
     * budget of its own: the API key's, not the address's. */
    if (r->api_key_ok) {
        wait = api_limit_take(&by_key, cfg->http_key_rate, cfg->http_key_burst, "api_key");
    } else {
        wait = api_limit_take(&by_addr, cfg->http_addr_rate, cfg->http_addr_burst, r->peer);
        if (!wait && r->uid) {
            char uid[24];
            snprintf(uid, sizeof(uid), "%" PRId64, r->uid);
            wait = api_limit_take(&by_user, cfg->http_user_rate, cfg->http_user_burst, uid);
        }
    }
    if (!wait)
        return 1;
    the_hub->stats.http_rate_limited++;
    log_debug("%s %s from %s (user %" PRId64 "): over the request budget", r->path,
              r->api_key_ok ? "(api key)" : "", r->peer, r->uid);
    http_reply_later(r, 429, "rate_limited", "Слишком много запросов, повторите позже",
                     ratelimit_retry_secs(wait));
    return 0;
}

void api_limit_sweep(void)
{
    uint64_t now = hub_now_ms();
    ratelimit *all[] = {by_addr, by_user, by_key};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        if (all[i])
            ratelimit_sweep(all[i], now);
}

void api_limit_free(void)
{
    ratelimit_free(by_addr);
    ratelimit_free(by_user);
    ratelimit_free(by_key);
    by_addr = by_user = by_key = NULL;
}
