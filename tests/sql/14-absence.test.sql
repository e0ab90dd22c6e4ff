-- 14-absence.test.sql -- absence notices: who may file, withdraw and list them, applying one (idempotent), never over a teacher's mark, answers.
BEGIN;
\ir fixtures.sql
SELECT plan(52);
SELECT (now() AT TIME ZONE 'UTC')::date AS today \gset

-- ---- who may file a notice, and bad bodies
SELECT throws_ok($$SELECT epos_api_absences_create(900201, 900201, NULL, '{}', '{"from": "2030-01-01", "reason": "x"}')$$,
                 'EP400', NULL, 'a notice without child_id is refused');
SELECT throws_ok(format($$SELECT epos_api_absences_create(900201, 900201, NULL, '{}',
                   '{"child_id": 999999, "from": "%s", "reason": "x"}')$$, :'today'),
                 'EP404', NULL, 'an unknown child is not found');
SELECT throws_ok(format($$SELECT epos_api_absences_create(900202, 900202, NULL, '{}',
                   '{"child_id": 900301, "from": "%s", "reason": "x"}')$$, :'today'),
                 'EP403', NULL, 'a parent may not file for another family''s child');
SELECT throws_ok(format($$SELECT epos_api_absences_create(900102, 900102, NULL, '{}',
                   '{"child_id": 900301, "from": "%s", "reason": "x"}')$$, :'today'),
                 'EP403', NULL, 'nor may the child''s teacher');
SELECT throws_ok(format($$SELECT epos_api_absences_create(900204, 900204, NULL, '{}',
                   '{"child_id": 900301, "from": "%s", "reason": "x"}')$$, :'today'),
                 'EP401', NULL, 'nor a disabled guardian');
SELECT throws_ok(format($$SELECT epos_api_absences_create(900201, 900201, NULL, '{}',
                   '{"child_id": 900301, "from": "%s", "reason": "x"}')$$, :'today'::date - 1),
                 'EP400', NULL, 'a past day is refused');
SELECT throws_ok(format($$SELECT epos_api_absences_create(900201, 900201, NULL, '{}',
                   '{"child_id": 900301, "from": "%s", "to": "%s", "reason": "x"}')$$,
                        :'today'::date + 2, :'today'::date + 1),
                 'EP400', NULL, 'an end before the start is refused');
SELECT throws_ok(format($$SELECT epos_api_absences_create(900201, 900201, NULL, '{}',
                   '{"child_id": 900301, "from": "%s", "to": "%s", "reason": "x"}')$$,
                        :'today', :'today'::date + 60),
                 'EP400', NULL, 'more than 60 days is refused');
SELECT throws_ok(format($$SELECT epos_api_absences_create(900201, 900201, NULL, '{}',
                   '{"child_id": 900301, "from": "%s", "reason": "x"}')$$, :'today'::date + 181),
                 'EP400', NULL, 'a day more than 180 days ahead is refused');
SELECT throws_ok(format($$SELECT epos_api_absences_create(900201, 900201, NULL, '{}',
                   '{"child_id": 900301, "from": "%s", "reason": "  "}')$$, :'today'),
                 'EP400', NULL, 'a blank reason is refused');
SELECT throws_ok(format($$SELECT epos_api_absences_create(900201, 900201, NULL, '{}',
                   '{"child_id": 900301, "from": "%s", "reason": "x", "lessons": [1]}')$$, :'today'),
                 'EP400', NULL, 'lessons are refused for a kindergarten group');
SELECT throws_ok(format($$SELECT epos_api_absences_create(900201, 900201, NULL, '{}',
                   '{"child_id": 900301, "from": "%s", "reason": "x", "cid": 7}')$$, :'today'),
                 'EP400', NULL, 'a cid that is not a string is refused');
SELECT throws_ok(format($$SELECT epos_api_absences_create(900203, 900203, NULL, '{}',
                   '{"child_id": 900303, "from": "%s", "reason": "x", "lessons": [6]}')$$, :'today'),
                 'EP400', NULL, 'a lesson past the class''s lessons per day is refused');
SELECT throws_ok(format($$SELECT epos_api_absences_create(900203, 900203, NULL, '{}',
                   '{"child_id": 900303, "from": "%s", "reason": "x", "lessons": [2, 2]}')$$, :'today'),
                 'EP400', NULL, 'a lesson listed twice is refused');
SELECT throws_ok(format($$SELECT epos_api_absences_create(900203, 900203, NULL, '{}',
                   '{"child_id": 900303, "from": "%s", "to": "%s", "reason": "x", "lessons": [1]}')$$,
                        :'today', :'today'::date + 1),
                 'EP400', NULL, 'lessons are refused for more than one day');
SELECT is((SELECT count(*) FROM absence_notices) + (SELECT count(*) FROM outbox), 0::bigint,
          'no refused notice left a row or a job');

-- ---- filing: the notice and its job, nothing applied yet
CREATE TEMP TABLE t_n1 AS
SELECT epos_api_absences_create(900201, 900201, NULL, '{}',
       jsonb_build_object('child_id', 900301, 'from', :'today', 'to', (:'today'::date + 1)::text,
                          'reason', ' Простуда ', 'cid', 'a1')) AS r;
