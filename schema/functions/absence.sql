-- absence.sql -- parents' absence notices: filing, applying to the timesheet (worker), withdrawing, listing.
--
-- A parent files a notice (POST /api/absences); the same transaction queues
-- an 'absence.apply' job, and the worker's job calls epos_absence_apply,
-- which marks the covered workdays absent (source 'parent') — never over a
-- teacher's mark — tells the group's staff live and by mail and confirms to
-- the parent. Withdrawing removes the parent's marks from today on. Events
-- are appended through epos_events_emit (events.sql) in its lock order.

-- ---------------------------------------------------------------- helpers

-- epos_absence_item(id) -> the notice as the API shows it:
-- {id,child_id,child_name,group_id,group_name,org_id,parent_id,parent_name,
--  from,to,lessons,reason,status,created_at,updated_at,applied,day_off,answers}.
-- applied: a mark of the timesheet carries the notice (the parent's absence,
-- or a teacher's absence it explains) — never true without a mark. day_off:
-- an active notice none of whose days is a workday of the org's calendar
-- (kept, shown, applied if a day of it becomes a workday). NULL for an unknown id.
CREATE OR REPLACE FUNCTION epos_absence_item(p_id bigint) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'id', n.id, 'child_id', n.child_id, 'child_name', c.full_name,
        'group_id', g.id, 'group_name', g.name, 'org_id', c.org_id,
        'parent_id', n.parent_id, 'parent_name', p.full_name,
        'from', to_char(n.from_date, 'YYYY-MM-DD'), 'to', to_char(n.to_date, 'YYYY-MM-DD'),
        'lessons', to_jsonb(n.lessons), 'reason', n.reason, 'status', n.status,
        'created_at', epos_ts(n.created_at), 'updated_at', epos_ts(n.updated_at),
        'applied', EXISTS (SELECT 1 FROM attendance_marks m WHERE m.notice_id = n.id),
        'day_off', n.status = 'active' AND NOT epos_has_workday(c.org_id, n.from_date, n.to_date),
        'answers', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                               'date', ev.payload->>'date', 'status', ev.payload->>'status',
                               'text', ev.payload->>'text') ORDER BY ev.seq), '[]')
                      FROM events ev
                     WHERE ev.topic = 'user:' || n.parent_id AND ev.type = 'absence.status'
                       AND ev.payload->>'absence_id' = n.id::text
                       AND ev.payload->>'status' = 'corrected'))
      FROM absence_notices n
      JOIN children c ON c.id = n.child_id
      JOIN users p ON p.id = n.parent_id
      LEFT JOIN enrolments e ON e.child_id = n.child_id
      LEFT JOIN groups g ON g.id = e.group_id
     WHERE n.id = p_id
$$;

-- epos_absence_lessons(value, kind, lessons_per_day, from, to) -> the sorted
-- lesson numbers of a notice's "lessons", NULL for a whole-day notice (no
-- value or JSON null). EP400 unless the group is a class with lessons, the
-- notice is for one day, and the list holds distinct numbers 1..lessons_per_day.
CREATE OR REPLACE FUNCTION epos_absence_lessons(p_val jsonb, p_kind text, p_lpd int, p_from date, p_to date)
RETURNS int[]
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    v_out int[];
BEGIN
    IF p_val IS NULL OR jsonb_typeof(p_val) = 'null' THEN
        RETURN NULL;
    END IF;
    IF jsonb_typeof(p_val) <> 'array' OR jsonb_array_length(p_val) = 0 THEN
        RAISE EXCEPTION USING ERRCODE = 'EP400', MESSAGE = 'Поле «lessons» должно быть списком номеров уроков';
    END IF;
    IF p_kind IS DISTINCT FROM 'class' OR coalesce(p_lpd, 0) = 0 THEN
        RAISE EXCEPTION USING ERRCODE = 'EP400', MESSAGE = 'Уроки можно указать только для школьного класса';
    END IF;
    IF p_from <> p_to THEN
        RAISE EXCEPTION USING ERRCODE = 'EP400', MESSAGE = 'Уроки можно указать только для одного дня';
    END IF;
    IF EXISTS (SELECT 1 FROM jsonb_array_elements(p_val) x
                WHERE jsonb_typeof(x) <> 'number' OR x::numeric <> trunc(x::numeric)
                   OR x::numeric < 1 OR x::numeric > p_lpd) THEN
        RAISE EXCEPTION USING ERRCODE = 'EP400',
            MESSAGE = format('Номер урока должен быть от 1 до %s', p_lpd);
    END IF;
    SELECT array_agg(DISTINCT x::int ORDER BY x::int) INTO v_out FROM jsonb_array_elements_text(p_val) x;
    IF cardinality(v_out) <> jsonb_array_length(p_val) THEN
        RAISE EXCEPTION USING ERRCODE = 'EP400', MESSAGE = 'Номера уроков повторяются';
    END IF;
    RETURN v_out;
