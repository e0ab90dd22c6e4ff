-- 13-daysoff.test.sql -- days off: a notice for one is kept and said so, no mark is written or taken,
-- and opening or closing the day in the calendar moves the parent's mark with it.
BEGIN;
\ir fixtures.sql
SELECT plan(12);

-- The next Saturday after the org's today (a day off of its calendar), the latest weekend day up to
-- today (a day off marks could be written for), and a notice for the next Saturday.
CREATE TEMP TABLE t_day AS
SELECT (SELECT min(x)::date FROM generate_series(epos_org_today(900001) + 1, epos_org_today(900001) + 7,
                                                 interval '1 day') x WHERE extract(isodow FROM x) = 6) AS sat,
       (SELECT max(x)::date FROM generate_series(epos_org_today(900001) - 6, epos_org_today(900001),
                                                 interval '1 day') x WHERE extract(isodow FROM x) >= 6) AS past;
-- The fixtures make the days around today workdays: these two are weekend days off again.
DELETE FROM org_calendar WHERE org_id = 900001 AND day IN ((SELECT sat FROM t_day), (SELECT past FROM t_day));
INSERT INTO absence_notices (id, child_id, parent_id, from_date, to_date, reason)
SELECT 900401, 900301, 900201, sat, sat, 'Болеет' FROM t_day;

CREATE TEMP TABLE t_apply AS SELECT epos_absence_apply(900401) AS r;
SELECT is((SELECT r -> 'days' FROM t_apply), '[]'::jsonb, 'a notice for a day off marks no day');
SELECT is((SELECT count(*) FROM attendance_marks WHERE notice_id = 900401), 0::bigint, 'no mark is written');
SELECT is((SELECT e.payload ->> 'status' FROM events e WHERE e.topic = 'user:900201' AND e.type = 'absence.status'
            ORDER BY e.seq DESC LIMIT 1), 'day_off', 'the parent is told it is for a day off, not applied');
SELECT is((SELECT jsonb_build_array(x -> 'applied', x -> 'day_off', x -> 'status') FROM epos_absence_item(900401) x),
          '[false, true, "active"]'::jsonb, 'the notice is kept: active, not applied, for a day off');
SELECT is((SELECT c -> 'notice' ->> 'id' FROM jsonb_array_elements(
               epos_timesheet_body(900011, (SELECT sat FROM t_day)) -> 'children') c
            WHERE (c ->> 'child_id')::bigint = 900301), '900401', 'the day''s board shows the notice, unmarked');

SELECT throws_ok(format($$SELECT epos_api_timesheet_put(900102, 900102, NULL, '{}',
                   '{"group_id": 900011, "date": "%s", "marks": [{"child_id": 900301, "status": "present"}]}')$$,
                        (SELECT past FROM t_day)), 'EP409', NULL, 'a day off takes no marks');
SELECT throws_ok(format($$SELECT epos_api_timesheet_put(900101, 900101, NULL, '{}',
                   '{"group_id": 900011, "date": "%s", "marks": []}')$$, (SELECT past FROM t_day)),
                 'EP409', NULL, 'not from an administrator either, until the day is opened');

-- Opening the day applies the notice; closing it takes the parent's mark back and keeps the notice.
SELECT lives_ok(format($$SELECT epos_api_org_calendar_put(900101, 900101, 900001, '{"key": "%s"}',
                          '{"kind": "workday"}')$$, (SELECT sat FROM t_day)), 'the administrator opens the day');
SELECT is((SELECT jsonb_build_array(status, source) FROM attendance_marks
            WHERE child_id = 900301 AND day = (SELECT sat FROM t_day) AND notice_id = 900401),
          '["absent", "parent"]'::jsonb, 'an opened day takes the notice''s absence');
SELECT is((epos_absence_item(900401) -> 'applied'), 'true'::jsonb, 'now applied');
SELECT lives_ok(format($$SELECT epos_api_org_calendar_put(900101, 900101, 900001, '{"key": "%s"}',
                          '{"kind": "holiday"}')$$, (SELECT sat FROM t_day)), 'the day is closed again');
SELECT is((SELECT jsonb_build_array(x -> 'applied', x -> 'day_off', x -> 'status') FROM epos_absence_item(900401) x)
          || to_jsonb((SELECT count(*) FROM attendance_marks WHERE child_id = 900301 AND day = (SELECT sat FROM t_day))),
          '[false, true, "active", 0]'::jsonb, 'closed: the parent''s mark is gone, the notice kept');

SELECT * FROM finish();
ROLLBACK;
