/* test_fanout.c -- topic names and resets: a name whose Redis channel would be
 * cut is never subscribed, and a reset names its topic whole however long. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "hub/fanout.c"

/* --- neighbours: record what fanout.c asks of them ------------------------ */

static char sent[4096];
static size_t sent_len;
static char subscribed[1024];
static int subscribes;

void session_send_text(session *s, const char *text, size_t len)
{
    (void)s;
    sent_len = len < sizeof(sent) ? len : sizeof(sent) - 1;
    memcpy(sent, text, sent_len);
    sent[sent_len] = '\0';
}
void session_send(session *s, frame *f)
{
    (void)s;
    (void)f;
}
sub *session_find_sub(session *s, const char *topic)
{
    for (uint32_t i = 0; i < s->nsubs; i++)
        if (strcmp(s->subs[i].t->name, topic) == 0)
            return &s->subs[i];
    return NULL;
}
void session_ref(session *s)
{
    (void)s;
}
void session_unref(session *s)
{
    (void)s;
}
frame *frame_new(const char *data, size_t len)
{
    (void)data;
    (void)len;
    return NULL;
}
void frame_unref(frame *f)
{
    (void)f;
}
void health_observe_delivery(const char *frame, size_t len)
{
    (void)frame;
    (void)len;
}
int rds_subscribe(rds *r, const char *channel)
{
    (void)r;
    snprintf(subscribed, sizeof(subscribed), "%s", channel);
    subscribes++;
    return 0;
}
int rds_unsubscribe(rds *r, const char *channel)
{
    (void)r;
    (void)channel;
    return 0;
}

/* --- tests ------------------------------------------------------------------ */

static hub test_hub;

static void name_of(char *buf, size_t len)
{
    memset(buf, 'a', len - 1);
    memcpy(buf, "chat:", 5);
    buf[len - 1] = '\0';
}

static void test_channel_fits_or_refused(void **state)
{
    (void)state;
    test_hub.redis = (rds *)&test_hub; /* any non-NULL: the stubs above take it */
    fanout *f = fanout_create(&test_hub);
    assert_non_null(f);
    session s = {0};
    /* "ev:" + name + NUL must fit FANOUT_CHANNEL_MAX. */
    char fits[FANOUT_CHANNEL_MAX - 3], cut[FANOUT_CHANNEL_MAX - 2];
    name_of(fits, sizeof(fits));
    name_of(cut, sizeof(cut));
    assert_true(fanout_topic_valid(fits));
    assert_false(fanout_topic_valid(cut));
    assert_false(fanout_topic_valid(""));
    assert_false(fanout_topic_valid(NULL));

    subscribes = 0;
    assert_null(fanout_subscribe(f, &s, cut, 0));
    assert_int_equal(subscribes, 0);
    assert_int_equal(fanout_topic_count(f), 0);
    assert_int_equal(s.nsubs, 0);

    assert_non_null(fanout_subscribe(f, &s, fits, 0));
    assert_int_equal(subscribes, 1);
    assert_int_equal(strlen(subscribed), 3 + strlen(fits));
    assert_memory_equal(subscribed, "ev:", 3);
    assert_string_equal(subscribed + 3, fits);
    fanout_unsubscribe_all(f, &s);
    fanout_free(f);
}

static void test_reset_names_the_whole_topic(void **state)
{
    (void)state;
    session s = {0};
    char name[1000];
    name_of(name, sizeof(name));
    fanout_send_reset(&s, name);
    json_t *v = json_loadb(sent, sent_len, 0, NULL);
    assert_non_null(v); /* valid JSON, its length the text's */
    assert_string_equal(json_string_value(json_object_get(v, "op")), "reset");
    assert_string_equal(json_string_value(json_object_get(v, "topic")), name);
    json_decref(v);
    /* A quote in a name is escaped, not a broken frame. */
    fanout_send_reset(&s, "a\"b");
    v = json_loadb(sent, sent_len, 0, NULL);
    assert_non_null(v);
    assert_string_equal(json_string_value(json_object_get(v, "topic")), "a\"b");
    json_decref(v);
}

static void test_log_with_a_long_ident(void **state)
{
    (void)state;
    /* A prefix longer than the line: counted as what fits, never past it. */
    static char ident[2030]; /* the prefix ends just past the 2048-byte line */
    memset(ident, 'x', sizeof(ident) - 1);
    log_init(ident, LOG_LEVEL_INFO);
    log_info("after a cut prefix %d", 1);
    log_init("test_fanout", LOG_LEVEL_INFO);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_channel_fits_or_refused),
        cmocka_unit_test(test_reset_names_the_whole_topic),
        cmocka_unit_test(test_log_with_a_long_ident),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
