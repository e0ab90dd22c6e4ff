-- 002_events.sql -- the event log functions and the topic/role queries every module uses.

-- epos_ts(ts) -> '2026-11-22T13:05:09.120Z': ISO-8601 in UTC with milliseconds,
-- the one time format of the protocol. NULL in, NULL out.
CREATE FUNCTION epos_ts(p_ts timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    -- IMMUTABLE is honest here: the zone is a constant and the pattern uses
    -- no locale-dependent field (no TM prefix, no month names).
    SELECT to_char(p_ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
$$;

-- epos_event_frame(topic, seq, type, ts, payload) -> the event frame text the
-- hub sends unchanged to every subscriber:
--   {"op":"event","topic":"chat:42","seq":18,"type":"chat.message","ts":"…Z","data":{…}}
-- One line (JSON escapes newlines inside strings), so frames can be joined
-- with '\n'. The envelope is compact; "data" is jsonb's canonical text.
-- A NULL payload gives "data":{}.
CREATE FUNCTION epos_event_frame(p_topic text, p_seq bigint, p_type text, p_ts timestamptz,
                                 p_payload jsonb) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT '{"op":"event","topic":' || to_json(p_topic)::text
        || ',"seq":' || p_seq::text
        || ',"type":' || to_json(p_type)::text
        || ',"ts":"' || epos_ts(p_ts)
        || '","data":' || coalesce(p_payload, '{}'::jsonb)::text
        || '}'
$$;

-- epos_event_append(topic, type, payload) appends one event to a topic's log
-- and returns its seq, its time and its frame (for Redis and the sockets).
--
-- Gap-free: the next seq comes from the topic's topic_seq row, incremented in
-- place; the row lock is held until the caller's transaction ends, so writers
-- of one topic commit in seq order, and a rolled-back transaction gives its
-- number back. Call it inside the write's transaction, after the checks that
-- may refuse the write, and keep that transaction short: it holds the topic.
-- Raises check_violation on a malformed topic or type.
CREATE FUNCTION epos_event_append(p_topic text, p_type text, p_payload jsonb)
RETURNS TABLE (seq bigint, ts timestamptz, frame text)
LANGUAGE plpgsql AS $$
DECLARE
    v_seq bigint;
    v_ts  timestamptz;
    v_payload jsonb := coalesce(p_payload, '{}'::jsonb);
BEGIN
    INSERT INTO topic_seq AS t (topic, seq) VALUES (p_topic, 1)
    ON CONFLICT (topic) DO UPDATE SET seq = t.seq + 1
    RETURNING t.seq INTO v_seq;

    -- The clock after the lock, not now(): a writer that waited for the topic
    -- gets a later time than the one it waited for. Milliseconds, like the
    -- frame, so the stored ts and the ts a client sees are the same instant.
    v_ts := date_trunc('milliseconds', clock_timestamp());
    INSERT INTO events AS e (topic, seq, type, ts, payload)
    VALUES (p_topic, v_seq, p_type, v_ts, v_payload);

    seq := v_seq;
    ts := v_ts;
    frame := epos_event_frame(p_topic, v_seq, p_type, v_ts, v_payload);
    RETURN NEXT;
END
$$;

-- epos_user_roles(uid) -> (org_id, role): the user's staff roles per org
-- ('admin', 'teacher', 'class_teacher') and 'parent' for each org where one
-- of their children is. Empty for an unknown or disabled user.
CREATE FUNCTION epos_user_roles(p_uid bigint)
RETURNS TABLE (org_id bigint, role text)
LANGUAGE sql STABLE AS $$
    SELECT r.org_id, r.role
      FROM staff_roles r JOIN users u ON u.id = r.user_id AND NOT u.disabled
     WHERE r.user_id = p_uid
    UNION
    SELECT c.org_id, 'parent'
      FROM guardians g
      JOIN children c ON c.id = g.child_id
      JOIN users u ON u.id = g.user_id AND NOT u.disabled
     WHERE g.user_id = p_uid
    ORDER BY 1, 2
$$;

-- epos_user_topics(uid) -> the topics the user is entitled to (distinct, sorted):
--   user:<uid>          always
--   chat:<id>           each chat they are a member of
--   group:<gid>         groups of their children (guardians + enrolments),
--                       groups bound to them (teacher_groups), groups they are
--                       class teacher of, every group of orgs they administer
--   org:<id>            orgs of their children, orgs where they have a staff role
--   timesheet:<gid>     bound groups, their classes, every group of orgs they administer
--   orgstaff:<org>      orgs they administer
-- Empty for an unknown or disabled user.
CREATE FUNCTION epos_user_topics(p_uid bigint) RETURNS SETOF text
LANGUAGE sql STABLE AS $$
    WITH me AS (
        SELECT id FROM users WHERE id = p_uid AND NOT disabled
    ), admin_orgs AS (
        SELECT r.org_id FROM staff_roles r JOIN me ON me.id = r.user_id WHERE r.role = 'admin'
    ), staff_groups AS (            -- groups whose timesheet they keep or oversee
        SELECT tg.group_id FROM teacher_groups tg JOIN me ON me.id = tg.user_id
        UNION
        SELECT ct.group_id FROM class_teachers ct JOIN me ON me.id = ct.user_id
        UNION
        SELECT g.id FROM groups g JOIN admin_orgs a ON a.org_id = g.org_id
    ), kids AS (
        SELECT c.id, c.org_id, e.group_id
          FROM guardians gu
          JOIN me ON me.id = gu.user_id
          JOIN children c ON c.id = gu.child_id
          LEFT JOIN enrolments e ON e.child_id = c.id
    )
    SELECT 'user:' || me.id FROM me
    UNION
    SELECT 'chat:' || m.chat_id FROM chat_members m JOIN me ON me.id = m.user_id
    UNION
    SELECT 'group:' || group_id FROM staff_groups
    UNION
    SELECT 'group:' || group_id FROM kids WHERE group_id IS NOT NULL
    UNION
    SELECT 'org:' || org_id FROM kids
    UNION
    SELECT 'org:' || r.org_id FROM staff_roles r JOIN me ON me.id = r.user_id
    UNION
    SELECT 'timesheet:' || group_id FROM staff_groups
    UNION
    SELECT 'orgstaff:' || org_id FROM admin_orgs
    ORDER BY 1
$$;
