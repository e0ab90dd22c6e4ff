-- 052_roles.sql -- the three roles the processes connect as, and the tables the hub and the worker may touch.
-- Its functions: functions/roles.sql (grants on functions, epos_ctl as the owner of everything).
--
-- epos_hub (the hub), epos_worker (the workers) and epos_ctl (eposctl, the
-- owner of the schema) are NOLOGIN: the LOGIN users the processes connect as
-- are members of them (scripts/stack makes one per role; docs/OPERATIONS.md,
-- "Database roles"). Roles belong to the cluster, not to the database: on a
-- cluster that has them (another database, or scripts/stack made them)
-- nothing is created; creating them needs CREATEROLE.
DO $$
DECLARE
    v_role text;
BEGIN
    FOREACH v_role IN ARRAY ARRAY['epos_hub', 'epos_worker', 'epos_ctl'] LOOP
        IF to_regrole(v_role) IS NULL THEN
            EXECUTE format('CREATE ROLE %I NOLOGIN', v_role);
        END IF;
    END LOOP;
END
$$;

-- USAGE on schema public: PUBLIC has it (PostgreSQL's default), and only
-- the schema's owner may grant it; a cluster that revoked it grants it to
-- epos_hub and epos_worker itself.

-- The hub writes only through functions; it reads directly what it streams:
-- a topic's events after a seq (replay) and the topics' current seqs (the
-- gap sweep), its hot prepared statements (hub/statements.c).
GRANT SELECT ON events, topic_seq TO epos_hub;

-- The test job kind "test.mark" (workers/job_test_mark.c) writes its effect
-- row itself.
GRANT SELECT, INSERT, UPDATE ON job_effects TO epos_worker;
