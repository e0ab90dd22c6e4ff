-- roster_sync.sql -- the roster sync's driver (epos_api_roster): checks the document, applies its rows, ends what a full sync omits.
--
-- The row functions are in roster.sql. The whole call is one transaction —
-- send one org per document (eposctl roster import does) — with one
-- subtransaction per row, so a rejected row leaves nothing behind.

-- epos_roster_check(body) -> the full sync's org ext_id, or NULL for a
-- delta. EP400 for a malformed document: not an object, an unknown key, a
-- mode other than delta or full, "org" not a string, a section that is not
-- an array, a full sync without "org". EP404 when a full sync's org is
-- neither known nor in the document's orgs.
CREATE OR REPLACE FUNCTION epos_roster_check(p_body jsonb) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_key text;
    v_org text;
BEGIN
    PERFORM epos_body_object(p_body);
    SELECT k INTO v_key FROM jsonb_object_keys(p_body) k
     WHERE k NOT IN ('mode', 'org', 'orgs', 'groups', 'people', 'staff', 'bindings', 'children', 'guardians')
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'EP400', MESSAGE = format('Неизвестное поле документа «%s»', v_key);
    END IF;
    IF p_body ->> 'mode' IS NULL OR p_body ->> 'mode' NOT IN ('delta', 'full')
       OR jsonb_typeof(p_body -> 'mode') <> 'string' THEN
        RAISE EXCEPTION USING ERRCODE = 'EP400', MESSAGE = 'Поле «mode» должно быть "delta" или "full"';
    END IF;
    SELECT k INTO v_key FROM jsonb_each(p_body) AS e(k, v)
     WHERE k NOT IN ('mode', 'org') AND jsonb_typeof(v) NOT IN ('array', 'null')
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'EP400', MESSAGE = format('Поле «%s» должно быть списком', v_key);
    END IF;
    IF p_body -> 'org' IS NOT NULL AND jsonb_typeof(p_body -> 'org') NOT IN ('string', 'null') THEN
        RAISE EXCEPTION USING ERRCODE = 'EP400', MESSAGE = 'Поле «org» должно быть внешним идентификатором (строкой)';
    END IF;
    IF p_body ->> 'mode' = 'delta' THEN
        RETURN NULL;
    END IF;
    v_org := p_body ->> 'org';
    IF v_org IS NULL OR v_org = '' THEN
        RAISE EXCEPTION USING ERRCODE = 'EP400', MESSAGE = 'Полная синхронизация («full») — для одной организации: нужно поле «org»';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM orgs o WHERE o.ext_id = v_org)
       AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements(coalesce(p_body -> 'orgs', '[]')) x
                        WHERE jsonb_typeof(x) = 'object' AND x ->> 'ext_id' = v_org) THEN
        RAISE EXCEPTION USING ERRCODE = 'EP404', MESSAGE = format('Организация «%s» не найдена', v_org);
    END IF;
    RETURN v_org;
END
$$;

-- epos_roster_row(kind, row, full, sync) -> the row function of the kind's answer.
CREATE OR REPLACE FUNCTION epos_roster_row(p_kind text, p_row jsonb, p_full bigint, p_sync bigint) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    IF jsonb_typeof(p_row) <> 'object' THEN
        PERFORM epos_roster_reject('bad_row', 'Строка должна быть JSON-объектом');
    END IF;
    RETURN CASE p_kind
        WHEN 'orgs' THEN epos_roster_org_row(p_row, p_full, p_sync)
        WHEN 'groups' THEN epos_roster_group_row(p_row, p_full, p_sync)
        WHEN 'people' THEN epos_roster_person_row(p_row, p_full, p_sync)
        WHEN 'staff' THEN epos_roster_staff_row(p_row, p_full, p_sync)
        WHEN 'bindings' THEN epos_roster_binding_row(p_row, p_full, p_sync)
        WHEN 'children' THEN epos_roster_child_row(p_row, p_full, p_sync)
        WHEN 'guardians' THEN epos_roster_guardian_row(p_row, p_full, p_sync)
    END;
END
$$;

