-- 13-attendance.test.sql -- the timesheet: who may read and mark it, what a mark leaves behind, idempotent marks, the org's summary.
BEGIN;
\ir fixtures.sql
SELECT plan(48);
SELECT (now() AT TIME ZONE 'UTC')::date AS today \gset

-- ---- who may read a group's timesheet
SELECT throws_ok($$SELECT epos_api_timesheet_get(900102, 900102, NULL, '{}', NULL)$$, 'EP400', NULL,
                 'a read without group_id is refused');
SELECT throws_ok($$SELECT epos_api_timesheet_get(900102, 900102, NULL, '{"group_id": "999999"}', NULL)$$,
                 'EP404', NULL, 'an unknown group is not found');
SELECT throws_ok($$SELECT epos_api_timesheet_get(900201, 900201, NULL, '{"group_id": "900011"}', NULL)$$,
                 'EP403', NULL, 'a parent may not read a timesheet');
SELECT throws_ok($$SELECT epos_api_timesheet_get(900103, 900103, NULL, '{"group_id": "900011"}', NULL)$$,
                 'EP403', NULL, 'nor the teacher of another group');
SELECT throws_ok($$SELECT epos_api_timesheet_get(900104, 900104, NULL, '{"group_id": "900011"}', NULL)$$,
                 'EP403', NULL, 'nor a class teacher of another org');
SELECT throws_ok($$SELECT epos_api_timesheet_get(900102, 900102, NULL, '{"group_id": "900011", "date": "2026-13-01"}', NULL)$$,
                 'EP400', NULL, 'an impossible date is refused');
SELECT throws_ok($$SELECT epos_api_timesheet_get(900102, 900201, NULL, '{"group_id": "900011"}', NULL)$$,
                 'EP401', NULL, 'another user''s session is refused');
SELECT is(epos_api_timesheet_get(900101, 900101, NULL, '{"group_id": "900012"}', NULL) #>> '{body,group_name}',
          'Зайчики', 'the org''s admin reads any group''s timesheet');
CREATE TEMP TABLE t_get AS SELECT epos_api_timesheet_get(900102, 900102, NULL, '{"group_id": "900011"}', NULL) AS r;
SELECT is((SELECT r #>> '{body,date}' FROM t_get), :'today', 'the date defaults to today in the org''s time zone');
SELECT is((SELECT r #> '{body,children}' FROM t_get),
          '[{"child_id": 900301, "name": "Родителев Миша", "status": "unmarked", "source": null, "reason": null,
             "notice_id": null, "lessons": null, "notice": null}]'::jsonb, 'an unmarked child shows as unmarked');
SELECT is((SELECT (r -> 'body') - 'children' FROM t_get),
          jsonb_build_object('group_id', 900011, 'group_name', 'Солнышко', 'org_id', 900001, 'date', :'today',
                             'complete', false, 'deadline', '18:00', 'tz', 'UTC', 'workday', true),
          'the day is incomplete, with the org''s deadline and time zone');

-- ---- bad marks change nothing
SELECT throws_ok(format($$SELECT epos_api_timesheet_put(900102, 900102, NULL, '{}',
                   '{"group_id": 900011, "date": "%s", "marks": []}')$$, :'today'::date + 1),
                 'EP400', NULL, 'a future day is refused');
SELECT throws_ok(format($$SELECT epos_api_timesheet_put(900102, 900102, NULL, '{}',
                   '{"group_id": 900011, "date": "%s", "marks": []}')$$, :'today'::date - 32),
                 'EP400', NULL, 'a day more than 31 days ago is refused');
SELECT throws_ok($$SELECT epos_api_timesheet_put(900102, 900102, NULL, '{}',
                   '{"group_id": 900011, "marks": [{"child_id": 900301, "status": "present"},
                                                   {"child_id": 900302, "status": "present"}]}')$$,
                 'EP403', NULL, 'a child of another group is refused');
SELECT throws_ok($$SELECT epos_api_timesheet_put(900102, 900102, NULL, '{}',
                   '{"group_id": 900011, "marks": [{"child_id": 900301, "status": "present"},
                                                   {"child_id": 900301, "status": "absent"}]}')$$,
                 'EP400', NULL, 'a child listed twice is refused');
SELECT throws_ok($$SELECT epos_api_timesheet_put(900102, 900102, NULL, '{}',
                   '{"group_id": 900011, "marks": [{"child_id": 900301, "status": "late"}]}')$$,
                 'EP400', NULL, 'a status other than present or absent is refused');
