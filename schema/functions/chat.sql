-- chat.sql -- chats: list, direct and group creation, members, history, send, read, typing.
--
-- A chat's messages and membership changes are events of topic chat:<id>; a
-- message's seq IS its event's seq, so history, unread counts and replay
-- share one numbering. Refusals raise EP4xx with a Russian message
-- (docs/ARCHITECTURE.md, "The API functions").

-- epos_chat_require_member(uid, chat) -> the chat's kind; EP404 when there is
-- no such chat, EP403 when uid is not one of its members.
CREATE OR REPLACE FUNCTION epos_chat_require_member(p_uid bigint, p_chat bigint) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_kind text;
    v_member boolean;
BEGIN
    SELECT c.kind, m.user_id IS NOT NULL INTO v_kind, v_member
      FROM chats c LEFT JOIN chat_members m ON m.chat_id = c.id AND m.user_id = p_uid
     WHERE c.id = p_chat;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'EP404', MESSAGE = 'Чат не найден';
    END IF;
    IF NOT v_member THEN
        RAISE EXCEPTION USING ERRCODE = 'EP403', MESSAGE = 'Вы не участник этого чата';
    END IF;
    RETURN v_kind;
END
$$;

-- epos_chat_last_seq(chat) -> the current seq of topic chat:<id>, 0 when none.
CREATE OR REPLACE FUNCTION epos_chat_last_seq(p_chat bigint) RETURNS bigint
LANGUAGE sql STABLE AS $$
    SELECT coalesce((SELECT s.seq FROM topic_seq s WHERE s.topic = 'chat:' || p_chat), 0)
$$;

-- epos_chat_item(chat, uid) -> the chat as uid sees it:
-- {id,kind,title,members:[{id,name}],last:{seq,text,sender_id,ts}|null,unread,read_seq,last_seq}.
-- A direct chat's title is the other member's name. unread counts the
-- messages after uid's read_seq that others sent (0 when uid is no member).
CREATE OR REPLACE FUNCTION epos_chat_item(p_chat bigint, p_uid bigint) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'id', c.id,
        'kind', c.kind,
        'title', CASE WHEN c.kind = 'direct'
                      THEN (SELECT u.full_name FROM chat_members o JOIN users u ON u.id = o.user_id
                             WHERE o.chat_id = c.id AND o.user_id <> p_uid
                             ORDER BY o.user_id LIMIT 1)
                      ELSE c.title END,
        'members', (SELECT coalesce(jsonb_agg(jsonb_build_object('id', u.id, 'name', u.full_name,
                                                                 'read_seq', o.read_seq)
                                              ORDER BY u.full_name, u.id), '[]')
                      FROM chat_members o JOIN users u ON u.id = o.user_id
                     WHERE o.chat_id = c.id),
        'last', (SELECT jsonb_build_object('seq', x.seq, 'text', x.text,
                                           'sender_id', x.sender_id, 'ts', epos_ts(x.ts))
                   FROM chat_messages x WHERE x.chat_id = c.id ORDER BY x.seq DESC LIMIT 1),
        'unread', CASE WHEN me.user_id IS NULL THEN 0
                       ELSE (SELECT count(*) FROM chat_messages x
                              WHERE x.chat_id = c.id AND x.seq > me.read_seq
                                AND x.sender_id <> p_uid) END,
        'read_seq', coalesce(me.read_seq, 0),
        'last_seq', epos_chat_last_seq(c.id))
      FROM chats c LEFT JOIN chat_members me ON me.chat_id = c.id AND me.user_id = p_uid
     WHERE c.id = p_chat
$$;

-- epos_chat_member_events(chat, added, removed) appends one chat.member event
-- {chat_id,added,removed,title} on chat:<id> and one on user:<m> for every
-- added or removed user (in id order: writers lock topics in one order), and
-- returns the frames as [{"topic","frame"}].
CREATE OR REPLACE FUNCTION epos_chat_member_events(p_chat bigint, p_added bigint[], p_removed bigint[])
RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_payload jsonb;
    v_frames  jsonb := '[]'::jsonb;
    v_topics  text[];
    v_topic   text;
    v_frame   text;
