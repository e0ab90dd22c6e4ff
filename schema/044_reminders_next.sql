-- 044_reminders_next.sql -- when the worker's deadline pass should look next.
--
-- The reminder scheduler (workers/sched_reminders.c) polls
-- epos_reminders_due every 15 s, and also wakes right after the next org
-- deadline, so reminders leave within a moment of it instead of up to a
-- poll later.

-- epos_reminders_next(now) -> milliseconds from now to the earliest
-- timesheet deadline of any org still ahead (today's in the org's time zone
-- if not yet passed, else tomorrow's), whether or not that day is a
-- workday; NULL when there is no org.
CREATE FUNCTION epos_reminders_next(p_now timestamptz DEFAULT now()) RETURNS bigint
LANGUAGE sql STABLE AS $$
    SELECT ceil(extract(epoch FROM min(n.at) - coalesce(p_now, now())) * 1000)::bigint
      FROM orgs o,
           LATERAL (SELECT ((coalesce(p_now, now()) AT TIME ZONE o.tz)::date + o.timesheet_deadline)
                               AT TIME ZONE o.tz AS today) d,
           LATERAL (SELECT CASE WHEN d.today > coalesce(p_now, now()) THEN d.today
                                ELSE (((coalesce(p_now, now()) AT TIME ZONE o.tz)::date + 1
                                       + o.timesheet_deadline) AT TIME ZONE o.tz) END AS at) n
$$;
