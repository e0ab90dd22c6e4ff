-- roster.sql -- the roster sync (POST /api/roster, eposctl roster import): upsert by ext_id, end what a full sync omits.
--
-- The document (docs/PROTOCOL.md, "Roster sync"):
--   {"mode":"delta"|"full","org":ext_id?,"orgs":[…],"groups":[…],"people":[…],
--    "staff":[…],"bindings":[…],"children":[…],"guardians":[…]}
-- A malformed document (not an object, an unknown key, a bad mode, a section
-- that is not an array, a full sync without a known org) raises EP400/EP404
-- and changes nothing. Each row is applied in its own subtransaction: a bad
-- row is rejected with a code and a reason and never aborts the others.
-- Rows are applied kind by kind in dependency order, so a document may
-- create an org, its groups, people and their relations at once.
--
-- Row functions return {"o": outcome, "r": [user ids whose topics change],
-- "k": [keys a full sync keeps]}; outcome is created|updated|unchanged|ended.
-- They reject a row by raising SQLSTATE ER422 with the code in HINT.

-- ---------------------------------------------------------------- row helpers

-- epos_roster_reject(code, message) raises ER422 (a rejected row) with the code as HINT.
-- VOLATILE: a stable or immutable one would be folded (and raise) wherever
-- its arguments are constants.
CREATE OR REPLACE FUNCTION epos_roster_reject(p_code text, p_message text) RETURNS void
LANGUAGE plpgsql VOLATILE AS $$
-- @plpgsql_check_options: performance_warnings = false
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'ER422', MESSAGE = p_message, HINT = p_code;
END
$$;

-- epos_roster_text(row, field, max, required) -> the field's string: NULL
-- when absent or null and not required; rejects (bad_row) anything but a
-- string of 1..max characters without surrounding spaces or control characters.
CREATE OR REPLACE FUNCTION epos_roster_text(p_row jsonb, p_field text, p_max int, p_required boolean)
RETURNS text
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v text;
BEGIN
    IF p_row -> p_field IS NULL OR jsonb_typeof(p_row -> p_field) = 'null' THEN
        IF p_required THEN
            PERFORM epos_roster_reject('bad_row', format('Нет поля «%s»', p_field));
        END IF;
        RETURN NULL;
    END IF;
    v := p_row ->> p_field;
    IF jsonb_typeof(p_row -> p_field) <> 'string' OR v = '' OR char_length(v) > p_max
       OR v <> btrim(v) OR v ~ '[[:cntrl:]]' THEN
        PERFORM epos_roster_reject('bad_row',
            format('Поле «%s» должно быть непустой строкой до %s символов без пробелов по краям', p_field, p_max));
    END IF;
    RETURN v;
END
$$;

-- epos_roster_flag(row, field) -> the boolean field, false when absent; rejects (bad_row) a non-boolean.
CREATE OR REPLACE FUNCTION epos_roster_flag(p_row jsonb, p_field text) RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    IF p_row -> p_field IS NULL OR jsonb_typeof(p_row -> p_field) = 'null' THEN
        RETURN false;
    END IF;
    IF jsonb_typeof(p_row -> p_field) <> 'boolean' THEN
        PERFORM epos_roster_reject('bad_row', format('Поле «%s» должно быть true или false', p_field));
    END IF;
    RETURN (p_row -> p_field)::boolean;
END
$$;

-- epos_roster_out(outcome, refresh, keep) -> a row function's answer.
CREATE OR REPLACE FUNCTION epos_roster_out(p_outcome text, p_refresh bigint[], p_keep text[]) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_build_object('o', p_outcome, 'r', to_jsonb(coalesce(p_refresh, '{}')),
                              'k', to_jsonb(coalesce(p_keep, '{}')))
$$;

-- epos_roster_org_of(ext) -> the org's id; rejects unknown_org.
CREATE OR REPLACE FUNCTION epos_roster_org_of(p_ext text) RETURNS bigint
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v bigint;
BEGIN
    SELECT o.id INTO v FROM orgs o WHERE o.ext_id = p_ext;
    IF NOT FOUND THEN
        PERFORM epos_roster_reject('unknown_org', format('Организация «%s» не найдена', p_ext));
    END IF;
    RETURN v;
END
$$;