-- epos_roster_row_key(kind, row) -> what identifies a row of the kind (two
-- rows with one key in a document: the second is a duplicate).
CREATE OR REPLACE FUNCTION epos_roster_row_key(p_kind text, p_row jsonb) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN jsonb_typeof(p_row) <> 'object' THEN NULL
                WHEN p_kind = 'staff' THEN concat_ws(' ', p_row ->> 'person', p_row ->> 'org')
                WHEN p_kind = 'bindings' THEN concat_ws(' ', p_row ->> 'person', p_row ->> 'group', p_row ->> 'role')
                WHEN p_kind = 'guardians' THEN concat_ws(' ', p_row ->> 'person', p_row ->> 'child')
                ELSE p_row ->> 'ext_id' END
$$;

-- epos_roster_keep_rejected(kind, row) -> what a full sync keeps of a
-- rejected row's existing data: a bad row never ends anything.
CREATE OR REPLACE FUNCTION epos_roster_keep_rejected(p_kind text, p_row jsonb) RETURNS text[]
LANGUAGE sql STABLE AS $$
    SELECT CASE p_kind
        WHEN 'groups' THEN ARRAY(SELECT 'g:' || g.id FROM groups g WHERE g.ext_id = p_row ->> 'ext_id')
        WHEN 'children' THEN ARRAY(SELECT 'c:' || c.id FROM children c WHERE c.ext_id = p_row ->> 'ext_id')
        WHEN 'staff' THEN ARRAY(SELECT 's:' || r.user_id || ':' || r.role
                                  FROM staff_roles r JOIN users u ON u.id = r.user_id JOIN orgs o ON o.id = r.org_id
                                 WHERE u.ext_id = p_row ->> 'person' AND o.ext_id = p_row ->> 'org')
        WHEN 'bindings' THEN ARRAY(SELECT 'b:' || u.id || ':' || g.id || ':' || (p_row ->> 'role')
                                     FROM users u, groups g
                                    WHERE u.ext_id = p_row ->> 'person' AND g.ext_id = p_row ->> 'group')
        WHEN 'guardians' THEN ARRAY(SELECT 'u:' || u.id || ':' || c.id FROM users u, children c
                                     WHERE u.ext_id = p_row ->> 'person' AND c.ext_id = p_row ->> 'child')
        ELSE '{}'::text[] END
$$;

-- epos_roster_full_end(sync, org, keep) -> {"counts":{kind:ended…},"refresh":[…]}:
-- what of the org a full sync did not keep ends — groups close, roles and
-- bindings go, children leave their group, guardianships of the org's
-- children end — each recorded in roster_ended.
CREATE OR REPLACE FUNCTION epos_roster_full_end(p_sync bigint, p_org bigint, p_keep text[]) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_groups   bigint;
    v_staff    bigint;
    v_bind     bigint;
    v_children bigint;
    v_guard    bigint;
    v_refresh  bigint[] := '{}'::bigint[];
