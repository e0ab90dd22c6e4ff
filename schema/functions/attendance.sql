-- attendance.sql -- the daily timesheet: who may keep it, a day's marks, corrections, unexplained absences.
--
-- A group's day is one row of attendance_marks per child that is marked; a
-- child without a row is "unmarked", and the day is complete when no child
-- of the group is. Teachers bound to the group, its class teacher and the
-- org's administrators keep it (epos_can_staff_group). Every change is an
-- event on timesheet:<gid> (the group's staff), the day's completion an
-- event on orgstaff:<org> (the administrators). Refusals raise EP4xx with a
-- Russian message (docs/ARCHITECTURE.md, "The API functions").
--
-- Lock order of every function here and in absence.sql, reminders.sql and
-- orgs.sql: data rows first (marks in child order), then the event topics
-- through epos_events_emit, which appends timesheet:* before user:* before
-- orgstaff:*, each by id — so two writers never wait for each other's
-- topics in opposite orders.

-- ---------------------------------------------------------------- a group's day

-- epos_group_day_stats(gid, day) -> (total, marked, absent): children
-- enrolled in the group, those with a mark that day, those marked absent.
CREATE OR REPLACE FUNCTION epos_group_day_stats(p_gid bigint, p_day date,
                                     OUT total int, OUT marked int, OUT absent int)
LANGUAGE sql STABLE AS $$
    SELECT count(*)::int, count(m.child_id)::int, count(*) FILTER (WHERE m.status = 'absent')::int
      FROM enrolments e
      LEFT JOIN attendance_marks m ON m.child_id = e.child_id AND m.day = p_day
     WHERE e.group_id = p_gid
$$;

-- epos_timesheet_body(gid, day) -> the day's timesheet of a group, the body
-- of GET and PUT /api/timesheet:
-- {group_id,group_name,org_id,date,complete,deadline,tz,workday,
--  children:[{child_id,name,status,source,reason,notice_id,lessons,notice}]}
-- sorted by name; status 'present'|'absent'|'unmarked', source
-- 'teacher'|'parent'|null; notice: the active parent notice covering the
-- day, {id,reason,lessons,from,to}, marked or not (a day off takes no
-- marks, and the board shows it after a reload), else null. NULL for an
-- unknown group.
CREATE OR REPLACE FUNCTION epos_timesheet_body(p_gid bigint, p_day date) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    WITH kids AS (
        SELECT c.id, c.full_name, m.status, m.source, m.reason, m.notice_id, m.lessons,
               (SELECT jsonb_build_object('id', n.id, 'reason', n.reason, 'lessons', to_jsonb(n.lessons),
                                          'from', to_char(n.from_date, 'YYYY-MM-DD'),
                                          'to', to_char(n.to_date, 'YYYY-MM-DD'))
                  FROM absence_notices n
                 WHERE n.child_id = c.id AND n.status = 'active' AND p_day BETWEEN n.from_date AND n.to_date
                 ORDER BY n.id DESC LIMIT 1) AS notice
          FROM enrolments e
          JOIN children c ON c.id = e.child_id
          LEFT JOIN attendance_marks m ON m.child_id = c.id AND m.day = p_day
         WHERE e.group_id = p_gid
    )
    SELECT jsonb_build_object(
        'group_id', g.id, 'group_name', g.name, 'org_id', g.org_id,
        'date', to_char(p_day, 'YYYY-MM-DD'),
        'complete', NOT EXISTS (SELECT 1 FROM kids WHERE kids.status IS NULL),
        'deadline', to_char(o.timesheet_deadline, 'HH24:MI'),
        'tz', o.tz,
        'workday', epos_is_workday(g.org_id, p_day),
        'children', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                             'child_id', k.id, 'name', k.full_name,
                             'status', coalesce(k.status, 'unmarked'),
                             'source', k.source, 'reason', k.reason,
                             'notice_id', k.notice_id, 'lessons', to_jsonb(k.lessons),
                             'notice', k.notice)
                             ORDER BY k.full_name, k.id), '[]')
                       FROM kids k))
      FROM groups g JOIN orgs o ON o.id = g.org_id
     WHERE g.id = p_gid
