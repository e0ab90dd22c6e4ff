-- mail.sql -- mail: queue a notification, prepare and record a send, quiet hours, chat digests, news mail.
--
-- SQL queues DATA only (names, dates, counts); the worker renders every
-- subject and body from its templates (workers/templates/<template>.txt,
-- where the data each one reads is listed).

-- epos_email_notify(user, kind, data, message_id, urgent, template) queues
-- one notification mail: an outbox row kind 'email.notify' with
-- {user_id,kind,data,message_id,urgent[,template]} — template names the
-- worker's template when it is not the kind (the preference key). The
-- mailer applies the user's preferences and quiet hours; message_id is
-- deterministic, so a retried job never mails twice.
CREATE OR REPLACE FUNCTION epos_email_notify(p_user bigint, p_kind text, p_data jsonb, p_message_id text,
                                  p_urgent boolean DEFAULT false, p_template text DEFAULT NULL)
RETURNS void
LANGUAGE sql AS $$
    INSERT INTO outbox (kind, payload)
    VALUES ('email.notify', jsonb_build_object('user_id', p_user, 'kind', p_kind,
                                               'data', coalesce(p_data, '{}'::jsonb),
                                               'message_id', p_message_id, 'urgent', p_urgent)
                            || CASE WHEN p_template IS NULL THEN '{}'::jsonb
                                    ELSE jsonb_build_object('template', p_template) END)
$$;

-- ========================================================================
-- the mail job's SQL: preferences, quiet hours, the email log, mail held past quiet hours.
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

-- epos_mail_org(uid) -> the org whose quiet hours apply to the user's mail:
-- the lowest id among the orgs where they hold a staff role, else among the
-- orgs of their children; NULL when there is none.
CREATE OR REPLACE FUNCTION epos_mail_org(p_user bigint) RETURNS bigint
LANGUAGE sql STABLE AS $$
    SELECT coalesce((SELECT min(r.org_id) FROM staff_roles r WHERE r.user_id = p_user),
                    (SELECT min(c.org_id) FROM guardians g JOIN children c ON c.id = g.child_id
                      WHERE g.user_id = p_user))
$$;

