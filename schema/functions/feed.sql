-- feed.sql -- news and calendar events: the feed, publishing, acknowledgements, POST /api/publish.

-- ========================================================================
-- the feed: news and calendar events, who sees them, publishing them.
--
-- A news item (kind 'news') or calendar event (kind 'event') is for a whole
-- org (one news_audience row with group_id NULL) or for chosen groups (one row
-- per group). Publishing appends one event per audience topic — org:<id>, or
-- group:<gid> per group — so the people subscribed to those topics get it
-- live; the feed shows exactly the items of the topics a user is subscribed
-- to (epos_user_topics), so live delivery and GET /api/feed never disagree.
-- Refusals raise EP4xx with a Russian message (docs/ARCHITECTURE.md,
-- "The API functions").

-- ---------------------------------------------------------------- reading

-- epos_news_item(news, uid) -> the feed item as uid sees it:
-- {id,kind,event_kind,title,body,event_date,org_id,group_ids,author:{id,name},
--  require_ack,acked,created_at}. group_ids is [] for the whole org; acked is
-- whether uid acknowledged it (false for a NULL uid: the item as published).
-- NULL for an unknown item.
CREATE OR REPLACE FUNCTION epos_news_item(p_news bigint, p_uid bigint) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'id', n.id,
        'kind', n.kind,
        'event_kind', n.event_kind,
        'title', n.title,
        'body', n.body,
        'event_date', to_char(n.event_date, 'YYYY-MM-DD'),
        'org_id', n.org_id,
        'group_ids', (SELECT coalesce(jsonb_agg(a.group_id ORDER BY a.group_id), '[]')
                        FROM news_audience a
                       WHERE a.news_id = n.id AND a.group_id IS NOT NULL),
        'author', CASE WHEN u.id IS NULL THEN NULL
                       ELSE jsonb_build_object('id', u.id, 'name', u.full_name) END,
        'require_ack', n.require_ack,
        'acked', p_uid IS NOT NULL
                 AND EXISTS (SELECT 1 FROM news_acks k WHERE k.news_id = n.id AND k.user_id = p_uid),
        'created_at', epos_ts(n.created_at))
      FROM news n LEFT JOIN users u ON u.id = n.author_id
     WHERE n.id = p_news
$$;

-- epos_feed_scope(uid) -> (orgs, groups): the org ids and group ids whose
-- feed topics (org:<id>, group:<id>) the user is subscribed to. A parent:
-- their children's orgs and groups; staff: the orgs where they have a role
-- and their bound groups and classes; an admin: every group of their org.
CREATE OR REPLACE FUNCTION epos_feed_scope(p_uid bigint, OUT orgs bigint[], OUT groups bigint[])
LANGUAGE sql STABLE AS $$
    SELECT coalesce(array_agg(substr(t, 5)::bigint) FILTER (WHERE t LIKE 'org:%'), '{}'),
           coalesce(array_agg(substr(t, 7)::bigint) FILTER (WHERE t LIKE 'group:%'), '{}')
      FROM epos_user_topics(p_uid) AS x(t)
$$;

-- epos_news_visible(news, uid) -> true when uid may see the item: it is for
-- an org or a group in their feed scope, or they wrote it.
CREATE OR REPLACE FUNCTION epos_news_visible(p_news bigint, p_uid bigint) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT EXISTS (
        SELECT 1
          FROM news n, epos_feed_scope(p_uid) s
         WHERE n.id = p_news
           AND (n.author_id = p_uid
                OR EXISTS (SELECT 1 FROM news_audience a
                            WHERE a.news_id = n.id
                              AND CASE WHEN a.group_id IS NULL THEN n.org_id = ANY (s.orgs)
                                       ELSE a.group_id = ANY (s.groups) END)))
$$;

-- GET /api/feed?before=<id>&limit=<n> → {"items":[item…]} newest first: the
-- items the caller may see (epos_news_visible) with id < before, at most
-- limit (default 20, 1..100). EP400 when before or limit is not a number.
CREATE OR REPLACE FUNCTION epos_api_feed(p_uid bigint, p_sid bigint, p_id bigint, p_args jsonb, p_body jsonb)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    v_before bigint := epos_arg_int(p_args, 'before', NULL);
    v_limit  bigint := least(greatest(epos_arg_int(p_args, 'limit', 20), 1), 100);
    v_top    bigint := coalesce(v_before, 9223372036854775807);
    v_scope  record;
    v_items  jsonb;