$$;

-- epos_timesheet_summary_event(gid, day) -> the 'timesheet.summary' event
-- of orgstaff:<org> for one group and day:
-- {org_id,date,group_id,name,total,marked,absent,complete}.
CREATE OR REPLACE FUNCTION epos_timesheet_summary_event(p_gid bigint, p_day date) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT epos_event('orgstaff:' || g.org_id, 'timesheet.summary', jsonb_build_object(
               'org_id', g.org_id, 'date', to_char(p_day, 'YYYY-MM-DD'), 'group_id', g.id,
               'name', g.name, 'total', s.total, 'marked', s.marked, 'absent', s.absent,
               'complete', s.marked = s.total))
      FROM groups g, epos_group_day_stats(g.id, p_day) s
     WHERE g.id = p_gid
$$;

-- epos_timesheet_group(uid, gid) -> the group's org; EP404 for an unknown
-- group, EP403 unless uid keeps or oversees its timesheet.
CREATE OR REPLACE FUNCTION epos_timesheet_group(p_uid bigint, p_gid bigint) RETURNS bigint
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_org bigint;
BEGIN
    SELECT g.org_id INTO v_org FROM groups g WHERE g.id = p_gid;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'EP404', MESSAGE = 'Группа не найдена';
    END IF;
    IF NOT epos_can_staff_group(p_uid, p_gid) THEN
        RAISE EXCEPTION USING ERRCODE = 'EP403',
            MESSAGE = 'Табель этой группы ведут назначенные ей педагоги и администрация';
    END IF;
    RETURN v_org;
END
$$;

-- GET /api/timesheet?group_id=&date= → epos_timesheet_body; date defaults
-- to today in the org's time zone. EP400 without group_id or with a bad
-- date, EP404 unknown group, EP403 not its staff.
CREATE OR REPLACE FUNCTION epos_api_timesheet_get(p_uid bigint, p_sid bigint, p_id bigint, p_args jsonb, p_body jsonb)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    v_gid bigint;
    v_org bigint;
    v_day date;
BEGIN
    PERFORM epos_require_session(p_sid, p_uid);
    v_gid := epos_need(epos_arg_int(p_args, 'group_id', NULL), 'Не указана группа (group_id)');
    v_org := epos_timesheet_group(p_uid, v_gid);
    v_day := coalesce(epos_parse_date(p_args ->> 'date', 'date'), epos_org_today(v_org));
    RETURN jsonb_build_object('status', 200, 'body', epos_timesheet_body(v_gid, v_day));
END
$$;

-- ---------------------------------------------------------------- marking

-- epos_timesheet_parse_marks(marks) -> one row per mark of a PUT body's
-- "marks": [{"child_id","status":"present"|"absent","reason"?}] (at most
-- 1000). has_reason: the mark carries a "reason" (a string; blank clears
-- it); without one an unchanged status keeps the stored reason. EP400
-- naming what is wrong, or for a child listed twice.
CREATE OR REPLACE FUNCTION epos_timesheet_parse_marks(p_marks jsonb)
RETURNS TABLE (child_id bigint, status text, reason text, has_reason boolean)
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    v_el   jsonb;
    v_seen bigint[] := '{}'::bigint[];