BEGIN
    SELECT jsonb_build_object('chat_id', c.id,
                              'added', to_jsonb(coalesce(p_added, '{}')),
                              'removed', to_jsonb(coalesce(p_removed, '{}')),
                              'title', c.title)
      INTO v_payload FROM chats c WHERE c.id = p_chat;
    v_topics := ARRAY['chat:' || p_chat]
             || ARRAY(SELECT 'user:' || m
                        FROM unnest(coalesce(p_added, '{}') || coalesce(p_removed, '{}')) AS m
                       GROUP BY m ORDER BY m);
    FOREACH v_topic IN ARRAY v_topics LOOP
        SELECT a.frame INTO v_frame FROM epos_event_append(v_topic, 'chat.member', v_payload) a;
        v_frames := v_frames || jsonb_build_object('topic', v_topic, 'frame', v_frame);
    END LOOP;
    RETURN v_frames;
END
$$;

-- epos_chat_check_addable(uid, users) raises EP404 for an unknown or disabled
-- user among users, EP403 for one uid may not contact (epos_can_contact's
-- rules, the contact set computed once for the whole list).
CREATE OR REPLACE FUNCTION epos_chat_check_addable(p_uid bigint, p_users bigint[]) RETURNS void
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_id bigint;
BEGIN
    SELECT a INTO v_id FROM unnest(p_users) AS a
     WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.id = a AND NOT u.disabled)
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'EP404',
            MESSAGE = format('Пользователь %s не найден', v_id);
    END IF;
    SELECT a INTO v_id FROM unnest(p_users) AS a
     WHERE a = p_uid OR a NOT IN (SELECT e.other_id FROM epos_contact_edges(p_uid) e)
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'EP403',
            MESSAGE = format('Вы не можете добавить в чат пользователя %s', v_id);
    END IF;
END
$$;

-- ---------------------------------------------------------------- list, create, members

-- GET /api/chats → {"chats":[item…]} newest activity first (the last
-- message's time, else the chat's creation).
CREATE OR REPLACE FUNCTION epos_api_chats_list(p_uid bigint, p_sid bigint, p_id bigint, p_args jsonb, p_body jsonb)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    v_chats jsonb;
BEGIN
    PERFORM epos_require_session(p_sid, p_uid);
    SELECT coalesce(jsonb_agg(epos_chat_item(c.id, p_uid)
                              ORDER BY coalesce(l.ts, c.created_at) DESC, c.id DESC), '[]')
      INTO v_chats
      FROM chat_members m
      JOIN chats c ON c.id = m.chat_id
      LEFT JOIN LATERAL (SELECT x.ts FROM chat_messages x WHERE x.chat_id = c.id
                          ORDER BY x.seq DESC LIMIT 1) l ON true
     WHERE m.user_id = p_uid;
    RETURN jsonb_build_object('status', 200, 'body', jsonb_build_object('chats', v_chats));
END
$$;

-- epos_chat_open_direct(uid, other) -> the API result for {"with":other}: the
-- one direct chat of the pair, created with its events on first use.
CREATE OR REPLACE FUNCTION epos_chat_open_direct(p_uid bigint, p_other bigint) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_key    text := least(p_uid, p_other) || ':' || greatest(p_uid, p_other);
    v_chat   bigint;
    v_frames jsonb := '[]'::jsonb;
    v_pair   bigint[] := ARRAY[least(p_uid, p_other), greatest(p_uid, p_other)];
