/* auth.h -- password hashing (yescrypt via libcrypt) and signed session tokens. */
#ifndef EPOS_AUTH_H
#define EPOS_AUTH_H

#include <stddef.h>

/* Hash password with a fresh yescrypt salt into out. Returns 0 or -1.
 * CPU-bound (tens of ms): a loop thread calls it through uv_queue_work. */
int auth_hash_password(const char *password, char *out, size_t outlen);
/* 1 when password matches hash, 0 otherwise (constant time compare). */
int auth_verify_password(const char *password, const char *hash);

/* A token is "<uid>.<sid>.<exp>.<sig>" where sig is the base64url HMAC-SHA256
 * of the first three fields under secret. Returns 0 or -1. */
int auth_token_make(const char *secret, long long uid, long long sid, long long exp, char *out,
                    size_t outlen);
/* Verify signature and expiry against now (unix seconds). Returns 0 with uid and
 * sid set, -1 when malformed or badly signed, -2 when expired. */
int auth_token_check(const char *secret, const char *token, long long now, long long *uid,
                     long long *sid);
/* Same, also giving the token's expiry (unix seconds) in exp: a live socket
 * holds it and closes when it passes. */
int auth_token_check_exp(const char *secret, const char *token, long long now, long long *uid,
                         long long *sid, long long *exp);

/* Fill out with n random bytes as base64url text (for passwords, keys). */
int auth_random_text(char *out, size_t n_chars);

/* SHA-256 of a one-time secret (a set-password link's token) as 64 lower-case
 * hex digits into out (outlen >= 65): what PostgreSQL stores instead of the
 * secret. Returns 0, or -1 when secret is NULL, out too small or OpenSSL fails. */
int auth_secret_digest(const char *secret, char *out, size_t outlen);

#endif
