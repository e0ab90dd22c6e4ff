-- 15-reminders.test.sql -- the deadline pass: who is due, what it leaves behind, runs once per org and day, re-runs, the next wake-up.
BEGIN;
\ir fixtures.sql
SELECT plan(17);
-- Monday 16 November 2026; both orgs keep UTC and the default deadline 18:00.
INSERT INTO attendance_marks (child_id, day, group_id, status, source, marked_by)
VALUES (900301, '2026-11-16', 900011, 'present', 'teacher', 900102);

SELECT is(epos_reminders_due('2026-11-16 17:59:59Z'), '{"runs": [], "frames": []}'::jsonb,
          'nothing is due before the deadline');
SELECT is(epos_reminders_due('2026-11-21 18:30Z'), '{"runs": [], "frames": []}'::jsonb,
          'nothing is due on a weekend');
CREATE TEMP TABLE t_r1 AS SELECT epos_reminders_due('2026-11-16 18:30Z') AS r;
SELECT is((SELECT r -> 'runs' FROM t_r1),
          '[{"org_id": 900001, "day": "2026-11-16", "attempt": 1, "groups_missed": 1},
            {"org_id": 900002, "day": "2026-11-16", "attempt": 1, "groups_missed": 1}]'::jsonb,
          'after the deadline both orgs run, each with its one incomplete group');
SELECT is((SELECT array_agg((f ->> 'topic') || ' ' || ((f ->> 'frame')::jsonb ->> 'type') ORDER BY n)
             FROM t_r1, jsonb_array_elements(r -> 'frames') WITH ORDINALITY AS x(f, n)),
          ARRAY['user:900103 timesheet.reminder', 'user:900104 timesheet.reminder',
                'orgstaff:900001 timesheet.overdue', 'orgstaff:900002 timesheet.overdue'],
          'the teachers of the incomplete groups are reminded, the admins told, in lock order');
SELECT is((SELECT payload FROM events WHERE topic = 'user:900103'),
          '{"org_id": 900001, "group_id": 900012, "group_name": "Зайчики", "date": "2026-11-16",
            "deadline": "18:00", "unmarked": ["Мамина Аня"], "unmarked_count": 1}'::jsonb,
          'the reminder names the unmarked children');
SELECT is((SELECT payload -> 'groups' FROM events WHERE topic = 'orgstaff:900001'),
          '[{"group_id": 900012, "name": "Зайчики", "unmarked_count": 1}]'::jsonb,
          'the overdue event lists only the incomplete group, not the complete one');
SELECT is((SELECT count(*) FROM events WHERE topic = 'user:900102'), 0::bigint,
          'the teacher of the complete group is not reminded');
SELECT is((SELECT array_agg((payload ->> 'kind') || ' ' || (payload ->> 'user_id') ORDER BY id)
             FROM outbox WHERE kind = 'email.notify'),
          ARRAY['timesheet.reminder 900103', 'timesheet.reminder 900104', 'timesheet.overdue 900101'],
          'a mail to each reminded teacher and to the admin (the school has none)');
SELECT is((SELECT count(*) FROM reminder_runs WHERE day = '2026-11-16' AND finished_at IS NOT NULL
            AND groups_missed = 1), 2::bigint, 'each org''s run is recorded as finished');

-- ---- idempotent: the same evening again
SELECT is(epos_reminders_due('2026-11-16 19:00Z'), '{"runs": [], "frames": []}'::jsonb,
          'a second pass the same evening finds nothing due');
SELECT is((SELECT count(*) FROM events) + (SELECT count(*) FROM outbox), 7::bigint,
          'and appends and queues nothing');

-- ---- an operator's re-run
CREATE TEMP TABLE t_r2 AS SELECT epos_reminders_run(900001, '2026-11-16') AS r;
SELECT is((SELECT r #>> '{runs,0,attempt}' FROM t_r2), '2', 'a re-run bumps the attempt');
SELECT is((SELECT count(*) FROM outbox WHERE kind = 'email.notify' AND payload ->> 'message_id' LIKE '%.2@epos.local>'),
          2::bigint, 'its mails carry new Message-IDs');
SELECT is((SELECT array_agg(seq ORDER BY seq) FROM events WHERE topic = 'user:900103'), ARRAY[1, 2]::bigint[],
          'and its events the next seqs of the topics');
SELECT throws_ok($$SELECT epos_reminders_run(999999)$$, 'EP404', NULL, 'an unknown org is not found');

-- ---- when to look next
SELECT is(epos_reminders_next('2026-11-16 17:00Z'), 3600000::bigint, 'an hour before the deadline: 3 600 000 ms');
SELECT is(epos_reminders_next('2026-11-16 18:00Z'), 86400000::bigint, 'at the deadline: tomorrow''s');

SELECT * FROM finish();
ROLLBACK;
