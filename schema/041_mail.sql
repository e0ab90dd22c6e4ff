-- 041_mail.sql -- the mail job's SQL: preferences, quiet hours, the email log, mail held past quiet hours.
--
-- The 'email.notify' job (workers/job_email_notify.c) makes two calls per
-- mail: epos_email_prepare decides (send, skip, or later) and records the
-- email_log row; after the SMTP attempt epos_email_result records the
-- outcome and the attempt. The Message-ID is the key: a mail logged 'sent'
-- is never sent again, however often its job runs.
--
-- Quiet hours: routine mail found inside the quiet hours of the recipient's
-- org is parked in mail_deferred until they end (epos_mail_release, run by
-- the worker's digest scheduler every few seconds, queues it again). The
-- parking is a row in PostgreSQL, committed with the decision, so a Redis
-- restart or a worker crash never loses a held mail.

CREATE TABLE mail_deferred (
    message_id text PRIMARY KEY,
    due_at     timestamptz NOT NULL,
    payload    jsonb NOT NULL,             -- the email.notify payload to queue again
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX mail_deferred_due_idx ON mail_deferred (due_at);

-- epos_mail_org(uid) -> the org whose quiet hours apply to the user's mail:
-- the lowest id among the orgs where they hold a staff role, else among the
-- orgs of their children; NULL when there is none.
CREATE FUNCTION epos_mail_org(p_user bigint) RETURNS bigint
LANGUAGE sql STABLE AS $$
    SELECT coalesce((SELECT min(r.org_id) FROM staff_roles r WHERE r.user_id = p_user),
                    (SELECT min(c.org_id) FROM guardians g JOIN children c ON c.id = g.child_id
                      WHERE g.user_id = p_user))
$$;

-- epos_quiet_until(org, now) -> the end of the org's quiet hours when now
-- (in the org's time zone) is inside them, else NULL. quiet_from > quiet_to
-- wraps midnight (20:00..08:00); quiet_from = quiet_to means none.
CREATE FUNCTION epos_quiet_until(p_org bigint, p_now timestamptz) RETURNS timestamptz
LANGUAGE sql STABLE AS $$
    SELECT CASE
               WHEN o.quiet_from = o.quiet_to THEN NULL
               WHEN (o.quiet_from < o.quiet_to AND l.t >= o.quiet_from AND l.t < o.quiet_to)
                 OR (o.quiet_from > o.quiet_to AND (l.t >= o.quiet_from OR l.t < o.quiet_to))
               THEN ((l.d + CASE WHEN l.t < o.quiet_to THEN 0 ELSE 1 END) + o.quiet_to) AT TIME ZONE o.tz
           END
      FROM orgs o,
           LATERAL (SELECT (p_now AT TIME ZONE o.tz)::date AS d, (p_now AT TIME ZONE o.tz)::time AS t) l
     WHERE o.id = p_org
$$;

-- epos_email_skip(reason) -> the prepare answer for a mail not to send.
CREATE FUNCTION epos_email_skip(p_reason text) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_build_object('action', 'skip', 'reason', p_reason)
$$;

-- epos_email_prepare(user, kind, message_id, subject, body, urgent, now, payload)
-- -> {"action":"send"|"skip"|"later","to_addr","to_name","delay_s","reason"}.
--   skip:  this message_id is logged 'sent' already (a retried job never
--          doubles a mail); the user is unknown, disabled or has no address;
--          the user turned this kind off (notification_prefs; no row: on;
--          kind 'credentials' ignores preferences).
--   later: not urgent and inside the quiet hours of the user's org
--          (epos_mail_org): delay_s until they end; with a payload, it is
--          parked in mail_deferred and queued again then.
--   send:  to_addr, to_name.
-- send and later upsert the email_log row (status 'queued' when new, a
-- 'dead' row replayed becomes 'retry'; attempts are counted by
-- epos_email_result). The body of kind 'credentials' (a password) is never
-- stored. now NULL means now(). EP400 without a kind or message_id.
CREATE FUNCTION epos_email_prepare(p_user bigint, p_kind text, p_message_id text, p_subject text,
                                   p_body text, p_urgent boolean, p_now timestamptz DEFAULT now(),
                                   p_payload jsonb DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_now    timestamptz := coalesce(p_now, now());
    v_secret boolean := p_kind = 'credentials';
    v_status text;
    v_until  timestamptz;
    u        users%ROWTYPE;
BEGIN
    IF coalesce(p_kind, '') = '' OR coalesce(p_message_id, '') = '' THEN
        RAISE EXCEPTION USING ERRCODE = 'EP400', MESSAGE = 'email.notify: kind and message_id are required';
    END IF;
    SELECT l.status INTO v_status FROM email_log l WHERE l.message_id = p_message_id;
    IF v_status = 'sent' THEN
        RETURN epos_email_skip('already sent');
    END IF;
    SELECT * INTO u FROM users x WHERE x.id = p_user;
    IF NOT FOUND OR u.disabled THEN
        RETURN epos_email_skip('no such user');
    END IF;
    IF coalesce(btrim(u.email), '') = '' THEN
        RETURN epos_email_skip('no email address');
    END IF;
    IF NOT v_secret AND EXISTS (SELECT 1 FROM notification_prefs p
                                 WHERE p.user_id = p_user AND p.kind = p_kind AND NOT p.email) THEN
        RETURN epos_email_skip('turned off by the user');
    END IF;
    IF NOT coalesce(p_urgent, false) AND NOT v_secret THEN
        v_until := epos_quiet_until(epos_mail_org(p_user), v_now);
    END IF;

    INSERT INTO email_log AS l (message_id, user_id, to_addr, kind, subject, body, urgent, status,
                                next_attempt_at)
    VALUES (p_message_id, p_user, btrim(u.email), p_kind, coalesce(p_subject, ''),
            CASE WHEN v_secret THEN '' ELSE coalesce(p_body, '') END, coalesce(p_urgent, false),
            'queued', v_until)
    ON CONFLICT (message_id) DO UPDATE
       SET to_addr = EXCLUDED.to_addr, subject = EXCLUDED.subject, body = EXCLUDED.body,
           urgent = EXCLUDED.urgent, next_attempt_at = EXCLUDED.next_attempt_at,
           status = CASE WHEN l.status = 'dead' THEN 'retry' ELSE l.status END
     WHERE l.status <> 'sent';
    IF NOT FOUND THEN           -- sent by a concurrent run of the same notification meanwhile
        RETURN epos_email_skip('already sent');
    END IF;
    IF v_until IS NOT NULL THEN
        IF p_payload IS NOT NULL THEN
            INSERT INTO mail_deferred AS d (message_id, due_at, payload)
            VALUES (p_message_id, v_until, p_payload)
            ON CONFLICT (message_id) DO UPDATE SET due_at = EXCLUDED.due_at, payload = EXCLUDED.payload;
        END IF;
        RETURN jsonb_build_object('action', 'later', 'reason', 'quiet hours',
                                  'delay_s', ceil(extract(epoch FROM v_until - v_now))::bigint);
    END IF;
    RETURN jsonb_build_object('action', 'send', 'to_addr', btrim(u.email), 'to_name', u.full_name);
END
$$;

-- epos_email_result(message_id, outcome, smtp_code, detail, final) -> the
-- email_log status after one SMTP attempt: outcome 'sent', 'temporary'
-- (4xx, no connection: 'retry', or 'dead' when final — the job's last
-- attempt) or 'permanent' (5xx: 'dead'). Counts the attempt, keeps the
-- last error, inserts the email_attempts row. A row already 'sent' stays
-- so. NULL when the message_id was never prepared.
CREATE FUNCTION epos_email_result(p_message_id text, p_outcome text, p_smtp_code integer,
                                  p_detail text, p_final boolean DEFAULT false) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    v_id     bigint;
    v_status text;
BEGIN
    IF p_outcome IS NULL OR p_outcome NOT IN ('sent', 'temporary', 'permanent') THEN
        RAISE EXCEPTION USING ERRCODE = 'EP400', MESSAGE = 'email result: unknown outcome';
    END IF;
    UPDATE email_log l
       SET attempts = l.attempts + 1,
           status = CASE WHEN l.status = 'sent' OR p_outcome = 'sent' THEN 'sent'
                         WHEN p_outcome = 'permanent' OR coalesce(p_final, false) THEN 'dead'
                         ELSE 'retry' END,
           last_error = CASE WHEN p_outcome = 'sent' THEN l.last_error
                             ELSE left(coalesce(p_detail, ''), 1000) END,
           sent_at = CASE WHEN p_outcome = 'sent' THEN coalesce(l.sent_at, now()) ELSE l.sent_at END,
           next_attempt_at = NULL
     WHERE l.message_id = p_message_id
    RETURNING l.id, l.status INTO v_id, v_status;
    IF v_id IS NULL THEN
        RETURN NULL;
    END IF;
    INSERT INTO email_attempts (email_id, outcome, smtp_code, detail)
    VALUES (v_id, p_outcome, nullif(p_smtp_code, 0), left(p_detail, 1000));
    RETURN v_status;
END
$$;

-- epos_mail_release(now, limit) -> how many held mails (mail_deferred rows
-- due at now) were queued again as outbox 'email.notify' rows, in one
-- transaction; SKIP LOCKED lets any number of workers run it at once.
CREATE FUNCTION epos_mail_release(p_now timestamptz DEFAULT now(), p_limit integer DEFAULT 1000)
RETURNS integer
LANGUAGE sql AS $$
    WITH due AS (
        DELETE FROM mail_deferred d
         WHERE d.message_id IN (SELECT x.message_id FROM mail_deferred x
                                 WHERE x.due_at <= coalesce(p_now, now())
                                 ORDER BY x.due_at
                                 LIMIT greatest(1, p_limit)
                                   FOR UPDATE SKIP LOCKED)
        RETURNING d.payload
    ), q AS (
        INSERT INTO outbox (kind, payload) SELECT 'email.notify', due.payload FROM due RETURNING 1
    )
    SELECT count(*)::integer FROM q
$$;
