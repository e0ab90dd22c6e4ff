-- events.sql -- the event log: append with gap-free seqs, frames, topics of a user, replay, bulk emit.
--
-- Every write that users see appends events here inside its own transaction
-- (epos_event_append, or epos_events_emit for several topics in lock order);
-- the hub subscribes each connection to epos_user_topics and replays a
-- topic's log with epos_events_after.

-- ========================================================================
-- the event log functions and the topic/role queries every module uses.


-- epos_ts(ts) -> '2026-11-22T13:05:09.120Z': ISO-8601 in UTC with milliseconds,
-- the one time format of the protocol. NULL in, NULL out.
CREATE OR REPLACE FUNCTION epos_ts(p_ts timestamptz) RETURNS text
-- STABLE, not IMMUTABLE: to_char() is only STABLE, and the planner never
-- inlines a SQL function declared less volatile than its body; as STABLE it
-- and epos_event_frame inline (about 3 µs a call instead of 30).
LANGUAGE sql STABLE STRICT PARALLEL SAFE AS $$
    SELECT to_char(p_ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
$$;

-- epos_event_frame(topic, seq, type, ts, payload) -> the event frame text the
-- hub sends unchanged to every subscriber:
--   {"op":"event","topic":"chat:42","seq":18,"type":"chat.message","ts":"…Z","data":{…}}
-- One line (JSON escapes newlines inside strings), so frames can be joined
-- with '\n'. The envelope is compact; "data" is jsonb's canonical text.
-- A NULL payload gives "data":{}.
CREATE OR REPLACE FUNCTION epos_event_frame(p_topic text, p_seq bigint, p_type text, p_ts timestamptz,
                                 p_payload jsonb) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
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
CREATE OR REPLACE FUNCTION epos_event_append(p_topic text, p_type text, p_payload jsonb)
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
CREATE OR REPLACE FUNCTION epos_user_roles(p_uid bigint)
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
CREATE OR REPLACE FUNCTION epos_user_topics(p_uid bigint) RETURNS SETOF text
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

-- ---------------------------------------------------------------- WebSocket hello and replay

-- epos_ws_hello(uid, sid) -> {"user":{"id","name","roles"},"topics":{"<topic>":<seq>,…}}
-- as text: every topic the user is entitled to with its current seq (0 when
-- the topic has no event yet). EP401 for a dead session.
CREATE OR REPLACE FUNCTION epos_ws_hello(p_uid bigint, p_sid bigint) RETURNS text
LANGUAGE plpgsql STABLE
SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    v_user   jsonb;
    v_topics jsonb;
BEGIN
    PERFORM epos_require_session(p_sid, p_uid);
    SELECT jsonb_build_object('id', u.id, 'name', u.full_name, 'roles', epos_user_role_list(u.id))
      INTO v_user FROM users u WHERE u.id = p_uid;
    SELECT coalesce(jsonb_object_agg(t.topic, coalesce(s.seq, 0)), '{}')
      INTO v_topics
      FROM epos_user_topics(p_uid) AS t(topic)
      LEFT JOIN topic_seq s ON s.topic = t.topic;
    RETURN jsonb_build_object('user', v_user, 'topics', v_topics)::text;
END
$$;

-- epos_events_after(topic, after, limit) -> (seq, frame) of the topic's events
-- with seq > after, ascending, at most limit rows (a NULL or negative limit:
-- none). The frames are byte-identical to the ones published live.
CREATE OR REPLACE FUNCTION epos_events_after(p_topic text, p_after bigint, p_limit int)
RETURNS TABLE (seq bigint, frame text)
LANGUAGE sql STABLE AS $$
    SELECT e.seq, epos_event_frame(e.topic, e.seq, e.type, e.ts, e.payload)
      FROM events e
     WHERE e.topic = p_topic AND e.seq > coalesce(p_after, 0)
     ORDER BY e.seq
     LIMIT greatest(coalesce(p_limit, 0), 0)
$$;

-- epos_topics_seq(topics) -> (topic, seq): the current seq of each given topic
-- (0 when it has no event yet), for the hub's periodic gap sweep.
CREATE OR REPLACE FUNCTION epos_topics_seq(p_topics text[]) RETURNS TABLE (topic text, seq bigint)
LANGUAGE sql STABLE AS $$
    SELECT t.topic, coalesce(s.seq, 0)
      FROM (SELECT DISTINCT x FROM unnest(p_topics) AS x) AS t(topic)
      LEFT JOIN topic_seq s ON s.topic = t.topic
$$;

-- ---------------------------------------------------------------- helpers

-- epos_ephemeral_frame(topic, type, payload) -> an event frame without seq,
-- never stored (chat.read, chat.typing):
--   {"op":"event","topic":"chat:42","type":"chat.read","ts":"…Z","data":{…}}
CREATE OR REPLACE FUNCTION epos_ephemeral_frame(p_topic text, p_type text, p_payload jsonb) RETURNS text
LANGUAGE sql VOLATILE AS $$
    SELECT '{"op":"event","topic":' || to_json(p_topic)::text
        || ',"type":' || to_json(p_type)::text
        || ',"ts":"' || epos_ts(clock_timestamp())
        || '","data":' || coalesce(p_payload, '{}'::jsonb)::text
        || '}'
$$;

-- ---------------------------------------------------------------- events and mail

-- epos_events_emit(events) appends [{"topic","type","data"}…] with
-- epos_event_append and returns their frames [{"topic","frame"}] — in the
-- one lock order of the attendance functions: timesheet:* first, then
-- user:*, then orgstaff:* (any other kind after them), each by id, events
-- of one topic in the given order. NULL or [] appends nothing.
CREATE OR REPLACE FUNCTION epos_events_emit(p_events jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_frames jsonb := '[]'::jsonb;
    r record;
BEGIN
    FOR r IN
        SELECT e ->> 'topic' AS topic, e ->> 'type' AS type, e -> 'data' AS data
          FROM jsonb_array_elements(coalesce(p_events, '[]')) WITH ORDINALITY AS x(e, n)
         ORDER BY coalesce(array_position(ARRAY['timesheet', 'user', 'orgstaff'],
                                          split_part(e ->> 'topic', ':', 1)), 9),
                  split_part(e ->> 'topic', ':', 1),
                  nullif(split_part(e ->> 'topic', ':', 2), '')::bigint,
                  n
    LOOP
        v_frames := v_frames || jsonb_build_object(
            'topic', r.topic,
            'frame', (SELECT a.frame FROM epos_event_append(r.topic, r.type, r.data) a));
    END LOOP;
    RETURN v_frames;
END
$$;

-- epos_event(topic, type, data) -> one item for epos_events_emit.
CREATE OR REPLACE FUNCTION epos_event(p_topic text, p_type text, p_data jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_build_object('topic', p_topic, 'type', p_type, 'data', p_data)
$$;

-- epos_events_append_bulk() -> [{"topic","frame"}] ordered by ord: appends
-- every row of the temporary table epos_ev(ord, topic, type, data) — what
-- epos_event_append does for one event, for thousands at once with the same
-- contract: each topic's seqs are taken in one bump of its topic_seq row
-- (rows locked in ord order), gap-free; the time is read after the locks;
-- the frames are epos_event_frame's.
CREATE OR REPLACE FUNCTION epos_events_append_bulk() RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_ts     timestamptz;
    v_frames jsonb;
BEGIN
    -- The caller's temporary table, described for plpgsql_check.
    PERFORM 'PRAGMA:TABLE: epos_ev (ord bigint, topic text, type text, data jsonb)';
    INSERT INTO topic_seq AS t (topic, seq)
    SELECT c.topic, c.n
      FROM (SELECT e.topic, count(*) AS n, min(e.ord) AS first FROM epos_ev e GROUP BY e.topic) c
     ORDER BY c.first
    ON CONFLICT (topic) DO UPDATE SET seq = t.seq + EXCLUDED.seq;
    v_ts := date_trunc('milliseconds', clock_timestamp());
    WITH s AS (
        SELECT e.ord, e.topic, e.type, e.data,
               t.seq - count(*) OVER w + row_number() OVER (w ORDER BY e.ord) AS seq
          FROM epos_ev e JOIN topic_seq t ON t.topic = e.topic
        WINDOW w AS (PARTITION BY e.topic)
    ), ins AS (
        INSERT INTO events (topic, seq, type, ts, payload)
        SELECT s.topic, s.seq, s.type, v_ts, s.data FROM s
    )
    SELECT coalesce(jsonb_agg(jsonb_build_object('topic', s.topic,
                                                 'frame', epos_event_frame(s.topic, s.seq, s.type, v_ts, s.data))
                              ORDER BY s.ord), '[]')
      INTO v_frames
      FROM s;
    RETURN v_frames;
END
$$;

-- ========================================================================
-- the log's monthly partitions and their retention (the table:
-- migrations/080_events_partitioned.sql; the pass: workers/sched_retention.c).

-- epos_events_partition(month) creates events_YYYYMM for the UTC month that
-- holds p_month, moving into it what events_default holds of that month.
-- Returns the partition's name when it created it, NULL when it existed.
-- SECURITY DEFINER: whoever calls it (the retention pass, an operator as a
-- superuser), the partition is the schema owner's, so a later pass may drop it.
CREATE OR REPLACE FUNCTION epos_events_partition(p_month timestamptz) RETURNS text
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = public, pg_temp AS $$
-- Only dynamic DDL below, whose volatility plpgsql_check cannot see: it is
-- VOLATILE (it creates and attaches tables).
-- @plpgsql_check_options: performance_warnings = false
DECLARE
    v_start timestamp := date_trunc('month', p_month AT TIME ZONE 'UTC');
    v_from  timestamptz := v_start AT TIME ZONE 'UTC';
    v_to    timestamptz := (v_start + interval '1 month') AT TIME ZONE 'UTC';
    v_name  text := 'events_' || to_char(v_start, 'YYYYMM');
BEGIN
    IF to_regclass(v_name) IS NOT NULL THEN
        RETURN NULL;
    END IF;
    EXECUTE format('CREATE TABLE %I (LIKE events INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', v_name);
    -- ATTACH refuses while the default partition holds rows of the range.
    EXECUTE format('WITH moved AS (DELETE FROM events_default WHERE ts >= $1 AND ts < $2 RETURNING *)
                    INSERT INTO %I SELECT * FROM moved', v_name)
        USING v_from, v_to;
    EXECUTE format('ALTER TABLE events ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                   v_name, v_from, v_to);
    RETURN v_name;
END
$$;

-- epos_events_maintain(retention_days, now) -> {"created":[names],"dropped":[names]}
-- or {"skipped":true}: creates the partitions of this month and the next three,
-- and drops every month partition whose whole range is older than
-- now - retention_days (rows of such an age in events_default are deleted).
-- Runs from every worker's scheduler; one at a time does the work (the
-- others skip), and each drop is recorded once in events_retention_log.
-- Raises invalid_parameter_value for a retention under 1 day.
CREATE OR REPLACE FUNCTION epos_events_maintain(p_retention_days int, p_now timestamptz DEFAULT now())
RETURNS jsonb
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    v_cut     timestamptz;
    v_created text[] := '{}'::text[];
    v_dropped text[] := '{}'::text[];
    v_upto    timestamptz;
    v_name    text;
    r         record;
BEGIN
    IF p_retention_days IS NULL OR p_retention_days < 1 THEN
        RAISE EXCEPTION 'event retention must be at least 1 day, got %', p_retention_days
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- "epevret" in ASCII: one pass at a time, however many workers.
    IF NOT pg_try_advisory_xact_lock(28548172270905716) THEN
        RETURN jsonb_build_object('skipped', true);
    END IF;
    FOR m IN 0..3 LOOP
        v_name := epos_events_partition(p_now + make_interval(months => m));
        IF v_name IS NOT NULL THEN
            v_created := array_append(v_created, v_name);
        END IF;
    END LOOP;
    v_cut := p_now - make_interval(days => p_retention_days);
    FOR r IN
        SELECT c.relname
          FROM pg_inherits i
          JOIN pg_class c ON c.oid = i.inhrelid
         WHERE i.inhparent = 'events'::regclass AND c.relname ~ '^events_[0-9]{6}$'
         ORDER BY c.relname
    LOOP
        v_upto := (to_date(substr(r.relname, 8), 'YYYYMM')::timestamp + interval '1 month')
                  AT TIME ZONE 'UTC';
        CONTINUE WHEN v_upto > v_cut;
        EXECUTE format('DROP TABLE %I', r.relname);
        INSERT INTO events_retention_log (partition, upto) VALUES (r.relname, v_upto);
        v_dropped := array_append(v_dropped, r.relname::text);
    END LOOP;
    DELETE FROM events_default WHERE ts < v_cut;
    RETURN jsonb_build_object('created', to_jsonb(v_created), 'dropped', to_jsonb(v_dropped));
END
$$;
