-- deadline-data.sql -- the 18:00 pass benchmark: :orgs orgs of :groups groups, each with one bound
-- teacher (a session each) and one child nobody has marked today, deadline :'deadline' (UTC).
--
-- Run by bench/run-deadline.sh with psql -v orgs=50 -v groups=100 -v deadline=HH:MM:SS
-- on a freshly migrated database. Today (UTC) is made a workday of every org
-- whatever the weekday, so every group misses the deadline and each teacher
-- gets one timesheet.reminder.
\set ON_ERROR_STOP on
BEGIN;

INSERT INTO orgs (name, kind, tz, timesheet_deadline)
SELECT 'Дедлайн ' || o, 'kindergarten', 'UTC', :'deadline'::time
  FROM generate_series(1, :orgs) AS o;

INSERT INTO org_calendar (org_id, day, kind)
SELECT id, (now() AT TIME ZONE 'UTC')::date, 'workday' FROM orgs WHERE name LIKE 'Дедлайн %';

INSERT INTO groups (org_id, name, kind)
SELECT o.id, 'Группа ' || g, 'group'
  FROM orgs o CROSS JOIN generate_series(1, :groups) AS g
 WHERE o.name LIKE 'Дедлайн %';

INSERT INTO users (login, full_name)
SELECT 'dl' || g.id, 'Воспитатель ' || g.id
  FROM groups g JOIN orgs o ON o.id = g.org_id
 WHERE o.name LIKE 'Дедлайн %';

INSERT INTO staff_roles (user_id, org_id, role)
SELECT u.id, g.org_id, 'teacher' FROM groups g JOIN users u ON u.login = 'dl' || g.id;

INSERT INTO teacher_groups (user_id, group_id)
SELECT u.id, g.id FROM groups g JOIN users u ON u.login = 'dl' || g.id;

INSERT INTO children (org_id, full_name)
SELECT g.org_id, 'Ребёнок ' || g.id FROM groups g JOIN users u ON u.login = 'dl' || g.id;

INSERT INTO enrolments (child_id, group_id)
SELECT c.id, g.id FROM groups g JOIN children c ON c.full_name = 'Ребёнок ' || g.id;

INSERT INTO sessions (user_id, expires_at)
SELECT id, now() + interval '2 days' FROM users WHERE login LIKE 'dl%';

COMMIT;
ANALYZE;
