-- reminders.sql -- the timesheet deadline pass: remind the teachers, tell the administrators, when to look next.

-- ========================================================================
-- the deadline pass: remind the teachers of incomplete timesheets, tell the administrators.
--
-- At the org's timesheet_deadline in its time zone, on a workday of its
-- calendar, every group of the org with a child still unmarked that day has
-- missed it: its bound teachers and class teacher get 'timesheet.reminder'
-- (user:<teacher>) and a mail, the org's administrators 'timesheet.overdue'
-- (orgstaff:<org>) and a mail. A reminder_runs row per org and local date,
-- inserted first, makes it happen once however many workers call the pass;
-- an operator's re-run bumps its attempt, so the re-run's mails get new
-- Message-IDs. Set-based: one statement finds the due orgs, one the
-- incomplete groups of all of them.

-- epos_reminders_stage(orgs, days, attempts) fills the temporary tables of
-- one pass (dropped at commit): epos_missed — per run, every group with a
-- child unmarked that day and those children's names; epos_missed_to — who
-- is reminded of each (bound teachers and the class teacher, not disabled);
-- epos_ev(ord, topic, type, data) — the events, in the lock order of 030:
-- user:* by id, then orgstaff:* by id.
CREATE OR REPLACE FUNCTION epos_reminders_stage(p_orgs bigint[], p_days date[], p_attempts int[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    CREATE TEMP TABLE epos_missed ON COMMIT DROP AS
    SELECT r.org_id, r.day, r.attempt, g.id AS group_id, g.name AS group_name,
           to_char(o.timesheet_deadline, 'HH24:MI') AS deadline,
           array_agg(c.full_name ORDER BY c.full_name, c.id) AS names
      FROM unnest(p_orgs, p_days, p_attempts) AS r(org_id, day, attempt)
      JOIN orgs o ON o.id = r.org_id
      JOIN groups g ON g.org_id = r.org_id
      JOIN enrolments e ON e.group_id = g.id
      JOIN children c ON c.id = e.child_id
     WHERE NOT EXISTS (SELECT 1 FROM attendance_marks m WHERE m.child_id = e.child_id AND m.day = r.day)
     GROUP BY r.org_id, r.day, r.attempt, g.id, g.name, o.timesheet_deadline;
    -- The temporary tables of a pass, described for plpgsql_check (a
    -- string statement: nothing at run time).
    PERFORM 'PRAGMA:TABLE: epos_missed (org_id bigint, day date, attempt int, group_id bigint, group_name text, deadline text, names text[])';

    CREATE TEMP TABLE epos_missed_to ON COMMIT DROP AS
    SELECT m.org_id, m.group_id, s.user_id
      FROM epos_missed m
      JOIN (SELECT t.group_id, t.user_id FROM teacher_groups t
            UNION
            SELECT c.group_id, c.user_id FROM class_teachers c) s ON s.group_id = m.group_id
      JOIN users u ON u.id = s.user_id AND NOT u.disabled;
    PERFORM 'PRAGMA:TABLE: epos_missed_to (org_id bigint, group_id bigint, user_id bigint)';

    CREATE TEMP TABLE epos_ev ON COMMIT DROP AS
    WITH ev AS (
        SELECT 1 AS k, t.user_id AS id, m.group_id AS sub, 'user:' || t.user_id AS topic,
               'timesheet.reminder' AS type,
               jsonb_build_object('org_id', m.org_id, 'group_id', m.group_id, 'group_name', m.group_name,
                                  'date', to_char(m.day, 'YYYY-MM-DD'), 'deadline', m.deadline,
                                  'unmarked', to_jsonb(m.names), 'unmarked_count', cardinality(m.names)) AS data
          FROM epos_missed m JOIN epos_missed_to t ON t.group_id = m.group_id
        UNION ALL
        SELECT 2, m.org_id, 0, 'orgstaff:' || m.org_id, 'timesheet.overdue',
               jsonb_build_object('org_id', m.org_id, 'date', to_char(m.day, 'YYYY-MM-DD'),
                                  'deadline', m.deadline,
                                  'groups', jsonb_agg(jsonb_build_object(
                                                'group_id', m.group_id, 'name', m.group_name,
                                                'unmarked_count', cardinality(m.names))
                                            ORDER BY m.group_name, m.group_id))
          FROM epos_missed m GROUP BY m.org_id, m.day, m.deadline
    )
    SELECT row_number() OVER (ORDER BY ev.k, ev.id, ev.sub) AS ord, ev.topic, ev.type, ev.data FROM ev;
END
$$;

-- epos_reminders_mail() queues the mails of a staged pass: one per reminded
-- teacher and group ('timesheet.reminder'), one per administrator of each
-- org with a missed group ('timesheet.overdue'); the Message-IDs carry the
-- run's attempt. Data only: {group,date,deadline,names} and {date,deadline,
-- groups:[{name,unmarked}]}; the text is the worker's template.
CREATE OR REPLACE FUNCTION epos_reminders_mail() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 'PRAGMA:TABLE: epos_missed (org_id bigint, day date, attempt int, group_id bigint, group_name text, deadline text, names text[])';
    PERFORM 'PRAGMA:TABLE: epos_missed_to (org_id bigint, group_id bigint, user_id bigint)';
    INSERT INTO outbox (kind, payload)
    SELECT 'email.notify', jsonb_build_object(
               'user_id', t.user_id, 'kind', 'timesheet.reminder', 'urgent', false,
               'message_id', format('<timesheet.reminder.%s.%s.%s.%s.%s@epos.local>',
                                    m.org_id, m.day, m.group_id, t.user_id, m.attempt),
               'data', jsonb_build_object('group', m.group_name, 'date', to_char(m.day, 'YYYY-MM-DD'),
                                          'deadline', m.deadline, 'names', to_jsonb(m.names)))
      FROM epos_missed m JOIN epos_missed_to t ON t.group_id = m.group_id
     ORDER BY t.user_id, m.group_id;

    INSERT INTO outbox (kind, payload)
    SELECT 'email.notify', jsonb_build_object(
               'user_id', r.user_id, 'kind', 'timesheet.overdue', 'urgent', false,
               'message_id', format('<timesheet.overdue.%s.%s.%s.%s@epos.local>',
                                    x.org_id, x.day, r.user_id, x.attempt),
               'data', jsonb_build_object('date', to_char(x.day, 'YYYY-MM-DD'), 'deadline', x.deadline,
                                          'groups', x.groups))
      FROM (SELECT m.org_id, m.day, m.attempt, m.deadline,
                   jsonb_agg(jsonb_build_object('name', m.group_name, 'unmarked', cardinality(m.names))
                             ORDER BY m.group_name, m.group_id) AS groups
              FROM epos_missed m GROUP BY m.org_id, m.day, m.attempt, m.deadline) x
      JOIN staff_roles r ON r.org_id = x.org_id AND r.role = 'admin'
      JOIN users u ON u.id = r.user_id AND NOT u.disabled
     ORDER BY r.user_id;
END
$$;

-- epos_reminders_fire(orgs, days, attempts) -> {"runs":[{org_id,day,attempt,
-- groups_missed}],"frames":[{"topic","frame"}]}: the reminders of the given
-- runs (the arrays are parallel; each run's reminder_runs row exists and is
-- locked by the caller's insert). JIT off: compiling these statements takes
-- longer than running them.
CREATE OR REPLACE FUNCTION epos_reminders_fire(p_orgs bigint[], p_days date[], p_attempts int[]) RETURNS jsonb
LANGUAGE plpgsql SET jit = off AS $$
DECLARE
    v_frames jsonb;
    v_runs   jsonb;
BEGIN
    PERFORM epos_reminders_stage(p_orgs, p_days, p_attempts);
    PERFORM 'PRAGMA:TABLE: epos_missed (org_id bigint, day date, attempt int, group_id bigint, group_name text, deadline text, names text[])';
    v_frames := epos_events_append_bulk();
    PERFORM epos_reminders_mail();
    WITH n AS (
        SELECT r.org_id, r.day, r.attempt,
               (SELECT count(*) FROM epos_missed m WHERE m.org_id = r.org_id)::int AS missed
          FROM unnest(p_orgs, p_days, p_attempts) AS r(org_id, day, attempt)
    ), u AS (         -- a data-modifying CTE runs whether or not it is read
        UPDATE reminder_runs rr SET finished_at = clock_timestamp(), groups_missed = n.missed
          FROM n WHERE rr.org_id = n.org_id AND rr.day = n.day
    )
    SELECT coalesce(jsonb_agg(jsonb_build_object('org_id', n.org_id, 'day', to_char(n.day, 'YYYY-MM-DD'),
                                                 'attempt', n.attempt, 'groups_missed', n.missed)
                              ORDER BY n.org_id), '[]')
      INTO v_runs
      FROM n;
    DROP TABLE pg_temp.epos_missed, pg_temp.epos_missed_to, pg_temp.epos_ev;
    RETURN jsonb_build_object('runs', v_runs, 'frames', v_frames);
END
$$;

-- epos_reminders_due(now) -> {"runs":[…],"frames":[…]}: the scheduler's
-- pass, safe to call as often and from as many workers as wanted. Finds
-- every org whose local date at now (its time zone) is a workday, whose
-- local time is past its timesheet_deadline and that has no reminder_runs
-- row for that local date; inserts the rows (ON CONFLICT DO NOTHING: of
-- concurrent callers exactly one gets each org), and fires those runs. Only
-- the org's current local date is ever considered: a worker that was down
-- catches up the same evening, never the day after. The caller publishes
-- the frames on ev:<topic>.
CREATE OR REPLACE FUNCTION epos_reminders_due(p_now timestamptz DEFAULT now()) RETURNS jsonb
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    v_orgs bigint[];
    v_days date[];
    v_att  int[];
BEGIN
    WITH local AS (
        SELECT o.id, (p_now AT TIME ZONE o.tz) AS t, o.timesheet_deadline FROM orgs o
    ), todo AS (
        SELECT l.id, l.t::date AS day
          FROM local l
         WHERE l.t::time >= l.timesheet_deadline
           AND epos_is_workday(l.id, l.t::date)
           AND NOT EXISTS (SELECT 1 FROM reminder_runs r WHERE r.org_id = l.id AND r.day = l.t::date)
    ), ins AS (
        INSERT INTO reminder_runs AS r (org_id, day)
        SELECT todo.id, todo.day FROM todo ORDER BY todo.id
        ON CONFLICT (org_id, day) DO NOTHING
        RETURNING r.org_id, r.day, r.attempt
    )
    SELECT array_agg(ins.org_id ORDER BY ins.org_id), array_agg(ins.day ORDER BY ins.org_id),
           array_agg(ins.attempt ORDER BY ins.org_id)
      INTO v_orgs, v_days, v_att
      FROM ins;
    IF v_orgs IS NULL THEN
        RETURN jsonb_build_object('runs', '[]'::jsonb, 'frames', '[]'::jsonb);
    END IF;
    RETURN epos_reminders_fire(v_orgs, v_days, v_att);
END
$$;

-- epos_reminders_run(org, day) -> as epos_reminders_due, for one org and day
-- on purpose (eposctl reminders run): whatever the calendar, the clock or an
-- earlier run; day defaults to today in the org's time zone. A repeated run
-- bumps reminder_runs.attempt, so its mails carry new Message-IDs. EP404
-- for an unknown org.
CREATE OR REPLACE FUNCTION epos_reminders_run(p_org bigint, p_day date DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_day date;
    v_att int;
BEGIN
    v_day := coalesce(p_day, epos_org_today(p_org));
    IF v_day IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'EP404', MESSAGE = 'Организация не найдена';
    END IF;
    INSERT INTO reminder_runs AS r (org_id, day) VALUES (p_org, v_day)
    ON CONFLICT (org_id, day) DO UPDATE
       SET attempt = r.attempt + 1, started_at = now(), finished_at = NULL
    RETURNING r.attempt INTO v_att;
    RETURN epos_reminders_fire(ARRAY[p_org], ARRAY[v_day], ARRAY[v_att]);
END
$$;

-- ========================================================================
-- when the worker's deadline pass should look next.
--
-- The reminder scheduler (workers/sched_reminders.c) polls
-- epos_reminders_due every 15 s, and also wakes right after the next org
-- deadline, so reminders leave within a moment of it instead of up to a
-- poll later.

-- epos_reminders_next(now) -> milliseconds from now to the earliest
-- timesheet deadline of any org still ahead (today's in the org's time zone
-- if not yet passed, else tomorrow's), whether or not that day is a
-- workday; NULL when there is no org.
CREATE OR REPLACE FUNCTION epos_reminders_next(p_now timestamptz DEFAULT now()) RETURNS bigint
LANGUAGE sql STABLE
SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT ceil(extract(epoch FROM min(n.at) - coalesce(p_now, now())) * 1000)::bigint
      FROM orgs o,
           LATERAL (SELECT ((coalesce(p_now, now()) AT TIME ZONE o.tz)::date + o.timesheet_deadline)
                               AT TIME ZONE o.tz AS today) d,
           LATERAL (SELECT CASE WHEN d.today > coalesce(p_now, now()) THEN d.today
                                ELSE (((coalesce(p_now, now()) AT TIME ZONE o.tz)::date + 1
                                       + o.timesheet_deadline) AT TIME ZONE o.tz) END AS at) n
$$;
