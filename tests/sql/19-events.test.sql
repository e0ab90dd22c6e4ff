-- 19-events.test.sql -- the event log: gap-free appends, frames, topics of a user, replay, lock-ordered emits, partitions and retention.
BEGIN;
\ir fixtures.sql
SELECT plan(24);

-- ---- appending
CREATE TEMP TABLE t_a AS
SELECT n, (SELECT row(a.seq, a.frame)::text FROM epos_event_append('user:900201', 'x.test', jsonb_build_object('n', n)) a) AS r
  FROM generate_series(1, 3) n;
SELECT is((SELECT array_agg(seq ORDER BY seq) FROM events WHERE topic = 'user:900201'), ARRAY[1, 2, 3]::bigint[],
          'appends take the topic''s next seqs, gap-free');
SELECT is((SELECT seq FROM topic_seq WHERE topic = 'user:900201'), 3::bigint, 'topic_seq holds the last one');
SELECT throws_ok($$SELECT * FROM epos_event_append('nosuch:1', 'x', '{}')$$, '23514', NULL,
                 'a malformed topic is refused');
SELECT throws_ok($$SELECT * FROM epos_event_append('user:900201', 'Bad Type', '{}')$$, '23514', NULL,
                 'a malformed type is refused');
SELECT is((SELECT seq FROM topic_seq WHERE topic = 'user:900201'), 3::bigint,
          'a refused append gives its seq back (its savepoint rolled back)');
SELECT is((SELECT frame FROM epos_events_after('user:900201', 1, 1)),
          (SELECT '{"op":"event","topic":"user:900201","seq":2,"type":"x.test","ts":"' || epos_ts(ts)
                  || '","data":{"n": 2}}' FROM events WHERE topic = 'user:900201' AND seq = 2),
          'a frame is the compact envelope with the stored ts and data');
SELECT is((SELECT array_agg(seq ORDER BY seq) FROM epos_events_after('user:900201', 1, 10)), ARRAY[2, 3]::bigint[],
          'events_after replays the seqs past the given one');
SELECT is((SELECT count(*) FROM epos_events_after('user:900201', 0, NULL)), 0::bigint, 'a NULL limit replays none');
SELECT is((SELECT array_agg(row(topic, seq)::text ORDER BY topic)
             FROM epos_topics_seq(ARRAY['user:900201', 'user:900202', 'user:900201'])),
          ARRAY['(user:900201,3)', '(user:900202,0)'], 'topics_seq: the current seq of each topic, 0 for none');
SELECT is(epos_ts('2026-11-22 13:05:09.12+00'), '2026-11-22T13:05:09.120Z', 'times are ISO-8601 UTC with ms');

-- ---- emitting several topics: the one lock order
SELECT is((SELECT array_agg(f ->> 'topic' ORDER BY n) FROM jsonb_array_elements(epos_events_emit(jsonb_build_array(
              epos_event('orgstaff:900001', 'x.a', '{}'), epos_event('user:900202', 'x.a', '{}'),
              epos_event('user:900201', 'x.a', '{}'), epos_event('timesheet:900011', 'x.a', '{}'))))
              WITH ORDINALITY AS x(f, n)),
          ARRAY['timesheet:900011', 'user:900201', 'user:900202', 'orgstaff:900001'],
          'emit appends timesheet, then user, then orgstaff topics, each by id');
SELECT is(epos_events_emit(NULL), '[]'::jsonb, 'emitting nothing appends nothing');
CREATE TEMP TABLE epos_ev (ord bigint, topic text, type text, data jsonb);
INSERT INTO epos_ev VALUES (1, 'user:900202', 'x.b', '{}'), (2, 'group:900011', 'x.b', '{}'),
                           (3, 'user:900202', 'x.b', '{}');
SELECT is((SELECT array_agg(((f ->> 'frame')::jsonb ->> 'seq')::int ORDER BY n)
             FROM jsonb_array_elements(epos_events_append_bulk()) WITH ORDINALITY AS x(f, n)),
          ARRAY[2, 1, 3], 'a bulk append numbers each topic''s events gap-free after its last seq');
DROP TABLE epos_ev;

-- ---- the topics a user is entitled to
SELECT is(ARRAY(SELECT epos_user_topics(900201)), ARRAY['group:900011', 'org:900001', 'user:900201'],
          'a parent: their child''s group and org, and their own topic');
SELECT is(ARRAY(SELECT epos_user_topics(900102)),
          ARRAY['group:900011', 'org:900001', 'timesheet:900011', 'user:900102'],
          'a teacher: their bound group, its timesheet, the org');
SELECT is(ARRAY(SELECT epos_user_topics(900101)),
          ARRAY['group:900011', 'group:900012', 'org:900001', 'orgstaff:900001', 'timesheet:900011',
                'timesheet:900012', 'user:900101'], 'an admin: every group and timesheet of the org, orgstaff');
SELECT is(ARRAY(SELECT epos_user_topics(900204)), '{}'::text[], 'a disabled user: none');
SELECT is((epos_ws_hello(900201, 900201)::jsonb -> 'topics'),
          '{"group:900011": 1, "org:900001": 0, "user:900201": 4}'::jsonb,
          'hello gives each entitled topic with its current seq');
SELECT throws_ok($$SELECT epos_ws_hello(900201, 900202)$$, 'EP401', NULL, 'hello needs the user''s own session');

-- ---- partitions and retention
SELECT throws_ok($$SELECT epos_events_maintain(0)$$, '22023', NULL, 'a retention under a day is refused');
CREATE TEMP TABLE t_m AS SELECT epos_events_maintain(30, '2027-06-15Z') AS r;
SELECT is((SELECT r -> 'created' FROM t_m), '["events_202706", "events_202707", "events_202708", "events_202709"]'::jsonb,
          'the pass creates the month''s partition and the next three');
SELECT ok((SELECT r -> 'dropped' FROM t_m) ? to_char(now() AT TIME ZONE 'UTC', '"events_"YYYYMM'),
          'and drops the month partitions wholly older than the retention');
SELECT is((SELECT count(*) FROM events WHERE topic = 'user:900201'), 0::bigint, 'with their events');
SELECT is((SELECT count(*) FROM events_retention_log) ,
          (SELECT jsonb_array_length(r -> 'dropped') FROM t_m)::bigint, 'each drop is logged once');

SELECT * FROM finish();
ROLLBACK;