BEGIN
    PERFORM epos_require_session(p_sid, p_uid);
    SELECT * INTO v_scope FROM epos_feed_scope(p_uid);
    -- Three indexed ranges (group audience, whole-org items, own items), each
    -- cut to the page before they are merged.
    WITH ids AS (
        (SELECT a.news_id AS id FROM news_audience a
          WHERE a.group_id = ANY (v_scope.groups) AND a.news_id < v_top
          ORDER BY a.news_id DESC LIMIT v_limit * greatest(cardinality(v_scope.groups), 1))
        UNION
        (SELECT n.id FROM news n
          WHERE n.org_id = ANY (v_scope.orgs) AND n.id < v_top
            AND EXISTS (SELECT 1 FROM news_audience a WHERE a.news_id = n.id AND a.group_id IS NULL)
          ORDER BY n.id DESC LIMIT v_limit)
        UNION
        (SELECT n.id FROM news n WHERE n.author_id = p_uid AND n.id < v_top
          ORDER BY n.id DESC LIMIT v_limit)
    ), page AS (
        SELECT id FROM ids ORDER BY id DESC LIMIT v_limit
    )
    SELECT coalesce(jsonb_agg(epos_news_item(page.id, p_uid) ORDER BY page.id DESC), '[]')
      INTO v_items FROM page;
    RETURN jsonb_build_object('status', 200, 'body', jsonb_build_object('items', v_items));
END
$$;

-- ---------------------------------------------------------------- validating a post

-- epos_news_text(value, field, min, max) -> the trimmed string; EP400 naming
-- the field unless it is a JSON string of min..max characters once trimmed
-- (a missing value counts as '' when min is 0).
CREATE OR REPLACE FUNCTION epos_news_text(p_val jsonb, p_field text, p_min int, p_max int) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    v text;
BEGIN
    IF (p_val IS NULL OR jsonb_typeof(p_val) = 'null') AND p_min = 0 THEN
        RETURN '';
    END IF;
    IF p_val IS NOT NULL AND jsonb_typeof(p_val) = 'string' THEN
        v := btrim(p_val #>> '{}', E' \t\r\n\f\x0B');
        IF char_length(v) BETWEEN p_min AND p_max THEN
            RETURN v;
        END IF;
    END IF;
    IF p_min = 0 THEN
        RAISE EXCEPTION USING ERRCODE = 'EP400',
            MESSAGE = format('Поле «%s» должно быть строкой не длиннее %s символов', p_field, p_max);
    END IF;
    RAISE EXCEPTION USING ERRCODE = 'EP400',
        MESSAGE = format('Поле «%s» должно быть строкой от %s до %s символов', p_field, p_min, p_max);
END
$$;

-- epos_news_date(value, field) -> the date of a JSON string 'YYYY-MM-DD';
-- EP400 naming the field for anything else, a calendar-impossible date
-- such as 2026-02-30 included.
CREATE OR REPLACE FUNCTION epos_news_date(p_val jsonb, p_field text) RETURNS date
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    v text;
BEGIN
    IF p_val IS NOT NULL AND jsonb_typeof(p_val) = 'string' THEN
        v := p_val #>> '{}';
        IF v ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}$' THEN
            BEGIN
                -- make_date, unlike a ::date cast, never rolls an impossible
                -- day over into the next month.
                RETURN make_date(substr(v, 1, 4)::int, substr(v, 6, 2)::int, substr(v, 9, 2)::int);
            EXCEPTION WHEN data_exception THEN
                NULL;  -- fall through to the message naming the field
            END;
        END IF;
    END IF;
    RAISE EXCEPTION USING ERRCODE = 'EP400',
        MESSAGE = format('Поле «%s» должно быть существующей датой в виде ГГГГ-ММ-ДД', p_field);
END
$$;

