-- 045_digest_inline.sql -- a chat message marks its digest itself.
--
-- Until now epos_chat_send wrote an outbox row 'chat.unread' per message, and
-- a job turned it into digest_pending rows. Every outbox insert NOTIFYs, and
-- PostgreSQL serializes the commits of notifying transactions on one lock: at
-- a few thousand messages a second that lock, not the work, set the pace. Now
-- the send marks digest_pending directly, in its own transaction, and
-- digest_pending.due_at means "unread since": the scheduler collects the rows
-- older than digest_delay_s (epos_digest_collect(now() - delay, …)).

COMMENT ON COLUMN digest_pending.due_at IS
    'the first unread message since the last digest; due after digest_delay_s';

DROP FUNCTION epos_chat_unread(bigint, bigint, integer, timestamptz);

CREATE OR REPLACE FUNCTION epos_chat_send(p_uid bigint, p_chat bigint, p_cid text, p_text text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    v_topic   text := 'chat:' || p_chat;
    v_text    text := btrim(p_text, E' \t\r\n\f\x0B');
    v_next    bigint;
    v_seq     bigint;
    v_id      bigint;
    v_ts      timestamptz;
    v_frame   text;
    v_payload jsonb;
    v_old     chat_messages;
BEGIN
    PERFORM epos_chat_require_member(p_uid, p_chat);
    IF p_cid IS NULL OR char_length(p_cid) NOT BETWEEN 1 AND 64 THEN
        RAISE EXCEPTION USING ERRCODE = 'EP400', MESSAGE = 'Поле «cid» должно быть строкой от 1 до 64 символов';
    END IF;
    IF v_text IS NULL OR v_text = '' THEN
        RAISE EXCEPTION USING ERRCODE = 'EP400', MESSAGE = 'Пустое сообщение';
    END IF;
    IF char_length(v_text) > 4000 THEN
        RAISE EXCEPTION USING ERRCODE = 'EP400', MESSAGE = 'Сообщение слишком длинное';
    END IF;
    -- Hold the topic first: a retry of the same cid waits for the original to
    -- commit and then finds it, and the seq the append will give is known
    -- before it, for the payload.
    SELECT s.seq + 1 INTO v_next FROM topic_seq s WHERE s.topic = v_topic FOR UPDATE;
    SELECT * INTO v_old FROM chat_messages x WHERE x.sender_id = p_uid AND x.cid = p_cid;
    IF FOUND THEN
        IF v_old.chat_id <> p_chat THEN
            RAISE EXCEPTION USING ERRCODE = 'EP409', MESSAGE = 'Этот cid уже использован в другом чате';
        END IF;
        RETURN jsonb_build_object('id', v_old.id, 'seq', v_old.seq, 'ts', epos_ts(v_old.ts),
                                  'chat', p_chat, 'dup', true, 'frame', NULL)::text;
    END IF;

    v_id := nextval('chat_messages_id_seq');
    v_payload := jsonb_build_object('id', v_id, 'chat_id', p_chat, 'seq', coalesce(v_next, 1),
                                    'sender_id', p_uid,
                                    'sender_name', (SELECT u.full_name FROM users u WHERE u.id = p_uid),
                                    'text', v_text, 'cid', p_cid);
    SELECT a.seq, a.ts, a.frame INTO v_seq, v_ts, v_frame
      FROM epos_event_append(v_topic, 'chat.message', v_payload) a;
    IF v_seq <> coalesce(v_next, 1) THEN
        -- The topic had no row yet and another writer created it meanwhile.
        v_payload := jsonb_set(v_payload, '{seq}', to_jsonb(v_seq));
        UPDATE events SET payload = v_payload WHERE topic = v_topic AND seq = v_seq;
        v_frame := epos_event_frame(v_topic, v_seq, 'chat.message', v_ts, v_payload);
    END IF;

    INSERT INTO chat_messages (id, chat_id, seq, sender_id, cid, text, ts)
    VALUES (v_id, p_chat, v_seq, p_uid, p_cid, v_text, v_ts);
    UPDATE chat_members SET read_seq = greatest(read_seq, v_seq)
     WHERE chat_id = p_chat AND user_id = p_uid;
    -- The other members may get a digest of what they leave unread: mark
    -- them pending since now (the earliest mark stays; the digest scheduler
    -- adds digest_delay_s). Rows, not an outbox job per message: no NOTIFY,
    -- whose commit-time lock would serialize every sender.
    INSERT INTO digest_pending (user_id, chat_id, due_at)
    SELECT m.user_id, p_chat, v_ts FROM chat_members m
     WHERE m.chat_id = p_chat AND m.user_id <> p_uid
     ORDER BY m.user_id
    ON CONFLICT (user_id, chat_id) DO NOTHING;
    RETURN jsonb_build_object('id', v_id, 'seq', v_seq, 'ts', epos_ts(v_ts), 'chat', p_chat,
                              'dup', false, 'frame', v_frame)::text;
END
$$;
