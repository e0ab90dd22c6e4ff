-- fixtures.sql -- the small region every pgTAP file starts from (\ir fixtures.sql inside its transaction).
--
-- Ids from 900001 up, so rows the functions make (from their sequences) never
-- meet them. Org 900001 (kindergarten «Ромашка», tz UTC, workdays Monday to
-- Friday) with groups 900011 «Солнышко» and 900012 «Зайчики»; org 900002
-- (school) with class 900021 «1А».
--   900101 admin   — admin of 900001
--   900102 teacher — teacher of 900001, bound to group 900011
--   900103 teacher2— teacher of 900001, bound to group 900012
--   900104 ctwo    — class teacher of 900021 in org 900002
--   900201 parent  — guardian of child 900301 (group 900011)
--   900202 parent2 — guardian of child 900302 (group 900012)
--   900203 parent3 — guardian of child 900303 (class 900021, the other org)
--   900204 gone    — disabled parent of child 900301
-- Each user has a live session with the same id as the user (sid = uid),
-- except gone, whose session 900204 is live but whose account is disabled.
INSERT INTO orgs (id, name, kind, tz) VALUES
    (900001, 'Ромашка', 'kindergarten', 'UTC'),
    (900002, 'Школа 1', 'school', 'UTC');
INSERT INTO groups (id, org_id, name, kind, lessons_per_day) VALUES
    (900011, 900001, 'Солнышко', 'group', 0),
    (900012, 900001, 'Зайчики', 'group', 0),
    (900021, 900002, '1А', 'class', 5);
INSERT INTO users (id, login, full_name, email, disabled) VALUES
    (900101, 't.admin', 'Админова Анна Петровна', 'admin@example.test', false),
    (900102, 't.teacher', 'Учителева Мария Ивановна', 'teacher@example.test', false),
    (900103, 't.teacher2', 'Воспитателева Ольга Ильинична', 'teacher2@example.test', false),
    (900104, 't.ctwo', 'Классова Ирина Сергеевна', 'ctwo@example.test', false),
    (900201, 't.parent', 'Родителев Павел Андреевич', 'parent@example.test', false),
    (900202, 't.parent2', 'Мамина Елена Олеговна', 'parent2@example.test', false),
    (900203, 't.parent3', 'Школьников Игорь Петрович', 'parent3@example.test', false),
    (900204, 't.gone', 'Ушедшая Нина Юрьевна', NULL, true);
INSERT INTO staff_roles (user_id, org_id, role) VALUES
    (900101, 900001, 'admin'),
    (900102, 900001, 'teacher'),
    (900103, 900001, 'teacher'),
    (900104, 900002, 'class_teacher');
INSERT INTO teacher_groups (user_id, group_id) VALUES (900102, 900011), (900103, 900012);
INSERT INTO class_teachers (group_id, user_id) VALUES (900021, 900104);
INSERT INTO children (id, org_id, full_name) VALUES
    (900301, 900001, 'Родителев Миша'),
    (900302, 900001, 'Мамина Аня'),
    (900303, 900002, 'Школьников Петя');
INSERT INTO enrolments (child_id, group_id) VALUES
    (900301, 900011), (900302, 900012), (900303, 900021);
INSERT INTO guardians (user_id, child_id) VALUES
    (900201, 900301), (900202, 900302), (900203, 900303), (900204, 900301);
INSERT INTO sessions (id, user_id, expires_at)
SELECT id, id, now() + interval '1 day' FROM users WHERE id BETWEEN 900001 AND 999999;
-- The days around today (UTC, the orgs' time zone) are workdays of both orgs
-- by their calendar, so no test depends on the weekday it runs on.
INSERT INTO org_calendar (org_id, day, kind)
SELECT o, (now() AT TIME ZONE 'UTC')::date + d, 'workday'
  FROM unnest(ARRAY[900001, 900002]) AS o, generate_series(-7, 7) AS d;