BEGIN
    IF p_marks IS NULL OR jsonb_typeof(p_marks) <> 'array' OR jsonb_array_length(p_marks) > 1000 THEN
        RAISE EXCEPTION USING ERRCODE = 'EP400', MESSAGE = 'Поле «marks» должно быть списком отметок';
    END IF;
    FOR v_el IN SELECT x FROM jsonb_array_elements(p_marks) AS t(x) LOOP
        IF jsonb_typeof(v_el) <> 'object' THEN
            RAISE EXCEPTION USING ERRCODE = 'EP400', MESSAGE = 'Каждая отметка должна быть объектом';
        END IF;
        child_id := epos_json_id(v_el -> 'child_id', 'child_id');
        IF child_id IS NULL THEN
            RAISE EXCEPTION USING ERRCODE = 'EP400', MESSAGE = 'В отметке не указан ребёнок (child_id)';
        END IF;
        IF child_id = ANY (v_seen) THEN
            RAISE EXCEPTION USING ERRCODE = 'EP400', MESSAGE = 'Ребёнок указан в отметках дважды';
        END IF;
        v_seen := v_seen || child_id;
        status := CASE WHEN jsonb_typeof(v_el -> 'status') = 'string' THEN v_el ->> 'status' END;
        IF status IS NULL OR status NOT IN ('present', 'absent') THEN
            RAISE EXCEPTION USING ERRCODE = 'EP400',
                MESSAGE = 'Поле «status» должно быть «present» или «absent»';
        END IF;
        has_reason := jsonb_typeof(v_el -> 'reason') = 'string';
        IF v_el -> 'reason' IS NOT NULL AND jsonb_typeof(v_el -> 'reason') NOT IN ('string', 'null') THEN
            RAISE EXCEPTION USING ERRCODE = 'EP400', MESSAGE = 'Поле «reason» должно быть строкой';
        END IF;
        reason := nullif(btrim(v_el ->> 'reason'), '');
        IF char_length(reason) > 500 THEN
            RAISE EXCEPTION USING ERRCODE = 'EP400', MESSAGE = 'Причина длиннее 500 символов';
        END IF;
        RETURN NEXT;
    END LOOP;
END
$$;

-- epos_unexplained_events(child, day, gid) -> the events telling the
-- child's parents it was marked absent without a notice: 'absence.unexplained'
-- {child_id,child_name,date,group_id,group_name} on user:<parent>, with one
-- email.notify each (the same data; its text is the worker's template).
-- Once per child and day (unexplained_sent): [] after that.
CREATE OR REPLACE FUNCTION epos_unexplained_events(p_child bigint, p_day date, p_gid bigint) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_events jsonb := '[]'::jsonb;
    v_data   jsonb;
    r        record;
BEGIN
    INSERT INTO unexplained_sent (child_id, day) VALUES (p_child, p_day) ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
        RETURN v_events;
    END IF;
    FOR r IN
        SELECT gu.user_id, c.full_name AS child_name, g.name AS group_name
          FROM guardians gu
          JOIN users u ON u.id = gu.user_id AND NOT u.disabled
          JOIN children c ON c.id = gu.child_id
          JOIN groups g ON g.id = p_gid
         WHERE gu.child_id = p_child
         ORDER BY gu.user_id
    LOOP
        v_data := jsonb_build_object('child_id', p_child, 'child_name', r.child_name,
                                     'date', to_char(p_day, 'YYYY-MM-DD'),
                                     'group_id', p_gid, 'group_name', r.group_name);
        v_events := v_events || epos_event('user:' || r.user_id, 'absence.unexplained', v_data);
        PERFORM epos_email_notify(r.user_id, 'absence.unexplained', v_data,
            format('<absence.unexplained.%s.%s.%s@epos.local>', p_child, p_day, r.user_id));
    END LOOP;
    RETURN v_events;
END
$$;

-- epos_notice_corrected_events(notice, day, by) -> the event and mail
-- telling the parent who filed the notice that the teacher marked the child
-- present on one of its days: 'absence.status' {absence_id,child_id,
-- child_name,date,status:'corrected',by,text} on user:<parent>; the mail
-- (template absence.corrected) gets {child_name,date,by_name,school}.
CREATE OR REPLACE FUNCTION epos_notice_corrected_events(p_notice bigint, p_day date, p_by bigint) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    r      record;
    v_text text;
BEGIN
    SELECT n.id, n.parent_id, n.child_id, c.full_name AS child_name, g.kind,
           (SELECT u.full_name FROM users u WHERE u.id = p_by) AS by_name
      INTO r
      FROM absence_notices n
      JOIN children c ON c.id = n.child_id
      LEFT JOIN enrolments e ON e.child_id = n.child_id
      LEFT JOIN groups g ON g.id = e.group_id
     WHERE n.id = p_notice;
    v_text := CASE WHEN r.kind = 'class' THEN 'Учитель отметил, что ребёнок пришёл'
                   ELSE 'Воспитатель отметил, что ребёнок пришёл' END;
    PERFORM epos_email_notify(r.parent_id, 'absence.status',
        jsonb_build_object('child_name', r.child_name, 'date', to_char(p_day, 'YYYY-MM-DD'),
                           'by_name', r.by_name, 'school', r.kind IS NOT DISTINCT FROM 'class'),
        format('<absence.status.%s.%s.corrected.%s@epos.local>', r.id, p_day, r.parent_id),
        false, 'absence.corrected');
    RETURN jsonb_build_array(epos_event('user:' || r.parent_id, 'absence.status', jsonb_build_object(
        'absence_id', r.id, 'child_id', r.child_id, 'child_name', r.child_name,
        'date', to_char(p_day, 'YYYY-MM-DD'), 'status', 'corrected', 'by', p_by, 'text', v_text)));
END
$$;

-- epos_timesheet_mark(uid, gid, day, child, status, reason, has_reason) ->
-- the events of one teacher's mark, NULL when the mark is the stored one
-- (nothing written). A changed mark becomes the teacher's (source 'teacher',
-- marked_by); the previous one goes to audit_log as a correction. An absence
-- keeps the active parent notice covering the day (explained); without one
-- the parents are told (once). Present over a notice's day tells its parent.
CREATE OR REPLACE FUNCTION epos_timesheet_mark(p_uid bigint, p_gid bigint, p_day date, p_child bigint,
                                    p_status text, p_reason text, p_has_reason boolean)
RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    m        attendance_marks%ROWTYPE;
    v_found  boolean;
    v_reason text;
    v_notice bigint;
    v_events jsonb;
BEGIN
    -- Two teachers marking one child at once: the second waits here and sees
    -- the first one's mark (its change is then a correction, audited).
    PERFORM 1 FROM children c WHERE c.id = p_child FOR NO KEY UPDATE;
    SELECT * INTO m FROM attendance_marks x WHERE x.child_id = p_child AND x.day = p_day;
    v_found := FOUND;
    v_reason := CASE WHEN p_has_reason THEN p_reason
                     WHEN v_found AND m.status = p_status THEN m.reason END;
    IF v_found AND m.status = p_status AND m.reason IS NOT DISTINCT FROM v_reason THEN
        RETURN NULL;
    END IF;
    SELECT n.id INTO v_notice FROM absence_notices n
     WHERE n.child_id = p_child AND n.status = 'active' AND p_day BETWEEN n.from_date AND n.to_date
     ORDER BY n.id DESC LIMIT 1;

    INSERT INTO attendance_marks AS a (child_id, day, group_id, status, source, reason, lessons,
                                       notice_id, marked_by, updated_at)
    VALUES (p_child, p_day, p_gid, p_status, 'teacher', v_reason,
            CASE WHEN v_found AND m.status = p_status THEN m.lessons END,
            CASE WHEN p_status = 'absent' THEN v_notice END, p_uid, now())
    ON CONFLICT (child_id, day) DO UPDATE
       SET group_id = EXCLUDED.group_id, status = EXCLUDED.status, source = 'teacher',
           reason = EXCLUDED.reason, lessons = EXCLUDED.lessons, notice_id = EXCLUDED.notice_id,
           marked_by = EXCLUDED.marked_by, updated_at = EXCLUDED.updated_at;
    IF v_found THEN
        INSERT INTO audit_log (actor_id, action, object, detail)
        VALUES (p_uid, 'timesheet.correct', format('attendance:%s:%s', p_child, p_day),
                jsonb_build_object('group_id', p_gid, 'date', to_char(p_day, 'YYYY-MM-DD'),
                                   'child_id', p_child,
                                   'before', jsonb_build_object('status', m.status, 'source', m.source,
                                                                'reason', m.reason, 'notice_id', m.notice_id,
                                                                'marked_by', m.marked_by),
                                   'after', jsonb_build_object('status', p_status, 'reason', v_reason)));
    END IF;

    v_events := jsonb_build_array(epos_event('timesheet:' || p_gid, 'timesheet.mark', jsonb_build_object(
        'group_id', p_gid, 'date', to_char(p_day, 'YYYY-MM-DD'), 'child_id', p_child,
        'status', p_status, 'source', 'teacher', 'reason', v_reason, 'by', p_uid)));
    IF p_status = 'absent' AND v_notice IS NULL AND NOT (v_found AND m.status = 'absent') THEN
        v_events := v_events || epos_unexplained_events(p_child, p_day, p_gid);
    ELSIF p_status = 'present' AND v_notice IS NOT NULL AND NOT (v_found AND m.status = 'present') THEN
        v_events := v_events || epos_notice_corrected_events(v_notice, p_day, p_uid);
    END IF;
    RETURN v_events;