BEGIN
    UPDATE groups g SET ended_at = now(), synced_at = now()
     WHERE g.org_id = p_org AND g.ended_at IS NULL
       AND NOT EXISTS (SELECT 1 FROM unnest(p_keep) k WHERE k = 'g:' || g.id);
    GET DIAGNOSTICS v_groups = ROW_COUNT;

    WITH gone AS (
        DELETE FROM staff_roles r WHERE r.org_id = p_org
           AND NOT EXISTS (SELECT 1 FROM unnest(p_keep) k WHERE k = 's:' || r.user_id || ':' || r.role)
        RETURNING r.user_id, r.role
    ), logged AS (
        SELECT g.user_id, epos_roster_end(p_sync, 'role', g.user_id, NULL, NULL, p_org, g.role, NULL) FROM gone g
    )
    SELECT count(DISTINCT l.user_id), coalesce(array_agg(DISTINCT l.user_id), '{}') INTO v_staff, v_refresh FROM logged l;

    WITH t AS (
        DELETE FROM teacher_groups t USING groups g
         WHERE g.id = t.group_id AND g.org_id = p_org
           AND NOT EXISTS (SELECT 1 FROM unnest(p_keep) k WHERE k = 'b:' || t.user_id || ':' || t.group_id || ':teacher')
        RETURNING t.user_id, t.group_id, 'teacher'::text AS role
    ), c AS (
        DELETE FROM class_teachers c USING groups g
         WHERE g.id = c.group_id AND g.org_id = p_org
           AND NOT EXISTS (SELECT 1 FROM unnest(p_keep) k WHERE k = 'b:' || c.user_id || ':' || c.group_id || ':class_teacher')
        RETURNING c.user_id, c.group_id, 'class_teacher'::text AS role
    ), logged AS (
        SELECT x.user_id, epos_roster_end(p_sync, 'binding', x.user_id, NULL, x.group_id, p_org, x.role, NULL)
          FROM (SELECT * FROM t UNION ALL SELECT * FROM c) x
    )
    SELECT count(*), v_refresh || coalesce(array_agg(l.user_id), '{}') INTO v_bind, v_refresh FROM logged l;

    WITH gone AS (
        DELETE FROM enrolments e USING children c
         WHERE c.id = e.child_id AND c.org_id = p_org
           AND NOT EXISTS (SELECT 1 FROM unnest(p_keep) k WHERE k = 'c:' || c.id)
        RETURNING e.child_id, e.group_id, e.since
    ), left_ AS (
        UPDATE children c SET left_at = now(), synced_at = now() FROM gone g WHERE c.id = g.child_id
        RETURNING c.id
    ), logged AS (
        SELECT g.child_id, epos_roster_end(p_sync, 'enrolment', NULL, g.child_id, g.group_id, p_org, NULL, g.since)
          FROM gone g JOIN left_ l ON l.id = g.child_id
    )
    SELECT count(*), v_refresh || coalesce((SELECT array_agg(gu.user_id) FROM guardians gu
                                             WHERE gu.child_id IN (SELECT l.child_id FROM logged l)), '{}')
      INTO v_children, v_refresh FROM logged;

    WITH gone AS (
        DELETE FROM guardians gu USING children c
         WHERE c.id = gu.child_id AND c.org_id = p_org
           AND NOT EXISTS (SELECT 1 FROM unnest(p_keep) k WHERE k = 'u:' || gu.user_id || ':' || gu.child_id)
        RETURNING gu.user_id, gu.child_id
    ), logged AS (
        SELECT g.user_id, epos_roster_end(p_sync, 'guardian', g.user_id, g.child_id, NULL, p_org, NULL, NULL) FROM gone g
    )
    SELECT count(*), v_refresh || coalesce(array_agg(l.user_id), '{}') INTO v_guard, v_refresh FROM logged l;

    RETURN jsonb_build_object('counts', jsonb_build_object('groups', v_groups, 'staff', v_staff, 'bindings', v_bind,
                                                          'children', v_children, 'guardians', v_guard),
                              'refresh', to_jsonb(v_refresh));
END
$$;

-- POST /api/roster (API key; eposctl roster import calls it too) → 200
-- {"mode","org","changed","counts":{kind:{created,updated,unchanged,ended,rejected}},
--  "rejected":[{kind,index,key,code,message}] (the first 1000)}; "refresh"
-- lists the users whose topics changed (the hubs recompute them live). An
-- identical sync answers every row unchanged, changed false, and refreshes
-- no one. EP400/EP404 for a malformed document (epos_roster_check): nothing
-- changes. p_uid, p_sid, p_id and p_args are unused (server to server).
CREATE OR REPLACE FUNCTION epos_api_roster(p_uid bigint, p_sid bigint, p_id bigint, p_args jsonb, p_body jsonb)
RETURNS jsonb
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    v_fullext  text := epos_roster_check(p_body);
    v_full     bigint;
    v_sync     bigint;
    v_kinds    text[] := ARRAY['orgs', 'people', 'groups', 'staff', 'bindings', 'children', 'guardians'];
    v_kind     text;
    v_row      jsonb;
    v_i        integer;
    v_dups     integer[];
    v_res      jsonb;
    v_counts   jsonb := '{}'::jsonb;
    v_c        jsonb;
    v_rejected jsonb := '[]'::jsonb;
    v_nrej     integer := 0;
    v_refresh  bigint[] := '{}'::bigint[];
    v_keep     text[] := '{}'::text[];
    v_changed  boolean := false;
    v_code     text;
    v_msg      text;
