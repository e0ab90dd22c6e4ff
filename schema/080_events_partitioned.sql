-- 080_events_partitioned.sql -- the event log partitioned by month (UTC) of
-- ts, so that old months go with one DROP instead of a DELETE that bloats the
-- table: events are kept event_retention_days (the worker's retention pass,
-- epos_events_maintain), at least that long and at most a month longer.
-- The rows already there move into their months' partitions.

ALTER TABLE events RENAME TO events_unpartitioned;
ALTER INDEX events_pkey RENAME TO events_unpartitioned_pkey;

-- The primary key must hold the partition key; (topic, seq) stays unique
-- because seq comes from topic_seq, one number per event (epos_event_append).
CREATE TABLE events (
    topic   text NOT NULL
            CHECK (topic ~ '^(user|chat|group|org|timesheet|orgstaff):[0-9]+$'),
    seq     bigint NOT NULL CHECK (seq > 0),
    type    text NOT NULL CHECK (type ~ '^[a-z][a-z0-9_.]*$'),
    ts      timestamptz NOT NULL DEFAULT now(),
    payload jsonb NOT NULL DEFAULT '{}',
    PRIMARY KEY (topic, seq, ts)
) PARTITION BY RANGE (ts);

-- A safety net: a write whose month has no partition yet (the retention pass
-- did not run for months) lands here instead of failing; the pass moves such
-- rows into their month's partition when it creates it.
CREATE TABLE events_default PARTITION OF events DEFAULT;

-- One row per month partition the retention pass dropped: which, when, and
-- the upper bound of what it held.
CREATE TABLE events_retention_log (
    partition  text PRIMARY KEY,
    upto       timestamptz NOT NULL,
    dropped_at timestamptz NOT NULL DEFAULT now()
);

-- epos_events_partition(month) creates events_YYYYMM for the UTC month that
-- holds p_month, moving into it what events_default holds of that month.
-- Returns the partition's name when it created it, NULL when it existed.
CREATE FUNCTION epos_events_partition(p_month timestamptz) RETURNS text
LANGUAGE plpgsql AS $$
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
CREATE FUNCTION epos_events_maintain(p_retention_days int, p_now timestamptz DEFAULT now())
RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_cut     timestamptz;
    v_created text[] := '{}';
    v_dropped text[] := '{}';
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
            v_created := v_created || v_name;
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
        v_dropped := v_dropped || r.relname::text;
    END LOOP;
    DELETE FROM events_default WHERE ts < v_cut;
    RETURN jsonb_build_object('created', to_jsonb(v_created), 'dropped', to_jsonb(v_dropped));
END
$$;

-- Every month that holds rows, and this month and the next three; then the rows.
SELECT epos_events_partition(m)
  FROM generate_series(
           date_trunc('month', coalesce((SELECT min(ts) FROM events_unpartitioned), now()) AT TIME ZONE 'UTC')
               AT TIME ZONE 'UTC',
           now() + interval '3 months', interval '1 month') AS m;
SELECT epos_events_partition(ts) FROM (SELECT DISTINCT date_trunc('month', ts AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS ts
                                          FROM events_unpartitioned) AS months;
INSERT INTO events (topic, seq, type, ts, payload)
SELECT topic, seq, type, ts, payload FROM events_unpartitioned;
DROP TABLE events_unpartitioned;