BEGIN
    IF p_other = p_uid THEN
        RAISE EXCEPTION USING ERRCODE = 'EP400', MESSAGE = 'Нельзя открыть чат с самим собой';
    END IF;
    PERFORM 1 FROM users u WHERE u.id = p_other AND NOT u.disabled;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'EP404', MESSAGE = 'Пользователь не найден';
    END IF;
    IF NOT epos_can_contact(p_uid, p_other) THEN
        RAISE EXCEPTION USING ERRCODE = 'EP403', MESSAGE = 'Вы не можете написать этому пользователю';
    END IF;
    -- A concurrent opener of the same pair waits on the unique key, then
    -- finds its chat with the SELECT below (a new snapshot in READ COMMITTED).
    INSERT INTO chats AS c (kind, direct_key, created_by) VALUES ('direct', v_key, p_uid)
    ON CONFLICT (direct_key) DO NOTHING
    RETURNING c.id INTO v_chat;
    IF v_chat IS NOT NULL THEN
        INSERT INTO chat_members (chat_id, user_id) SELECT v_chat, unnest(v_pair);
        v_frames := epos_chat_member_events(v_chat, v_pair, '{}');
    ELSE
        SELECT c.id INTO v_chat FROM chats c WHERE c.direct_key = v_key;
        v_pair := '{}';
    END IF;
    RETURN jsonb_build_object('status', 200,
                              'body', jsonb_build_object('chat', epos_chat_item(v_chat, p_uid)),
                              'frames', v_frames, 'refresh', to_jsonb(v_pair));
END
$$;

