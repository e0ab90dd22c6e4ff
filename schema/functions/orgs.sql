-- orgs.sql -- an administrator's org settings: deadline, time zone, quiet hours, calendar, staff and bindings.
--
-- Only an administrator of the org changes anything here; any member of the
-- org (staff or a parent of one of its children) may read its calendar.
-- Every change is written to audit_log. Rebinding teachers changes their
-- topics (timesheet:<gid>, group:<gid>): the API result lists them in
-- "refresh", and the hubs recompute their connections' topics live.

-- epos_org_item(org, uid) -> the org as /api/me lists it for uid:
-- {id,name,kind,tz,timesheet_deadline,quiet_hours:{from,to},roles:[…]}.
CREATE OR REPLACE FUNCTION epos_org_item(p_org bigint, p_uid bigint) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT x FROM jsonb_array_elements(epos_user_orgs(p_uid)) AS t(x) WHERE (x ->> 'id')::bigint = p_org
$$;

-- ---------------------------------------------------------------- settings

-- PATCH /api/orgs/{id} {"timesheet_deadline"?:"HH:MM","tz"?:zone,"quiet_hours"?:{"from","to"}}
-- → the org (epos_org_item). Fields not given keep their value. EP400
-- naming the bad field (tz must be a name of pg_timezone_names), EP404
-- unknown org, EP403 not its administrator.
CREATE OR REPLACE FUNCTION epos_api_org_update(p_uid bigint, p_sid bigint, p_id bigint, p_args jsonb, p_body jsonb)
RETURNS jsonb
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    o          orgs%ROWTYPE;
    v_deadline time;
    v_tz       text;
    v_from     time;
    v_to       time;
BEGIN
    PERFORM epos_require_session(p_sid, p_uid);
    PERFORM epos_org_require_admin(p_uid, p_id);
    PERFORM epos_body_object(p_body);
    IF p_body ? 'timesheet_deadline' THEN
        v_deadline := epos_json_time(p_body -> 'timesheet_deadline', 'timesheet_deadline');
    END IF;
    IF p_body ? 'tz' THEN
        v_tz := CASE WHEN jsonb_typeof(p_body -> 'tz') = 'string' THEN p_body ->> 'tz' END;
        IF v_tz IS NULL OR NOT EXISTS (SELECT 1 FROM pg_timezone_names z WHERE z.name = v_tz) THEN
            RAISE EXCEPTION USING ERRCODE = 'EP400',
                MESSAGE = 'Поле «tz»: неизвестный часовой пояс (например, Asia/Yekaterinburg)';
        END IF;
    END IF;
    IF p_body ? 'quiet_hours' THEN
        IF jsonb_typeof(p_body -> 'quiet_hours') <> 'object' THEN
            RAISE EXCEPTION USING ERRCODE = 'EP400',
                MESSAGE = 'Поле «quiet_hours» должно быть объектом {"from":"ЧЧ:ММ","to":"ЧЧ:ММ"}';
        END IF;
        v_from := epos_json_time(p_body -> 'quiet_hours' -> 'from', 'quiet_hours.from');
        v_to := epos_json_time(p_body -> 'quiet_hours' -> 'to', 'quiet_hours.to');
    END IF;
    SELECT * INTO o FROM orgs WHERE id = p_id FOR UPDATE;
    UPDATE orgs SET timesheet_deadline = coalesce(v_deadline, timesheet_deadline),
                    tz = coalesce(v_tz, tz),
                    quiet_from = coalesce(v_from, quiet_from),
                    quiet_to = coalesce(v_to, quiet_to)
     WHERE id = p_id;
    INSERT INTO audit_log (actor_id, action, object, detail)
    VALUES (p_uid, 'org.update', 'org:' || p_id,
            jsonb_build_object('before', jsonb_build_object(
                                   'timesheet_deadline', to_char(o.timesheet_deadline, 'HH24:MI'), 'tz', o.tz,
                                   'quiet_from', to_char(o.quiet_from, 'HH24:MI'),
                                   'quiet_to', to_char(o.quiet_to, 'HH24:MI')),
                               'changes', (SELECT jsonb_object_agg(e.key, e.value) FROM jsonb_each(p_body) e
                                            WHERE e.key IN ('timesheet_deadline', 'tz', 'quiet_hours'))));
    RETURN jsonb_build_object('status', 200, 'body', epos_org_item(p_id, p_uid));