-- epos_roster_person_of(ext) -> the person's user id; rejects unknown_person.
CREATE OR REPLACE FUNCTION epos_roster_person_of(p_ext text) RETURNS bigint
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v bigint;
BEGIN
    SELECT u.id INTO v FROM users u WHERE u.ext_id = p_ext;
    IF NOT FOUND THEN
        PERFORM epos_roster_reject('unknown_person', format('Человек «%s» не найден', p_ext));
    END IF;
    RETURN v;
END
$$;

-- epos_roster_group_of(ext) -> (id, org) of an open group; rejects unknown_group.
CREATE OR REPLACE FUNCTION epos_roster_group_of(p_ext text, OUT o_id bigint, OUT o_org bigint)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    SELECT g.id, g.org_id INTO o_id, o_org FROM groups g WHERE g.ext_id = p_ext AND g.ended_at IS NULL;
    IF NOT FOUND THEN
        PERFORM epos_roster_reject('unknown_group', format('Группа «%s» не найдена или закрыта', p_ext));
    END IF;
END
$$;

-- epos_roster_in_org(org, full) rejects (outside_org) a row of another org than a full sync's.
CREATE OR REPLACE FUNCTION epos_roster_in_org(p_org bigint, p_full bigint) RETURNS void
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    IF p_full IS NOT NULL AND p_org IS DISTINCT FROM p_full THEN
        PERFORM epos_roster_reject('outside_org', 'Строка относится к другой организации, чем полная синхронизация');
    END IF;
END
$$;

-- epos_roster_end(sync, kind, user, child, group, org, role, since) records an ended relation.
CREATE OR REPLACE FUNCTION epos_roster_end(p_sync bigint, p_kind text, p_user bigint, p_child bigint,
                                           p_group bigint, p_org bigint, p_role text, p_since date)
RETURNS void
LANGUAGE sql AS $$
    INSERT INTO roster_ended (sync_id, kind, user_id, child_id, group_id, org_id, role, since)
    VALUES (p_sync, p_kind, p_user, p_child, p_group, p_org, p_role, p_since)
$$;

-- ---------------------------------------------------------------- rows: orgs, groups, people

-- An org {ext_id, name, kind, tz?}: found by ext_id, else an org of that
-- name without an ext_id is adopted, else created. Rejects conflict when the
-- name belongs to another org, bad_row for a kind or tz it does not know.
CREATE OR REPLACE FUNCTION epos_roster_org_row(p_row jsonb, p_full bigint, p_sync bigint) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_ext  text := epos_roster_text(p_row, 'ext_id', 128, true);
    v_name text := epos_roster_text(p_row, 'name', 200, true);
    v_kind text := epos_roster_text(p_row, 'kind', 32, true);
    v_tz   text := epos_roster_text(p_row, 'tz', 64, false);
    v_org  orgs%ROWTYPE;
BEGIN
    IF v_kind NOT IN ('kindergarten', 'school') THEN
        PERFORM epos_roster_reject('bad_row', 'Поле «kind» организации: kindergarten или school');
    END IF;
    IF v_tz IS NOT NULL AND NOT EXISTS (SELECT 1 FROM pg_timezone_names z WHERE z.name = v_tz) THEN
        PERFORM epos_roster_reject('bad_row', format('Неизвестный часовой пояс «%s»', v_tz));
    END IF;
    SELECT * INTO v_org FROM orgs o WHERE o.ext_id = v_ext FOR UPDATE;
    IF NOT FOUND THEN
        SELECT * INTO v_org FROM orgs o WHERE o.name = v_name AND o.ext_id IS NULL FOR UPDATE;
    END IF;
    PERFORM epos_roster_in_org(v_org.id, p_full);
    IF EXISTS (SELECT 1 FROM orgs o WHERE o.name = v_name AND o.id IS DISTINCT FROM v_org.id) THEN
        PERFORM epos_roster_reject('conflict', format('Организация с названием «%s» уже есть', v_name));
    END IF;
    IF v_org.id IS NULL THEN
        INSERT INTO orgs (ext_id, name, kind, tz, synced_at)
        VALUES (v_ext, v_name, v_kind, coalesce(v_tz, 'Asia/Yekaterinburg'), now());
        RETURN epos_roster_out('created', NULL, NULL);
    END IF;
    IF v_org.ext_id IS NOT DISTINCT FROM v_ext AND v_org.name = v_name AND v_org.kind = v_kind
       AND v_org.tz = coalesce(v_tz, v_org.tz) THEN
        RETURN epos_roster_out('unchanged', NULL, NULL);
    END IF;
    UPDATE orgs o SET ext_id = v_ext, name = v_name, kind = v_kind, tz = coalesce(v_tz, o.tz), synced_at = now()
     WHERE o.id = v_org.id;
    RETURN epos_roster_out('updated', NULL, NULL);
