/* lg_selftest.c -- checks of the load generator's WebSocket codec and JSON scanners (no network).
 */
#include <stdio.h>
#include <string.h>

#include "lg_util.h"
#include "lg_ws.h"

static int passed, failed;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (cond) {                                                                                \
            passed++;                                                                              \
        } else {                                                                                   \
            failed++;                                                                              \
            fprintf(stderr, "lg_selftest: %s:%d: %s\n", __FILE__, __LINE__, #cond);                \
        }                                                                                          \
    } while (0)

/* RFC 6455 section 1.3's worked example of the accept value. */
static void test_accept(void)
{
    const char *acc = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";
    CHECK(lgws_accept_ok("dGhlIHNhbXBsZSBub25jZQ==", acc, strlen(acc)));
    CHECK(!lgws_accept_ok("dGhlIHNhbXBsZSBub25jZQ==", acc, strlen(acc) - 1));
    char head[] = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                  "sec-websocket-accept:  s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
    const char *why = NULL;
    CHECK(lgws_check_response(head, strlen(head), "dGhlIHNhbXBsZSBub25jZQ==", &why) == 0);
    CHECK(lgws_check_response("HTTP/1.1 400 Bad\r\n\r\n", 19, "x", &why) == -1);
}

/* Our masked frames decode back to the payload for each length encoding. */
static void test_frame_roundtrip(void)
{
    static uint8_t payload[70000], out[70100];
    size_t lens[] = {0, 5, 125, 126, 65535, 65536, 69999};
    for (size_t i = 0; i < sizeof(payload); i++)
        payload[i] = (uint8_t)(i * 7);
    for (size_t k = 0; k < sizeof(lens) / sizeof(lens[0]); k++) {
        long n = lgws_frame(out, sizeof(out), LGWS_TEXT, payload, lens[k]);
        lgws_hdr h;
        CHECK(n > 0 && lgws_parse(out, (size_t)n, &h) == 1);
        CHECK(h.fin && h.opcode == LGWS_TEXT && h.masked && h.len == lens[k]);
        CHECK(h.hdr_len + h.len == (size_t)n);
        lgws_unmask(out + h.hdr_len, h.len, h.mask);
        CHECK(memcmp(out + h.hdr_len, payload, lens[k]) == 0);
        CHECK(lgws_parse(out, h.hdr_len - 1, &h) == 0); /* header cut short */
    }
    CHECK(lgws_frame(out, 10, LGWS_TEXT, payload, 100) == -1);
}

/* Server frames: unmasked, 16- and 64-bit lengths, fragments, bad control frames. */
static void test_parse_server(void)
{
    lgws_hdr h;
    uint8_t f16[] = {0x81, 126, 0x01, 0x00};
    CHECK(lgws_parse(f16, sizeof(f16), &h) == 1 && h.len == 256 && h.hdr_len == 4 && !h.masked);
    uint8_t f64[] = {0x82, 127, 0, 0, 0, 1, 0, 0, 0, 0};
    CHECK(lgws_parse(f64, sizeof(f64), &h) == 1 && h.len == (1ull << 32) && h.hdr_len == 10);
    uint8_t cont[] = {0x00, 3};
    CHECK(lgws_parse(cont, 2, &h) == 1 && !h.fin && h.opcode == LGWS_CONT);
    uint8_t rsv[] = {0xC1, 0};
    CHECK(lgws_parse(rsv, 2, &h) == -1);
    uint8_t bigping[] = {0x89, 126, 0, 200};
    CHECK(lgws_parse(bigping, 4, &h) == -1);
    uint8_t fragping[] = {0x09, 0};
    CHECK(lgws_parse(fragping, 2, &h) == -1);
}

static void test_json_scan(void)
{
    const char *ev =
        "{\"op\": \"event\", \"topic\": \"org:1\", \"data\": {\"lgk\": 17, \"cid\": \"lgab-9\"}}";
    size_t n = strlen(ev), l = 0;
    CHECK(lg_json_is(ev, n, "op", "event"));
    CHECK(!lg_json_is(ev, n, "op", "even"));
    CHECK(lg_json_int(ev, n, "lgk") == 17);
    CHECK(lg_json_int(ev, n, "topic") == -1);
    const char *cid = lg_json_str(ev, n, "cid", &l);
    CHECK(cid && l == 6 && memcmp(cid, "lgab-9", 6) == 0);
    CHECK(lg_json_find(ev, n, "missing") == NULL);
    CHECK(lg_json_int("{\"lgk\":", 7, "lgk") == -1); /* cut short */
    CHECK(lg_json_find("\"op\"", 4, "op") == NULL);
}

static void test_pct(void)
{
    int64_t v[100];
    for (int i = 0; i < 100; i++)
        v[i] = i + 1;
    CHECK(lg_pct(v, 100, 50) == 50);
    CHECK(lg_pct(v, 100, 99) == 99);
    CHECK(lg_pct(v, 100, 100) == 100);
    CHECK(lg_pct(v, 0, 50) == 0);
    CHECK(lg_pct(v, 1, 99) == 1);
}

int main(void)
{
    test_accept();
    test_frame_roundtrip();
    test_parse_server();
    test_json_scan();
    test_pct();
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