END
$$;

-- epos_timesheet_bulk_skips(child, day) -> true when a bulk mark
-- («Остальные присутствуют») must leave the child alone: it has a mark that
-- day, or an active parent notice covers the day (marked or not). Takes the
-- child's row lock first, as epos_timesheet_mark does, so a notice applied
-- or a mark written meanwhile is seen.
CREATE OR REPLACE FUNCTION epos_timesheet_bulk_skips(p_child bigint, p_day date) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM children c WHERE c.id = p_child FOR NO KEY UPDATE;
    RETURN EXISTS (SELECT 1 FROM attendance_marks m WHERE m.child_id = p_child AND m.day = p_day)
        OR EXISTS (SELECT 1 FROM absence_notices n
                    WHERE n.child_id = p_child AND n.status = 'active'
                      AND p_day BETWEEN n.from_date AND n.to_date);
END
$$;

-- PUT /api/timesheet {"group_id","date","marks":[{child_id,status,reason?}],"bulk"?}
-- → the day's timesheet (as GET) and the events of what changed. date
-- defaults to today in the org's time zone; it may be neither in the future
-- nor more than 31 days ago. Idempotent: marks equal to the stored ones
-- write and emit nothing. Per change 'timesheet.mark' on timesheet:<gid>;
-- once per call with a change 'timesheet.summary' on orgstaff:<org>.
-- "bulk": true («Остальные присутствуют») writes only the marks of children
-- with no mark that day and no active parent notice covering it; the others
-- are left as they are (a sick child is never marked present in bulk).
-- EP400 bad body or date, EP404 unknown group, EP403 not its staff or a
-- child not enrolled in it, EP409 a day off of the org's calendar (an
-- administrator opens it by making it a workday).
CREATE OR REPLACE FUNCTION epos_api_timesheet_put(p_uid bigint, p_sid bigint, p_id bigint, p_args jsonb, p_body jsonb)
RETURNS jsonb
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    v_gid    bigint;
    v_org    bigint;
    v_today  date;
    v_day    date;
    v_events jsonb := '[]'::jsonb;
    v_ev     jsonb;
    v_bulk   boolean;
    r        record;