BEGIN
    INSERT INTO roster_syncs (mode, counts, changed) VALUES (p_body ->> 'mode', '{}', false) RETURNING id INTO v_sync;
    FOREACH v_kind IN ARRAY v_kinds LOOP
        IF v_kind = 'people' AND v_fullext IS NOT NULL THEN
            -- The orgs have been applied: the full sync's org exists now, or its row was rejected.
            SELECT o.id INTO v_full FROM orgs o WHERE o.ext_id = v_fullext;
            IF NOT FOUND THEN
                RAISE EXCEPTION USING ERRCODE = 'EP409',
                    MESSAGE = format('Строка организации «%s» полной синхронизации отклонена: ничего не изменено', v_fullext);
            END IF;
        END IF;
        v_c := jsonb_build_object('created', 0, 'updated', 0, 'unchanged', 0, 'ended', 0, 'rejected', 0);
        v_dups := ARRAY(SELECT d.i FROM (
                          SELECT t.ord::integer - 1 AS i,
                                 row_number() OVER (PARTITION BY epos_roster_row_key(v_kind, t.x) ORDER BY t.ord) AS n,
                                 epos_roster_row_key(v_kind, t.x) AS k
                            FROM jsonb_array_elements(coalesce(p_body -> v_kind, '[]')) WITH ORDINALITY t(x, ord)) d
                         WHERE d.n > 1 AND d.k IS NOT NULL);
        FOR v_i, v_row IN
            SELECT t.ord::integer - 1, t.x FROM jsonb_array_elements(coalesce(p_body -> v_kind, '[]')) WITH ORDINALITY t(x, ord)
        LOOP
            BEGIN
                IF v_i = ANY (v_dups) THEN
                    PERFORM epos_roster_reject('duplicate', 'Повтор строки с тем же ключом в документе');
                END IF;
                v_res := epos_roster_row(v_kind, v_row, v_full, v_sync);
                v_c := jsonb_set(v_c, ARRAY[v_res ->> 'o'], to_jsonb((v_c ->> (v_res ->> 'o'))::integer + 1));
                v_changed := v_changed OR v_res ->> 'o' <> 'unchanged';
                v_refresh := v_refresh || ARRAY(SELECT x::bigint FROM jsonb_array_elements_text(v_res -> 'r') x);
                v_keep := v_keep || ARRAY(SELECT x FROM jsonb_array_elements_text(v_res -> 'k') x);
            EXCEPTION WHEN OTHERS THEN
                GET STACKED DIAGNOSTICS v_code = RETURNED_SQLSTATE, v_msg = MESSAGE_TEXT;
                IF v_code = 'ER422' THEN
                    GET STACKED DIAGNOSTICS v_code = PG_EXCEPTION_HINT;
                ELSE
                    v_code := 'invalid';
                END IF;
                v_c := jsonb_set(v_c, '{rejected}', to_jsonb((v_c ->> 'rejected')::integer + 1));
                v_nrej := v_nrej + 1;
                IF v_nrej <= 1000 THEN
                    v_rejected := v_rejected || jsonb_build_object('kind', v_kind, 'index', v_i,
                                                                   'key', epos_roster_row_key(v_kind, v_row),
                                                                   'code', v_code, 'message', v_msg);
                END IF;
                IF v_full IS NOT NULL THEN
                    v_keep := v_keep || epos_roster_keep_rejected(v_kind, v_row);
                END IF;
            END;
        END LOOP;
        v_counts := v_counts || jsonb_build_object(v_kind, v_c);
    END LOOP;

    IF v_full IS NOT NULL THEN
        v_res := epos_roster_full_end(v_sync, v_full, v_keep);
        FOR v_kind IN SELECT k FROM jsonb_object_keys(v_res -> 'counts') k LOOP
            v_counts := jsonb_set(v_counts, ARRAY[v_kind, 'ended'],
                                  to_jsonb((v_counts #>> ARRAY[v_kind, 'ended'])::integer
                                           + (v_res #>> ARRAY['counts', v_kind])::integer));
            v_changed := v_changed OR (v_res #>> ARRAY['counts', v_kind])::integer > 0;
        END LOOP;
        v_refresh := v_refresh || ARRAY(SELECT x::bigint FROM jsonb_array_elements_text(v_res -> 'refresh') x);
    END IF;

    UPDATE roster_syncs s SET org_id = v_full, counts = v_counts, rejected = v_nrej, changed = v_changed
     WHERE s.id = v_sync;
    RETURN jsonb_build_object('status', 200,
        'body', jsonb_build_object('mode', p_body ->> 'mode', 'org', v_fullext, 'changed', v_changed,
                                   'sync_id', v_sync, 'counts', v_counts, 'rejected', v_rejected),
        'refresh', (SELECT coalesce(jsonb_agg(DISTINCT x ORDER BY x), '[]') FROM unnest(v_refresh) x));
END
$$;

-- epos_roster_export() -> the roster document (mode delta) of everything
-- that has an ext_id: orgs, open groups, people with a role, binding or
-- child, their roles and bindings, enrolled children and guardianships —
-- each list ordered by its key, so two exports of one state are identical
-- and importing an export into an empty database gives the same export.
-- Relations to rows without an ext_id are left out (the registry cannot
-- name them). For eposctl roster export.
CREATE OR REPLACE FUNCTION epos_roster_export() RETURNS jsonb
LANGUAGE sql STABLE AS $$
    WITH o AS (
        SELECT * FROM orgs WHERE ext_id IS NOT NULL
    ), g AS (
        SELECT g.*, o.ext_id AS org_ext FROM groups g JOIN o ON o.id = g.org_id
         WHERE g.ext_id IS NOT NULL AND g.ended_at IS NULL
    ), c AS (
        SELECT c.*, g.ext_id AS group_ext FROM children c JOIN enrolments e ON e.child_id = c.id
          JOIN g ON g.id = e.group_id WHERE c.ext_id IS NOT NULL
    ), s AS (
        SELECT u.ext_id AS person, o.ext_id AS org,
               jsonb_agg(r.role ORDER BY array_position(ARRAY['admin', 'teacher', 'class_teacher'], r.role)) AS roles
          FROM staff_roles r JOIN users u ON u.id = r.user_id AND u.ext_id IS NOT NULL JOIN o ON o.id = r.org_id
         GROUP BY u.ext_id, o.ext_id
    ), b AS (
        SELECT u.ext_id AS person, g.ext_id AS grp, 'teacher' AS role
          FROM teacher_groups t JOIN users u ON u.id = t.user_id AND u.ext_id IS NOT NULL JOIN g ON g.id = t.group_id
        UNION ALL
        SELECT u.ext_id, g.ext_id, 'class_teacher'
          FROM class_teachers t JOIN users u ON u.id = t.user_id AND u.ext_id IS NOT NULL JOIN g ON g.id = t.group_id
    ), gu AS (
        SELECT u.ext_id AS person, c.ext_id AS child
          FROM guardians x JOIN users u ON u.id = x.user_id AND u.ext_id IS NOT NULL JOIN c ON c.id = x.child_id
    ), p AS (
        SELECT * FROM users u WHERE u.ext_id IN (SELECT person FROM s UNION SELECT person FROM b
                                                  UNION SELECT person FROM gu)
    )
    SELECT jsonb_build_object(
        'mode', 'delta',
        'orgs', (SELECT coalesce(jsonb_agg(jsonb_build_object('ext_id', ext_id, 'name', name, 'kind', kind, 'tz', tz)
                                           ORDER BY ext_id), '[]') FROM o),
        'groups', (SELECT coalesce(jsonb_agg(jsonb_build_object('ext_id', ext_id, 'org', org_ext, 'name', name,
                                                                'kind', kind, 'lessons_per_day', lessons_per_day)
                                             ORDER BY ext_id), '[]') FROM g),
        'people', (SELECT coalesce(jsonb_agg(jsonb_strip_nulls(jsonb_build_object('ext_id', ext_id, 'name', full_name,
                                                                                  'email', email, 'phone', phone))
                                             ORDER BY ext_id), '[]') FROM p),
        'staff', (SELECT coalesce(jsonb_agg(jsonb_build_object('person', person, 'org', org, 'roles', roles)
                                            ORDER BY person, org), '[]') FROM s),
        'bindings', (SELECT coalesce(jsonb_agg(jsonb_build_object('person', person, 'group', grp, 'role', role)
                                               ORDER BY grp, role, person), '[]') FROM b),
        'children', (SELECT coalesce(jsonb_agg(jsonb_strip_nulls(jsonb_build_object('ext_id', ext_id, 'name', full_name,
                                                                                    'group', group_ext,
                                                                                    'birth_date', birth_date))
                                               ORDER BY ext_id), '[]') FROM c),
        'guardians', (SELECT coalesce(jsonb_agg(jsonb_build_object('person', person, 'child', child)
                                                ORDER BY child, person), '[]') FROM gu))
$$;

-- GET /api/orgs/{id}/roster → {"org":{id,ext_id,name,source,last_sync},"groups":[{id,ext_id,name,kind,
-- source,synced_at,ended_at,"staff":[{id,name,role,source,synced_at}],"children":[{id,ext_id,name,
-- source,synced_at,"guardians":[{id,name,ext_id,source,synced_at}]}]}]} for the org's administrator:
-- who is where and where each row came from ("registry": it has an ext_id or a sync made it;
-- "manual"), with when a sync last changed it. EP404 unknown org, EP403 not its administrator.
CREATE OR REPLACE FUNCTION epos_api_org_roster(p_uid bigint, p_sid bigint, p_id bigint, p_args jsonb, p_body jsonb)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    v_org    jsonb;
    v_groups jsonb;
BEGIN
    PERFORM epos_require_session(p_sid, p_uid);
    PERFORM epos_org_require_admin(p_uid, p_id);
    SELECT jsonb_build_object('id', o.id, 'ext_id', o.ext_id, 'name', o.name,
                              'source', CASE WHEN o.ext_id IS NULL THEN 'manual' ELSE 'registry' END,
                              'last_sync', (SELECT max(s.at) FROM roster_syncs s WHERE s.org_id = o.id))
      INTO v_org FROM orgs o WHERE o.id = p_id;
    SELECT coalesce(jsonb_agg(jsonb_build_object(
               'id', g.id, 'ext_id', g.ext_id, 'name', g.name, 'kind', g.kind,
               'source', CASE WHEN g.ext_id IS NULL THEN 'manual' ELSE 'registry' END,
               'synced_at', g.synced_at, 'ended_at', g.ended_at,
               'staff', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                            'id', u.id, 'name', u.full_name, 'role', x.role,
                            'source', CASE WHEN x.synced_at IS NULL THEN 'manual' ELSE 'registry' END,
                            'synced_at', x.synced_at) ORDER BY u.full_name, x.role), '[]')
                           FROM (SELECT t.user_id, 'teacher' AS role, t.synced_at FROM teacher_groups t WHERE t.group_id = g.id
                                 UNION ALL
                                 SELECT c.user_id, 'class_teacher', c.synced_at FROM class_teachers c WHERE c.group_id = g.id) x
                           JOIN users u ON u.id = x.user_id),
               'children', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                            'id', c.id, 'ext_id', c.ext_id, 'name', c.full_name,
                            'source', CASE WHEN c.ext_id IS NULL THEN 'manual' ELSE 'registry' END,
                            'synced_at', greatest(c.synced_at, e.synced_at),
                            'guardians', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                                              'id', u.id, 'ext_id', u.ext_id, 'name', u.full_name,
                                              'source', CASE WHEN gu.synced_at IS NULL THEN 'manual' ELSE 'registry' END,
                                              'synced_at', gu.synced_at) ORDER BY u.full_name), '[]')
                                            FROM guardians gu JOIN users u ON u.id = gu.user_id
                                           WHERE gu.child_id = c.id)) ORDER BY c.full_name), '[]')
                            FROM enrolments e JOIN children c ON c.id = e.child_id WHERE e.group_id = g.id))
               ORDER BY g.ended_at IS NOT NULL, g.name), '[]')
      INTO v_groups FROM groups g WHERE g.org_id = p_id;
    RETURN jsonb_build_object('status', 200, 'body', jsonb_build_object('org', v_org, 'groups', v_groups));
END
$$;
