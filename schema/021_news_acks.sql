-- 021_news_acks.sql -- "ознакомлен": acknowledging a news item, and the author's statistics.
--
-- A parent acknowledges an item that asks for it; the author is told live
-- (event news.ack on user:<author>) so their statistics move without a
-- reload. The statistics list who acknowledged and which parents of the
-- audience have not yet.

-- epos_news_require_visible(news, uid) -> the item's row; EP404 when there is
-- no such item or uid may not see it (epos_news_visible).
CREATE FUNCTION epos_news_require_visible(p_news bigint, p_uid bigint) RETURNS news
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v news;
BEGIN
    SELECT * INTO v FROM news n WHERE n.id = p_news;
    IF NOT FOUND OR NOT epos_news_visible(p_news, p_uid) THEN
        RAISE EXCEPTION USING ERRCODE = 'EP404', MESSAGE = 'Публикация не найдена';
    END IF;
    RETURN v;
END
$$;

-- POST /api/news/{id}/ack → {"ok":true}. Only a user who can see the item
-- (EP404 otherwise) and only for an item that asks for it (EP409). Idempotent:
-- the first acknowledgement stores the time and appends news.ack
-- {news_id,user_id,name,at} on user:<author> (frames); a repeat changes nothing.
CREATE FUNCTION epos_api_news_ack(p_uid bigint, p_sid bigint, p_id bigint, p_args jsonb, p_body jsonb)
RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_news   news;
    v_at     timestamptz;
    v_topic  text;
    v_frame  text;
    v_frames jsonb := '[]';
BEGIN
    PERFORM epos_require_session(p_sid, p_uid);
    v_news := epos_news_require_visible(p_id, p_uid);
    IF NOT v_news.require_ack THEN
        RAISE EXCEPTION USING ERRCODE = 'EP409', MESSAGE = 'Эта публикация не требует подтверждения';
    END IF;
    INSERT INTO news_acks AS k (news_id, user_id) VALUES (p_id, p_uid)
    ON CONFLICT (news_id, user_id) DO NOTHING
    RETURNING k.acked_at INTO v_at;
    IF v_at IS NOT NULL AND v_news.author_id IS NOT NULL THEN
        v_topic := 'user:' || v_news.author_id;
        SELECT a.frame INTO v_frame
          FROM epos_event_append(v_topic, 'news.ack',
                                 jsonb_build_object('news_id', p_id, 'user_id', p_uid,
                                                    'name', (SELECT u.full_name FROM users u
                                                              WHERE u.id = p_uid),
                                                    'at', epos_ts(v_at))) a;
        v_frames := jsonb_build_array(jsonb_build_object('topic', v_topic, 'frame', v_frame));
    END IF;
    RETURN jsonb_build_object('status', 200, 'body', jsonb_build_object('ok', true),
                              'frames', v_frames);
END
$$;

-- epos_news_audience_parents(news) -> (id, name): the parents (enabled
-- guardians) of the children the item is for — every child of the org for a
-- whole-org item, else the children enrolled in its groups.
CREATE FUNCTION epos_news_audience_parents(p_news bigint) RETURNS TABLE (id bigint, name text)
LANGUAGE sql STABLE AS $$
    WITH kids AS (
        SELECT c.id FROM news n
          JOIN news_audience a ON a.news_id = n.id AND a.group_id IS NULL
          JOIN children c ON c.org_id = n.org_id
         WHERE n.id = p_news
        UNION
        SELECT e.child_id FROM news_audience a
          JOIN enrolments e ON e.group_id = a.group_id
         WHERE a.news_id = p_news
    )
    SELECT DISTINCT u.id, u.full_name
      FROM kids k
      JOIN guardians g ON g.child_id = k.id
      JOIN users u ON u.id = g.user_id AND NOT u.disabled
$$;

-- GET /api/news/{id}/acks → {"acked":[{id,name,at}],"pending":[{id,name}]}:
-- acked — everyone who acknowledged, earliest first; pending — the audience's
-- parents (epos_news_audience_parents) who have not, by name. The author or
-- an admin of the item's org only (EP403); EP404 for an unknown item.
CREATE FUNCTION epos_api_news_acks(p_uid bigint, p_sid bigint, p_id bigint, p_args jsonb, p_body jsonb)
RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_news    news;
    v_acked   jsonb;
    v_pending jsonb;
BEGIN
    PERFORM epos_require_session(p_sid, p_uid);
    SELECT * INTO v_news FROM news n WHERE n.id = p_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'EP404', MESSAGE = 'Публикация не найдена';
    END IF;
    IF v_news.author_id IS DISTINCT FROM p_uid
       AND NOT EXISTS (SELECT 1 FROM staff_roles r WHERE r.user_id = p_uid
                                                      AND r.org_id = v_news.org_id AND r.role = 'admin') THEN
        RAISE EXCEPTION USING ERRCODE = 'EP403',
            MESSAGE = 'Статистику ознакомления видят автор и администратор организации';
    END IF;
    SELECT coalesce(jsonb_agg(jsonb_build_object('id', u.id, 'name', u.full_name,
                                                 'at', epos_ts(k.acked_at))
                              ORDER BY k.acked_at, u.id), '[]')
      INTO v_acked
      FROM news_acks k JOIN users u ON u.id = k.user_id
     WHERE k.news_id = p_id;
    SELECT coalesce(jsonb_agg(jsonb_build_object('id', p.id, 'name', p.name) ORDER BY p.name, p.id), '[]')
      INTO v_pending
      FROM epos_news_audience_parents(p_id) p
     WHERE NOT EXISTS (SELECT 1 FROM news_acks k WHERE k.news_id = p_id AND k.user_id = p.id);
    RETURN jsonb_build_object('status', 200,
                              'body', jsonb_build_object('acked', v_acked, 'pending', v_pending));
END
$$;
