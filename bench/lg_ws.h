/* lg_ws.h -- the load generator's minimal RFC 6455 client codec: upgrade request, frames. */
/* Included by loadgen.c only: CMake builds each .c file of bench/ as its own executable,
 * so the load generator's parts live in headers of static functions. */
#ifndef LG_WS_H
#define LG_WS_H

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

enum {
    LGWS_CONT = 0x0,
    LGWS_TEXT = 0x1,
    LGWS_BIN = 0x2,
    LGWS_CLOSE = 0x8,
    LGWS_PING = 0x9,
    LGWS_PONG = 0xA
};

#define LGWS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define LGWS_KEY_LEN 24 /* base64 of 16 bytes */

typedef struct lgws_hdr {
    int fin;
    int opcode;
    int masked;
    uint64_t len;    /* payload length */
    size_t hdr_len;  /* bytes before the payload */
    uint8_t mask[4]; /* only when masked (a server must not mask; we tolerate it) */
} lgws_hdr;

/* xorshift64*: masking keys and handshake nonces need only be unpredictable to
 * intermediaries, and a cryptographic RNG per frame would skew the measurement. */
static uint64_t lgws_rng_state = 0x9E3779B97F4A7C15ull;

static inline uint64_t lgws_rand(void)
{
    uint64_t x = lgws_rng_state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    lgws_rng_state = x;
    return x * 0x2545F4914F6CDD1Dull;
}

/* A fresh Sec-WebSocket-Key (24 base64 characters plus NUL) into key. */
static inline void lgws_make_key(char key[LGWS_KEY_LEN + 1])
{
    unsigned char raw[16];
    uint64_t a = lgws_rand(), b = lgws_rand();
    memcpy(raw, &a, 8);
    memcpy(raw + 8, &b, 8);
    EVP_EncodeBlock((unsigned char *)key, raw, 16);
    key[LGWS_KEY_LEN] = '\0';
}

/* 1 when accept (not NUL-terminated, alen bytes) is the server's proof for key. */
static inline int lgws_accept_ok(const char *key, const char *accept, size_t alen)
{
    char buf[LGWS_KEY_LEN + sizeof(LGWS_GUID)];
    unsigned char digest[SHA_DIGEST_LENGTH];
    char expect[32];
    int n = snprintf(buf, sizeof(buf), "%s%s", key, LGWS_GUID);
    SHA1((const unsigned char *)buf, (size_t)n, digest);
    int elen = EVP_EncodeBlock((unsigned char *)expect, digest, SHA_DIGEST_LENGTH);
    return alen == (size_t)elen && memcmp(expect, accept, alen) == 0;
}

/* The upgrade request into out; proto NULL offers no subprotocol. Returns its
 * length, or -1 when cap is too small. */
static inline int lgws_request(char *out, size_t cap, const char *host, int port, const char *path,
                               const char *key, const char *proto)
{
    int n = snprintf(out, cap,
                     "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                     "Sec-WebSocket-Version: 13\r\n%s%s%s\r\n",
                     path, host, port, key, proto ? "Sec-WebSocket-Protocol: " : "",
                     proto ? proto : "", proto ? "\r\n" : "");
    return n > 0 && (size_t)n < cap ? n : -1;
}

/* Find header name (case-insensitive) in the response head; returns its value
 * with leading blanks skipped and its length in *vlen, or NULL. */
static inline const char *lgws_header(const char *head, size_t len, const char *name, size_t *vlen)
{
    size_t nl = strlen(name);
    const char *end = head + len;
    for (const char *p = head; p < end;) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol)
            break;
        if ((size_t)(eol - p) > nl && p[nl] == ':' && strncasecmp(p, name, nl) == 0) {
            const char *v = p + nl + 1;
            while (v < eol && (*v == ' ' || *v == '\t'))
                v++;
            const char *ve = eol;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' '))
                ve--;
            *vlen = (size_t)(ve - v);
            return v;
        }
        p = eol + 1;
    }
    return NULL;
}

/* Check a complete response head (up to and including the blank line): 0 when
 * it is a 101 with the right accept, else -1 with a reason in why. */
static inline int lgws_check_response(const char *head, size_t len, const char *key,
                                      const char **why)
{
    size_t alen = 0;
    if (len < 12 || strncmp(head, "HTTP/1.1 101", 12) != 0) {
        *why = "status is not 101";
        return -1;
    }
    const char *acc = lgws_header(head, len, "Sec-WebSocket-Accept", &alen);
    if (!acc || !lgws_accept_ok(key, acc, alen)) {
        *why = "bad Sec-WebSocket-Accept";
        return -1;
    }
    return 0;
}

/* Encode one final, masked client frame of opcode into out (cap bytes).
 * Returns the frame's length, or -1 when it does not fit. */
static inline long lgws_frame(uint8_t *out, size_t cap, int opcode, const void *payload, size_t len)
{
    size_t h = 2;
    out[0] = (uint8_t)(0x80 | opcode);
    if (len < 126) {
        out[1] = (uint8_t)(0x80 | len);
    } else if (len <= 0xFFFF) {
        out[1] = 0x80 | 126;
        out[2] = (uint8_t)(len >> 8);
        out[3] = (uint8_t)len;
        h = 4;
    } else {
        out[1] = 0x80 | 127;
        for (int i = 0; i < 8; i++)
            out[2 + i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
        h = 10;
    }
    if (h + 4 + len > cap)
        return -1;
    uint32_t m32 = (uint32_t)lgws_rand();
    uint8_t *mask = out + h;
    memcpy(mask, &m32, 4);
    const uint8_t *in = payload;
    uint8_t *dst = out + h + 4;
    for (size_t i = 0; i < len; i++)
        dst[i] = in[i] ^ mask[i & 3];
    return (long)(h + 4 + len);
}

/* Parse a frame header at buf (len bytes available). Returns 1 with *h filled
 * when the header is complete, 0 when more bytes are needed, -1 on a frame no
 * server may send (reserved bits, oversized control frame). */
static inline int lgws_parse(const uint8_t *buf, size_t len, lgws_hdr *h)
{
    if (len < 2)
        return 0;
    if (buf[0] & 0x70)
        return -1; /* no extension was negotiated */
    h->fin = (buf[0] & 0x80) != 0;
    h->opcode = buf[0] & 0x0F;
    h->masked = (buf[1] & 0x80) != 0;
    uint64_t l = buf[1] & 0x7F;
    size_t p = 2;
    if (l == 126) {
        if (len < 4)
            return 0;
        l = ((uint64_t)buf[2] << 8) | buf[3];
        p = 4;
    } else if (l == 127) {
        if (len < 10)
            return 0;
        l = 0;
        for (int i = 0; i < 8; i++)
            l = (l << 8) | buf[2 + i];
        p = 10;
    }
    if (h->opcode >= 0x8 && (l > 125 || !h->fin))
        return -1;
    if (h->masked) {
        if (len < p + 4)
            return 0;
        memcpy(h->mask, buf + p, 4);
        p += 4;
    }
    h->len = l;
    h->hdr_len = p;
    return 1;
}

/* Undo a (tolerated) server mask in place. */
static inline void lgws_unmask(uint8_t *p, size_t len, const uint8_t mask[4])
{
    for (size_t i = 0; i < len; i++)
        p[i] ^= mask[i & 3];
}

#endif