SELECT throws_ok($$SELECT epos_api_timesheet_put(900102, 900102, NULL, '{}',
                   '{"group_id": 900011, "marks": [{"child_id": 900301, "status": "absent", "reason": 5}]}')$$,
                 'EP400', NULL, 'a reason that is not a string is refused');
SELECT throws_ok($$SELECT epos_api_timesheet_put(900102, 900102, NULL, '{}',
                   jsonb_build_object('group_id', 900011, 'marks', jsonb_build_array(jsonb_build_object(
                       'child_id', 900301, 'status', 'absent', 'reason', repeat('п', 501)))))$$,
                 'EP400', NULL, 'a reason past 500 characters is refused');
SELECT throws_ok($$SELECT epos_api_timesheet_put(900102, 900102, NULL, '{}', '{"group_id": 900011, "marks": {}}')$$,
                 'EP400', NULL, 'marks must be a list');
SELECT throws_ok($$SELECT epos_api_timesheet_put(900103, 900103, NULL, '{}',
                   '{"group_id": 900011, "marks": [{"child_id": 900301, "status": "present"}]}')$$,
                 'EP403', NULL, 'the teacher of another group may not mark');
SELECT is((SELECT count(*) FROM attendance_marks) + (SELECT count(*) FROM events), 0::bigint,
          'no refused mark left a row or an event');

-- ---- a first mark
CREATE TEMP TABLE t_p1 AS
SELECT epos_api_timesheet_put(900102, 900102, NULL, '{}',
       '{"group_id": 900011, "marks": [{"child_id": 900301, "status": "present"}]}') AS r;