END
$$;

-- epos_absence_reason(value) -> the trimmed reason; EP400 unless a string of 1..500 characters.
CREATE OR REPLACE FUNCTION epos_absence_reason(p_val jsonb) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    v text := CASE WHEN jsonb_typeof(p_val) = 'string' THEN btrim(p_val #>> '{}') END;
BEGIN
    IF v IS NULL OR v = '' THEN
        RAISE EXCEPTION USING ERRCODE = 'EP400', MESSAGE = 'Укажите причину отсутствия';
    END IF;
    IF char_length(v) > 500 THEN
        RAISE EXCEPTION USING ERRCODE = 'EP400', MESSAGE = 'Причина длиннее 500 символов';
    END IF;
    RETURN v;
END
$$;

-- epos_absence_dates(body, today) -> (from, to) of a notice body; "to"
-- defaults to "from". EP400 for a bad or missing date, reversed dates, a
-- past day, more than 60 days, or an end more than 180 days ahead.
CREATE OR REPLACE FUNCTION epos_absence_dates(p_body jsonb, p_today date, OUT d_from date, OUT d_to date)
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    d_from := epos_need(epos_body_date(p_body, 'from'), 'Укажите дату начала (from)');
    d_to := coalesce(epos_body_date(p_body, 'to'), d_from);
    IF d_to < d_from THEN
        RAISE EXCEPTION USING ERRCODE = 'EP400', MESSAGE = 'Дата окончания раньше даты начала';
    END IF;
    IF d_from < p_today THEN
        RAISE EXCEPTION USING ERRCODE = 'EP400', MESSAGE = 'Нельзя подать заявление за прошедший день';
    END IF;
    IF d_to - d_from >= 60 THEN
        RAISE EXCEPTION USING ERRCODE = 'EP400', MESSAGE = 'Заявление можно подать не больше чем на 60 дней';
    END IF;
    IF d_to > p_today + 180 THEN
        RAISE EXCEPTION USING ERRCODE = 'EP400',
            MESSAGE = 'Заявление можно подать не дальше чем на 180 дней вперёд';
    END IF;
END
$$;

-- epos_absence_cid(value) -> the client id of a notice body, NULL when
-- missing or null; EP400 unless a string of 1..64 characters.
CREATE OR REPLACE FUNCTION epos_absence_cid(p_val jsonb) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF p_val IS NULL OR jsonb_typeof(p_val) = 'null' THEN
        RETURN NULL;
    END IF;
    IF jsonb_typeof(p_val) <> 'string' OR char_length(p_val #>> '{}') NOT BETWEEN 1 AND 64 THEN
        RAISE EXCEPTION USING ERRCODE = 'EP400', MESSAGE = 'Поле «cid» должно быть строкой до 64 символов';
    END IF;
    RETURN p_val #>> '{}';
END
$$;

-- ---------------------------------------------------------------- filing

-- POST /api/absences {"child_id","from","to"?,"lessons"?,"reason","cid"?}
-- → 201 {"absence":item}: a guardian of the child files a notice for whole
-- days from..to (to defaults to from), or for some lessons of one day of a
-- school class. The 'absence.apply' job is queued in the same transaction.
-- A retry with the same cid returns the notice it made. EP400 bad body,
-- EP404 unknown child, EP403 not your child, EP409 an active notice
-- already covers one of the days.
CREATE OR REPLACE FUNCTION epos_api_absences_create(p_uid bigint, p_sid bigint, p_id bigint, p_args jsonb, p_body jsonb)
RETURNS jsonb
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    v_child   bigint;
    k         record;
    v_dates   record;
    v_lessons int[];
    v_reason  text;
    v_cid     text;
    v_id      bigint;
BEGIN
    PERFORM epos_require_session(p_sid, p_uid);
    PERFORM epos_body_object(p_body);
    v_child := epos_need(epos_json_id(p_body -> 'child_id', 'child_id'), 'Не указан ребёнок (child_id)');
    SELECT c.org_id, g.kind, g.lessons_per_day INTO k
      FROM children c LEFT JOIN enrolments e ON e.child_id = c.id LEFT JOIN groups g ON g.id = e.group_id
     WHERE c.id = v_child;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'EP404', MESSAGE = 'Ребёнок не найден';
    END IF;
    IF NOT epos_is_guardian(p_uid, v_child) THEN
        RAISE EXCEPTION USING ERRCODE = 'EP403', MESSAGE = 'Это не ваш ребёнок';
    END IF;
    v_dates := epos_absence_dates(p_body, epos_org_today(k.org_id));
    v_lessons := epos_absence_lessons(p_body -> 'lessons', k.kind, k.lessons_per_day,
                                      v_dates.d_from, v_dates.d_to);
    v_reason := epos_absence_reason(p_body -> 'reason');
    v_cid := epos_absence_cid(p_body -> 'cid');
    IF v_cid IS NOT NULL THEN
        SELECT n.id INTO v_id FROM absence_notices n WHERE n.parent_id = p_uid AND n.cid = v_cid;
        IF FOUND THEN
            RETURN jsonb_build_object('status', 201, 'body', jsonb_build_object('absence', epos_absence_item(v_id)));
        END IF;
    END IF;
    -- One filer of a child at a time: the overlap check below stays true until commit.
    PERFORM 1 FROM children c WHERE c.id = v_child FOR NO KEY UPDATE;
    PERFORM 1 FROM absence_notices n
      WHERE n.child_id = v_child AND n.status = 'active'
        AND n.from_date <= v_dates.d_to AND n.to_date >= v_dates.d_from;
    IF FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'EP409', MESSAGE = 'На эти дни уже подано заявление об отсутствии';
    END IF;
    INSERT INTO absence_notices AS n (child_id, parent_id, from_date, to_date, lessons, reason, cid)
    VALUES (v_child, p_uid, v_dates.d_from, v_dates.d_to, v_lessons, v_reason, v_cid)
    ON CONFLICT (parent_id, cid) DO NOTHING
    RETURNING n.id INTO v_id;
    IF v_id IS NULL THEN        -- a concurrent retry with the same cid won
        SELECT n.id INTO v_id FROM absence_notices n WHERE n.parent_id = p_uid AND n.cid = v_cid;
    ELSE
        INSERT INTO outbox (kind, payload) VALUES ('absence.apply', jsonb_build_object('notice_id', v_id));
    END IF;
    RETURN jsonb_build_object('status', 201, 'body', jsonb_build_object('absence', epos_absence_item(v_id)));
END
$$;

-- ---------------------------------------------------------------- applying (the worker)

-- epos_absence_mail(notice, gid, kept, day_off) queues the mails of an
-- applied notice: 'absence.notice' to each bound teacher and the class
-- teacher of the group, 'absence.status' to the parent who filed it —
-- template absence.applied when a mark carries it, absence.kept when none
-- of its days could be marked (kept; day_off: because the group does not
-- work on its days, and it is marked if one of them becomes a workday).
-- Data {child_name, parent_name, group_name, from, to, lessons, reason,
-- kept, day_off}: the text is the worker's (workers/templates/).
CREATE OR REPLACE FUNCTION epos_absence_mail(p_notice bigint, p_gid bigint, p_kept boolean, p_day_off boolean)
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    r      record;
    v_data jsonb;
    v_what text := CASE WHEN p_kept THEN 'kept' ELSE 'applied' END;
BEGIN
    SELECT n.id, n.parent_id,
           jsonb_build_object('child_name', c.full_name, 'parent_name', p.full_name, 'group_name', g.name,
                              'from', to_char(n.from_date, 'YYYY-MM-DD'), 'to', to_char(n.to_date, 'YYYY-MM-DD'),
                              'lessons', to_jsonb(n.lessons), 'reason', n.reason,
                              'kept', p_kept, 'day_off', p_kept AND p_day_off) AS data
      INTO r
      FROM absence_notices n
      JOIN children c ON c.id = n.child_id
      JOIN users p ON p.id = n.parent_id
      LEFT JOIN groups g ON g.id = p_gid
     WHERE n.id = p_notice;
    v_data := r.data;
    IF p_gid IS NOT NULL THEN
        PERFORM epos_email_notify(s.uid, 'absence.notice', v_data,
            format('<absence.notice.%s.%s@epos.local>', r.id, s.uid))
          FROM epos_group_staff(p_gid) AS s(uid);
    END IF;
    PERFORM epos_email_notify(r.parent_id, 'absence.status', v_data,
        format('<absence.status.%s.%s.%s@epos.local>', r.id, v_what, r.parent_id), false, 'absence.' || v_what);
END
$$;

-- epos_absence_events(notice, gid, action, days, by, today) -> the events of
-- timesheet:<gid> for a notice 'filed' (applied) or 'withdrawn': 'absence.notice'
-- (the item with action and the days marked or unmarked), a 'timesheet.mark'
-- per day (absent from the parent, or unmarked), and 'timesheet.summary'
-- when today is one of the days. [] without a group.
CREATE OR REPLACE FUNCTION epos_absence_events(p_notice bigint, p_gid bigint, p_action text, p_days date[],
                                    p_by bigint, p_today date) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN p_gid IS NULL THEN '[]'::jsonb ELSE
        jsonb_build_array(epos_event('timesheet:' || p_gid, 'absence.notice',
            epos_absence_item(n.id) || jsonb_build_object('action', p_action, 'days', to_jsonb(p_days))))
        || coalesce((SELECT jsonb_agg(epos_event('timesheet:' || p_gid, 'timesheet.mark',
                         jsonb_build_object('group_id', p_gid, 'date', to_char(d, 'YYYY-MM-DD'),
                                            'child_id', n.child_id, 'by', p_by)
                         || CASE WHEN p_action = 'filed'
                                 THEN jsonb_build_object('status', 'absent', 'source', 'parent',
                                                         'reason', n.reason, 'lessons', to_jsonb(n.lessons),
                                                         'notice_id', n.id)
                                 ELSE jsonb_build_object('status', 'unmarked', 'source', NULL, 'reason', NULL)
                            END) ORDER BY d)
                       FROM unnest(p_days) d), '[]')
        || CASE WHEN p_today = ANY (p_days) THEN jsonb_build_array(epos_timesheet_summary_event(p_gid, p_today))
                ELSE '[]' END
    END
      FROM absence_notices n WHERE n.id = p_notice
$$;

-- epos_absence_mark_days(notice, gid, org, today) -> the days it marked:
-- every workday of the notice from today on becomes absent (source
-- 'parent', the notice's reason and lessons, notice_id) unless a teacher
-- marked it already; a teacher's absence on those days becomes explained
-- by the notice (notice_id set, nothing else changed).
CREATE OR REPLACE FUNCTION epos_absence_mark_days(p_notice bigint, p_gid bigint, p_org bigint, p_today date)
RETURNS date[]
LANGUAGE plpgsql AS $$
DECLARE
    n      absence_notices%ROWTYPE;
    v_days date[];
BEGIN
    SELECT * INTO n FROM absence_notices x WHERE x.id = p_notice;
    WITH d AS (
        SELECT x::date AS day
          FROM generate_series(greatest(n.from_date, p_today), n.to_date, interval '1 day') x
         WHERE epos_is_workday(p_org, x::date)
    ), up AS (
        INSERT INTO attendance_marks AS a (child_id, day, group_id, status, source, reason, lessons,
                                           notice_id, marked_by, updated_at)
        SELECT n.child_id, d.day, p_gid, 'absent', 'parent', n.reason, n.lessons, n.id, n.parent_id, now()
          FROM d
        ON CONFLICT (child_id, day) DO UPDATE
           SET group_id = EXCLUDED.group_id, status = 'absent', reason = EXCLUDED.reason,
               lessons = EXCLUDED.lessons, notice_id = EXCLUDED.notice_id,
               marked_by = EXCLUDED.marked_by, updated_at = EXCLUDED.updated_at
         WHERE a.source = 'parent'        -- never over a teacher's mark
        RETURNING a.day
    )
    SELECT coalesce(array_agg(up.day ORDER BY up.day), '{}') INTO v_days FROM up;
    UPDATE attendance_marks a SET notice_id = n.id
     WHERE a.child_id = n.child_id AND a.day BETWEEN greatest(n.from_date, p_today) AND n.to_date
       AND a.source = 'teacher' AND a.status = 'absent' AND a.notice_id IS NULL;
    RETURN v_days;
END
$$;

-- epos_absence_apply(notice) -> {"frames":[{"topic","frame"}…],"days":[…]}:
-- the 'absence.apply' job. Marks every workday of the notice from today (in
-- the org's time zone) on absent — source 'parent', its reason and lessons,
-- notice_id — except days a teacher already marked (a teacher's absence on
-- them becomes explained by the notice); appends 'absence.notice' (action
-- 'filed', days applied) and a 'timesheet.mark' per day on timesheet:<gid>,
-- 'absence.status' on user:<parent>, 'timesheet.summary' when today was
-- applied; queues the mails. The parent's status is 'applied' («отмечено в
-- табеле») only when a mark carries the notice; 'day_off' when none of its
-- days from today on is a workday (the notice stays active and is applied to
-- a day that becomes one: epos_absence_day_opened); 'received' otherwise
-- (no group, or a teacher marked the child present already).
-- Idempotent: a notice already applied, withdrawn or unknown gives
-- {"frames":[]} and changes nothing. The caller publishes the frames on
-- ev:<topic>, as the hub does for the API functions.
CREATE OR REPLACE FUNCTION epos_absence_apply(p_notice bigint) RETURNS jsonb
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    n        absence_notices%ROWTYPE;
    k        record;
    v_today  date;
    v_days   date[] := '{}'::date[];
    v_status text;
    v_text   text;
    v_events jsonb;
BEGIN
    SELECT * INTO n FROM absence_notices x WHERE x.id = p_notice FOR UPDATE;
    IF NOT FOUND OR n.status <> 'active' OR n.applied_at IS NOT NULL THEN
        RETURN jsonb_build_object('frames', '[]'::jsonb, 'days', '[]'::jsonb);
    END IF;
    UPDATE absence_notices SET applied_at = now() WHERE id = n.id;
    SELECT c.org_id, c.full_name, e.group_id AS gid INTO k
      FROM children c LEFT JOIN enrolments e ON e.child_id = c.id WHERE c.id = n.child_id;
    v_today := epos_org_today(k.org_id);
    IF k.gid IS NOT NULL THEN
        v_days := epos_absence_mark_days(n.id, k.gid, k.org_id, v_today);
    END IF;
    -- «Отмечено в табеле» only when a mark carries the notice; a notice for
    -- days off is kept and said to be for a day off.
    IF EXISTS (SELECT 1 FROM attendance_marks m WHERE m.notice_id = n.id) THEN
        v_status := 'applied';
        v_text := 'Заявление получено и отмечено в табеле';
    ELSIF NOT epos_has_workday(k.org_id, greatest(n.from_date, v_today), n.to_date) THEN
        v_status := 'day_off';
        v_text := 'Заявление получено. В этот день группа не работает — отметка в табель не вносится; '
                  'если день станет рабочим, отсутствие будет отмечено';
    ELSE
        v_status := 'received';
        v_text := 'Заявление получено; отметка в табель не внесена';
    END IF;
    v_events := epos_absence_events(n.id, k.gid, 'filed', v_days, n.parent_id, v_today)
        || epos_event('user:' || n.parent_id, 'absence.status', jsonb_build_object(
        'absence_id', n.id, 'child_id', n.child_id, 'child_name', k.full_name,
        'date', to_char(n.from_date, 'YYYY-MM-DD'), 'from', to_char(n.from_date, 'YYYY-MM-DD'),
        'to', to_char(n.to_date, 'YYYY-MM-DD'), 'days', to_jsonb(v_days),
        'status', v_status, 'by', NULL, 'text', v_text));
    IF v_status = 'applied' THEN
        PERFORM epos_absence_mail(n.id, k.gid, false, false);
    ELSE
        PERFORM epos_absence_mail(n.id, k.gid, true, v_status = 'day_off');
    END IF;
    RETURN jsonb_build_object('frames', epos_events_emit(v_events), 'days', to_jsonb(v_days));
END
$$;

-- ---------------------------------------------------------------- the calendar changes a day

-- epos_absence_day_opened(org, day, today) -> the events of a day of the org
-- that became a workday (PUT /api/orgs/{id}/calendar/{date}): every active,
-- already applied notice covering it marks its child absent that day —
-- source 'parent', never over a teacher's mark (a teacher's absence becomes
-- explained by it) — with 'absence.notice' (action 'filed', days [day]) and
-- 'timesheet.mark' on timesheet:<gid>, 'timesheet.summary' when the day is
-- today, and 'absence.status' ('applied') on user:<parent>. A day more than
-- 31 days back (the timesheet's window) is left alone. Notices not applied
-- yet are the worker's: it reads the calendar as it is then.
CREATE OR REPLACE FUNCTION epos_absence_day_opened(p_org bigint, p_day date, p_today date) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_events jsonb := '[]'::jsonb;
    r        record;
BEGIN
    IF p_day < p_today - 31 THEN
        RETURN v_events;
    END IF;
    FOR r IN
        SELECT n.id, n.child_id, n.parent_id, n.reason, n.lessons, c.full_name AS child_name, e.group_id AS gid
          FROM absence_notices n
          JOIN children c ON c.id = n.child_id AND c.org_id = p_org
          JOIN enrolments e ON e.child_id = n.child_id
         WHERE n.status = 'active' AND n.applied_at IS NOT NULL AND p_day BETWEEN n.from_date AND n.to_date
         ORDER BY n.child_id
           FOR UPDATE OF n
    LOOP
        UPDATE attendance_marks a SET notice_id = r.id
         WHERE a.child_id = r.child_id AND a.day = p_day AND a.source = 'teacher' AND a.status = 'absent'
           AND a.notice_id IS NULL;
        INSERT INTO attendance_marks (child_id, day, group_id, status, source, reason, lessons,
                                      notice_id, marked_by, updated_at)
        VALUES (r.child_id, p_day, r.gid, 'absent', 'parent', r.reason, r.lessons, r.id, r.parent_id, now())
        ON CONFLICT (child_id, day) DO NOTHING;
        IF NOT FOUND THEN
            CONTINUE;       -- a teacher's mark stays
        END IF;
        v_events := v_events
            || epos_absence_events(r.id, r.gid, 'filed', ARRAY[p_day], r.parent_id, p_today)
            || epos_event('user:' || r.parent_id, 'absence.status', jsonb_build_object(
                   'absence_id', r.id, 'child_id', r.child_id, 'child_name', r.child_name,
                   'date', to_char(p_day, 'YYYY-MM-DD'), 'days', jsonb_build_array(to_char(p_day, 'YYYY-MM-DD')),
                   'status', 'applied', 'by', NULL,
                   'text', format('%s стал рабочим днём: отсутствие отмечено в табеле', epos_date_text(p_day))));
    END LOOP;
    RETURN v_events;
END
$$;

-- epos_absence_day_closed(org, day, today) -> the events of a day of the org
-- that became a day off: the parents' marks of that day go (a day off takes
-- no marks; their notices stay active and come back if the day is opened
-- again), each with 'timesheet.mark' (unmarked) on timesheet:<gid> and
-- 'timesheet.summary' when the day is today. Teachers' marks stay as they
-- were made. A day more than 31 days back is left alone.
CREATE OR REPLACE FUNCTION epos_absence_day_closed(p_org bigint, p_day date, p_today date) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_events jsonb := '[]'::jsonb;
    v_gids   bigint[] := '{}'::bigint[];
    r        record;
BEGIN
    IF p_day < p_today - 31 THEN
        RETURN v_events;
    END IF;
    FOR r IN
        DELETE FROM attendance_marks a
         USING children c
         WHERE c.id = a.child_id AND c.org_id = p_org AND a.day = p_day AND a.source = 'parent'
        RETURNING a.child_id, a.group_id
    LOOP
        v_events := v_events || epos_event('timesheet:' || r.group_id, 'timesheet.mark', jsonb_build_object(
            'group_id', r.group_id, 'date', to_char(p_day, 'YYYY-MM-DD'), 'child_id', r.child_id,
            'status', 'unmarked', 'source', NULL, 'reason', NULL, 'by', NULL));
        IF NOT r.group_id = ANY (v_gids) THEN
            v_gids := v_gids || r.group_id;
        END IF;
    END LOOP;
    IF p_day = p_today THEN
        v_events := v_events || coalesce((SELECT jsonb_agg(epos_timesheet_summary_event(g, p_day) ORDER BY g)
                                            FROM unnest(v_gids) g), '[]'::jsonb);
    END IF;
    RETURN v_events;
END
$$;

-- ---------------------------------------------------------------- withdrawing, listing

-- DELETE /api/absences/{id} → {"absence":item} with status 'withdrawn': a
-- guardian of the child withdraws an active notice. The parent's marks it
-- made from today on are removed (the days already past stay as they
-- happened; a teacher's marks always stay); appends 'absence.notice'
-- (action 'withdrawn', days removed) and a 'timesheet.mark' with status
-- 'unmarked' per removed day on timesheet:<gid>, 'absence.status' (status
-- 'withdrawn') on user:<parent who filed it>. EP404 unknown notice, EP403
-- not your child, EP409 already withdrawn.
CREATE OR REPLACE FUNCTION epos_api_absences_withdraw(p_uid bigint, p_sid bigint, p_id bigint, p_args jsonb, p_body jsonb)
RETURNS jsonb
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    n        absence_notices%ROWTYPE;
    k        record;
    v_today  date;
    v_days   date[];
    v_events jsonb;
BEGIN
    PERFORM epos_require_session(p_sid, p_uid);
    SELECT * INTO n FROM absence_notices x WHERE x.id = p_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'EP404', MESSAGE = 'Заявление не найдено';
    END IF;
    IF NOT epos_is_guardian(p_uid, n.child_id) THEN
        RAISE EXCEPTION USING ERRCODE = 'EP403', MESSAGE = 'Это не ваш ребёнок';
    END IF;
    IF n.status <> 'active' THEN
        RAISE EXCEPTION USING ERRCODE = 'EP409', MESSAGE = 'Заявление уже отозвано';
    END IF;
    SELECT c.org_id, c.full_name, e.group_id AS gid INTO k
      FROM children c LEFT JOIN enrolments e ON e.child_id = c.id WHERE c.id = n.child_id;
    v_today := epos_org_today(k.org_id);
    UPDATE absence_notices SET status = 'withdrawn', updated_at = now() WHERE id = n.id;
    WITH del AS (
        DELETE FROM attendance_marks a
         WHERE a.notice_id = n.id AND a.source = 'parent' AND a.day >= v_today
        RETURNING a.day
    )
    SELECT coalesce(array_agg(del.day ORDER BY del.day), '{}') INTO v_days FROM del;
    UPDATE attendance_marks a SET notice_id = NULL
     WHERE a.notice_id = n.id AND a.source = 'teacher' AND a.day >= v_today;
    INSERT INTO audit_log (actor_id, action, object, detail)
    VALUES (p_uid, 'absence.withdraw', 'absence:' || n.id, jsonb_build_object('days', to_jsonb(v_days)));
    v_events := epos_absence_events(n.id, k.gid, 'withdrawn', v_days, p_uid, v_today)
        || epos_event('user:' || n.parent_id, 'absence.status', jsonb_build_object(
        'absence_id', n.id, 'child_id', n.child_id, 'child_name', k.full_name,
        'date', to_char(n.from_date, 'YYYY-MM-DD'), 'status', 'withdrawn', 'by', p_uid,
        'text', 'Заявление отозвано'));
    RETURN jsonb_build_object('status', 200, 'body', jsonb_build_object('absence', epos_absence_item(n.id)),
                              'frames', epos_events_emit(v_events));
END
$$;

-- epos_absence_children(uid) -> the children whose notices uid may see: their
-- own children, the children of groups they teach or are class teacher of,
-- every child of the orgs they administer.
CREATE OR REPLACE FUNCTION epos_absence_children(p_uid bigint) RETURNS SETOF bigint
LANGUAGE sql STABLE AS $$
    SELECT g.child_id FROM guardians g WHERE g.user_id = p_uid
    UNION
    SELECT e.child_id
      FROM enrolments e
     WHERE e.group_id IN (SELECT t.group_id FROM teacher_groups t WHERE t.user_id = p_uid
                          UNION
                          SELECT c.group_id FROM class_teachers c WHERE c.user_id = p_uid)
    UNION
    SELECT c.id FROM children c
      JOIN staff_roles r ON r.org_id = c.org_id AND r.user_id = p_uid AND r.role = 'admin'
$$;

-- GET /api/absences?child_id= → {"absences":[item…]} newest first, at most
-- 100: a parent sees their children's notices, staff those of their groups
-- (administrators: their org's). With child_id only that child's (EP404
-- unknown child, EP403 a child they may not see).
CREATE OR REPLACE FUNCTION epos_api_absences_list(p_uid bigint, p_sid bigint, p_id bigint, p_args jsonb, p_body jsonb)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    v_child bigint;
    v_list  jsonb;
BEGIN
    PERFORM epos_require_session(p_sid, p_uid);
    v_child := epos_arg_int(p_args, 'child_id', NULL);
    IF v_child IS NOT NULL THEN
        PERFORM 1 FROM children c WHERE c.id = v_child;
        IF NOT FOUND THEN
            RAISE EXCEPTION USING ERRCODE = 'EP404', MESSAGE = 'Ребёнок не найден';
        END IF;
        IF v_child NOT IN (SELECT x FROM epos_absence_children(p_uid) x) THEN
            RAISE EXCEPTION USING ERRCODE = 'EP403', MESSAGE = 'Нет доступа к заявлениям этого ребёнка';
        END IF;
    END IF;
    SELECT coalesce(jsonb_agg(epos_absence_item(t.id) ORDER BY t.created_at DESC, t.id DESC), '[]')
      INTO v_list
      FROM (SELECT n.id, n.created_at
              FROM absence_notices n
             WHERE n.child_id IN (SELECT x FROM epos_absence_children(p_uid) x)
               AND (v_child IS NULL OR n.child_id = v_child)
             ORDER BY n.created_at DESC, n.id DESC
             LIMIT 100) t;
    RETURN jsonb_build_object('status', 200, 'body', jsonb_build_object('absences', v_list));
END
$$;