END
$$;

-- ---------------------------------------------------------------- calendar

-- GET /api/orgs/{id}/calendar?month=YYYY-MM → {org_id,month,days:[{date,kind,override}]}
-- for every day of the month (default: the current month in the org's time
-- zone): kind 'workday'|'holiday'|'vacation' — an override's, else
-- 'holiday' on weekends and 'workday' otherwise. Any member of the org (a
-- staff role or a child there); EP403 otherwise, EP404 unknown org, EP400 bad month.
CREATE OR REPLACE FUNCTION epos_api_org_calendar_get(p_uid bigint, p_sid bigint, p_id bigint, p_args jsonb, p_body jsonb)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    v_month text;
    v_first date;
    v_days  jsonb;
BEGIN
    PERFORM epos_require_session(p_sid, p_uid);
    PERFORM 1 FROM orgs o WHERE o.id = p_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'EP404', MESSAGE = 'Организация не найдена';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM epos_user_roles(p_uid) r WHERE r.org_id = p_id) THEN
        RAISE EXCEPTION USING ERRCODE = 'EP403', MESSAGE = 'Календарь доступен только участникам организации';
    END IF;
    v_month := coalesce(nullif(p_args ->> 'month', ''), to_char(epos_org_today(p_id), 'YYYY-MM'));
    IF v_month !~ '^[0-9]{4}-(0[1-9]|1[0-2])$' THEN
        RAISE EXCEPTION USING ERRCODE = 'EP400', MESSAGE = 'Параметр «month» должен быть месяцем ГГГГ-ММ';
    END IF;
    v_first := to_date(v_month || '-01', 'YYYY-MM-DD');
    SELECT jsonb_agg(jsonb_build_object(
               'date', to_char(d, 'YYYY-MM-DD'),
               'kind', coalesce(c.kind, CASE WHEN extract(isodow FROM d) < 6 THEN 'workday' ELSE 'holiday' END),
               'override', c.kind IS NOT NULL) ORDER BY d)
      INTO v_days
      FROM generate_series(v_first, (v_first + interval '1 month' - interval '1 day'), interval '1 day') AS g(d)
      LEFT JOIN org_calendar c ON c.org_id = p_id AND c.day = g.d::date;
    RETURN jsonb_build_object('status', 200, 'body',
                              jsonb_build_object('org_id', p_id, 'month', v_month, 'days', v_days));
END
$$;

-- PUT /api/orgs/{id}/calendar/{date} {"kind":"workday"|"holiday"|"vacation"}
-- → {org_id,date,kind,override}: overrides one day of the calendar (a kind
-- equal to the day's default — workday on Monday..Friday, holiday on a
-- weekend — removes the override). The date within a year back and two
-- years ahead. A day that becomes a workday takes the active notices
-- covering it (epos_absence_day_opened: marks and their events), a workday
-- that becomes a day off loses the parents' marks (epos_absence_day_closed);
-- the frames are published by the hub. EP400 bad date or kind, EP404
-- unknown org, EP403 not its administrator.
CREATE OR REPLACE FUNCTION epos_api_org_calendar_put(p_uid bigint, p_sid bigint, p_id bigint, p_args jsonb, p_body jsonb)
RETURNS jsonb
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    v_day   date;
    v_today date;
    v_kind  text;
    v_def   text;
    v_was   boolean;
    v_evs   jsonb := '[]'::jsonb;