BEGIN
    PERFORM epos_require_session(p_sid, p_uid);
    PERFORM epos_body_object(p_body);
    v_gid := epos_need(epos_json_id(p_body -> 'group_id', 'group_id'), 'Не указана группа (group_id)');
    IF p_body ? 'bulk' AND jsonb_typeof(p_body -> 'bulk') NOT IN ('boolean', 'null') THEN
        RAISE EXCEPTION USING ERRCODE = 'EP400', MESSAGE = 'Поле «bulk» должно быть true или false';
    END IF;
    v_bulk := coalesce((p_body ->> 'bulk')::boolean, false);
    v_org := epos_timesheet_group(p_uid, v_gid);
    v_today := epos_org_today(v_org);
    v_day := coalesce(epos_body_date(p_body, 'date'), v_today);
    IF v_day > v_today THEN
        RAISE EXCEPTION USING ERRCODE = 'EP400', MESSAGE = 'Нельзя отметить посещаемость за будущий день';
    END IF;
    IF v_day < v_today - 31 THEN
        RAISE EXCEPTION USING ERRCODE = 'EP400', MESSAGE = 'Табель старше 31 дня изменить нельзя';
    END IF;
    IF NOT epos_is_workday(v_org, v_day) THEN
        RAISE EXCEPTION USING ERRCODE = 'EP409',
            MESSAGE = format('%s — выходной день по календарю организации: отметки в табель не ставятся. '
                             'Сделать этот день рабочим может администратор организации в календаре',
                             epos_date_text(v_day));
    END IF;
    -- Child order: two writers of overlapping marks lock them in one order. A
    -- refusal half-way rolls back the marks written before it.
    FOR r IN SELECT * FROM epos_timesheet_parse_marks(p_body -> 'marks') x ORDER BY x.child_id LOOP
        PERFORM 1 FROM enrolments e WHERE e.child_id = r.child_id AND e.group_id = v_gid;
        IF NOT FOUND THEN
            RAISE EXCEPTION USING ERRCODE = 'EP403', MESSAGE = 'Ребёнок не из этой группы';
        END IF;
        IF v_bulk AND epos_timesheet_bulk_skips(r.child_id, v_day) THEN
            CONTINUE;
        END IF;
        v_ev := epos_timesheet_mark(p_uid, v_gid, v_day, r.child_id, r.status, r.reason, r.has_reason);
        IF v_ev IS NOT NULL THEN
            v_events := v_events || v_ev;
        END IF;
    END LOOP;
    IF v_events <> '[]' THEN
        v_events := v_events || epos_timesheet_summary_event(v_gid, v_day);
    END IF;
    RETURN jsonb_build_object('status', 200, 'body', epos_timesheet_body(v_gid, v_day),
                              'frames', epos_events_emit(v_events));
END
$$;

-- ---------------------------------------------------------------- the org's day

-- GET /api/timesheet/summary?org_id=&date= → {org_id,date,workday,deadline,tz,
-- groups:[{group_id,name,kind,total,marked,absent,complete}]} sorted by
-- name, every group of the org; date defaults to today in the org's time
-- zone. Administrators of the org only (EP403); EP404 unknown org.
CREATE OR REPLACE FUNCTION epos_api_timesheet_summary(p_uid bigint, p_sid bigint, p_id bigint, p_args jsonb,
                                           p_body jsonb)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    v_org  bigint;
    v_day  date;
    v_body jsonb;
BEGIN
    PERFORM epos_require_session(p_sid, p_uid);
    v_org := epos_need(epos_arg_int(p_args, 'org_id', NULL), 'Не указана организация (org_id)');
    PERFORM epos_org_require_admin(p_uid, v_org);
    v_day := coalesce(epos_parse_date(p_args ->> 'date', 'date'), epos_org_today(v_org));
    WITH st AS (
        SELECT g.id, g.name, g.kind,
               count(e.child_id)::int AS total,
               count(m.child_id)::int AS marked,
               (count(*) FILTER (WHERE m.status = 'absent'))::int AS absent
          FROM groups g
          LEFT JOIN enrolments e ON e.group_id = g.id
          LEFT JOIN attendance_marks m ON m.child_id = e.child_id AND m.day = v_day
         WHERE g.org_id = v_org
         GROUP BY g.id
    )
    SELECT jsonb_build_object(
               'org_id', o.id, 'date', to_char(v_day, 'YYYY-MM-DD'),
               'workday', epos_is_workday(o.id, v_day),
               'deadline', to_char(o.timesheet_deadline, 'HH24:MI'), 'tz', o.tz,
               'groups', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                                  'group_id', st.id, 'name', st.name, 'kind', st.kind,
                                  'total', st.total, 'marked', st.marked, 'absent', st.absent,
                                  'complete', st.marked = st.total) ORDER BY st.name, st.id), '[]')
                            FROM st))
      INTO v_body
      FROM orgs o WHERE o.id = v_org;
    RETURN jsonb_build_object('status', 200, 'body', v_body);
END
$$;