-- epos_quiet_until(org, now) -> the end of the org's quiet hours when now
-- (in the org's time zone) is inside them, else NULL. quiet_from > quiet_to
-- wraps midnight (20:00..08:00); quiet_from = quiet_to means none.
CREATE OR REPLACE FUNCTION epos_quiet_until(p_org bigint, p_now timestamptz) RETURNS timestamptz
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
CREATE OR REPLACE FUNCTION epos_email_skip(p_reason text) RETURNS jsonb
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
CREATE OR REPLACE FUNCTION epos_email_prepare(p_user bigint, p_kind text, p_message_id text, p_subject text,
                                   p_body text, p_urgent boolean, p_now timestamptz DEFAULT now(),
                                   p_payload jsonb DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = public, pg_temp AS $$
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

-- epos_email_sent_among(ids) -> the 1-based positions in the JSON array ids
-- of the Message-IDs email_log has as sent: the mailer leaves those mails out
-- of a session (workers/mailer_record.c), as the worker may not read the log.
CREATE OR REPLACE FUNCTION epos_email_sent_among(p_ids jsonb) RETURNS SETOF bigint
LANGUAGE sql STABLE
SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT x.i
      FROM jsonb_array_elements_text(CASE WHEN jsonb_typeof(p_ids) = 'array' THEN p_ids ELSE '[]' END)
           WITH ORDINALITY AS x(id, i)
      JOIN email_log l ON l.message_id = x.id
     WHERE l.status = 'sent'
$$;

-- epos_email_result(message_id, outcome, smtp_code, detail, final) -> the
-- email_log status after one SMTP attempt: outcome 'sent', 'temporary'
-- (4xx, no connection: 'retry', or 'dead' when final — the job's last
-- attempt) or 'permanent' (5xx: 'dead'). Counts the attempt, keeps the
-- last error, inserts the email_attempts row. A row already 'sent' stays
-- so. NULL when the message_id was never prepared.
CREATE OR REPLACE FUNCTION epos_email_result(p_message_id text, p_outcome text, p_smtp_code integer,
                                  p_detail text, p_final boolean DEFAULT false) RETURNS text
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = public, pg_temp AS $$
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

-- epos_email_deferred(message_id, smtp_code, detail, steps) -> how many
-- times a server has now deferred this mail (4xx, or no connection, while
-- the relay was not refusing everything), this one included: counts it in
-- email_log.deferrals and records the attempt as epos_email_result does,
-- 'dead' once the count passes steps (the length of the config's
-- mail_retry: the worker waits its n-th value before the next try). A mail
-- already 'sent' stays so. NULL when the message_id was never prepared.
CREATE OR REPLACE FUNCTION epos_email_deferred(p_message_id text, p_smtp_code integer, p_detail text,
                                               p_steps integer) RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    v_n integer;
BEGIN
    IF p_steps IS NULL OR p_steps < 1 THEN
        RAISE EXCEPTION USING ERRCODE = 'EP400', MESSAGE = 'email deferred: steps must be at least 1';
    END IF;
    UPDATE email_log l SET deferrals = l.deferrals + 1
     WHERE l.message_id = p_message_id
    RETURNING l.deferrals INTO v_n;
    IF v_n IS NULL THEN
        RETURN NULL;
    END IF;
    PERFORM epos_email_result(p_message_id, 'temporary', p_smtp_code, p_detail, v_n > p_steps);
    RETURN v_n;
END
$$;

-- epos_mail_release(now, limit) -> how many held mails (mail_deferred rows
-- due at now) were queued again as outbox 'email.notify' rows, in one
-- transaction; SKIP LOCKED lets any number of workers run it at once.
CREATE OR REPLACE FUNCTION epos_mail_release(p_now timestamptz DEFAULT now(), p_limit integer DEFAULT 1000)
RETURNS integer
LANGUAGE sql
SECURITY DEFINER SET search_path = public, pg_temp AS $$
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

-- ========================================================================
-- unread chat messages by email: one digest per recipient after a delay, never one mail per message.
--
-- Each chat message marks that the chat's other members have something
-- unread (digest_pending, written by epos_chat_send in chat.sql; the earliest
-- mark kept). The worker's digest scheduler calls
-- epos_digest_collect every few seconds: for each recipient with a due row
-- it gathers everything still unread in their pending chats and queues ONE
-- 'email.notify' (kind 'chat.digest', sent only while they are offline), in
-- the transaction that deletes their pending rows — so any number of
-- workers make one digest. digest_mailed remembers what a digest listed, so
-- the next one lists only newer messages.

-- The advisory lock class of "collecting this user's digest".
CREATE OR REPLACE FUNCTION epos_digest_lock_class() RETURNS integer
LANGUAGE sql IMMUTABLE AS $$ SELECT 4201 $$;

-- epos_digest_data(uid, chats) -> (payload, top_id, listed, seqs): what
-- uid has not read in those chats and no digest listed yet, as the data of
-- the chat.digest template: {"count": unread messages, "chats":[{chat_id,
-- direct, title, other (the other member's name in a direct chat), total,
-- shown, more, messages:[{sender, at ("YYYY-MM-DD HH24:MI" in the user's
-- org time zone), text (cut at 300 characters), cut}]}]} — the newest 20
-- per chat; top_id the greatest message id listed; listed how many; seqs
-- {"<chat id>": last seq listed}. listed 0: nothing unread.
CREATE OR REPLACE FUNCTION epos_digest_data(p_uid bigint, p_chats bigint[],
                                 OUT payload jsonb, OUT top_id bigint, OUT listed integer, OUT seqs jsonb)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_tz text := coalesce((SELECT o.tz FROM orgs o WHERE o.id = epos_mail_org(p_uid)), 'Asia/Yekaterinburg');
BEGIN
    WITH unread AS (
        SELECT x.id, x.chat_id, x.seq, x.sender_id, x.text, x.ts,
               count(*) OVER (PARTITION BY x.chat_id) AS n,
               row_number() OVER (PARTITION BY x.chat_id ORDER BY x.seq DESC) AS k
          FROM chat_members me
          JOIN chat_messages x ON x.chat_id = me.chat_id
          LEFT JOIN digest_mailed dm ON dm.user_id = me.user_id AND dm.chat_id = me.chat_id
         WHERE me.user_id = p_uid AND me.chat_id = ANY (p_chats)
           AND x.seq > greatest(me.read_seq, coalesce(dm.seq, 0)) AND x.sender_id <> p_uid
    ), per_chat AS (
        SELECT u.chat_id, max(u.n) AS total, count(*) AS shown, max(u.seq) AS last_seq, max(u.id) AS last_id,
               jsonb_agg(jsonb_build_object(
                   'sender', coalesce(s.full_name, '?'),
                   'at', to_char(u.ts AT TIME ZONE v_tz, 'YYYY-MM-DD HH24:MI'),
                   'text', left(u.text, 300), 'cut', char_length(u.text) > 300) ORDER BY u.seq) AS messages
          FROM unread u
          LEFT JOIN users s ON s.id = u.sender_id
         WHERE u.k <= 20
         GROUP BY u.chat_id
    )
    SELECT jsonb_build_object(
               'count', coalesce(sum(p.total), 0),
               'chats', coalesce(jsonb_agg(jsonb_build_object(
                   'chat_id', p.chat_id, 'direct', c.kind = 'direct', 'title', c.title,
                   'other', (SELECT o.full_name FROM chat_members m JOIN users o ON o.id = m.user_id
                              WHERE m.chat_id = c.id AND m.user_id <> p_uid ORDER BY m.user_id LIMIT 1),
                   'total', p.total, 'shown', p.shown, 'more', p.total > p.shown,
                   'messages', p.messages) ORDER BY p.chat_id), '[]'::jsonb)),
           max(p.last_id), coalesce(sum(p.shown), 0)::integer,
           coalesce(jsonb_object_agg(p.chat_id::text, p.last_seq), '{}'::jsonb)
      INTO payload, top_id, listed, seqs
      FROM per_chat p
      JOIN chats c ON c.id = p.chat_id;
END
$$;

-- epos_digest_user(uid, now) -> 1 when a digest was queued for uid,
-- 0 when another collector holds them, nothing was due or nothing is
-- unread any more. Takes uid's digest lock (transaction-scoped), then
-- deletes all their pending rows (due or not: one mail carries them all),
-- records what it lists in digest_mailed and queues the mail.
CREATE OR REPLACE FUNCTION epos_digest_user(p_uid bigint, p_now timestamptz) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    v_chats bigint[];
    d       record;
BEGIN
    IF NOT pg_try_advisory_xact_lock(epos_digest_lock_class(), (p_uid % 2147483647)::integer) THEN
        RETURN 0;
    END IF;
    -- A collector that finished this user meanwhile has deleted the rows.
    IF NOT EXISTS (SELECT 1 FROM digest_pending p WHERE p.user_id = p_uid AND p.due_at <= p_now) THEN
        RETURN 0;
    END IF;
    WITH del AS (DELETE FROM digest_pending p WHERE p.user_id = p_uid RETURNING p.chat_id)
    SELECT array_agg(del.chat_id ORDER BY del.chat_id) INTO v_chats FROM del;
    SELECT * INTO d FROM epos_digest_data(p_uid, v_chats);
    IF d.listed = 0 THEN
        RETURN 0;
    END IF;
    -- What was listed, not what is there now: a message committed since is
    -- left for the next digest.
    INSERT INTO digest_mailed AS m (user_id, chat_id, seq)
    SELECT p_uid, s.key::bigint, s.value::bigint FROM jsonb_each_text(d.seqs) s
     ORDER BY 2
    ON CONFLICT (user_id, chat_id) DO UPDATE SET seq = greatest(m.seq, EXCLUDED.seq);
    INSERT INTO outbox (kind, payload)
    VALUES ('email.notify', jsonb_build_object(
        'user_id', p_uid, 'kind', 'chat.digest', 'urgent', false, 'only_offline', true,
        'message_id', format('<chat.digest.%s.%s@epos.local>', p_uid, d.top_id),
        'data', d.payload));
    RETURN 1;
END
$$;

-- epos_digest_collect(now, limit) -> the number of digests queued:
-- for up to limit recipients with a pending row due at now (oldest first;
-- rows other collectors hold are skipped), epos_digest_user. One
-- transaction; any number of workers may run it at once.
CREATE OR REPLACE FUNCTION epos_digest_collect(p_now timestamptz DEFAULT now(), p_limit integer DEFAULT 500)
RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    v_now timestamptz := coalesce(p_now, now());
    v_n   integer := 0;
    v_uid bigint;
BEGIN
    FOR v_uid IN
        SELECT q.user_id
          FROM (SELECT p.user_id, min(p.due_at) AS due
                  FROM digest_pending p
                 WHERE p.due_at <= v_now
                 GROUP BY p.user_id
                 ORDER BY min(p.due_at)
                 LIMIT greatest(1, p_limit)) q
         ORDER BY q.due
    LOOP
        v_n := v_n + epos_digest_user(v_uid, v_now);
    END LOOP;
    RETURN v_n;
END
$$;

-- ========================================================================
-- news and calendar events by email to the parents of their audience.
--
-- Publishing a news item or event queues a 'news.email' job (feed.sql); the
-- job calls epos_news_emails, which queues one 'email.notify' per parent
-- (kind 'news', sent only while the parent is offline) — once per item,
-- however often the job runs (news_mailed).

-- epos_news_recipients(news) -> the parents (not disabled) of the children
-- the item is for: enrolled in one of its groups, or of its org when it is
-- for the whole org.
CREATE OR REPLACE FUNCTION epos_news_recipients(p_news bigint) RETURNS SETOF bigint
LANGUAGE sql STABLE AS $$
    SELECT DISTINCT g.user_id
      FROM news n
      JOIN news_audience a ON a.news_id = n.id
      JOIN children c ON c.org_id = n.org_id
      LEFT JOIN enrolments e ON e.child_id = c.id
      JOIN guardians g ON g.child_id = c.id
      JOIN users u ON u.id = g.user_id AND NOT u.disabled
     WHERE n.id = p_news AND (a.group_id IS NULL OR a.group_id = e.group_id)
     ORDER BY 1
$$;

-- epos_news_mail_data(news) -> the data of the news template for an item
-- ({news_id,kind,event_kind,title,body,event_date,org,require_ack}); NULL
-- when the item is gone.
CREATE OR REPLACE FUNCTION epos_news_mail_data(p_news bigint) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('news_id', n.id, 'kind', n.kind, 'event_kind', n.event_kind,
                              'title', n.title, 'body', n.body,
                              'event_date', to_char(n.event_date, 'YYYY-MM-DD'),
                              'org', o.name, 'require_ack', n.require_ack)
      FROM news n JOIN orgs o ON o.id = n.org_id
     WHERE n.id = p_news
$$;

-- epos_news_emails(news) -> the number of mails queued: one outbox
-- 'email.notify' {user_id,kind:'news',data:epos_news_mail_data,urgent:false,
-- only_offline:true,message_id:'<news.<id>.<uid>@epos.local>'} per
-- recipient. Once per item: 0 when it was done before or the item is gone.
CREATE OR REPLACE FUNCTION epos_news_emails(p_news bigint) RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    v_data jsonb;
    v_n    integer;
BEGIN
    v_data := epos_news_mail_data(p_news);
    IF v_data IS NULL THEN
        RETURN 0;
    END IF;
    INSERT INTO news_mailed (news_id, recipients) VALUES (p_news, 0) ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
        RETURN 0;
    END IF;
    INSERT INTO outbox (kind, payload)
    SELECT 'email.notify', jsonb_build_object(
               'user_id', r.uid, 'kind', 'news', 'urgent', false, 'only_offline', true,
               'message_id', format('<news.%s.%s@epos.local>', p_news, r.uid),
               'data', v_data)
      FROM epos_news_recipients(p_news) AS r(uid);
    GET DIAGNOSTICS v_n = ROW_COUNT;
    UPDATE news_mailed SET recipients = v_n WHERE news_id = p_news;
    RETURN v_n;
END
$$;
