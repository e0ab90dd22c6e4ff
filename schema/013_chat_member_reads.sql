-- 013_chat_member_reads.sql -- each chat member's read position in the chat list.
--
-- A client shows "прочитано" on its own messages from these positions as soon
-- as it opens a chat; live chat.read events keep them current afterwards.
-- A read position is no contact data: it only says how far a member of the
-- same chat has read.
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