BEGIN
    PERFORM epos_require_session(p_sid, p_uid);
    PERFORM epos_org_require_admin(p_uid, p_id);
    v_day := epos_parse_date(p_args ->> 'key', 'date');
    v_today := epos_org_today(p_id);
    IF v_day IS NULL OR v_day < v_today - 366 OR v_day > v_today + 731 THEN
        RAISE EXCEPTION USING ERRCODE = 'EP400',
            MESSAGE = 'Дата календаря — не раньше чем год назад и не дальше чем на два года вперёд';
    END IF;
    PERFORM epos_body_object(p_body);
    v_kind := CASE WHEN jsonb_typeof(p_body -> 'kind') = 'string' THEN p_body ->> 'kind' END;
    IF v_kind IS NULL OR v_kind NOT IN ('workday', 'holiday', 'vacation') THEN
        RAISE EXCEPTION USING ERRCODE = 'EP400',
            MESSAGE = 'Поле «kind» должно быть «workday», «holiday» или «vacation»';
    END IF;
    v_def := CASE WHEN extract(isodow FROM v_day) < 6 THEN 'workday' ELSE 'holiday' END;
    -- One calendar writer of the org at a time: the day's kind before and
    -- after the change are those its notices and marks follow.
    PERFORM 1 FROM orgs o WHERE o.id = p_id FOR NO KEY UPDATE;
    v_was := epos_is_workday(p_id, v_day);
    IF v_kind = v_def THEN
        DELETE FROM org_calendar WHERE org_id = p_id AND day = v_day;
    ELSE
        INSERT INTO org_calendar (org_id, day, kind) VALUES (p_id, v_day, v_kind)
        ON CONFLICT (org_id, day) DO UPDATE SET kind = EXCLUDED.kind;
    END IF;
    INSERT INTO audit_log (actor_id, action, object, detail)
    VALUES (p_uid, 'org.calendar', 'org:' || p_id,
            jsonb_build_object('date', to_char(v_day, 'YYYY-MM-DD'), 'kind', v_kind));
    -- A day off takes no marks: the day's notices and parents' marks follow its kind.
    IF NOT v_was AND v_kind = 'workday' THEN
        v_evs := epos_absence_day_opened(p_id, v_day, v_today);
    ELSIF v_was AND v_kind <> 'workday' THEN
        v_evs := epos_absence_day_closed(p_id, v_day, v_today);
    END IF;
    RETURN jsonb_build_object('status', 200, 'body', jsonb_build_object(
        'org_id', p_id, 'date', to_char(v_day, 'YYYY-MM-DD'), 'kind', v_kind, 'override', v_kind <> v_def),
        'frames', epos_events_emit(v_evs));
END
$$;

-- ---------------------------------------------------------------- staff and bindings

-- epos_group_item(gid) -> {id,name,kind,org_id,lessons_per_day,teacher_ids,
-- teachers:[{id,name}],class_teacher_id}: a group with its bindings.
CREATE OR REPLACE FUNCTION epos_group_item(p_gid bigint) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'id', g.id, 'name', g.name, 'kind', g.kind, 'org_id', g.org_id,
        'lessons_per_day', g.lessons_per_day,
        'teacher_ids', (SELECT coalesce(jsonb_agg(t.user_id ORDER BY t.user_id), '[]')
                          FROM teacher_groups t WHERE t.group_id = g.id),
        'teachers', (SELECT coalesce(jsonb_agg(jsonb_build_object('id', u.id, 'name', u.full_name)
                                               ORDER BY u.full_name, u.id), '[]')
                       FROM teacher_groups t JOIN users u ON u.id = t.user_id WHERE t.group_id = g.id),
        'class_teacher_id', (SELECT c.user_id FROM class_teachers c WHERE c.group_id = g.id))
      FROM groups g WHERE g.id = p_gid
$$;

-- GET /api/orgs/{id}/staff → {"staff":[{id,name,login,email,disabled,roles,
-- group_ids,groups:[{id,name}]}],"groups":[{id,name,kind,teacher_ids,
-- class_teacher_id,…}]}: everyone with a staff role in the org (roles in
-- the order admin, teacher, class_teacher; group_ids the org's groups bound
-- to them) and every group of the org, by name. The org's administrators only.
CREATE OR REPLACE FUNCTION epos_api_org_staff(p_uid bigint, p_sid bigint, p_id bigint, p_args jsonb, p_body jsonb)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    v_staff  jsonb;
    v_groups jsonb;