-- epos_require_targets(org, groups) raises EP404 naming the org (when not
-- NULL) or the first of the groups that does not exist.
CREATE OR REPLACE FUNCTION epos_require_targets(p_org bigint, p_groups bigint[]) RETURNS void
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_gid bigint;
BEGIN
    IF p_org IS NOT NULL AND NOT EXISTS (SELECT 1 FROM orgs o WHERE o.id = p_org) THEN
        RAISE EXCEPTION USING ERRCODE = 'EP404', MESSAGE = format('Организация %s не найдена', p_org);
    END IF;
    SELECT x INTO v_gid FROM unnest(p_groups) AS x
     WHERE NOT EXISTS (SELECT 1 FROM groups g WHERE g.id = x) LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'EP404', MESSAGE = format('Группа %s не найдена', v_gid);
    END IF;
END
$$;

-- epos_news_check_author(uid, org, groups) raises unless uid may post to the
-- org (groups empty: the whole org) or to those groups of it:
--   EP404 unknown org or group;  EP403 a group of another org;
--   an admin of the org: the whole org or any of its groups;
--   a class teacher: only their own classes, named in groups;
--   anyone else: EP403.
CREATE OR REPLACE FUNCTION epos_news_check_author(p_uid bigint, p_org bigint, p_groups bigint[]) RETURNS void
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_gid bigint;
BEGIN
    PERFORM epos_require_targets(p_org, p_groups);
    SELECT x INTO v_gid FROM unnest(p_groups) AS x
     WHERE NOT EXISTS (SELECT 1 FROM groups g WHERE g.id = x AND g.org_id = p_org) LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'EP403',
            MESSAGE = format('Группа %s не относится к этой организации', v_gid);
    END IF;
    IF EXISTS (SELECT 1 FROM staff_roles r WHERE r.user_id = p_uid AND r.org_id = p_org
                                             AND r.role = 'admin') THEN
        RETURN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM class_teachers ct JOIN groups g ON g.id = ct.group_id
                    WHERE ct.user_id = p_uid AND g.org_id = p_org) THEN
        RAISE EXCEPTION USING ERRCODE = 'EP403',
            MESSAGE = 'Публиковать могут администратор организации и классный руководитель';
    END IF;
    IF cardinality(p_groups) = 0 THEN
        RAISE EXCEPTION USING ERRCODE = 'EP403',
            MESSAGE = 'Классный руководитель публикует только для своего класса: укажите его в «group_ids»';
    END IF;
    SELECT x INTO v_gid FROM unnest(p_groups) AS x
     WHERE NOT EXISTS (SELECT 1 FROM class_teachers ct WHERE ct.group_id = x AND ct.user_id = p_uid)
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'EP403',
            MESSAGE = 'Классный руководитель публикует только для своего класса';
    END IF;
END
$$;

-- ---------------------------------------------------------------- publishing

-- epos_news_replay(news, uid, kind) -> the API result of a retried post: 200
-- {"item"} without frames; EP409 when the cid made an item of the other kind.
CREATE OR REPLACE FUNCTION epos_news_replay(p_news bigint, p_uid bigint, p_kind text) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
    PERFORM 1 FROM news n WHERE n.id = p_news AND n.kind = p_kind;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'EP409', MESSAGE = 'Этот cid уже использован для другой публикации';
    END IF;
    RETURN jsonb_build_object('status', 200, 'body', jsonb_build_object('item', epos_news_item(p_news, p_uid)),
                              'frames', '[]'::jsonb);
END
$$;

-- epos_news_parse(kind, body) -> the fields of a POST /api/news (kind 'news')
-- or /api/events (kind 'event') body, validated: EP400 naming the first bad
-- field. group_ids distinct and sorted ('{}': the whole org); body '' when
-- absent; for an event, event_date required and event_kind 'event' unless given.
CREATE OR REPLACE FUNCTION epos_news_parse(p_kind text, p_body jsonb,
                                OUT org_id bigint, OUT group_ids bigint[], OUT title text,
                                OUT body text, OUT event_date date, OUT event_kind text,
                                OUT require_ack boolean)
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    v_ack jsonb := p_body -> 'require_ack';
    v_ek  jsonb := p_body -> 'event_kind';
