/* fuzz_token.c -- the session token verifier (core/auth.c): any text is
 * refused unless it is exactly what auth_token_make signed; what it makes
 * verifies to the same user and session; one changed byte never verifies. */
#include <inttypes.h>

#include "epos/auth.h"
#include "fuzz_util.h"

#define FUZZ_SECRET "fuzz-secret" /* the seeds' tokens are signed with it */
#define FUZZ_NOW 1800000000LL

static uint64_t take_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

/* A token that verified must be the canonical token of its own fields. */
static void check_accepted(const char *secret, const char *token, long long uid, long long sid)
{
    char again[256];
    long long u, s, e;
    int n = 0;
    FUZZ_CHECK(sscanf(token, "%lld.%lld.%lld.%n", &u, &s, &e, &n) == 3 && n > 0);
    FUZZ_CHECK(u == uid && s == sid && e > FUZZ_NOW);
    FUZZ_CHECK(auth_token_make(secret, u, s, e, again, sizeof(again)) == 0);
    FUZZ_CHECK(strcmp(again, token) == 0);
}

/* Arbitrary text against a secret: -1, -2, or 0 for a genuine token only. */
static void check_text(const char *secret, const char *text)
{
    long long uid = -7, sid = -7;
    int rc = auth_token_check(secret, text, FUZZ_NOW, &uid, &sid);
    FUZZ_CHECK(rc == 0 || rc == -1 || rc == -2);
    if (rc == 0)
        check_accepted(secret, text, uid, sid);
    else
        FUZZ_CHECK(uid == -7 && sid == -7); /* nothing is set on failure */
}

/* Make a token of fuzzed fields, verify it, then break it. */
static void check_round_trip(const uint8_t *data, const char *secret)
{
    long long uid = (long long)(take_u64(data) & INT64_MAX);
    long long sid = (long long)(take_u64(data + 8) & INT64_MAX);
    long long exp = (long long)(take_u64(data + 16) & INT64_MAX);
    char tok[256];
    size_t slen = strlen(secret);
    char *other = malloc(slen + 2);
    FUZZ_CHECK(other != NULL);
    long long u = -1, s = -1;
    int rc = auth_token_make(secret, uid, sid, exp, tok, sizeof(tok));
    if (!secret[0]) {
        FUZZ_CHECK(rc == -1);
        FUZZ_CHECK(auth_token_check(secret, "1.2.3.x", FUZZ_NOW, &u, &s) == -1);
        free(other);
        return;
    }
    FUZZ_CHECK(rc == 0);
    rc = auth_token_check(secret, tok, FUZZ_NOW, &u, &s);
    if (exp > FUZZ_NOW) {
        FUZZ_CHECK(rc == 0 && u == uid && s == sid);
    } else {
        FUZZ_CHECK(rc == -2);
    }
    /* Another key never accepts it. */
    memcpy(other, secret, slen);
    memcpy(other + slen, "!", 2);
    FUZZ_CHECK(auth_token_check(other, tok, FUZZ_NOW, &u, &s) == -1);
    free(other);
    /* One byte changed: refused as badly signed or malformed. */
    size_t len = strlen(tok);
    uint8_t x = data[25] ? data[25] : 1;
    tok[data[24] % len] ^= (char)x;
    FUZZ_CHECK(auth_token_check(secret, tok, FUZZ_NOW, &u, &s) == -1);
    /* Too small an output buffer fails cleanly. */
    FUZZ_CHECK(auth_token_make(secret, uid, sid, exp, tok, len) == -1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 26)
        return 0;
    fuzz_split sp = {data + 26, data + size, '\n', 0};
    char *secret = NULL, *text = NULL;
    size_t n;
    if (!fuzz_split_next(&sp, &secret, &n))
        return 0;
    check_round_trip(data, secret);
    while (fuzz_split_next(&sp, &text, &n)) {
        check_text(FUZZ_SECRET, text);
        if (secret[0])
            check_text(secret, text);
        free(text);
    }
    free(secret);
    return 0;
}
