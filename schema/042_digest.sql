-- 042_digest.sql -- unread chat messages by email: one digest per recipient after a delay, never one mail per message.
--
-- Each chat message marks that the chat's other members have something
-- unread (digest_pending, written by epos_chat_send in 011_chat; the earliest
-- mark kept). The worker's digest scheduler calls
-- epos_digest_collect every few seconds: for each recipient with a due row
-- it gathers everything still unread in their pending chats and queues ONE
-- 'email.notify' (kind 'chat.digest', sent only while they are offline), in
-- the transaction that deletes their pending rows — so any number of
-- workers make one digest. digest_mailed remembers what a digest listed, so
-- the next one lists only newer messages.

CREATE TABLE digest_pending (
    user_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    chat_id bigint NOT NULL REFERENCES chats(id) ON DELETE CASCADE,
    due_at  timestamptz NOT NULL,
    PRIMARY KEY (user_id, chat_id)
);
CREATE INDEX digest_pending_due_idx ON digest_pending (due_at);

CREATE TABLE digest_mailed (
    user_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    chat_id bigint NOT NULL REFERENCES chats(id) ON DELETE CASCADE,
    seq     bigint NOT NULL,                 -- the last message seq a digest listed
    PRIMARY KEY (user_id, chat_id)
);

-- The advisory lock class of "collecting this user's digest".
CREATE FUNCTION epos_digest_lock_class() RETURNS integer
LANGUAGE sql IMMUTABLE AS $$ SELECT 4201 $$;

-- A chat send marks digest_pending itself (epos_chat_send, 011): no outbox
-- job per message, whose NOTIFY would serialize every sender's commit.
COMMENT ON COLUMN digest_pending.due_at IS
    'the first unread message since the last digest; due after digest_delay_s';

-- epos_digest_text(uid, chats, url) -> (body, max message id, lines, seqs): the
-- digest of what uid has not read in those chats and no digest listed yet,
-- chat by chat (title — or the other member's name — then "sender (time):
-- text" per message, the newest 20 per chat, texts cut at 300 characters),
-- times in the user's org time zone; seqs {"<chat id>": last seq listed}.
-- lines 0: nothing unread.
CREATE FUNCTION epos_digest_text(p_uid bigint, p_chats bigint[], p_url text,
                                 OUT body text, OUT max_id bigint, OUT lines integer, OUT seqs jsonb)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_tz   text := coalesce((SELECT o.tz FROM orgs o WHERE o.id = epos_mail_org(p_uid)), 'Asia/Yekaterinburg');
    v_chat bigint := NULL;
    r      record;
BEGIN
    body := '';
    lines := 0;
    seqs := '{}';
    FOR r IN
        WITH unread AS (
            SELECT x.id, x.chat_id, x.seq, x.sender_id, x.text, x.ts,
                   count(*) OVER (PARTITION BY x.chat_id) AS n,
                   row_number() OVER (PARTITION BY x.chat_id ORDER BY x.seq DESC) AS k
              FROM chat_members me
              JOIN chat_messages x ON x.chat_id = me.chat_id
              LEFT JOIN digest_mailed dm ON dm.user_id = me.user_id AND dm.chat_id = me.chat_id
             WHERE me.user_id = p_uid AND me.chat_id = ANY (p_chats)
               AND x.seq > greatest(me.read_seq, coalesce(dm.seq, 0)) AND x.sender_id <> p_uid
        )
        SELECT u.*, s.full_name AS sender,
               CASE WHEN c.kind = 'direct'
                    THEN 'Личные сообщения'
                    ELSE 'Чат «' || coalesce(c.title, '') || '»' END AS title
          FROM unread u
          JOIN chats c ON c.id = u.chat_id
          LEFT JOIN users s ON s.id = u.sender_id
         WHERE u.k <= 20
         ORDER BY u.chat_id, u.seq
    LOOP
        IF v_chat IS DISTINCT FROM r.chat_id THEN
            v_chat := r.chat_id;
            body := body || E'\n' || r.title
                    || CASE WHEN r.n > 20 THEN format(' (последние 20 из %s)', r.n) ELSE '' END || E':\n';
        END IF;
        body := body || format(E'  %s (%s): %s\n', coalesce(r.sender, '?'),
                               to_char(r.ts AT TIME ZONE v_tz, 'DD.MM HH24:MI'),
                               CASE WHEN char_length(r.text) > 300 THEN left(r.text, 300) || '…'
                                    ELSE r.text END);
        max_id := greatest(max_id, r.id);
        seqs := seqs || jsonb_build_object(r.chat_id::text, r.seq);
        lines := lines + 1;
    END LOOP;
    IF lines > 0 THEN
        body := E'Здравствуйте!\n\nУ вас есть непрочитанные сообщения в ЭПОС:\n' || body
                || E'\nПрочитать и ответить: ' || coalesce(p_url, '') || E'\n';
    END IF;
END
$$;

-- epos_digest_user(uid, now, url) -> 1 when a digest was queued for uid,
-- 0 when another collector holds them, nothing was due or nothing is
-- unread any more. Takes uid's digest lock (transaction-scoped), then
-- deletes all their pending rows (due or not: one mail carries them all),
-- records what it lists in digest_mailed and queues the mail.
CREATE FUNCTION epos_digest_user(p_uid bigint, p_now timestamptz, p_url text) RETURNS integer
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
    SELECT * INTO d FROM epos_digest_text(p_uid, v_chats, p_url);
    IF d.lines = 0 THEN
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
        'message_id', format('<chat.digest.%s.%s@epos.local>', p_uid, d.max_id),
        'subject', 'Непрочитанные сообщения в ЭПОС',
        'body', d.body));
    RETURN 1;
END
$$;

-- epos_digest_collect(now, url, limit) -> the number of digests queued:
-- for up to limit recipients with a pending row due at now (oldest first;
-- rows other collectors hold are skipped), epos_digest_user. One
-- transaction; any number of workers may run it at once.
CREATE FUNCTION epos_digest_collect(p_now timestamptz DEFAULT now(), p_url text DEFAULT NULL,
                                    p_limit integer DEFAULT 500) RETURNS integer
LANGUAGE plpgsql AS $$
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
        v_n := v_n + epos_digest_user(v_uid, v_now, p_url);
    END LOOP;
    RETURN v_n;
END
$$;