SELECT is((SELECT r #>> '{body,complete}' FROM t_p1), 'true', 'marking the only child completes the day');
SELECT is((SELECT row(status, source, marked_by, reason)::text FROM attendance_marks
            WHERE child_id = 900301 AND day = :'today'), '(present,teacher,900102,)',
          'the mark is the teacher''s');
SELECT is((SELECT array_agg((f ->> 'topic') || ' ' || ((f ->> 'frame')::jsonb ->> 'type') ORDER BY n)
             FROM t_p1, jsonb_array_elements(r -> 'frames') WITH ORDINALITY AS x(f, n)),
          ARRAY['timesheet:900011 timesheet.mark', 'orgstaff:900001 timesheet.summary'],
          'a timesheet.mark for the group''s staff, then the summary for the admins');
SELECT is((SELECT payload FROM events WHERE topic = 'orgstaff:900001'),
          jsonb_build_object('org_id', 900001, 'date', :'today', 'group_id', 900011, 'name', 'Солнышко',
                             'total', 1, 'marked', 1, 'absent', 0, 'complete', true),
          'the summary counts the group''s day');
SELECT is((SELECT count(*) FROM audit_log WHERE action = 'timesheet.correct'), 0::bigint,
          'a first mark is no correction');

-- ---- the same marks again: nothing
SELECT is(epos_api_timesheet_put(900102, 900102, NULL, '{}',
          '{"group_id": 900011, "marks": [{"child_id": 900301, "status": "present"}]}') -> 'frames', '[]'::jsonb,
          'marks equal to the stored ones publish nothing');
SELECT is((SELECT count(*) FROM events), 2::bigint, 'and append no event');

-- ---- a correction to absent without a notice
CREATE TEMP TABLE t_p2 AS
SELECT epos_api_timesheet_put(900101, 900101, NULL, '{}',
       '{"group_id": 900011, "marks": [{"child_id": 900301, "status": "absent", "reason": " болеет "}]}') AS r;
SELECT is((SELECT row(status, source, marked_by, reason)::text FROM attendance_marks
            WHERE child_id = 900301 AND day = :'today'), '(absent,teacher,900101,болеет)',
          'the admin''s correction replaces the mark, reason trimmed');
SELECT is((SELECT detail -> 'before' ->> 'status' FROM audit_log WHERE action = 'timesheet.correct'
            AND actor_id = 900101), 'present', 'the correction is audited with the mark before it');
SELECT is((SELECT array_agg(f ->> 'topic' ORDER BY n)
             FROM t_p2, jsonb_array_elements(r -> 'frames') WITH ORDINALITY AS x(f, n)),
          ARRAY['timesheet:900011', 'user:900201', 'orgstaff:900001'],
          'the group''s staff, the enabled parent (not the disabled one) and the admins are told, in lock order');
SELECT is((SELECT payload FROM events WHERE topic = 'user:900201'),
          jsonb_build_object('child_id', 900301, 'child_name', 'Родителев Миша', 'date', :'today',
                             'group_id', 900011, 'group_name', 'Солнышко'),
          'the parent gets absence.unexplained');
SELECT is((SELECT count(*) FROM outbox WHERE kind = 'email.notify' AND payload ->> 'kind' = 'absence.unexplained'
            AND (payload ->> 'user_id')::bigint = 900201), 1::bigint, 'and one mail');
SELECT is((SELECT array_agg(seq ORDER BY seq) FROM events WHERE topic = 'timesheet:900011'), ARRAY[1, 2]::bigint[],
          'the group''s timesheet topic is gap-free');

-- ---- reasons: kept, replaced, cleared
SELECT is(epos_api_timesheet_put(900102, 900102, NULL, '{}',
          '{"group_id": 900011, "marks": [{"child_id": 900301, "status": "absent"}]}') -> 'frames', '[]'::jsonb,
          'the same status without a reason keeps the stored one: no change');
SELECT lives_ok($$SELECT epos_api_timesheet_put(900102, 900102, NULL, '{}',
                  '{"group_id": 900011, "marks": [{"child_id": 900301, "status": "absent", "reason": "  "}]}')$$,
                'a blank reason');
SELECT is((SELECT reason FROM attendance_marks WHERE child_id = 900301 AND day = :'today'), NULL,
          'clears the stored one');

-- ---- told once per child and day
SELECT lives_ok($$SELECT epos_api_timesheet_put(900102, 900102, NULL, '{}',
                  '{"group_id": 900011, "marks": [{"child_id": 900301, "status": "present"}]}')$$, 'present again');
SELECT lives_ok($$SELECT epos_api_timesheet_put(900102, 900102, NULL, '{}',
                  '{"group_id": 900011, "marks": [{"child_id": 900301, "status": "absent"}]}')$$, 'absent again');
SELECT is((SELECT count(*) FROM events WHERE topic = 'user:900201' AND type = 'absence.unexplained'), 1::bigint,
          'the parent is told of an unexplained absence once per day');

-- ---- an earlier day
SELECT is(epos_api_timesheet_put(900102, 900102, NULL, '{}',
          jsonb_build_object('group_id', 900011, 'date', (:'today'::date - 31)::text,
                             'marks', '[{"child_id": 900301, "status": "present"}]'::jsonb)) #>> '{body,date}',
          (:'today'::date - 31)::text, 'a day 31 days ago may still be marked');

-- ---- the org's summary (administrators)
SELECT throws_ok($$SELECT epos_api_timesheet_summary(900102, 900102, NULL, '{"org_id": "900001"}', NULL)$$,
                 'EP403', NULL, 'a teacher may not read the org''s summary');
SELECT throws_ok($$SELECT epos_api_timesheet_summary(900201, 900201, NULL, '{"org_id": "900001"}', NULL)$$,
                 'EP403', NULL, 'nor a parent');
SELECT throws_ok($$SELECT epos_api_timesheet_summary(900101, 900101, NULL, '{"org_id": "900002"}', NULL)$$,
                 'EP403', NULL, 'nor the admin of another org');
SELECT throws_ok($$SELECT epos_api_timesheet_summary(900101, 900101, NULL, '{"org_id": "999999"}', NULL)$$,
                 'EP404', NULL, 'an unknown org is not found');
SELECT throws_ok($$SELECT epos_api_timesheet_summary(900101, 900101, NULL, '{}', NULL)$$,
                 'EP400', NULL, 'a summary without org_id is refused');
SELECT is(epos_api_timesheet_summary(900101, 900101, NULL, '{"org_id": "900001"}', NULL) -> 'body',
          jsonb_build_object('org_id', 900001, 'date', :'today', 'workday', true, 'deadline', '18:00', 'tz', 'UTC',
                             'groups', '[{"group_id": 900012, "name": "Зайчики", "kind": "group", "total": 1,
                                          "marked": 0, "absent": 0, "complete": false},
                                         {"group_id": 900011, "name": "Солнышко", "kind": "group", "total": 1,
                                          "marked": 1, "absent": 1, "complete": true}]'::jsonb),
          'the admin sees every group of the org by name with its counts');

-- ---- the deadline the timesheet shows is the org's
UPDATE orgs SET timesheet_deadline = '17:30' WHERE id = 900001;
SELECT is(epos_api_timesheet_get(900102, 900102, NULL, '{"group_id": "900011"}', NULL) #>> '{body,deadline}',
          '17:30', 'the timesheet shows the org''s deadline');

SELECT * FROM finish();
ROLLBACK;
