-- 022_publish.sql -- POST /api/publish: another EPOS subsystem pushes an event to users, groups or an org.
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
CREATE FUNCTION epos_api_publish(p_uid bigint, p_sid bigint, p_id bigint, p_args jsonb, p_body jsonb)
RETURNS jsonb
LANGUAGE plpgsql AS $$
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
    v_events jsonb := '[]';
    v_frames jsonb := '[]';
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