BEGIN
    org_id := epos_json_id(p_body -> 'org_id', 'org_id');
    IF org_id IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'EP400', MESSAGE = 'Укажите организацию в поле «org_id»';
    END IF;
    group_ids := ARRAY(SELECT x FROM unnest(epos_json_ids(p_body -> 'group_ids', 'group_ids')) AS x
                       ORDER BY x);
    title := epos_news_text(p_body -> 'title', 'title', 1, 200);
    body := epos_news_text(p_body -> 'body', 'body', 0, 10000);
    IF v_ack IS NOT NULL AND jsonb_typeof(v_ack) NOT IN ('boolean', 'null') THEN
        RAISE EXCEPTION USING ERRCODE = 'EP400', MESSAGE = 'Поле «require_ack» должно быть true или false';
    END IF;
    require_ack := CASE WHEN jsonb_typeof(v_ack) = 'boolean' THEN v_ack::boolean ELSE false END;
    IF p_kind = 'event' THEN
        event_date := epos_news_date(p_body -> 'event_date', 'event_date');
        event_kind := CASE WHEN v_ek IS NULL OR jsonb_typeof(v_ek) = 'null' THEN 'event'
                           WHEN jsonb_typeof(v_ek) = 'string' THEN v_ek #>> '{}' END;
        IF event_kind IS NULL OR event_kind NOT IN ('event', 'test', 'holiday') THEN
            RAISE EXCEPTION USING ERRCODE = 'EP400',
                MESSAGE = 'Поле «event_kind» должно быть одним из: event, test, holiday';
        END IF;
    END IF;
END
$$;

-- epos_news_events(news) -> [{"topic","frame"}]: appends the item's event —
-- 'news' or 'calendar.event', data the item as published — on each audience
-- topic: org:<id> for a whole-org item, else group:<gid> in id order (writers
-- lock topics in one order).
CREATE OR REPLACE FUNCTION epos_news_events(p_news bigint) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_item   jsonb := epos_news_item(p_news, NULL);
    v_type   text := CASE v_item ->> 'kind' WHEN 'news' THEN 'news' ELSE 'calendar.event' END;
    v_topics text[];
    v_topic  text;
    v_frame  text;
    v_frames jsonb := '[]'::jsonb;
BEGIN
    v_topics := CASE WHEN jsonb_array_length(v_item -> 'group_ids') = 0
                     THEN ARRAY['org:' || (v_item ->> 'org_id')]
                     ELSE ARRAY(SELECT 'group:' || g FROM jsonb_array_elements_text(v_item -> 'group_ids') AS g
                                 ORDER BY g::bigint) END;
    FOREACH v_topic IN ARRAY v_topics LOOP
        SELECT a.frame INTO v_frame FROM epos_event_append(v_topic, v_type, v_item) a;
        v_frames := v_frames || jsonb_build_object('topic', v_topic, 'frame', v_frame);
    END LOOP;
    RETURN v_frames;
END
$$;

