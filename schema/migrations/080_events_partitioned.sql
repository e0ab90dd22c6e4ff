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

-- Every month that holds rows, and this month and the next three, get their
-- partition (the worker's pass, epos_events_maintain in functions/events.sql,
-- keeps four months ahead from then on); then the rows move.
DO $$
DECLARE
    v_month timestamp;
BEGIN
    FOR v_month IN
        SELECT m FROM generate_series(
                   date_trunc('month', coalesce((SELECT min(ts) FROM events_unpartitioned), now())
                                       AT TIME ZONE 'UTC'),
                   date_trunc('month', now() AT TIME ZONE 'UTC') + interval '3 months',
                   interval '1 month') AS m
    LOOP
        EXECUTE format('CREATE TABLE %I PARTITION OF events FOR VALUES FROM (%L) TO (%L)',
                       'events_' || to_char(v_month, 'YYYYMM'), v_month AT TIME ZONE 'UTC',
                       (v_month + interval '1 month') AT TIME ZONE 'UTC');
    END LOOP;
END
$$;
INSERT INTO events (topic, seq, type, ts, payload)
SELECT topic, seq, type, ts, payload FROM events_unpartitioned;
DROP TABLE events_unpartitioned;

-- The hub replays from the log (052 granted this on the table it replaces).
GRANT SELECT ON events TO epos_hub;