-- epos_chat_create_group(uid, title, members) -> the API result for a new
-- group chat: staff only, every member contactable by uid, uid a member.
CREATE OR REPLACE FUNCTION epos_chat_create_group(p_uid bigint, p_title jsonb, p_members jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_title   text;
    v_members bigint[];
    v_chat    bigint;
    v_frames  jsonb;
BEGIN
    IF NOT epos_is_staff(p_uid) THEN
        RAISE EXCEPTION USING ERRCODE = 'EP403', MESSAGE = 'Групповые чаты создают только сотрудники';
    END IF;
    IF p_title IS NULL OR jsonb_typeof(p_title) <> 'string'
       OR char_length(btrim(p_title #>> '{}')) NOT BETWEEN 1 AND 200 THEN
        RAISE EXCEPTION USING ERRCODE = 'EP400',
            MESSAGE = 'Поле «title» должно быть строкой от 1 до 200 символов';
    END IF;
    v_title := btrim(p_title #>> '{}');
    IF p_members IS NULL OR jsonb_typeof(p_members) <> 'array' THEN
        RAISE EXCEPTION USING ERRCODE = 'EP400',
            MESSAGE = 'Поле «members» должно быть списком идентификаторов';
    END IF;
    v_members := array_remove(epos_json_ids(p_members, 'members'), p_uid);
    PERFORM epos_chat_check_addable(p_uid, v_members);
    v_members := ARRAY(SELECT m FROM unnest(v_members || p_uid) AS m ORDER BY m);

    INSERT INTO chats AS c (kind, title, org_id, created_by)
    VALUES ('group', v_title,
            (SELECT min(r.org_id) FROM staff_roles r WHERE r.user_id = p_uid), p_uid)
    RETURNING c.id INTO v_chat;
    INSERT INTO chat_members (chat_id, user_id) SELECT v_chat, unnest(v_members);
    v_frames := epos_chat_member_events(v_chat, v_members, '{}');
    INSERT INTO audit_log (actor_id, action, object, detail)
    VALUES (p_uid, 'chat.create', 'chat:' || v_chat, jsonb_build_object('members', v_members));
    RETURN jsonb_build_object('status', 201,
                              'body', jsonb_build_object('chat', epos_chat_item(v_chat, p_uid)),
                              'frames', v_frames, 'refresh', to_jsonb(v_members));
END
$$;

-- POST /api/chats: {"with":uid} → 200 the direct chat of the pair;
-- {"title","members":[uid…]} → 201 a new group chat.
CREATE OR REPLACE FUNCTION epos_api_chats_create(p_uid bigint, p_sid bigint, p_id bigint, p_args jsonb, p_body jsonb)
RETURNS jsonb
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    v_other bigint;
BEGIN
    PERFORM epos_require_session(p_sid, p_uid);
    PERFORM epos_body_object(p_body);
    IF p_body ? 'with' THEN
        v_other := epos_json_id(p_body -> 'with', 'with');
        IF v_other IS NULL THEN
            RAISE EXCEPTION USING ERRCODE = 'EP400',
                MESSAGE = 'Поле «with» должно быть положительным целым числом';
        END IF;
        RETURN epos_chat_open_direct(p_uid, v_other);
    END IF;
    IF p_body ? 'title' OR p_body ? 'members' THEN
        RETURN epos_chat_create_group(p_uid, p_body -> 'title', p_body -> 'members');
    END IF;
    RAISE EXCEPTION USING ERRCODE = 'EP400',
        MESSAGE = 'Укажите «with» для личного чата или «title» и «members» для группового';
END
$$;

-- POST /api/chats/{id}/members {"add":[uid…],"remove":[uid…]} → {"chat":…}:
-- a staff member of a group chat only; added users must be contactable by
-- the caller. New members start with read_seq at the chat's current seq.
CREATE OR REPLACE FUNCTION epos_api_chats_members(p_uid bigint, p_sid bigint, p_id bigint, p_args jsonb, p_body jsonb)
RETURNS jsonb
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    v_add    bigint[];
    v_remove bigint[];
    v_frames jsonb := '[]'::jsonb;
BEGIN
    PERFORM epos_require_session(p_sid, p_uid);
    PERFORM epos_body_object(p_body);
    IF epos_chat_require_member(p_uid, p_id) = 'direct' THEN
        RAISE EXCEPTION USING ERRCODE = 'EP409', MESSAGE = 'Состав личного чата изменить нельзя';
    END IF;
    IF NOT epos_is_staff(p_uid) THEN
        RAISE EXCEPTION USING ERRCODE = 'EP403', MESSAGE = 'Состав чата меняют только сотрудники';
    END IF;
    v_add := epos_json_ids(p_body -> 'add', 'add');
    v_remove := epos_json_ids(p_body -> 'remove', 'remove');
    IF v_add && v_remove THEN
        RAISE EXCEPTION USING ERRCODE = 'EP400',
            MESSAGE = 'Один пользователь не может быть и в «add», и в «remove»';
    END IF;
    -- Only real changes: already-members are not re-added, non-members not removed.
    v_add := ARRAY(SELECT a FROM unnest(v_add) AS a
                    WHERE NOT EXISTS (SELECT 1 FROM chat_members m
                                       WHERE m.chat_id = p_id AND m.user_id = a)
                    ORDER BY a);
    PERFORM epos_chat_check_addable(p_uid, v_add);
    WITH gone AS (
        DELETE FROM chat_members m WHERE m.chat_id = p_id AND m.user_id = ANY (v_remove)
        RETURNING m.user_id
    )
    SELECT ARRAY(SELECT user_id FROM gone ORDER BY user_id) INTO v_remove;
    INSERT INTO chat_members (chat_id, user_id, read_seq)
    SELECT p_id, a, epos_chat_last_seq(p_id) FROM unnest(v_add) AS a;

    IF cardinality(v_add) + cardinality(v_remove) > 0 THEN
        v_frames := epos_chat_member_events(p_id, v_add, v_remove);
        INSERT INTO audit_log (actor_id, action, object, detail)
        VALUES (p_uid, 'chat.members', 'chat:' || p_id,
                jsonb_build_object('added', v_add, 'removed', v_remove));
    END IF;
    RETURN jsonb_build_object('status', 200,
                              'body', jsonb_build_object('chat', epos_chat_item(p_id, p_uid)),
                              'frames', v_frames, 'refresh', to_jsonb(v_add || v_remove));
END
$$;

-- GET /api/chats/{id}/messages?before=&limit= → {"messages":[{id,seq,sender_id,sender_name,text,ts}]}
-- ascending by seq: the page of at most limit (default 50, at most 100)
-- messages ending just before seq `before` (the newest page without it).
CREATE OR REPLACE FUNCTION epos_api_chats_messages(p_uid bigint, p_sid bigint, p_id bigint, p_args jsonb, p_body jsonb)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    v_before bigint := epos_arg_int(p_args, 'before', NULL);
    v_limit  bigint := least(greatest(epos_arg_int(p_args, 'limit', 50), 1), 100);
    v_page   jsonb;
BEGIN
    PERFORM epos_require_session(p_sid, p_uid);
    PERFORM epos_chat_require_member(p_uid, p_id);
    SELECT coalesce(jsonb_agg(jsonb_build_object(
               'id', p.id, 'seq', p.seq, 'sender_id', p.sender_id, 'sender_name', u.full_name,
               'text', p.text, 'ts', epos_ts(p.ts)) ORDER BY p.seq), '[]')
      INTO v_page
      FROM (SELECT x.* FROM chat_messages x
             WHERE x.chat_id = p_id AND (v_before IS NULL OR x.seq < v_before)
             ORDER BY x.seq DESC LIMIT v_limit) p
      JOIN users u ON u.id = p.sender_id;
    RETURN jsonb_build_object('status', 200, 'body', jsonb_build_object('messages', v_page));
END
$$;

-- ---------------------------------------------------------------- send, read, typing

-- epos_chat_send(uid, chat, cid, text) -> {"id","seq","ts","chat","dup","frame"} as text.
-- Member only; cid 1..64 characters; text trimmed, 1..4000 characters. A
-- (sender, cid) already stored returns that message with dup=true and its
-- stored event's frame (NULL once retention dropped it): the hub publishes it
-- again, since the first answer may never have reached a hub that published
-- it (a connection lost with the commit's reply, a failover); hubs drop a seq
-- they have delivered, so a second publish doubles nothing. Otherwise appends chat.message {id,chat_id,seq,sender_id,sender_name,text,cid}
-- on chat:<id>, stores the message under the event's seq, advances the
-- sender's read_seq and marks the other members' digest_pending (mail.sql)
-- for the digest mail — one transaction.
CREATE OR REPLACE FUNCTION epos_chat_send(p_uid bigint, p_chat bigint, p_cid text, p_text text) RETURNS text
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = public, pg_temp AS $$
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
        SELECT epos_event_frame(e.topic, e.seq, e.type, e.ts, e.payload) INTO v_frame
          FROM events e WHERE e.topic = v_topic AND e.seq = v_old.seq;
        RETURN jsonb_build_object('id', v_old.id, 'seq', v_old.seq, 'ts', epos_ts(v_old.ts),
                                  'chat', p_chat, 'dup', true, 'frame', v_frame)::text;
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

-- epos_chat_read(uid, chat, seq) -> {"frame","seq"} as text: moves uid's
-- read_seq up to seq (never past the chat's last seq, never down) and returns
-- the ephemeral chat.read frame {chat_id,user_id,seq} for the chat's members.
-- Member only; EP400 for a missing or negative seq.
CREATE OR REPLACE FUNCTION epos_chat_read(p_uid bigint, p_chat bigint, p_seq bigint) RETURNS text
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    v_read bigint;
BEGIN
    PERFORM epos_chat_require_member(p_uid, p_chat);
    IF p_seq IS NULL OR p_seq < 0 THEN
        RAISE EXCEPTION USING ERRCODE = 'EP400', MESSAGE = 'Поле «seq» должно быть неотрицательным целым числом';
    END IF;
    UPDATE chat_members m SET read_seq = greatest(m.read_seq, least(p_seq, epos_chat_last_seq(p_chat)))
     WHERE m.chat_id = p_chat AND m.user_id = p_uid
    RETURNING m.read_seq INTO v_read;
    RETURN jsonb_build_object(
        'seq', v_read,
        'frame', epos_ephemeral_frame('chat:' || p_chat, 'chat.read',
                                      jsonb_build_object('chat_id', p_chat, 'user_id', p_uid,
                                                         'seq', v_read)))::text;
END
$$;

-- epos_chat_typing_ok(uid, chat) -> {"frame","name"} as text: the ephemeral
-- chat.typing frame {chat_id,user_id,name} for the chat's members. Member only.
CREATE OR REPLACE FUNCTION epos_chat_typing_ok(p_uid bigint, p_chat bigint) RETURNS text
LANGUAGE plpgsql STABLE
SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    v_name text;
BEGIN
    PERFORM epos_chat_require_member(p_uid, p_chat);
    SELECT u.full_name INTO v_name FROM users u WHERE u.id = p_uid;
    RETURN jsonb_build_object(
        'name', v_name,
        'frame', epos_ephemeral_frame('chat:' || p_chat, 'chat.typing',
                                      jsonb_build_object('chat_id', p_chat, 'user_id', p_uid,
                                                         'name', v_name)))::text;
END
$$;

-- POST /api/chats/{id}/messages {"text","cid"} → {"id","seq","ts"} (the WS send).
CREATE OR REPLACE FUNCTION epos_api_chats_send(p_uid bigint, p_sid bigint, p_id bigint, p_args jsonb, p_body jsonb)
RETURNS jsonb
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    v_res jsonb;
BEGIN
    PERFORM epos_require_session(p_sid, p_uid);
    PERFORM epos_body_object(p_body);
    IF jsonb_typeof(p_body -> 'text') IS DISTINCT FROM 'string' THEN
        RAISE EXCEPTION USING ERRCODE = 'EP400', MESSAGE = 'Поле «text» должно быть строкой';
    END IF;
    IF jsonb_typeof(p_body -> 'cid') IS DISTINCT FROM 'string' THEN
        RAISE EXCEPTION USING ERRCODE = 'EP400', MESSAGE = 'Поле «cid» должно быть строкой';
    END IF;
    v_res := epos_chat_send(p_uid, p_id, p_body ->> 'cid', p_body ->> 'text')::jsonb;
    RETURN jsonb_build_object(
        'status', 200,
        'body', jsonb_build_object('id', v_res -> 'id', 'seq', v_res -> 'seq', 'ts', v_res -> 'ts'),
        'frames', CASE WHEN (v_res ->> 'dup')::boolean THEN '[]'::jsonb
                       ELSE jsonb_build_array(jsonb_build_object('topic', 'chat:' || p_id,
                                                                 'frame', v_res -> 'frame')) END);
END
$$;

-- POST /api/chats/{id}/read {"seq"} → {"ok":true}; the chat.read frame is
-- returned under "ephemeral" for the hub to publish (not stored, no seq).
CREATE OR REPLACE FUNCTION epos_api_chats_read(p_uid bigint, p_sid bigint, p_id bigint, p_args jsonb, p_body jsonb)
RETURNS jsonb
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    v_num numeric;
    v_seq bigint;
    v_res jsonb;
BEGIN
    PERFORM epos_require_session(p_sid, p_uid);
    PERFORM epos_body_object(p_body);
    IF jsonb_typeof(p_body -> 'seq') = 'number' THEN
        v_num := (p_body -> 'seq')::numeric;
    END IF;
    IF v_num IS NULL OR v_num <> trunc(v_num) OR v_num NOT BETWEEN 0 AND 9223372036854775807 THEN
        RAISE EXCEPTION USING ERRCODE = 'EP400', MESSAGE = 'Поле «seq» должно быть неотрицательным целым числом';
    END IF;
    v_seq := v_num::bigint;
    v_res := epos_chat_read(p_uid, p_id, v_seq)::jsonb;
    RETURN jsonb_build_object(
        'status', 200, 'body', jsonb_build_object('ok', true),
        'ephemeral', jsonb_build_array(jsonb_build_object('topic', 'chat:' || p_id,
                                                          'frame', v_res -> 'frame')));
END
$$;
