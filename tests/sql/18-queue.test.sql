-- 18-queue.test.sql -- the outbox relay: lease, relayed, release, done, requeue after Redis lost its data, purge.
BEGIN;
\ir fixtures.sql
SELECT plan(16);
INSERT INTO outbox (kind, payload) SELECT 'test.job', jsonb_build_object('n', n) FROM generate_series(1, 3) n;
CREATE TEMP TABLE t_ids AS SELECT array_agg(id ORDER BY id) AS ids FROM outbox;

CREATE TEMP TABLE t_c1 AS SELECT * FROM epos_outbox_claim(2, 60000);
SELECT is((SELECT array_agg(id ORDER BY id) FROM t_c1), (SELECT ids[1:2] FROM t_ids),
          'a claim leases the oldest rows, up to its limit');
SELECT is((SELECT payload FROM t_c1 ORDER BY id LIMIT 1), '{"n": 1}', 'with their kind and payload');
SELECT is((SELECT array_agg(id) FROM epos_outbox_claim(10, 60000)), (SELECT ids[3:3] FROM t_ids),
          'a second claim skips the leased rows');
SELECT is((SELECT count(*) FROM epos_outbox_claim(10, 60000)), 0::bigint, 'and a third finds nothing');

SELECT is(epos_outbox_release((SELECT ids[3:3] FROM t_ids)), 1, 'Redis refused a batch: it is released');
SELECT is((SELECT array_agg(id) FROM epos_outbox_claim(10, 60000)), (SELECT ids[3:3] FROM t_ids),
          'and may be leased again at once');

SELECT is(epos_outbox_relayed((SELECT ids FROM t_ids)), 3, 'the batch is in Redis: all three relayed');
SELECT is(epos_outbox_relayed((SELECT ids FROM t_ids)), 0, 'marking them again changes nothing');
SELECT is((SELECT count(*) FROM outbox WHERE relayed_at IS NOT NULL AND claimed_until IS NULL), 3::bigint,
          'relayed rows hold no lease');
SELECT is((SELECT count(*) FROM epos_outbox_claim(10, 60000)), 0::bigint, 'relayed rows are not leased again');

SELECT is(epos_outbox_done((SELECT ids[1:1] FROM t_ids)), 1, 'a finished job marks its row done');
SELECT is(epos_outbox_done((SELECT ids[1:1] FROM t_ids)), 0, 'once');
SELECT is(epos_outbox_requeue(), 2, 'Redis lost its data: the two rows not done are relayed again');
SELECT is((SELECT array_agg(id ORDER BY id) FROM epos_outbox_claim(10, 60000)), (SELECT ids[2:3] FROM t_ids),
          'and leased by the next claim, the done one not');

SELECT is(epos_outbox_purge(100), 0, 'a row done less than a day ago is kept');
UPDATE outbox SET done_at = now() - interval '25 hours' WHERE id = (SELECT ids[1] FROM t_ids);
SELECT is(epos_outbox_purge(100), 1, 'a row done more than a day ago is purged');

SELECT * FROM finish();
ROLLBACK;
