-- 16-orgs.test.sql -- an admin's org: settings, calendar, staff, group teachers; who may, and what each change leaves behind.
BEGIN;
\ir fixtures.sql
SELECT plan(30);
SELECT to_char((now() AT TIME ZONE 'UTC')::date + 60, 'YYYY-MM') AS month,
       (SELECT d FROM generate_series((now() AT TIME ZONE 'UTC')::date + 30, (now() AT TIME ZONE 'UTC')::date + 36,
                                      interval '1 day') AS g(d)
         WHERE extract(isodow FROM d) = 1 LIMIT 1)::date::text AS monday \gset

-- ---- settings
SELECT throws_ok($$SELECT epos_api_org_update(900102, 900102, 900001, '{}', '{"tz": "UTC"}')$$, 'EP403', NULL,
                 'a teacher may not change the org');
SELECT throws_ok($$SELECT epos_api_org_update(900201, 900201, 900001, '{}', '{"tz": "UTC"}')$$, 'EP403', NULL,
                 'nor a parent');
SELECT throws_ok($$SELECT epos_api_org_update(900101, 900101, 900002, '{}', '{"tz": "UTC"}')$$, 'EP403', NULL,
                 'nor the admin of another org');
SELECT throws_ok($$SELECT epos_api_org_update(900101, 900101, 999999, '{}', '{}')$$, 'EP404', NULL,
                 'an unknown org is not found');
SELECT throws_ok($$SELECT epos_api_org_update(900101, 900101, 900001, '{}', '{"tz": "Mars/Olympus"}')$$,
                 'EP400', NULL, 'an unknown time zone is refused');
SELECT throws_ok($$SELECT epos_api_org_update(900101, 900101, 900001, '{}', '{"timesheet_deadline": "24:00"}')$$,
                 'EP400', NULL, 'an impossible deadline is refused');
SELECT throws_ok($$SELECT epos_api_org_update(900101, 900101, 900001, '{}', '{"quiet_hours": "20-8"}')$$,
                 'EP400', NULL, 'quiet hours must be an object');
SELECT is((SELECT row(tz, timesheet_deadline, quiet_from, quiet_to)::text FROM orgs WHERE id = 900001),
          '(UTC,18:00:00,20:00:00,08:00:00)', 'no refused change touched the org');
CREATE TEMP TABLE t_up AS
SELECT epos_api_org_update(900101, 900101, 900001, '{}',
       '{"timesheet_deadline": "17:30", "quiet_hours": {"from": "21:00", "to": "07:00"}}') AS r;
SELECT is((SELECT row(tz, timesheet_deadline, quiet_from, quiet_to)::text FROM orgs WHERE id = 900001),
          '(UTC,17:30:00,21:00:00,07:00:00)', 'the admin changes the deadline and quiet hours; tz is kept');
SELECT is((SELECT r #>> '{body,timesheet_deadline}' FROM t_up), '17:30', 'the answer is the org as changed');
SELECT is((SELECT detail -> 'before' ->> 'timesheet_deadline' FROM audit_log WHERE action = 'org.update'), '18:00',
          'the change is audited with the settings before it');

-- ---- calendar
SELECT throws_ok($$SELECT epos_api_org_calendar_get(900203, 900203, 900001, '{}', NULL)$$, 'EP403', NULL,
                 'a parent of another org may not read the calendar');
SELECT throws_ok($$SELECT epos_api_org_calendar_get(900201, 900201, 900001, '{"month": "2026-13"}', NULL)$$,
                 'EP400', NULL, 'an impossible month is refused');
SELECT throws_ok($$SELECT epos_api_org_calendar_get(900201, 900201, 999999, '{}', NULL)$$, 'EP404', NULL,
                 'an unknown org is not found');
SELECT is(jsonb_array_length(epos_api_org_calendar_get(900201, 900201, 900001, '{"month": "2026-02"}', NULL)
                             #> '{body,days}'), 28, 'a parent of the org reads a month, every day of it');
SELECT throws_ok(format($$SELECT epos_api_org_calendar_put(900102, 900102, 900001, '{"key": "%s"}', '{"kind": "holiday"}')$$,
                        :'monday'), 'EP403', NULL, 'a teacher may not change the calendar');
SELECT throws_ok(format($$SELECT epos_api_org_calendar_put(900101, 900101, 900001, '{"key": "%s"}', '{"kind": "rest"}')$$,
                        :'monday'), 'EP400', NULL, 'an unknown kind is refused');
SELECT throws_ok($$SELECT epos_api_org_calendar_put(900101, 900101, 900001, '{"key": "2000-01-03"}', '{"kind": "holiday"}')$$,
                 'EP400', NULL, 'a day more than a year back is refused');
SELECT is(epos_api_org_calendar_put(900101, 900101, 900001, jsonb_build_object('key', :'monday'), '{"kind": "holiday"}')
          -> 'body', jsonb_build_object('org_id', 900001, 'date', :'monday', 'kind', 'holiday', 'override', true),
          'the admin makes a Monday a holiday');
SELECT is((SELECT kind FROM org_calendar WHERE org_id = 900001 AND day = :'monday'), 'holiday',
          'the override is stored');
SELECT ok(NOT epos_is_workday(900001, :'monday'), 'and the day is no workday');
SELECT is(epos_api_org_calendar_put(900101, 900101, 900001, jsonb_build_object('key', :'monday'), '{"kind": "workday"}')
          #>> '{body,override}', 'false', 'setting the default back');
SELECT is((SELECT count(*) FROM org_calendar WHERE org_id = 900001 AND day = :'monday'), 0::bigint,
          'removes the override');

-- ---- staff and group teachers
SELECT throws_ok($$SELECT epos_api_org_staff(900102, 900102, 900001, '{}', NULL)$$, 'EP403', NULL,
                 'a teacher may not list the staff');
SELECT is((SELECT array_agg((s ->> 'id') || ' ' || (s ->> 'roles') ORDER BY n)
             FROM jsonb_array_elements(epos_api_org_staff(900101, 900101, 900001, '{}', NULL) #> '{body,staff}')
                  WITH ORDINALITY AS x(s, n)),
          ARRAY['900101 ["admin"]', '900103 ["teacher"]', '900102 ["teacher"]'],
          'the admin lists the org''s staff by name with their roles');
SELECT throws_ok($$SELECT epos_api_group_teachers(900102, 900102, 900011, '{}', '{"user_ids": [900102]}')$$,
                 'EP403', NULL, 'a teacher may not bind teachers');
SELECT throws_ok($$SELECT epos_api_group_teachers(900101, 900101, 900011, '{}', '{"user_ids": [900104]}')$$,
                 'EP403', NULL, 'a teacher of another org may not be bound');
SELECT throws_ok($$SELECT epos_api_group_teachers(900101, 900101, 900011, '{}', '{"user_ids": [900204]}')$$,
                 'EP400', NULL, 'a disabled user may not be bound');
CREATE TEMP TABLE t_bind AS
SELECT epos_api_group_teachers(900101, 900101, 900011, '{}', '{"user_ids": [900103]}') AS r;
SELECT is((SELECT array_agg(user_id ORDER BY user_id) FROM teacher_groups WHERE group_id = 900011),
          ARRAY[900103]::bigint[], 'the group''s teachers become exactly those given');
SELECT is((SELECT r -> 'refresh' FROM t_bind), '[900102, 900103]'::jsonb,
          'the old and the new teacher have their topics refreshed');

SELECT * FROM finish();
ROLLBACK;