CREATE TEMP TABLE t_id AS SELECT (r #>> '{body,absence,id}')::bigint AS n1 FROM t_n1;
SELECT is((SELECT r ->> 'status' FROM t_n1), '201', 'a parent files a notice for their child');
SELECT is((SELECT (r #> '{body,absence}') - ARRAY['id', 'created_at', 'updated_at'] FROM t_n1),
          jsonb_build_object('child_id', 900301, 'child_name', 'Родителев Миша', 'group_id', 900011,
                             'group_name', 'Солнышко', 'org_id', 900001, 'parent_id', 900201,
                             'parent_name', 'Родителев Павел Андреевич', 'from', :'today',
                             'to', (:'today'::date + 1)::text, 'lessons', NULL, 'reason', 'Простуда',
                             'status', 'active', 'applied', false, 'day_off', false, 'answers', '[]'::jsonb),
          'the notice is active, not yet applied, its reason trimmed');
SELECT is((SELECT count(*) FROM outbox WHERE kind = 'absence.apply'
            AND (payload ->> 'notice_id')::bigint = (SELECT n1 FROM t_id)), 1::bigint,
          'one absence.apply job is queued with it');
SELECT is((SELECT count(*) FROM attendance_marks) + (SELECT count(*) FROM events), 0::bigint,
          'filing marks nothing and publishes nothing by itself');
SELECT is((epos_api_absences_create(900201, 900201, NULL, '{}',
           jsonb_build_object('child_id', 900301, 'from', :'today', 'reason', 'другое', 'cid', 'a1'))
           #>> '{body,absence,id}')::bigint, (SELECT n1 FROM t_id), 'a repeated cid returns the notice it made');
SELECT is((SELECT count(*) FROM absence_notices) + (SELECT count(*) FROM outbox), 2::bigint,
          'and stores and queues nothing more');
SELECT throws_ok(format($$SELECT epos_api_absences_create(900201, 900201, NULL, '{}',
                   '{"child_id": 900301, "from": "%s", "to": "%s", "reason": "x"}')$$,
                        :'today'::date + 1, :'today'::date + 3),
                 'EP409', NULL, 'a notice overlapping an active one is a conflict');

-- ---- applying (the worker's job)
CREATE TEMP TABLE t_a1 AS SELECT epos_absence_apply((SELECT n1 FROM t_id)) AS r;
SELECT is((SELECT r -> 'days' FROM t_a1), jsonb_build_array(:'today', (:'today'::date + 1)::text),
          'applying marks both days');
SELECT is((SELECT array_agg(row(day - :'today'::date, status, source, reason, notice_id = (SELECT n1 FROM t_id))::text
                            ORDER BY day)
             FROM attendance_marks WHERE child_id = 900301),
          ARRAY['(0,absent,parent,Простуда,t)', '(1,absent,parent,Простуда,t)'],
          'absent from the parent, with the notice''s reason and id');
SELECT is((SELECT array_agg((f ->> 'topic') || ' ' || ((f ->> 'frame')::jsonb ->> 'type') ORDER BY n)
             FROM t_a1, jsonb_array_elements(r -> 'frames') WITH ORDINALITY AS x(f, n)),
          ARRAY['timesheet:900011 absence.notice', 'timesheet:900011 timesheet.mark',
                'timesheet:900011 timesheet.mark', 'user:900201 absence.status',
                'orgstaff:900001 timesheet.summary'],
          'the staff get the notice and a mark per day, the parent applied, the admins today''s summary');
SELECT is((SELECT payload ->> 'status' FROM events WHERE topic = 'user:900201' AND type = 'absence.status'),
          'applied', 'the parent''s event says applied');
SELECT is((SELECT array_agg((payload ->> 'kind') || ' ' || (payload ->> 'user_id') ORDER BY id)
             FROM outbox WHERE kind = 'email.notify'),
          ARRAY['absence.notice 900102', 'absence.status 900201'],
          'a mail to the group''s teacher and a confirmation to the parent');
SELECT is(epos_absence_item((SELECT n1 FROM t_id)) ->> 'applied', 'true', 'the notice shows applied');
SELECT is(epos_absence_apply((SELECT n1 FROM t_id)) -> 'frames', '[]'::jsonb,
          'applying it again publishes nothing');
SELECT is((SELECT count(*) FROM events) + (SELECT count(*) FROM outbox), 8::bigint,
          'and appends and queues nothing');
SELECT is(epos_absence_apply(999999), '{"days": [], "frames": []}'::jsonb, 'an unknown notice applies nothing');

-- ---- never over a teacher's mark; a teacher's absence becomes explained
SELECT lives_ok($$SELECT epos_api_timesheet_put(900104, 900104, NULL, '{}',
                  '{"group_id": 900021, "marks": [{"child_id": 900303, "status": "absent"}]}')$$,
                'the class teacher marks a pupil absent today');
CREATE TEMP TABLE t_n2 AS
SELECT (epos_api_absences_create(900203, 900203, NULL, '{}',
        jsonb_build_object('child_id', 900303, 'from', :'today', 'to', (:'today'::date + 1)::text,
                           'reason', 'Врач')) #>> '{body,absence,id}')::bigint AS n2;
SELECT is(epos_absence_apply((SELECT n2 FROM t_n2)) -> 'days', jsonb_build_array((:'today'::date + 1)::text),
          'the parent''s notice marks only the day the teacher left unmarked');
SELECT is((SELECT row(source, reason, notice_id = (SELECT n2 FROM t_n2))::text FROM attendance_marks
            WHERE child_id = 900303 AND day = :'today'), '(teacher,,t)',
          'the teacher''s absence stays theirs, explained by the notice');

-- ---- the teacher's answer: present on a day of the notice
SELECT lives_ok($$SELECT epos_api_timesheet_put(900104, 900104, NULL, '{}',
                  '{"group_id": 900021, "marks": [{"child_id": 900303, "status": "present"}]}')$$,
                'the class teacher marks the pupil present after all');
SELECT is(epos_absence_item((SELECT n2 FROM t_n2)) -> 'answers',
          jsonb_build_array(jsonb_build_object('date', :'today', 'status', 'corrected',
                                               'text', 'Учитель отметил, что ребёнок пришёл')),
          'the notice lists the teacher''s correction as an answer');
SELECT is((SELECT count(*) FROM outbox WHERE kind = 'email.notify' AND payload ->> 'kind' = 'absence.status'
            AND (payload ->> 'user_id')::bigint = 900203
            AND payload ->> 'message_id' LIKE '%.corrected.%'), 1::bigint, 'and the parent gets a mail about it');

-- ---- withdrawing
SELECT throws_ok($$SELECT epos_api_absences_withdraw(900201, 900201, 999999, '{}', NULL)$$, 'EP404', NULL,
                 'an unknown notice is not found');
SELECT throws_ok(format($$SELECT epos_api_absences_withdraw(900202, 900202, %s, '{}', NULL)$$, (SELECT n1 FROM t_id)),
                 'EP403', NULL, 'another family may not withdraw it');
SELECT throws_ok(format($$SELECT epos_api_absences_withdraw(900102, 900102, %s, '{}', NULL)$$, (SELECT n1 FROM t_id)),
                 'EP403', NULL, 'nor may the teacher');
CREATE TEMP TABLE t_w AS SELECT epos_api_absences_withdraw(900201, 900201, (SELECT n1 FROM t_id), '{}', NULL) AS r;
SELECT is((SELECT r #>> '{body,absence,status}' FROM t_w), 'withdrawn', 'the parent withdraws it');
SELECT is((SELECT count(*) FROM attendance_marks WHERE child_id = 900301), 0::bigint,
          'the parent''s marks from today on are removed');
SELECT is((SELECT array_agg(((f ->> 'frame')::jsonb -> 'data' ->> 'status') ORDER BY n)
             FROM t_w, jsonb_array_elements(r -> 'frames') WITH ORDINALITY AS x(f, n)
            WHERE (f ->> 'frame')::jsonb ->> 'type' IN ('timesheet.mark', 'absence.status')),
          ARRAY['unmarked', 'unmarked', 'withdrawn'], 'each removed day is unmarked live, and the parent is told');
SELECT is((SELECT detail -> 'days' FROM audit_log WHERE action = 'absence.withdraw'),
          jsonb_build_array(:'today', (:'today'::date + 1)::text), 'the withdrawal is audited with its days');
SELECT throws_ok(format($$SELECT epos_api_absences_withdraw(900201, 900201, %s, '{}', NULL)$$, (SELECT n1 FROM t_id)),
                 'EP409', NULL, 'withdrawing it again is a conflict');
SELECT is(epos_absence_apply((SELECT n1 FROM t_id)) -> 'frames', '[]'::jsonb, 'a withdrawn notice applies nothing');

-- ---- listing
SELECT is((SELECT array_agg((a ->> 'id')::bigint) FROM jsonb_array_elements(
             epos_api_absences_list(900201, 900201, NULL, '{}', NULL) #> '{body,absences}') a),
          ARRAY[(SELECT n1 FROM t_id)], 'a parent lists their children''s notices only');
SELECT is(jsonb_array_length(epos_api_absences_list(900102, 900102, NULL, '{}', NULL) #> '{body,absences}'), 1,
          'a teacher lists their group''s');
SELECT is(epos_api_absences_list(900103, 900103, NULL, '{}', NULL) #> '{body,absences}', '[]'::jsonb,
          'the teacher of another group lists none of them');
SELECT throws_ok($$SELECT epos_api_absences_list(900202, 900202, NULL, '{"child_id": "900301"}', NULL)$$,
                 'EP403', NULL, 'another family''s child is refused');
SELECT throws_ok($$SELECT epos_api_absences_list(900202, 900202, NULL, '{"child_id": "999999"}', NULL)$$,
                 'EP404', NULL, 'an unknown child is not found');

SELECT * FROM finish();
ROLLBACK;