BEGIN
    PERFORM epos_require_session(p_sid, p_uid);
    PERFORM epos_org_require_admin(p_uid, p_id);
    SELECT coalesce(jsonb_agg(jsonb_build_object(
               'id', u.id, 'name', u.full_name, 'login', u.login, 'email', u.email,
               'disabled', u.disabled, 'roles', r.roles,
               'group_ids', (SELECT coalesce(jsonb_agg(g.id ORDER BY g.name, g.id), '[]')
                               FROM teacher_groups t JOIN groups g ON g.id = t.group_id AND g.org_id = p_id
                              WHERE t.user_id = u.id),
               'groups', (SELECT coalesce(jsonb_agg(jsonb_build_object('id', g.id, 'name', g.name)
                                                    ORDER BY g.name, g.id), '[]')
                            FROM teacher_groups t JOIN groups g ON g.id = t.group_id AND g.org_id = p_id
                           WHERE t.user_id = u.id))
               ORDER BY u.full_name, u.id), '[]')
      INTO v_staff
      FROM (SELECT s.user_id,
                   jsonb_agg(s.role ORDER BY array_position(ARRAY['admin', 'teacher', 'class_teacher'], s.role))
                       AS roles
              FROM staff_roles s WHERE s.org_id = p_id GROUP BY s.user_id) r
      JOIN users u ON u.id = r.user_id;
    SELECT coalesce(jsonb_agg(epos_group_item(g.id) ORDER BY g.name, g.id), '[]')
      INTO v_groups FROM groups g WHERE g.org_id = p_id;
    RETURN jsonb_build_object('status', 200, 'body', jsonb_build_object('staff', v_staff, 'groups', v_groups));
END
$$;

-- PUT /api/groups/{id}/teachers {"user_ids":[…]} → {"group":epos_group_item}:
-- the group's bound teachers become exactly these (audited). Each must be an
-- active user (EP400) with a teacher or class_teacher role in the group's
-- org (EP403). "refresh" lists the old and new teachers: their topics change.
-- EP404 unknown group, EP403 not an administrator of its org.
CREATE OR REPLACE FUNCTION epos_api_group_teachers(p_uid bigint, p_sid bigint, p_id bigint, p_args jsonb, p_body jsonb)
RETURNS jsonb
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    v_org  bigint;
    v_new  bigint[];
    v_old  bigint[];
    v_bad  bigint;
    v_name text;
BEGIN
    PERFORM epos_require_session(p_sid, p_uid);
    SELECT g.org_id INTO v_org FROM groups g WHERE g.id = p_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'EP404', MESSAGE = 'Группа не найдена';
    END IF;
    PERFORM epos_org_require_admin(p_uid, v_org);
    PERFORM epos_body_object(p_body);
    IF NOT p_body ? 'user_ids' THEN
        RAISE EXCEPTION USING ERRCODE = 'EP400', MESSAGE = 'Поле «user_ids» должно быть списком идентификаторов';
    END IF;
    v_new := epos_json_ids(p_body -> 'user_ids', 'user_ids');
    SELECT a INTO v_bad FROM unnest(v_new) a
     WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.id = a AND NOT u.disabled) LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'EP400', MESSAGE = format('Пользователь %s не найден', v_bad);
    END IF;
    SELECT u.full_name INTO v_name FROM unnest(v_new) a JOIN users u ON u.id = a
     WHERE NOT EXISTS (SELECT 1 FROM staff_roles r WHERE r.user_id = a AND r.org_id = v_org
                          AND r.role IN ('teacher', 'class_teacher'))
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'EP403',
            MESSAGE = format('%s не педагог этой организации', v_name);
    END IF;
    SELECT coalesce(array_agg(t.user_id ORDER BY t.user_id), '{}') INTO v_old
      FROM teacher_groups t WHERE t.group_id = p_id;
    DELETE FROM teacher_groups t WHERE t.group_id = p_id AND t.user_id <> ALL (v_new);
    INSERT INTO teacher_groups (user_id, group_id) SELECT a, p_id FROM unnest(v_new) a
    ON CONFLICT DO NOTHING;
    INSERT INTO audit_log (actor_id, action, object, detail)
    VALUES (p_uid, 'group.teachers', 'group:' || p_id,
            jsonb_build_object('before', to_jsonb(v_old),
                               'after', (SELECT to_jsonb(coalesce(array_agg(a ORDER BY a), '{}'))
                                           FROM unnest(v_new) a)));
    RETURN jsonb_build_object('status', 200,
        'body', jsonb_build_object('group', epos_group_item(p_id)),
        'refresh', (SELECT coalesce(jsonb_agg(DISTINCT x), '[]') FROM unnest(v_old || v_new) x));
END
$$;
