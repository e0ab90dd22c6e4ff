/* auth.c -- yescrypt password hashes (libxcrypt) and HMAC-SHA256 signed tokens. */
#include "epos/auth.h"

#include <crypt.h>
#include <inttypes.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Unpadded base64url of in[0..n) into out; returns the length written. */
static size_t auth_b64url(const unsigned char *in, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < n)
            v |= in[i + 2];
        out[o++] = b64url[(v >> 18) & 63];
        out[o++] = b64url[(v >> 12) & 63];
        if (i + 1 < n)
            out[o++] = b64url[(v >> 6) & 63];
        if (i + 2 < n)
            out[o++] = b64url[v & 63];
    }
    out[o] = '\0';
    return o;
}

int auth_hash_password(const char *password, char *out, size_t outlen)
{
    char salt[CRYPT_GENSALT_OUTPUT_SIZE];
    struct crypt_data *cd = NULL;
    int rc = -1;
    if (!crypt_gensalt_rn("$y$", 0, NULL, 0, salt, sizeof(salt)))
        goto out;
    cd = calloc(1, sizeof(*cd));
    if (!cd)
        goto out;
    const char *h = crypt_r(password, salt, cd);
    if (!h || h[0] == '*' || strlen(h) >= outlen)
        goto out;
    memcpy(out, h, strlen(h) + 1);
    rc = 0;
out:
    free(cd);
    return rc;
}

int auth_verify_password(const char *password, const char *hash)
{
    if (!password || !hash || hash[0] != '$')
        return 0;
    struct crypt_data *cd = calloc(1, sizeof(*cd));
    if (!cd)
        return 0;
    const char *h = crypt_r(password, hash, cd);
    int ok =
        h && h[0] != '*' && strlen(h) == strlen(hash) && CRYPTO_memcmp(h, hash, strlen(hash)) == 0;
    free(cd);
    return ok;
}

static int auth_sign(const char *secret, const char *msg, size_t len, char sig[64])
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    if (!secret || !*secret)
        return -1;
    if (!HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)msg, len, mac,
              &maclen))
        return -1;
    auth_b64url(mac, maclen, sig);
    return 0;
}

int auth_token_make(const char *secret, long long uid, long long sid, long long exp, char *out,
                    size_t outlen)
{
    char body[96], sig[64];
    int n = snprintf(body, sizeof(body), "%lld.%lld.%lld", uid, sid, exp);
    if (n < 0 || (size_t)n >= sizeof(body) || auth_sign(secret, body, (size_t)n, sig) != 0)
        return -1;
    if ((size_t)snprintf(out, outlen, "%s.%s", body, sig) >= outlen)
        return -1;
    return 0;
}

/* Parse a decimal field ending at sep; advance *p past the separator. */
static int auth_field(const char **p, char sep, long long *v)
{
    const char *s = *p;
    long long acc = 0;
    if (*s < '0' || *s > '9')
        return -1;
    for (; *s >= '0' && *s <= '9'; s++) {
        int d = *s - '0';
        if (acc > (INT64_MAX - d) / 10) /* exact: every value auth_token_make writes */
            return -1;
        acc = acc * 10 + d;
    }
    if (*s != sep)
        return -1;
    *v = acc;
    *p = s + 1;
    return 0;
}

int auth_token_check(const char *secret, const char *token, long long now, long long *uid,
                     long long *sid)
{
    long long exp;
    return auth_token_check_exp(secret, token, now, uid, sid, &exp);
}

int auth_token_check_exp(const char *secret, const char *token, long long now, long long *uid,
                         long long *sid, long long *exp)
{
    long long u, s, e;
    const char *p = token;
    char sig[64];
    if (!token || strlen(token) > 200)
        return -1;
    if (auth_field(&p, '.', &u) || auth_field(&p, '.', &s) || auth_field(&p, '.', &e))
        return -1;
    size_t bodylen = (size_t)(p - 1 - token);
    if (auth_sign(secret, token, bodylen, sig) != 0)
        return -1;
    if (strlen(p) != strlen(sig) || CRYPTO_memcmp(p, sig, strlen(sig)) != 0)
        return -1;
    if (e <= now)
        return -2;
    *uid = u;
    *sid = s;
    *exp = e;
    return 0;
}

int auth_random_text(char *out, size_t n_chars)
{
    unsigned char raw[96];
    size_t need = (n_chars * 3 + 3) / 4;
    char buf[160];
    if (need > sizeof(raw) || RAND_bytes(raw, (int)need) != 1)
        return -1;
    auth_b64url(raw, need, buf);
    memcpy(out, buf, n_chars);
    out[n_chars] = '\0';
    return 0;
}

int auth_secret_digest(const char *secret, char *out, size_t outlen)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[32];
    unsigned int mdlen = 0;
    if (!secret || outlen < 65 ||
        EVP_Digest(secret, strlen(secret), md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32)
        return -1;
    for (unsigned int i = 0; i < mdlen; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[64] = '\0';
    return 0;
}
