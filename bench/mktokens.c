/* mktokens.c -- mint session tokens for bench users: "uid sid" lines in, one token a line out. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "epos/auth.h"
#include "epos/config.h"

/* Reads the token secret the hub uses (--config FILE plus EPOS_* overrides,
 * exactly as the hub reads it), then for each "uid sid" line of stdin writes
 * the token auth_token_make() gives, valid for --ttl seconds (default 1 day).
 * The sessions must exist in the database: the hub checks revocation there. */
int main(int argc, char **argv)
{
    const char *path = NULL;
    long long ttl = 86400;
    char err[256], line[256], tok[512];
    epos_config cfg;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            path = argv[++i];
        else if (strcmp(argv[i], "--ttl") == 0 && i + 1 < argc)
            ttl = atoll(argv[++i]);
        else {
            fputs("usage: mktokens [--config FILE] [--ttl SECONDS] < \"uid sid\" lines\n", stderr);
            return 2;
        }
    }
    if (config_load(&cfg, path, err, sizeof(err)) != 0) {
        fprintf(stderr, "mktokens: %s\n", err);
        return 2;
    }
    int rc = 0;
    if (!cfg.token_secret || !cfg.token_secret[0]) {
        fputs("mktokens: token_secret is not set\n", stderr);
        rc = 2;
        goto out;
    }
    long long exp = (long long)time(NULL) + ttl;
    while (fgets(line, sizeof(line), stdin)) {
        long long uid, sid;
        if (sscanf(line, "%lld %lld", &uid, &sid) != 2)
            continue;
        if (auth_token_make(cfg.token_secret, uid, sid, exp, tok, sizeof(tok)) != 0) {
            fprintf(stderr, "mktokens: cannot make a token for user %lld\n", uid);
            rc = 1;
            break;
        }
        fputs(tok, stdout);
        fputc('\n', stdout);
    }
out:
    config_free(&cfg);
    return rc;
}
