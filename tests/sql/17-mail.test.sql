-- 17-mail.test.sql -- the mail job's SQL: prepare (send, skip, later), results, held mail, chat digests and news mail, each once.
BEGIN;
\ir fixtures.sql
SELECT plan(31);
-- Org 900001 keeps UTC and quiet hours 20:00..08:00; Monday 16 November 2026.

-- ---- prepare: what is not sent
SELECT throws_ok($$SELECT epos_email_prepare(900201, '', '<m0@t>', 's', 'b', false)$$, 'EP400', NULL,
                 'a mail without a kind is refused');
SELECT is(epos_email_prepare(900204, 'news', '<m1@t>', 's', 'b', true) ->> 'reason', 'no such user',
          'a disabled user gets no mail');
SELECT is(epos_email_prepare(999999, 'news', '<m1@t>', 's', 'b', true) ->> 'reason', 'no such user',
          'nor an unknown one');
UPDATE users SET email = '  ' WHERE id = 900203;
SELECT is(epos_email_prepare(900203, 'news', '<m1@t>', 's', 'b', true) ->> 'reason', 'no email address',
          'nor a user without an address');
INSERT INTO notification_prefs (user_id, kind, email) VALUES (900202, 'news', false);
SELECT is(epos_email_prepare(900202, 'news', '<m1@t>', 's', 'b', true) ->> 'reason', 'turned off by the user',
          'nor a kind the user turned off');
SELECT is((SELECT count(*) FROM email_log), 0::bigint, 'a skipped mail is not logged');

-- ---- quiet hours
SELECT is(epos_email_prepare(900201, 'news', '<q1@t>', 's', 'b', false, '2026-11-16 21:00Z', '{"x": 1}'),
          '{"action": "later", "reason": "quiet hours", "delay_s": 39600}'::jsonb,
          'routine mail at 21:00 waits until 08:00');
SELECT is((SELECT due_at FROM mail_deferred WHERE message_id = '<q1@t>'), '2026-11-17 08:00Z'::timestamptz,
          'it is held in mail_deferred until then');
SELECT is((SELECT status FROM email_log WHERE message_id = '<q1@t>'), 'queued', 'and logged queued');
SELECT is(epos_email_prepare(900201, 'absence.notice', '<u1@t>', 's', 'b', true, '2026-11-16 21:00Z'),
          '{"action": "send", "to_addr": "parent@example.test", "to_name": "Родителев Павел Андреевич"}'::jsonb,
          'urgent mail goes at once');
SELECT is(epos_mail_release('2026-11-17 07:59Z'), 0, 'a held mail is not released before its time');
SELECT is(epos_mail_release('2026-11-17 08:00Z'), 1, 'it is queued again when quiet hours end');
SELECT is((SELECT payload FROM outbox WHERE kind = 'email.notify'), '{"x": 1}'::jsonb, 'with its payload');
SELECT is(epos_mail_release('2026-11-17 09:00Z'), 0, 'and only once');

-- ---- results
SELECT throws_ok($$SELECT epos_email_result('<u1@t>', 'lost', 0, NULL)$$, 'EP400', NULL,
                 'an unknown outcome is refused');
SELECT is(epos_email_result('<nobody@t>', 'sent', 250, NULL), NULL, 'an unprepared mail has no result');
SELECT is(epos_email_result('<u1@t>', 'temporary', 451, 'try later'), 'retry', 'a 4xx leaves the mail to retry');
SELECT is(epos_email_result('<u1@t>', 'sent', 250, NULL), 'sent', 'then it is sent');
-- The mailer leaves mails already sent out of a session; it runs as epos_worker, who may not read email_log.
SET LOCAL ROLE epos_worker;
SELECT is(ARRAY(SELECT epos_email_sent_among('["<nobody@t>", "<u1@t>"]')), ARRAY[2::bigint],
          'the worker learns which mails of a session are sent already');
RESET ROLE;
SELECT is((SELECT row(attempts, sent_at IS NOT NULL)::text FROM email_log WHERE message_id = '<u1@t>'), '(2,t)',
          'both attempts are counted');
SELECT is((SELECT array_agg(a.outcome || ' ' || a.smtp_code ORDER BY a.id) FROM email_attempts a
             JOIN email_log l ON l.id = a.email_id WHERE l.message_id = '<u1@t>'),
          ARRAY['temporary 451', 'sent 250'], 'each attempt is recorded');
SELECT is(epos_email_prepare(900201, 'absence.notice', '<u1@t>', 's', 'b', true) ->> 'reason', 'already sent',
          'a mail sent once is never prepared again');
SELECT lives_ok($$SELECT epos_email_prepare(900201, 'absence.notice', '<d1@t>', 's', 'b', true)$$, 'another mail');
SELECT is(epos_email_result('<d1@t>', 'temporary', 451, 'x', true), 'dead', 'dies on its last attempt');
SELECT lives_ok($$SELECT epos_email_prepare(900201, 'absence.notice', '<d1@t>', 's', 'b', true)$$, 'replayed');
SELECT is((SELECT status FROM email_log WHERE message_id = '<d1@t>'), 'retry', 'a dead mail replayed is retried');

-- ---- a chat digest and news mail: each once
DELETE FROM outbox;
SELECT lives_ok($$SELECT epos_chat_send(900201, (epos_chat_open_direct(900201, 900102) #>> '{body,chat,id}')::bigint,
                                         'c1', 'Добрый день')$$, 'a parent writes to the teacher');
SELECT is(epos_digest_collect(now() + interval '1 day') * 10
          + epos_digest_collect(now() + interval '2 days'), 10,
          'one digest is queued for the teacher, and a second pass queues none');
SELECT is((SELECT array_agg((payload ->> 'kind') || ' ' || (payload ->> 'user_id')) FROM outbox
            WHERE kind = 'email.notify'), ARRAY['chat.digest 900102'], 'the digest is the teacher''s');
CREATE TEMP TABLE t_news AS
SELECT (epos_api_news_create(900101, 900101, NULL, '{}', '{"org_id": 900001, "title": "Собрание"}')
        #>> '{body,item,id}')::bigint AS id;
SELECT is(epos_news_emails((SELECT id FROM t_news)), 2,
          'a whole-org item queues a mail to each enabled parent of the org (preferences apply when sent)');
SELECT is(epos_news_emails((SELECT id FROM t_news)), 0, 'and only once');

SELECT * FROM finish();
ROLLBACK;
