-- queue.sql -- the outbox relay: lease a batch, mark it relayed or done, requeue, purge.

-- ========================================================================
-- the outbox relay's lease, relayed and done bookkeeping, and the test job's effects.
--
-- The relay (workers/relay.c) leases a batch (claimed_until), adds it to the
-- Redis streams, marks it relayed; a worker that finished a job marks its row
-- done. Rows relayed and not done are relayed again when Redis comes back
-- without its data (epos_outbox_requeue).

-- Lease up to p_limit unrelayed rows for p_lease_ms, oldest first. Rows
-- leased by another relay (or locked by its claim right now) are skipped, so
-- several workers relay disjoint batches.
CREATE OR REPLACE FUNCTION epos_outbox_claim(p_limit int, p_lease_ms int)
RETURNS TABLE (id bigint, kind text, payload text)
LANGUAGE sql
SECURITY DEFINER SET search_path = public, pg_temp AS $$
    WITH c AS (
        UPDATE outbox o
           SET claimed_until = clock_timestamp() + make_interval(secs => p_lease_ms / 1000.0)
         WHERE o.id IN (SELECT x.id FROM outbox x
                         WHERE x.relayed_at IS NULL
                           AND (x.claimed_until IS NULL OR x.claimed_until < clock_timestamp())
                         ORDER BY x.id
                         LIMIT greatest(1, least(p_limit, 10000))
                           FOR UPDATE SKIP LOCKED)
        RETURNING o.id, o.kind, o.payload::text AS payload)
    SELECT c.id, c.kind, c.payload FROM c ORDER BY c.id
$$;

-- The batch is in Redis.
CREATE OR REPLACE FUNCTION epos_outbox_relayed(p_ids bigint[]) RETURNS integer
LANGUAGE sql
SECURITY DEFINER SET search_path = public, pg_temp AS $$
    WITH u AS (
        UPDATE outbox SET relayed_at = now(), claimed_until = NULL
         WHERE id = ANY (p_ids) AND relayed_at IS NULL
        RETURNING 1)
    SELECT count(*)::integer FROM u
$$;

-- Redis did not take the batch: the next poll may lease it again at once.
CREATE OR REPLACE FUNCTION epos_outbox_release(p_ids bigint[]) RETURNS integer
LANGUAGE sql
SECURITY DEFINER SET search_path = public, pg_temp AS $$
    WITH u AS (
        UPDATE outbox SET claimed_until = NULL
         WHERE id = ANY (p_ids) AND relayed_at IS NULL
        RETURNING 1)
    SELECT count(*)::integer FROM u
$$;

-- Their jobs finished (done or dead-lettered).
CREATE OR REPLACE FUNCTION epos_outbox_done(p_ids bigint[]) RETURNS integer
LANGUAGE sql
SECURITY DEFINER SET search_path = public, pg_temp AS $$
    WITH u AS (
        UPDATE outbox SET done_at = now()
         WHERE id = ANY (p_ids) AND done_at IS NULL
        RETURNING 1)
    SELECT count(*)::integer FROM u
$$;

-- Redis lost its data: relay again every row whose job had not finished.
-- (A job that was still running then may run twice: effects are idempotent.)
CREATE OR REPLACE FUNCTION epos_outbox_requeue() RETURNS integer
LANGUAGE sql
SECURITY DEFINER SET search_path = public, pg_temp AS $$
    WITH u AS (
        UPDATE outbox SET relayed_at = NULL, claimed_until = NULL
         WHERE relayed_at IS NOT NULL AND done_at IS NULL
        RETURNING 1)
    SELECT count(*)::integer FROM u
$$;

-- Delete up to p_limit rows whose jobs finished more than a day ago.
CREATE OR REPLACE FUNCTION epos_outbox_purge(p_limit int) RETURNS integer
LANGUAGE sql
SECURITY DEFINER SET search_path = public, pg_temp AS $$
    WITH d AS (
        DELETE FROM outbox
         WHERE id IN (SELECT id FROM outbox
                       WHERE done_at < now() - interval '1 day'
                       ORDER BY done_at LIMIT p_limit)
        RETURNING 1)
    SELECT count(*)::integer FROM d
$$;