END
$$;

-- A group {ext_id, org, name, kind, lessons_per_day?, ended?}: found by
-- ext_id, else a group of that name in the org without an ext_id is adopted,
-- else created. "ended": true closes it (its row stays); a closed group
-- that comes again reopens. Rejects unknown_org, conflict (another group has
-- the name, or the group is another org's), bad_row.
CREATE OR REPLACE FUNCTION epos_roster_group_row(p_row jsonb, p_full bigint, p_sync bigint) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_ext     text := epos_roster_text(p_row, 'ext_id', 128, true);
    v_orgext  text := epos_roster_text(p_row, 'org', 128, true);
    v_name    text := epos_roster_text(p_row, 'name', 200, true);
    v_kind    text := epos_roster_text(p_row, 'kind', 32, true);
    v_ended   boolean := epos_roster_flag(p_row, 'ended');
    v_lessons integer;
    v_org     bigint;
    v_g       groups%ROWTYPE;
BEGIN
    IF v_kind NOT IN ('group', 'class') THEN
        PERFORM epos_roster_reject('bad_row', 'Поле «kind» группы: group или class');
    END IF;
    IF p_row -> 'lessons_per_day' IS NOT NULL AND jsonb_typeof(p_row -> 'lessons_per_day') <> 'null' THEN
        IF jsonb_typeof(p_row -> 'lessons_per_day') <> 'number'
           OR (p_row ->> 'lessons_per_day') !~ '^([0-9]|1[0-2])$' THEN
            PERFORM epos_roster_reject('bad_row', 'Поле «lessons_per_day»: целое от 0 до 12');
        END IF;
        v_lessons := (p_row ->> 'lessons_per_day')::integer;
    END IF;
    v_org := epos_roster_org_of(v_orgext);
    PERFORM epos_roster_in_org(v_org, p_full);
    SELECT * INTO v_g FROM groups g WHERE g.ext_id = v_ext FOR UPDATE;
    IF NOT FOUND THEN
        SELECT * INTO v_g FROM groups g WHERE g.org_id = v_org AND g.name = v_name AND g.ext_id IS NULL FOR UPDATE;
    END IF;
    IF v_g.id IS NOT NULL AND v_g.org_id <> v_org THEN
        PERFORM epos_roster_reject('conflict', format('Группа «%s» принадлежит другой организации', v_ext));
    END IF;
    IF EXISTS (SELECT 1 FROM groups g WHERE g.org_id = v_org AND g.name = v_name AND g.id IS DISTINCT FROM v_g.id) THEN
        PERFORM epos_roster_reject('conflict', format('В организации уже есть группа «%s»', v_name));
    END IF;
    IF v_g.id IS NULL THEN
        INSERT INTO groups (ext_id, org_id, name, kind, lessons_per_day, synced_at, ended_at)
        VALUES (v_ext, v_org, v_name, v_kind, coalesce(v_lessons, 0), now(), CASE WHEN v_ended THEN now() END)
        RETURNING * INTO v_g;
        RETURN epos_roster_out(CASE WHEN v_ended THEN 'ended' ELSE 'created' END, NULL,
                               CASE WHEN NOT v_ended THEN ARRAY['g:' || v_g.id] END);
    END IF;
    IF v_g.ext_id IS NOT DISTINCT FROM v_ext AND v_g.name = v_name AND v_g.kind = v_kind
       AND v_g.lessons_per_day = coalesce(v_lessons, v_g.lessons_per_day) AND (v_g.ended_at IS NOT NULL) = v_ended THEN
        RETURN epos_roster_out('unchanged', NULL, CASE WHEN NOT v_ended THEN ARRAY['g:' || v_g.id] END);
    END IF;
    UPDATE groups g SET ext_id = v_ext, name = v_name, kind = v_kind,
                        lessons_per_day = coalesce(v_lessons, g.lessons_per_day), synced_at = now(),
                        ended_at = CASE WHEN NOT v_ended THEN NULL ELSE coalesce(g.ended_at, now()) END
     WHERE g.id = v_g.id;
    RETURN epos_roster_out(CASE WHEN v_ended AND v_g.ended_at IS NULL THEN 'ended' ELSE 'updated' END, NULL,
                           CASE WHEN NOT v_ended THEN ARRAY['g:' || v_g.id] END);
END
$$;

-- epos_roster_login(ext, email) -> a free login for a new person: the
-- email, else the ext_id (lowercased, when either is a valid login), else
-- 'p' and 12 hex digits of the ext_id's MD5.
CREATE OR REPLACE FUNCTION epos_roster_login(p_ext text, p_email text) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v text;
BEGIN
    FOREACH v IN ARRAY ARRAY[lower(coalesce(p_email, '')), lower(p_ext), 'p' || left(md5(p_ext), 12)] LOOP
        IF v ~ '^[a-z0-9][a-z0-9._@-]{0,63}$' AND NOT EXISTS (SELECT 1 FROM users u WHERE u.login = v) THEN
            RETURN v;
        END IF;
    END LOOP;
    RETURN 'p' || md5(p_ext || clock_timestamp()::text);
END
$$;

-- A person {ext_id, name, email?, phone?}: found by ext_id or created
-- without a password (they sign in through the identity provider, or get
-- credentials). An absent email or phone is kept, null clears it.
CREATE OR REPLACE FUNCTION epos_roster_person_row(p_row jsonb, p_full bigint, p_sync bigint) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_ext   text := epos_roster_text(p_row, 'ext_id', 128, true);
    v_name  text := epos_roster_text(p_row, 'name', 200, true);
    v_email text := epos_roster_text(p_row, 'email', 254, false);
    v_phone text := epos_roster_text(p_row, 'phone', 32, false);
    v_u     users%ROWTYPE;
BEGIN
    IF v_email IS NOT NULL AND v_email !~ '^[^@[:space:]]+@[^@[:space:]]+$' THEN
        PERFORM epos_roster_reject('bad_row', format('Неверный адрес почты «%s»', v_email));
    END IF;
    SELECT * INTO v_u FROM users u WHERE u.ext_id = v_ext FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO users (login, full_name, email, phone, ext_id, synced_at)
        VALUES (epos_roster_login(v_ext, v_email), v_name, v_email, v_phone, v_ext, now());
        RETURN epos_roster_out('created', NULL, NULL);
    END IF;
    IF NOT p_row ? 'email' THEN
        v_email := v_u.email;
    END IF;
    IF NOT p_row ? 'phone' THEN
        v_phone := v_u.phone;
    END IF;
    IF v_u.full_name = v_name AND v_u.email IS NOT DISTINCT FROM v_email AND v_u.phone IS NOT DISTINCT FROM v_phone THEN
        RETURN epos_roster_out('unchanged', NULL, NULL);
    END IF;
    UPDATE users u SET full_name = v_name, email = v_email, phone = v_phone, synced_at = now() WHERE u.id = v_u.id;
    RETURN epos_roster_out('updated', NULL, NULL);
END
$$;

-- ---------------------------------------------------------------- rows: relations

-- A staff row {person, org, roles:[admin|teacher|class_teacher…]}: the
-- person's roles in the org become exactly these ([] ends them all). A
-- person left with no teacher or class_teacher role loses their bindings in
-- the org's groups too. Rejects unknown_person, unknown_org, bad_row.
CREATE OR REPLACE FUNCTION epos_roster_staff_row(p_row jsonb, p_full bigint, p_sync bigint) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_uid  bigint := epos_roster_person_of(epos_roster_text(p_row, 'person', 128, true));
    v_org  bigint := epos_roster_org_of(epos_roster_text(p_row, 'org', 128, true));
    v_new  text[];
    v_old  text[];
BEGIN
    PERFORM epos_roster_in_org(v_org, p_full);
    IF jsonb_typeof(p_row -> 'roles') IS DISTINCT FROM 'array'
       OR EXISTS (SELECT 1 FROM jsonb_array_elements(p_row -> 'roles') x
                   WHERE jsonb_typeof(x) <> 'string' OR x #>> '{}' NOT IN ('admin', 'teacher', 'class_teacher')) THEN
        PERFORM epos_roster_reject('bad_row', 'Поле «roles»: список из admin, teacher, class_teacher');
    END IF;
    v_new := ARRAY(SELECT DISTINCT x FROM jsonb_array_elements_text(p_row -> 'roles') x ORDER BY x);
    v_old := ARRAY(SELECT r.role FROM staff_roles r WHERE r.user_id = v_uid AND r.org_id = v_org ORDER BY r.role);
    IF v_new = v_old THEN
        RETURN epos_roster_out('unchanged', NULL, ARRAY(SELECT 's:' || v_uid || ':' || x FROM unnest(v_new) x));
    END IF;
    PERFORM epos_roster_end(p_sync, 'role', v_uid, NULL, NULL, v_org, g.role, NULL)
       FROM (SELECT r.role FROM staff_roles r
              WHERE r.user_id = v_uid AND r.org_id = v_org AND r.role <> ALL (v_new)) g;
    DELETE FROM staff_roles r WHERE r.user_id = v_uid AND r.org_id = v_org AND r.role <> ALL (v_new);
    INSERT INTO staff_roles (user_id, org_id, role, synced_at)
    SELECT v_uid, v_org, x, now() FROM unnest(v_new) x ON CONFLICT DO NOTHING;
    IF NOT v_new && ARRAY['teacher', 'class_teacher'] THEN
        PERFORM epos_roster_unbind(p_sync, v_uid, v_org);
    END IF;
    RETURN epos_roster_out(CASE WHEN cardinality(v_old) = 0 THEN 'created'
                                WHEN cardinality(v_new) = 0 THEN 'ended' ELSE 'updated' END,
                           ARRAY[v_uid], ARRAY(SELECT 's:' || v_uid || ':' || x FROM unnest(v_new) x));
END
$$;

-- epos_roster_unbind(sync, user, org) -> how many bindings of the user in
-- the org's groups ended (teacher and class teacher).
CREATE OR REPLACE FUNCTION epos_roster_unbind(p_sync bigint, p_uid bigint, p_org bigint) RETURNS integer
LANGUAGE sql AS $$
    WITH t AS (
        DELETE FROM teacher_groups t USING groups g
         WHERE t.user_id = p_uid AND g.id = t.group_id AND g.org_id = p_org
        RETURNING t.group_id, 'teacher'::text AS role
    ), c AS (
        DELETE FROM class_teachers c USING groups g
         WHERE c.user_id = p_uid AND g.id = c.group_id AND g.org_id = p_org
        RETURNING c.group_id, 'class_teacher'::text AS role
    )
    SELECT count(epos_roster_end(p_sync, 'binding', p_uid, NULL, x.group_id, p_org, x.role, NULL))::integer
      FROM (SELECT * FROM t UNION ALL SELECT * FROM c) x
$$;

-- A binding {person, group, role: teacher|class_teacher, ended?}: the
-- person keeps (or, ended, no longer keeps) the group's timesheet; a group
-- has one class teacher, so a new one replaces the old. Rejects
-- unknown_person, unknown_group, not_staff (no teacher role in the group's org).
CREATE OR REPLACE FUNCTION epos_roster_binding_row(p_row jsonb, p_full bigint, p_sync bigint) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_uid   bigint := epos_roster_person_of(epos_roster_text(p_row, 'person', 128, true));
    v_gext  text := epos_roster_text(p_row, 'group', 128, true);
    v_role  text := epos_roster_text(p_row, 'role', 32, true);
    v_ended boolean := epos_roster_flag(p_row, 'ended');
    v_gid   bigint;
    v_org   bigint;
    v_prev  bigint;
    v_keep  text[];
BEGIN
    IF v_role NOT IN ('teacher', 'class_teacher') THEN
        PERFORM epos_roster_reject('bad_row', 'Поле «role» привязки: teacher или class_teacher');
    END IF;
    SELECT g.o_id, g.o_org INTO v_gid, v_org FROM epos_roster_group_of(v_gext) g;
    PERFORM epos_roster_in_org(v_org, p_full);
    v_keep := ARRAY['b:' || v_uid || ':' || v_gid || ':' || v_role];
    IF v_role = 'teacher' THEN
        SELECT t.user_id INTO v_prev FROM teacher_groups t WHERE t.user_id = v_uid AND t.group_id = v_gid;
    ELSE
        SELECT c.user_id INTO v_prev FROM class_teachers c WHERE c.group_id = v_gid FOR UPDATE;
    END IF;
    IF v_ended THEN
        IF v_prev IS DISTINCT FROM v_uid THEN
            RETURN epos_roster_out('unchanged', NULL, NULL);
        END IF;
        IF v_role = 'teacher' THEN
            DELETE FROM teacher_groups t WHERE t.user_id = v_uid AND t.group_id = v_gid;
        ELSE
            DELETE FROM class_teachers c WHERE c.group_id = v_gid;
        END IF;
        PERFORM epos_roster_end(p_sync, 'binding', v_uid, NULL, v_gid, v_org, v_role, NULL);
        RETURN epos_roster_out('ended', ARRAY[v_uid], NULL);
    END IF;
    IF v_prev IS NOT DISTINCT FROM v_uid THEN
        RETURN epos_roster_out('unchanged', NULL, v_keep);
    END IF;
    IF NOT EXISTS (SELECT 1 FROM staff_roles r WHERE r.user_id = v_uid AND r.org_id = v_org
                      AND r.role IN ('teacher', 'class_teacher')) THEN
        PERFORM epos_roster_reject('not_staff', format('«%s» не педагог организации группы', p_row ->> 'person'));
    END IF;
    IF v_role = 'teacher' THEN
        INSERT INTO teacher_groups (user_id, group_id, synced_at) VALUES (v_uid, v_gid, now());
        RETURN epos_roster_out('created', ARRAY[v_uid], v_keep);
    END IF;
    INSERT INTO class_teachers (group_id, user_id, synced_at) VALUES (v_gid, v_uid, now())
    ON CONFLICT (group_id) DO UPDATE SET user_id = EXCLUDED.user_id, synced_at = EXCLUDED.synced_at;
    IF v_prev IS NULL THEN
        RETURN epos_roster_out('created', ARRAY[v_uid], v_keep);
    END IF;
    PERFORM epos_roster_end(p_sync, 'binding', v_prev, NULL, v_gid, v_org, v_role, NULL);
    RETURN epos_roster_out('updated', ARRAY[v_uid, v_prev], v_keep);
END
$$;

-- epos_roster_guardians_of(child) -> the child's guardians (their topics follow the child's group).
CREATE OR REPLACE FUNCTION epos_roster_guardians_of(p_child bigint) RETURNS bigint[]
LANGUAGE sql STABLE AS $$
    SELECT ARRAY(SELECT g.user_id FROM guardians g WHERE g.child_id = p_child ORDER BY 1)
$$;

-- A child {ext_id, name, group, birth_date?, ended?}: found by ext_id or
-- created, enrolled in the group (a move changes the enrolment; history
-- stays with the marks); "ended": true ends the enrolment (the child left).
-- Rejects unknown_group, bad_row.
CREATE OR REPLACE FUNCTION epos_roster_child_row(p_row jsonb, p_full bigint, p_sync bigint) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_ext   text := epos_roster_text(p_row, 'ext_id', 128, true);
    v_name  text := epos_roster_text(p_row, 'name', 200, true);
    v_gext  text := epos_roster_text(p_row, 'group', 128, true);
    v_birth date;
    v_ended boolean := epos_roster_flag(p_row, 'ended');
    v_gid   bigint;
    v_org   bigint;
    v_c     children%ROWTYPE;
    v_e     enrolments%ROWTYPE;
BEGIN
    BEGIN
        v_birth := epos_parse_date(epos_roster_text(p_row, 'birth_date', 10, false), 'birth_date');
    EXCEPTION WHEN SQLSTATE 'EP400' THEN
        PERFORM epos_roster_reject('bad_row', SQLERRM);
    END;
    SELECT * INTO v_c FROM children c WHERE c.ext_id = v_ext FOR UPDATE;
    IF v_ended THEN
        PERFORM epos_roster_in_org(v_c.org_id, p_full);
        SELECT * INTO v_e FROM enrolments e WHERE e.child_id = v_c.id;
        IF v_c.id IS NULL OR v_e.child_id IS NULL THEN
            RETURN epos_roster_out('unchanged', NULL, NULL);
        END IF;
        DELETE FROM enrolments e WHERE e.child_id = v_c.id;
        UPDATE children c SET left_at = now(), synced_at = now() WHERE c.id = v_c.id;
        PERFORM epos_roster_end(p_sync, 'enrolment', NULL, v_c.id, v_e.group_id, v_c.org_id, NULL, v_e.since);
        RETURN epos_roster_out('ended', epos_roster_guardians_of(v_c.id), NULL);
    END IF;
    SELECT g.o_id, g.o_org INTO v_gid, v_org FROM epos_roster_group_of(v_gext) g;
    PERFORM epos_roster_in_org(v_org, p_full);
    IF v_c.id IS NULL THEN
        INSERT INTO children (ext_id, org_id, full_name, birth_date, synced_at)
        VALUES (v_ext, v_org, v_name, v_birth, now()) RETURNING * INTO v_c;
        INSERT INTO enrolments (child_id, group_id, synced_at) VALUES (v_c.id, v_gid, now());
        RETURN epos_roster_out('created', NULL, ARRAY['c:' || v_c.id]);
    END IF;
    SELECT * INTO v_e FROM enrolments e WHERE e.child_id = v_c.id FOR UPDATE;
    IF v_c.full_name = v_name AND v_c.org_id = v_org AND v_c.birth_date IS NOT DISTINCT FROM coalesce(v_birth, v_c.birth_date)
       AND v_e.group_id IS NOT DISTINCT FROM v_gid THEN
        RETURN epos_roster_out('unchanged', NULL, ARRAY['c:' || v_c.id]);
    END IF;
    UPDATE children c SET full_name = v_name, org_id = v_org, birth_date = coalesce(v_birth, c.birth_date),
                          left_at = NULL, synced_at = now()
     WHERE c.id = v_c.id;
    IF v_e.group_id IS DISTINCT FROM v_gid THEN
        IF v_e.child_id IS NOT NULL THEN
            PERFORM epos_roster_end(p_sync, 'enrolment', NULL, v_c.id, v_e.group_id, v_c.org_id, NULL, v_e.since);
        END IF;
        INSERT INTO enrolments (child_id, group_id, since, synced_at) VALUES (v_c.id, v_gid, current_date, now())
        ON CONFLICT (child_id) DO UPDATE SET group_id = EXCLUDED.group_id, since = EXCLUDED.since,
                                             synced_at = EXCLUDED.synced_at;
        RETURN epos_roster_out('updated', epos_roster_guardians_of(v_c.id), ARRAY['c:' || v_c.id]);
    END IF;
    RETURN epos_roster_out('updated', NULL, ARRAY['c:' || v_c.id]);
END
$$;

-- A guardianship {person, child, ended?}: the person is (or, ended, no
-- longer is) a parent of the child. Rejects unknown_person, unknown_child.
CREATE OR REPLACE FUNCTION epos_roster_guardian_row(p_row jsonb, p_full bigint, p_sync bigint) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_uid   bigint := epos_roster_person_of(epos_roster_text(p_row, 'person', 128, true));
    v_cext  text := epos_roster_text(p_row, 'child', 128, true);
    v_ended boolean := epos_roster_flag(p_row, 'ended');
    v_cid   bigint;
    v_org   bigint;
BEGIN
    SELECT c.id, c.org_id INTO v_cid, v_org FROM children c WHERE c.ext_id = v_cext;
    IF NOT FOUND THEN
        PERFORM epos_roster_reject('unknown_child', format('Ребёнок «%s» не найден', v_cext));
    END IF;
    PERFORM epos_roster_in_org(v_org, p_full);
    IF v_ended THEN
        DELETE FROM guardians g WHERE g.user_id = v_uid AND g.child_id = v_cid;
        IF NOT FOUND THEN
            RETURN epos_roster_out('unchanged', NULL, NULL);
        END IF;
        PERFORM epos_roster_end(p_sync, 'guardian', v_uid, v_cid, NULL, v_org, NULL, NULL);
        RETURN epos_roster_out('ended', ARRAY[v_uid], NULL);
    END IF;
    INSERT INTO guardians (user_id, child_id, synced_at) VALUES (v_uid, v_cid, now()) ON CONFLICT DO NOTHING;
    RETURN epos_roster_out(CASE WHEN FOUND THEN 'created' ELSE 'unchanged' END,
                           CASE WHEN FOUND THEN ARRAY[v_uid] END, ARRAY['u:' || v_uid || ':' || v_cid]);
END
$$;