-- epos_news_publish(uid, kind, body) -> the API result of POST /api/news
-- (kind 'news') or POST /api/events (kind 'event'), body as documented in
-- docs/PROTOCOL.md, "Feed": validates it (epos_news_parse), checks the
-- author (epos_news_check_author), stores the item and its audience, appends
-- its events (epos_news_events), queues outbox 'news.email' {news_id} and
-- audits; 201 {"item"} with the frames. A body with a "cid" (1..64
-- characters) this author already used returns that item with 200 and no
-- frames (EP409 if it was of the other kind).
CREATE OR REPLACE FUNCTION epos_news_publish(p_uid bigint, p_kind text, p_body jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    f      record;
    v_cid  text;
    v_id   bigint;
BEGIN
    PERFORM epos_body_object(p_body);
    IF jsonb_typeof(p_body -> 'cid') IS DISTINCT FROM 'null' AND p_body ? 'cid' THEN
        v_cid := epos_news_text(p_body -> 'cid', 'cid', 1, 64);
        SELECT n.id INTO v_id FROM news n WHERE n.author_id = p_uid AND n.cid = v_cid;
        IF FOUND THEN
            RETURN epos_news_replay(v_id, p_uid, p_kind);
        END IF;
    END IF;
    SELECT * INTO f FROM epos_news_parse(p_kind, p_body);
    PERFORM epos_news_check_author(p_uid, f.org_id, f.group_ids);

    -- A concurrent retry with the same cid waits here for the first to commit.
    INSERT INTO news AS n (org_id, author_id, kind, event_kind, title, body, event_date, require_ack, cid)
    VALUES (f.org_id, p_uid, p_kind, f.event_kind, f.title, f.body, f.event_date, f.require_ack, v_cid)
    ON CONFLICT (author_id, cid) WHERE cid IS NOT NULL DO NOTHING
    RETURNING n.id INTO v_id;
    IF v_id IS NULL THEN
        SELECT n.id INTO v_id FROM news n WHERE n.author_id = p_uid AND n.cid = v_cid;
        RETURN epos_news_replay(v_id, p_uid, p_kind);
    END IF;
    INSERT INTO news_audience (news_id, group_id)
    SELECT v_id, g FROM unnest(CASE WHEN cardinality(f.group_ids) = 0 THEN ARRAY[NULL::bigint]
                                    ELSE f.group_ids END) AS g;
    INSERT INTO outbox (kind, payload) VALUES ('news.email', jsonb_build_object('news_id', v_id));
    INSERT INTO audit_log (actor_id, action, object, detail)
    VALUES (p_uid, CASE p_kind WHEN 'news' THEN 'news.create' ELSE 'event.create' END, 'news:' || v_id,
            jsonb_build_object('org_id', f.org_id, 'group_ids', to_jsonb(f.group_ids)));
    RETURN jsonb_build_object('status', 201, 'body', jsonb_build_object('item', epos_news_item(v_id, NULL)),
                              'frames', epos_news_events(v_id));
END
$$;

-- POST /api/news {"org_id","title","body"?,"group_ids"?,"require_ack"?,"cid"?}
-- → 201 {"item"}: epos_news_publish of a news item.
CREATE OR REPLACE FUNCTION epos_api_news_create(p_uid bigint, p_sid bigint, p_id bigint, p_args jsonb, p_body jsonb)
RETURNS jsonb
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    PERFORM epos_require_session(p_sid, p_uid);
    RETURN epos_news_publish(p_uid, 'news', p_body);
END
$$;

-- POST /api/events {"org_id","title","body"?,"event_date","event_kind"?,"group_ids"?,
-- "require_ack"?,"cid"?} → 201 {"item"}: epos_news_publish of a calendar event
-- (event_kind defaults to 'event').
CREATE OR REPLACE FUNCTION epos_api_events_create(p_uid bigint, p_sid bigint, p_id bigint, p_args jsonb, p_body jsonb)
RETURNS jsonb
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    PERFORM epos_require_session(p_sid, p_uid);
    RETURN epos_news_publish(p_uid, 'event', p_body);
END
$$;

-- ========================================================================
-- "ознакомлен": acknowledging a news item, and the author's statistics.
--
-- A parent acknowledges an item that asks for it; the author is told live
-- (event news.ack on user:<author>) so their statistics move without a
-- reload. The statistics list who acknowledged and which parents of the
-- audience have not yet.

-- epos_news_require_visible(news, uid) -> the item's row; EP404 when there is
-- no such item or uid may not see it (epos_news_visible).
CREATE OR REPLACE FUNCTION epos_news_require_visible(p_news bigint, p_uid bigint) RETURNS news
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
CREATE OR REPLACE FUNCTION epos_api_news_ack(p_uid bigint, p_sid bigint, p_id bigint, p_args jsonb, p_body jsonb)
RETURNS jsonb
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    v_news   news;
    v_at     timestamptz;
    v_topic  text;
    v_frame  text;
    v_frames jsonb := '[]'::jsonb;
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
CREATE OR REPLACE FUNCTION epos_news_audience_parents(p_news bigint) RETURNS TABLE (id bigint, name text)
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
CREATE OR REPLACE FUNCTION epos_api_news_acks(p_uid bigint, p_sid bigint, p_id bigint, p_args jsonb, p_body jsonb)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SECURITY DEFINER SET search_path = public, pg_temp AS $$
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

-- ========================================================================
-- POST /api/publish: another EPOS subsystem pushes an event to users, groups or an org.
--
-- The hub has already checked the API key; there is no user or session.
-- Each target gets the event on its own topic (user:<id>, group:<id>,
-- org:<id>), persisted in the log like any other, so it is replayed on resume.

-- POST /api/publish {"type","data":{…},"users"?:[uid],"groups"?:[gid],"org"?:id}
-- → 200 {"events":[{"topic","seq"}]} with the frames. type matches
-- ^[a-z][a-z0-9_.]{0,63}$ and data is an object (EP400); at least one and at
-- most 1000 targets (EP400); an unknown user, group or org is EP404 and
-- nothing is published. Topics are appended users, then groups, then the org,
-- each in id order (writers lock topics in one order). Audited.
CREATE OR REPLACE FUNCTION epos_api_publish(p_uid bigint, p_sid bigint, p_id bigint, p_args jsonb, p_body jsonb)
RETURNS jsonb
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    v_type   text;
    v_users  bigint[];
    v_groups bigint[];
    v_org    bigint;
    v_bad    bigint;
    v_topics text[];
    v_topic  text;
    v_seq    bigint;
    v_frame  text;
    v_events jsonb := '[]'::jsonb;
    v_frames jsonb := '[]'::jsonb;
BEGIN
    PERFORM epos_body_object(p_body);
    IF jsonb_typeof(p_body -> 'type') IS DISTINCT FROM 'string'
       OR (p_body ->> 'type') !~ '^[a-z][a-z0-9_.]{0,63}$' THEN
        RAISE EXCEPTION USING ERRCODE = 'EP400',
            MESSAGE = 'Поле «type» должно быть строкой из строчных латинских букв, цифр, «_» и «.» (до 64 символов)';
    END IF;
    v_type := p_body ->> 'type';
    IF jsonb_typeof(p_body -> 'data') IS DISTINCT FROM 'object' THEN
        RAISE EXCEPTION USING ERRCODE = 'EP400', MESSAGE = 'Поле «data» должно быть JSON-объектом';
    END IF;
    v_users := ARRAY(SELECT x FROM unnest(epos_json_ids(p_body -> 'users', 'users')) AS x ORDER BY x);
    v_groups := ARRAY(SELECT x FROM unnest(epos_json_ids(p_body -> 'groups', 'groups')) AS x ORDER BY x);
    v_org := epos_json_id(p_body -> 'org', 'org');
    IF cardinality(v_users) + cardinality(v_groups) + (v_org IS NOT NULL)::int = 0 THEN
        RAISE EXCEPTION USING ERRCODE = 'EP400', MESSAGE = 'Укажите получателей: «users», «groups» или «org»';
    END IF;
    IF cardinality(v_users) + cardinality(v_groups) + (v_org IS NOT NULL)::int > 1000 THEN
        RAISE EXCEPTION USING ERRCODE = 'EP400', MESSAGE = 'Не более 1000 получателей за один запрос';
    END IF;

    SELECT x INTO v_bad FROM unnest(v_users) AS x
     WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.id = x) LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'EP404', MESSAGE = format('Пользователь %s не найден', v_bad);
    END IF;
    PERFORM epos_require_targets(v_org, v_groups);

    v_topics := ARRAY(SELECT 'user:' || x FROM unnest(v_users) AS x ORDER BY x)
             || ARRAY(SELECT 'group:' || x FROM unnest(v_groups) AS x ORDER BY x)
             || ARRAY(SELECT 'org:' || v_org WHERE v_org IS NOT NULL);
    FOREACH v_topic IN ARRAY v_topics LOOP
        SELECT a.seq, a.frame INTO v_seq, v_frame FROM epos_event_append(v_topic, v_type, p_body -> 'data') a;
        v_events := v_events || jsonb_build_object('topic', v_topic, 'seq', v_seq);
        v_frames := v_frames || jsonb_build_object('topic', v_topic, 'frame', v_frame);
    END LOOP;
    INSERT INTO audit_log (action, object, detail)
    VALUES ('publish', v_type, jsonb_build_object('users', to_jsonb(v_users), 'groups', to_jsonb(v_groups),
                                                  'org', v_org));
    RETURN jsonb_build_object('status', 200, 'body', jsonb_build_object('events', v_events),
                              'frames', v_frames);
END
$$;
