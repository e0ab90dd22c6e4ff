-- 11-chat.test.sql -- chats: who may open and write, what a send leaves behind (gap-free seqs), cid idempotency, reads.
BEGIN;
\ir fixtures.sql
SELECT plan(21);

-- ---- opening a direct chat
SELECT throws_ok($$SELECT epos_chat_open_direct(900201, 900201)$$, 'EP400', NULL, 'not with oneself');
SELECT throws_ok($$SELECT epos_chat_open_direct(900201, 999999)$$, 'EP404', NULL, 'not with nobody');
SELECT throws_ok($$SELECT epos_chat_open_direct(900201, 900103)$$, 'EP403', NULL,
                 'not with a teacher of another group');
CREATE TEMP TABLE t_chat AS
SELECT (epos_chat_open_direct(900201, 900102) #>> '{body,chat,id}')::bigint AS id;
SELECT isnt((SELECT id FROM t_chat), NULL, 'a parent opens a chat with their child''s teacher');
SELECT is((epos_chat_open_direct(900102, 900201) #>> '{body,chat,id}')::bigint, (SELECT id FROM t_chat),
          'the pair has one direct chat, whoever opens it');
SELECT is((SELECT count(*) FROM chat_members WHERE chat_id = (SELECT id FROM t_chat)), 2::bigint,
          'both are members');
SELECT throws_ok($$SELECT epos_api_chats_create(900201, 900201, NULL, '{}',
                   '{"title": "Родители", "members": [900102]}')$$, 'EP403', NULL,
                 'a parent may not create a group chat');

-- ---- sending
SELECT throws_ok(format($$SELECT epos_chat_send(900202, %s, 'c1', 'чужой')$$, (SELECT id FROM t_chat)),
                 'EP403', NULL, 'a non-member may not send');
SELECT throws_ok($$SELECT epos_chat_send(900201, 999999, 'c1', 'x')$$, 'EP404', NULL, 'no such chat');
SELECT throws_ok(format($$SELECT epos_chat_send(900201, %s, 'c1', '   ')$$, (SELECT id FROM t_chat)),
                 'EP400', NULL, 'an empty message is refused');
SELECT throws_ok(format($$SELECT epos_chat_send(900201, %s, '', 'x')$$, (SELECT id FROM t_chat)),
                 'EP400', NULL, 'an empty cid is refused');
SELECT throws_ok(format($$SELECT epos_chat_send(900201, %s, 'c1', repeat('я', 4001))$$,
                        (SELECT id FROM t_chat)), 'EP400', NULL, 'a message past 4000 characters is refused');

CREATE TEMP TABLE t_sent AS
SELECT n, epos_chat_send(900201, (SELECT id FROM t_chat), 'c' || n, 'привет ' || n)::jsonb AS r
  FROM generate_series(1, 3) n;
-- Seq 1 is the chat.member event of the opening.
SELECT is((SELECT array_agg((r ->> 'seq')::int ORDER BY n) FROM t_sent), ARRAY[2, 3, 4],
          'three sends get the next seqs 2, 3, 4 of the chat''s topic');
SELECT is((SELECT array_agg(seq ORDER BY seq) FROM events WHERE topic = 'chat:' || (SELECT id FROM t_chat)),
          ARRAY[1, 2, 3, 4]::bigint[], 'the topic''s log is gap-free: the opening, then one event per send');
SELECT is((SELECT count(*) FROM chat_messages WHERE chat_id = (SELECT id FROM t_chat)), 3::bigint,
          'three messages stored under their events'' seqs');
SELECT is((SELECT read_seq FROM chat_members WHERE chat_id = (SELECT id FROM t_chat) AND user_id = 900201),
          4::bigint, 'the sender has read their own messages');
SELECT is((SELECT count(*) FROM digest_pending WHERE chat_id = (SELECT id FROM t_chat) AND user_id = 900102),
          1::bigint, 'the other member is marked for the digest mail');

-- ---- the same cid again: the stored message, nothing new
SELECT is(epos_chat_send(900201, (SELECT id FROM t_chat), 'c2', 'повтор')::jsonb ->> 'dup', 'true',
          'a repeated cid answers dup');
SELECT is((SELECT count(*) FROM events WHERE topic = 'chat:' || (SELECT id FROM t_chat)
            AND type = 'chat.message'), 3::bigint, 'and appends no event');
SELECT is(epos_chat_send(900201, (SELECT id FROM t_chat), 'c2', 'повтор')::jsonb ->> 'frame',
          (SELECT epos_event_frame(e.topic, e.seq, e.type, e.ts, e.payload) FROM events e
            JOIN chat_messages m ON m.chat_id = (SELECT id FROM t_chat) AND m.cid = 'c2' AND m.sender_id = 900201
           WHERE e.topic = 'chat:' || m.chat_id AND e.seq = m.seq),
          'and answers the stored event''s frame, for the hub to publish again');

-- ---- reading
SELECT is(epos_chat_read(900102, (SELECT id FROM t_chat), 99)::jsonb ->> 'seq', '4',
          'reading past the last seq stops at it');

SELECT * FROM finish();
ROLLBACK;
