-- roles.sql -- who may call what: the hub's and the worker's functions; epos_ctl owns every object.
--
-- The roles and the table grants are in migrations/052_roles.sql. Every
-- function the hub or a worker calls itself runs SECURITY DEFINER (as
-- epos_ctl, the owner) with search_path fixed to public, pg_temp, so the
-- callers need no privilege on the tables; the two readers the hub streams
-- from (epos_events_after, epos_topics_seq) run as the hub, which may SELECT
-- events and topic_seq.

-- epos_schema_settle() -> void: run by eposctl migrate, as the migrating
-- user, at the end of every run that applied something. Hands every table,
-- sequence, view and function of the schema (extensions' own aside) to
-- epos_ctl, so that objects a superuser or a LOGIN user created are the
-- role's; takes EXECUTE on every schema function from PUBLIC, epos_hub and
-- epos_worker, then grants it back to epos_hub for every epos_api_* function
-- and the list below, and to epos_worker for its list. Does nothing before
-- migration 052 (no epos_ctl yet). Raises undefined_function when a listed
-- function does not exist (a rename missed here), insufficient_privilege
-- when the migrating user may not hand an object over (it is not its owner:
-- run migrate once as the superuser).
CREATE OR REPLACE FUNCTION epos_schema_settle() RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    -- The hub's calls besides the routes' epos_api_* (hub/statements.c,
    -- hub/api_login.c, hub/api_credentials.c), and the helpers the two
    -- readers inline.
    v_hub    text[] := ARRAY['epos_ws_hello', 'epos_chat_send', 'epos_chat_read',
                             'epos_chat_typing_ok', 'epos_events_after', 'epos_topics_seq',
                             'epos_event_frame', 'epos_ts', 'epos_login_lookup', 'epos_login_find',
                             'epos_login_session', 'epos_password_hash_of', 'epos_password_set',
                             'epos_require_session', 'epos_sessions_dead',
                             'epos_password_link_check', 'epos_password_link_use'];
    -- The workers' calls (workers/job_*.c, relay.c, sched_*.c).
    v_worker text[] := ARRAY['epos_absence_apply', 'epos_email_prepare', 'epos_email_result',
                             'epos_email_deferred', 'epos_email_sent_among',
                             'epos_news_emails', 'epos_credentials_mint', 'epos_outbox_claim',
                             'epos_outbox_relayed',
                             'epos_outbox_release', 'epos_outbox_done', 'epos_outbox_requeue',
                             'epos_outbox_purge', 'epos_digest_collect', 'epos_mail_release',
                             'epos_reminders_due', 'epos_reminders_next', 'epos_events_maintain'];
    v_name   text;
    v_obj    record;
BEGIN
    IF to_regrole('epos_ctl') IS NULL THEN
        RETURN;
    END IF;
    FOREACH v_name IN ARRAY v_hub || v_worker LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_proc p WHERE p.proname = v_name
                          AND p.pronamespace = 'public'::regnamespace) THEN
            RAISE EXCEPTION USING ERRCODE = 'undefined_function',
                MESSAGE = format('epos_schema_settle: no function %s to grant', v_name);
        END IF;
    END LOOP;

    -- Tables, views first: a sequence a column owns follows its table.
    FOR v_obj IN
        SELECT c.oid::regclass AS name, c.relkind
          FROM pg_class c
         WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
           AND c.relowner <> 'epos_ctl'::regrole
           -- Not an extension's; not a sequence or other relation another
           -- one owns (it follows its owner) — but a partition is handed
           -- over itself: ALTER TABLE … OWNER does not recurse into them.
           AND NOT EXISTS (SELECT 1 FROM pg_depend d
                            WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                              AND (d.deptype = 'e'
                                   OR (d.deptype IN ('a', 'i') AND d.refobjid <> c.oid
                                       AND NOT c.relispartition)))
         ORDER BY c.relkind = 'S', c.oid
    LOOP
        EXECUTE format('ALTER %s %s OWNER TO epos_ctl',
                       CASE v_obj.relkind WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW'
                                          WHEN 'm' THEN 'MATERIALIZED VIEW' ELSE 'TABLE' END,
                       v_obj.name);
    END LOOP;

    FOR v_obj IN
        SELECT p.oid::regprocedure AS sig, p.proname, p.proowner
          FROM pg_proc p
         WHERE p.pronamespace = 'public'::regnamespace
           AND NOT EXISTS (SELECT 1 FROM pg_depend d
                            WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid
                              AND d.deptype = 'e')
    LOOP
        IF v_obj.proowner <> 'epos_ctl'::regrole THEN
            EXECUTE format('ALTER FUNCTION %s OWNER TO epos_ctl', v_obj.sig);
        END IF;
        EXECUTE format('REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC, epos_hub, epos_worker', v_obj.sig);
        IF v_obj.proname LIKE 'epos\_api\_%' OR v_obj.proname = ANY (v_hub) THEN
            EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO epos_hub', v_obj.sig);
        END IF;
        IF v_obj.proname = ANY (v_worker) THEN
            EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO epos_worker', v_obj.sig);
        END IF;
    END LOOP;
END
$$;
