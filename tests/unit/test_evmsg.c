/* test_evmsg.c -- the pub/sub form of events: what one process encodes, another decodes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "epos/evmsg.h"

static void test_round_trip(void **state)
{
    const char *frame = "{\"op\":\"event\",\"topic\":\"chat:42\",\"seq\":18,\"data\":{}}";
    size_t n, flen;
    int64_t seq;
    const char *f;
    assert_int_equal(evmsg_frame_seq(frame, strlen(frame)), 18);
    char *msg = evmsg_encode(18, frame, strlen(frame), &n);
    assert_memory_equal(msg, "18 {", 4);
    assert_int_equal(evmsg_decode(msg, n, &seq, &f, &flen), 0);
    assert_int_equal(seq, 18);
    assert_int_equal(flen, strlen(frame));
    assert_memory_equal(f, frame, flen);
    free(msg);
    msg = evmsg_encode(-1, "{}", 2, &n);
    assert_int_equal(evmsg_decode(msg, n, &seq, &f, &flen), 0);
    assert_int_equal(seq, -1);
    assert_int_equal(flen, 2);
    free(msg);
}

static void test_malformed(void **state)
{
    int64_t seq;
    const char *f;
    size_t flen;
    assert_int_equal(evmsg_decode("{}", 2, &seq, &f, &flen), -1);          /* no prefix */
    assert_int_equal(evmsg_decode(" {}", 3, &seq, &f, &flen), -1);         /* empty prefix */
    assert_int_equal(evmsg_decode("1x {}", 5, &seq, &f, &flen), -1);       /* not a number */
    assert_int_equal(evmsg_decode("99999999999999999999 {}", 23, &seq, &f, &flen), -1);
    assert_int_equal(evmsg_frame_seq("{\"op\":\"event\"}", 14), -1);      /* ephemeral */
    assert_int_equal(evmsg_frame_seq("not json", 8), -1);
    char ch[8];
    assert_int_equal(evmsg_channel(ch, sizeof(ch), "chat:1"), -1);        /* does not fit */
    char ok[32];
    assert_int_equal(evmsg_channel(ok, sizeof(ok), "chat:1"), 0);
    assert_string_equal(ok, "ev:chat:1");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
