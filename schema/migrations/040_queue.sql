-- 040_queue.sql -- the outbox relay's lease, relayed and done bookkeeping, and the test job's effects.
-- Its functions: functions/queue.sql.

ALTER TABLE outbox ADD COLUMN IF NOT EXISTS claimed_until timestamptz;
ALTER TABLE outbox ADD COLUMN IF NOT EXISTS done_at timestamptz;

CREATE INDEX IF NOT EXISTS outbox_undone_idx ON outbox (id)
    WHERE relayed_at IS NOT NULL AND done_at IS NULL;
CREATE INDEX IF NOT EXISTS outbox_done_at_idx ON outbox (done_at) WHERE done_at IS NOT NULL;

-- The effect of the test job kind "test.mark" (workers/job_test_mark.c):
-- one row per job id however often the job runs; runs counts the runs.
CREATE TABLE IF NOT EXISTS job_effects (
    job_id   text PRIMARY KEY,
    runs     integer NOT NULL DEFAULT 1,
    first_at timestamptz NOT NULL DEFAULT now(),
    last_at  timestamptz NOT NULL DEFAULT now()
);
