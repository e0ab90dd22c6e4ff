-- identity.sql -- sessions, login, passwords, /api/me, contacts (who may write to whom), staff credentials.
--
-- Refusals raise EP4xx with a Russian message (core.sql).

-- ========================================================================
-- sessions, login, /api/me, contacts (who may write to whom), WS hello and replay.
--
-- Refusals raise a custom SQLSTATE the hub maps to a status (docs/ARCHITECTURE.md,
-- "The API functions"): EP400 bad_request, EP401 unauthorized, EP403 forbidden,
-- EP404 not_found, EP409 conflict; the message is Russian, fit for the user.

-- ---------------------------------------------------------------- sessions and login

-- epos_require_session(sid, uid) raises EP401 unless session sid belongs to
-- uid, is neither revoked nor expired, and the user is not disabled. Every
-- epos_api_* function calls it first: a token outlives its revoked session.
-- VOLATILE on purpose: a query that calls it only for the check, such as
--   SELECT f(v.uid) FROM (SELECT $2 AS uid, epos_require_session($1, $2)) v
-- must not have the unused call planned away.
CREATE OR REPLACE FUNCTION epos_require_session(p_sid bigint, p_uid bigint) RETURNS void
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    PERFORM 1
       FROM sessions s JOIN users u ON u.id = s.user_id
      WHERE s.id = p_sid AND s.user_id = p_uid
        AND s.revoked_at IS NULL AND s.expires_at > now()
        AND NOT u.disabled;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'EP401', MESSAGE = 'Сеанс истёк, войдите снова';
    END IF;
END
$$;

-- epos_sessions_dead(sids) -> (sid, reason) for each of the given session ids
-- that may no longer act: reason 'revoked' (logout, password change, new
-- credentials, or no such session), 'disabled' (the user was disabled) or
-- 'expired'. Live sessions are not listed; NULL or an empty array: no rows.
-- One indexed lookup per id: a hub with 15,000 sockets asks in one statement.
-- The hubs ask it every session_check_s (hub/session_check.c): revocation
-- reaches a hub through a Redis message that can be lost, and a token's
-- expiry passes while its socket stays open.
CREATE OR REPLACE FUNCTION epos_sessions_dead(p_sids bigint[]) RETURNS TABLE (sid bigint, reason text)
LANGUAGE sql STABLE
SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT q.id,
           CASE WHEN s.id IS NULL OR s.revoked_at IS NOT NULL THEN 'revoked'
                WHEN u.disabled THEN 'disabled'
                ELSE 'expired' END
      FROM unnest(coalesce(p_sids, '{}')) AS q(id)
      LEFT JOIN sessions s ON s.id = q.id
      LEFT JOIN users u ON u.id = s.user_id
     WHERE s.id IS NULL OR s.revoked_at IS NOT NULL OR u.disabled OR s.expires_at <= now()
$$;

-- epos_user_role_list(uid) -> the user's distinct roles as a JSON array, in
-- the order admin, teacher, class_teacher, parent ('parent' when they are a
-- guardian of a child). [] for an unknown or disabled user.
CREATE OR REPLACE FUNCTION epos_user_role_list(p_uid bigint) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT coalesce(jsonb_agg(role ORDER BY array_position(
                        ARRAY['admin', 'teacher', 'class_teacher', 'parent'], role)), '[]')
      FROM (SELECT DISTINCT r.role FROM epos_user_roles(p_uid) r) d
$$;

-- epos_user_brief(uid) -> {"id","name","roles":[…],"must_change_password"},
-- the user object of the login reply; NULL for an unknown user.
CREATE OR REPLACE FUNCTION epos_user_brief(p_uid bigint) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('id', u.id, 'name', u.full_name,
                              'roles', epos_user_role_list(u.id),
                              'must_change_password', u.must_change_password)
      FROM users u WHERE u.id = p_uid
$$;

-- epos_login_find(login) -> the one normalization of a login: login_key is
-- the login as users.login is compared (lower-case by the database's rules,
-- so "İ" and the Kelvin sign fold too; surrounding blanks dropped). The hub
-- keys its failed-login counters by it, so every spelling that finds a user
-- counts against that user. Always one row: uid, password_hash and disabled
-- are NULL for an unknown login; password_hash is NULL for an account that
-- cannot log in yet.
CREATE OR REPLACE FUNCTION epos_login_find(p_login text)
RETURNS TABLE (login_key text, uid bigint, password_hash text, disabled boolean)
LANGUAGE sql STABLE
SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT k.login_key, u.id, u.password_hash, u.disabled
      FROM (SELECT lower(btrim(p_login)) AS login_key) k
      LEFT JOIN users u ON u.login = k.login_key
$$;

-- epos_login_lookup(login) -> the user row of a login as epos_login_find
-- normalizes it; no row for an unknown login.
CREATE OR REPLACE FUNCTION epos_login_lookup(p_login text)
RETURNS TABLE (uid bigint, password_hash text, disabled boolean, must_change_password boolean)
LANGUAGE sql STABLE
SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT u.id, u.password_hash, u.disabled, u.must_change_password
      FROM epos_login_find(p_login) f JOIN users u ON u.id = f.uid
$$;

-- epos_login_session(uid, ttl seconds) opens a session after a verified
-- password and returns its id, its expiry in unix seconds (the token's exp)
-- and the user object as JSON text. EP401 for an unknown or disabled user,
-- EP400 for a ttl outside 1 s .. 1 year. Audited.
CREATE OR REPLACE FUNCTION epos_login_session(p_uid bigint, p_ttl int)
RETURNS TABLE (sid bigint, expires_at bigint, user_json text)
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    v_sid bigint;
    v_exp timestamptz;
BEGIN
    IF p_ttl IS NULL OR p_ttl < 1 OR p_ttl > 31536000 THEN
        RAISE EXCEPTION USING ERRCODE = 'EP400', MESSAGE = 'Недопустимый срок сеанса';
    END IF;
    PERFORM 1 FROM users u WHERE u.id = p_uid AND NOT u.disabled;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'EP401', MESSAGE = 'Неверный логин или пароль';
    END IF;
    -- Whole seconds, so the stored expiry and the token's exp are the same instant.
    v_exp := to_timestamp(floor(extract(epoch FROM now())) + p_ttl);
    INSERT INTO sessions AS s (user_id, expires_at) VALUES (p_uid, v_exp)
    RETURNING s.id INTO v_sid;
    INSERT INTO audit_log (actor_id, action, object, detail)
    VALUES (p_uid, 'login', 'session:' || v_sid, jsonb_build_object('ttl', p_ttl));

    sid := v_sid;
    expires_at := extract(epoch FROM v_exp)::bigint;
    user_json := epos_user_brief(p_uid)::text;
    RETURN NEXT;
END
$$;

-- epos_password_hash_of(uid) -> the stored yescrypt hash the C handler checks
-- the old password against; NULL for an unknown or disabled user or one
-- without a password.
CREATE OR REPLACE FUNCTION epos_password_hash_of(p_uid bigint) RETURNS text
LANGUAGE sql STABLE
SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT u.password_hash FROM users u WHERE u.id = p_uid AND NOT u.disabled
$$;

-- epos_password_set(uid, sid, hash) stores a new yescrypt hash (made by the
-- hub) for the caller of a live session, clears must_change_password and
-- revokes the user's other sessions (a changed password signs out every
-- other device). EP401 for a dead session, EP400 for something that is not a
-- crypt hash. Audited.
CREATE OR REPLACE FUNCTION epos_password_set(p_uid bigint, p_sid bigint, p_hash text) RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    PERFORM epos_require_session(p_sid, p_uid);
    IF p_hash IS NULL OR p_hash !~ '^\$[A-Za-z0-9]+\$[!-~]{8,}$' THEN
        RAISE EXCEPTION USING ERRCODE = 'EP400', MESSAGE = 'Недопустимый хеш пароля';
    END IF;
    UPDATE users SET password_hash = p_hash, must_change_password = false WHERE id = p_uid;
    UPDATE sessions SET revoked_at = now()
     WHERE user_id = p_uid AND id <> p_sid AND revoked_at IS NULL;
    INSERT INTO audit_log (actor_id, action, object)
    VALUES (p_uid, 'password.change', 'user:' || p_uid);
END
$$;

-- POST /api/logout: revokes the caller's session → {"ok":true}.
CREATE OR REPLACE FUNCTION epos_api_logout(p_uid bigint, p_sid bigint, p_id bigint, p_args jsonb,
                                           p_body jsonb)
RETURNS jsonb
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    PERFORM epos_require_session(p_sid, p_uid);
    UPDATE sessions SET revoked_at = now() WHERE id = p_sid AND user_id = p_uid;
    INSERT INTO audit_log (actor_id, action, object)
    VALUES (p_uid, 'logout', 'session:' || p_sid);
    RETURN jsonb_build_object('status', 200, 'body', jsonb_build_object('ok', true),
                              'refresh', jsonb_build_array(p_uid));
END
$$;

-- ---------------------------------------------------------------- /api/me

-- epos_user_orgs(uid) -> [{id,name,kind,tz,timesheet_deadline,quiet_hours:{from,to},roles:[…]}]
-- for every org where the user has a staff role or a child.
CREATE OR REPLACE FUNCTION epos_user_orgs(p_uid bigint) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT coalesce(jsonb_agg(jsonb_build_object(
               'id', o.id, 'name', o.name, 'kind', o.kind, 'tz', o.tz,
               'timesheet_deadline', to_char(o.timesheet_deadline, 'HH24:MI'),
               'quiet_hours', jsonb_build_object('from', to_char(o.quiet_from, 'HH24:MI'),
                                                 'to', to_char(o.quiet_to, 'HH24:MI')),
               'roles', r.roles) ORDER BY o.name, o.id), '[]')
      FROM (SELECT x.org_id,
                   jsonb_agg(x.role ORDER BY array_position(
                       ARRAY['admin', 'teacher', 'class_teacher', 'parent'], x.role)) AS roles
              FROM epos_user_roles(p_uid) x GROUP BY x.org_id) r
      JOIN orgs o ON o.id = r.org_id
$$;

-- GET /api/me → {"id","name","login","email","roles","must_change_password",
-- "orgs":[…], "groups":[{id,name,kind,org_id}] (bound to me as teacher or
-- class teacher), "children":[{id,name,group_id,group_name,org_id,lessons_per_day}]}.
CREATE OR REPLACE FUNCTION epos_api_me(p_uid bigint, p_sid bigint, p_id bigint, p_args jsonb, p_body jsonb)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    v_body jsonb;
BEGIN
    PERFORM epos_require_session(p_sid, p_uid);
    SELECT jsonb_build_object(
               'id', u.id, 'name', u.full_name, 'login', u.login, 'email', u.email,
               'roles', epos_user_role_list(u.id),
               'must_change_password', u.must_change_password,
               'orgs', epos_user_orgs(u.id),
               'groups', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                                  'id', g.id, 'name', g.name, 'kind', g.kind, 'org_id', g.org_id)
                                  ORDER BY g.org_id, g.name), '[]')
                            FROM groups g
                           WHERE g.id IN (SELECT group_id FROM teacher_groups WHERE user_id = u.id
                                          UNION
                                          SELECT group_id FROM class_teachers WHERE user_id = u.id)),
               'children', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                                  'id', c.id, 'name', c.full_name, 'group_id', g.id,
                                  'group_name', g.name, 'org_id', c.org_id,
                                  'lessons_per_day', coalesce(g.lessons_per_day, 0))
                                  ORDER BY c.full_name, c.id), '[]')
                              FROM guardians gu
                              JOIN children c ON c.id = gu.child_id
                              LEFT JOIN enrolments e ON e.child_id = c.id
                              LEFT JOIN groups g ON g.id = e.group_id
                             WHERE gu.user_id = u.id))
      INTO v_body
      FROM users u WHERE u.id = p_uid;
    RETURN jsonb_build_object('status', 200, 'body', v_body);
END
$$;

-- ---------------------------------------------------------------- contacts

-- epos_contact_edges(uid) -> one row per reason the user may write to other_id:
-- role is what other_id is to them ('teacher', 'class_teacher', 'admin',
-- 'parent'), with the org, group and child that make the link (NULL when
-- none). May include the user themself and disabled users: callers filter.
--   parent  → teachers bound to their children's groups, class teachers of
--             those groups, admins of the children's orgs, and the other
--             parents of the same group where the org has parents_see_parents;
--   staff   → every staff member of the orgs where they have a role
--             (colleagues and administration);
--   teacher / class teacher → parents of the children of their groups;
--   admin   → parents of every child of the org.
CREATE OR REPLACE FUNCTION epos_contact_edges(p_uid bigint)
RETURNS TABLE (other_id bigint, role text, org_id bigint, group_id bigint, child_id bigint)
LANGUAGE sql STABLE AS $$
    WITH me AS (
        SELECT u.id FROM users u WHERE u.id = p_uid AND NOT u.disabled
    ), kids AS (
        SELECT c.id AS child_id, c.org_id, e.group_id
          FROM guardians g JOIN me ON me.id = g.user_id
          JOIN children c ON c.id = g.child_id
          LEFT JOIN enrolments e ON e.child_id = c.id
    ), my_orgs AS (
        SELECT DISTINCT r.org_id FROM staff_roles r JOIN me ON me.id = r.user_id
    ), taught AS (
        SELECT tg.group_id FROM teacher_groups tg JOIN me ON me.id = tg.user_id
        UNION
        SELECT ct.group_id FROM class_teachers ct JOIN me ON me.id = ct.user_id
    )
    SELECT tg.user_id, 'teacher', k.org_id, k.group_id, NULL::bigint
      FROM kids k JOIN teacher_groups tg ON tg.group_id = k.group_id
    UNION ALL
    SELECT ct.user_id, 'class_teacher', k.org_id, k.group_id, NULL
      FROM kids k JOIN class_teachers ct ON ct.group_id = k.group_id
    UNION ALL
    SELECT r.user_id, 'admin', k.org_id, NULL, NULL
      FROM kids k JOIN staff_roles r ON r.org_id = k.org_id AND r.role = 'admin'
    UNION ALL
    SELECT g2.user_id, 'parent', k.org_id, k.group_id, e2.child_id
      FROM kids k
      JOIN orgs o ON o.id = k.org_id AND o.parents_see_parents
      JOIN enrolments e2 ON e2.group_id = k.group_id
      JOIN guardians g2 ON g2.child_id = e2.child_id
    UNION ALL
    SELECT r.user_id, r.role, r.org_id, NULL, NULL
      FROM my_orgs m JOIN staff_roles r ON r.org_id = m.org_id
    UNION ALL
    SELECT gu.user_id, 'parent', gr.org_id, e.group_id, e.child_id
      FROM taught t
      JOIN enrolments e ON e.group_id = t.group_id
      JOIN groups gr ON gr.id = e.group_id
      JOIN guardians gu ON gu.child_id = e.child_id
    UNION ALL
    SELECT gu.user_id, 'parent', c.org_id, e.group_id, c.id
      FROM staff_roles a JOIN me ON me.id = a.user_id AND a.role = 'admin'
      JOIN children c ON c.org_id = a.org_id
      JOIN guardians gu ON gu.child_id = c.id
      LEFT JOIN enrolments e ON e.child_id = c.id
$$;

-- epos_can_contact(uid, other) -> true when uid may open a chat with other
-- (the rules of epos_contact_edges; never oneself, never a disabled user).
CREATE OR REPLACE FUNCTION epos_can_contact(p_uid bigint, p_other bigint) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT p_uid IS DISTINCT FROM p_other
       AND EXISTS (SELECT 1 FROM users u WHERE u.id = p_other AND NOT u.disabled)
       AND EXISTS (SELECT 1 FROM epos_contact_edges(p_uid) e WHERE e.other_id = p_other)
$$;

-- epos_contacts(uid) -> {"teachers":[…],"class_teachers":[…],"administration":[…],"parents":[…]},
-- items {id,name,role,groups:[names],children:[names]} sorted by name. Each
-- person appears once, under their closest role (class teacher, teacher,
-- admin, parent). groups: the groups that link us (for staff without such a
-- group, the groups bound to them in our shared org); children: their
-- children that link us. No email, no phone: never another family's data.
CREATE OR REPLACE FUNCTION epos_contacts(p_uid bigint) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    WITH e AS (
        SELECT x.* FROM epos_contact_edges(p_uid) x
          JOIN users u ON u.id = x.other_id AND NOT u.disabled
         WHERE x.other_id <> p_uid
    ), best AS (
        SELECT DISTINCT ON (e.other_id) e.other_id, e.role
          FROM e ORDER BY e.other_id,
                          array_position(ARRAY['class_teacher', 'teacher', 'admin', 'parent'], e.role)
    ), bound AS (
        SELECT tg.user_id, tg.group_id FROM teacher_groups tg
        UNION
        SELECT ct.user_id, ct.group_id FROM class_teachers ct
    ), grp AS (
        SELECT e.other_id, g.name FROM e JOIN groups g ON g.id = e.group_id
        UNION
        SELECT e.other_id, g.name
          FROM e JOIN bound b ON b.user_id = e.other_id
          JOIN groups g ON g.id = b.group_id AND g.org_id = e.org_id
         WHERE e.group_id IS NULL AND e.role <> 'parent'
    ), kid AS (
        SELECT DISTINCT e.other_id, c.id, c.full_name
          FROM e JOIN children c ON c.id = e.child_id WHERE e.role = 'parent'
    ), items AS (
        SELECT b.role, u.full_name, u.id,
               jsonb_build_object(
                   'id', u.id, 'name', u.full_name, 'role', b.role,
                   'groups', coalesce((SELECT jsonb_agg(g.name ORDER BY g.name)
                                         FROM grp g WHERE g.other_id = b.other_id), '[]'),
                   'children', coalesce((SELECT jsonb_agg(k.full_name ORDER BY k.full_name, k.id)
                                           FROM kid k WHERE k.other_id = b.other_id), '[]')) AS item
          FROM best b JOIN users u ON u.id = b.other_id
    )
    SELECT jsonb_build_object(
               'teachers', coalesce(jsonb_agg(item ORDER BY full_name, id)
                                    FILTER (WHERE role = 'teacher'), '[]'),
               'class_teachers', coalesce(jsonb_agg(item ORDER BY full_name, id)
                                          FILTER (WHERE role = 'class_teacher'), '[]'),
               'administration', coalesce(jsonb_agg(item ORDER BY full_name, id)
                                          FILTER (WHERE role = 'admin'), '[]'),
               'parents', coalesce(jsonb_agg(item ORDER BY full_name, id)
                                   FILTER (WHERE role = 'parent'), '[]'))
      FROM items
$$;

-- GET /api/contacts → epos_contacts of the caller.
CREATE OR REPLACE FUNCTION epos_api_contacts(p_uid bigint, p_sid bigint, p_id bigint, p_args jsonb, p_body jsonb)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    PERFORM epos_require_session(p_sid, p_uid);
    RETURN jsonb_build_object('status', 200, 'body', epos_contacts(p_uid));
END
$$;

-- ========================================================================
-- first-login credentials as a one-time set-password link (the table and
-- its story: migrations/070_credential_grants.sql).

-- epos_credentials_message_id(grant) -> the Message-ID of the grant's mail.
CREATE OR REPLACE FUNCTION epos_credentials_message_id(p_grant bigint) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT format('<credentials.%s@epos.local>', p_grant)
$$;

-- POST /api/staff/{id}/credentials → {"login","sent_to","expires_in_hours","repeated"}.
-- The caller must be an administrator of an org where the person holds a
-- staff role (EP403), the person must exist (EP404) and have an address
-- (EP409). A new grant ends the person's password and sessions (refresh: their
-- sockets close) and queues one urgent 'email.notify' job {user_id, kind
-- 'credentials', message_id, grant_id}: the worker writes the text (its
-- template) when it mints the link. repeated: true when a grant
-- of the last five minutes was answered again and nothing was queued.
CREATE OR REPLACE FUNCTION epos_api_staff_credentials(p_uid bigint, p_sid bigint, p_id bigint, p_args jsonb,
                                           p_body jsonb) RETURNS jsonb
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    v_user  users%ROWTYPE;
    v_org   bigint;
    v_grant bigint;
BEGIN
    PERFORM epos_require_session(p_sid, p_uid);
    -- The row lock serializes two requests for one person (a double click,
    -- a retry racing the first): the second sees the first's grant.
    SELECT * INTO v_user FROM users WHERE id = p_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'EP404', MESSAGE = 'Сотрудник не найден';
    END IF;
    SELECT mine.org_id INTO v_org
      FROM staff_roles mine
      JOIN staff_roles theirs ON theirs.org_id = mine.org_id AND theirs.user_id = p_id
     WHERE mine.user_id = p_uid AND mine.role = 'admin'
     ORDER BY mine.org_id
     LIMIT 1;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'EP403',
            MESSAGE = 'Выдавать доступ можно только сотрудникам своей организации';
    END IF;
    IF coalesce(btrim(v_user.email), '') = '' THEN
        RAISE EXCEPTION USING ERRCODE = 'EP409',
            MESSAGE = 'У сотрудника не указан адрес почты: доступ некуда отправить';
    END IF;

    SELECT g.id INTO v_grant
      FROM credential_grants g
     WHERE g.user_id = p_id AND g.used_at IS NULL AND g.ended_at IS NULL
       AND g.created_at > now() - interval '5 minutes'
       AND NOT EXISTS (SELECT 1 FROM email_log l
                        WHERE l.message_id = epos_credentials_message_id(g.id) AND l.status = 'dead')
     ORDER BY g.id DESC
     LIMIT 1;
    IF FOUND THEN
        RETURN jsonb_build_object('status', 200, 'body', jsonb_build_object(
            'login', v_user.login, 'sent_to', btrim(v_user.email), 'expires_in_hours', 72,
            'repeated', true));
    END IF;

    UPDATE credential_grants SET ended_at = now()
     WHERE user_id = p_id AND used_at IS NULL AND ended_at IS NULL;
    INSERT INTO credential_grants (user_id, issued_by, org_id)
    VALUES (p_id, p_uid, v_org) RETURNING id INTO v_grant;
    UPDATE users SET password_hash = NULL, must_change_password = true WHERE id = p_id;
    UPDATE sessions SET revoked_at = now() WHERE user_id = p_id AND revoked_at IS NULL;
    INSERT INTO audit_log (actor_id, action, object, detail)
    VALUES (p_uid, 'credentials.generate', 'user:' || p_id,
            jsonb_build_object('org_id', v_org, 'grant_id', v_grant));
    INSERT INTO outbox (kind, payload)
    VALUES ('email.notify', jsonb_build_object(
        'user_id', p_id,
        'kind', 'credentials',
        'urgent', true,
        'message_id', epos_credentials_message_id(v_grant),
        'grant_id', v_grant));

    RETURN jsonb_build_object('status', 200,
        'body', jsonb_build_object('login', v_user.login, 'sent_to', btrim(v_user.email),
                                   'expires_in_hours', 72, 'repeated', false),
        'refresh', jsonb_build_array(p_id));
END
$$;

-- epos_credentials_mint(grant, token_hash) -> what the worker needs to write
-- the grant's mail: {"ok":true,"login","name","org","expires_at"} after
-- storing token_hash (64 hex digits: the SHA-256 of the token the worker
-- drew) with a fresh 72-hour expiry — a link minted earlier for the grant
-- stops working. {"ok":false,"reason"} when the grant is used, replaced by a
-- newer one, or unknown: no mail then, and its email_log row says why.
-- EP400 for a malformed hash.
CREATE OR REPLACE FUNCTION epos_credentials_mint(p_grant bigint, p_hash text) RETURNS jsonb
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    g      credential_grants%ROWTYPE;
    v_why  text;
BEGIN
    IF p_hash IS NULL OR p_hash !~ '^[0-9a-f]{64}$' THEN
        RAISE EXCEPTION USING ERRCODE = 'EP400', MESSAGE = 'credentials: malformed token hash';
    END IF;
    SELECT * INTO g FROM credential_grants WHERE id = p_grant FOR UPDATE;
    v_why := CASE WHEN NOT FOUND THEN 'no such grant'
                  WHEN g.used_at IS NOT NULL THEN 'the link was used already'
                  WHEN g.ended_at IS NOT NULL THEN 'replaced by newer credentials' END;
    IF v_why IS NOT NULL THEN
        UPDATE email_log SET status = 'dead', last_error = v_why, next_attempt_at = NULL
         WHERE message_id = epos_credentials_message_id(p_grant) AND status <> 'sent';
        RETURN jsonb_build_object('ok', false, 'reason', v_why);
    END IF;
    UPDATE credential_grants
       SET token_hash = p_hash, minted_at = now(), expires_at = now() + interval '72 hours'
     WHERE id = p_grant;
    RETURN (SELECT jsonb_build_object('ok', true, 'login', u.login, 'name', u.full_name,
                                      'org', coalesce(o.name, ''),
                                      'expires_at', to_char((now() + interval '72 hours')
                                                            AT TIME ZONE coalesce(o.tz, 'UTC'),
                                                            'DD.MM.YYYY HH24:MI'))
              FROM users u LEFT JOIN orgs o ON o.id = g.org_id
             WHERE u.id = g.user_id);
END
$$;

-- epos_password_link_grant(token_hash, lock) -> the live grant of a link,
-- else raises: EP404 unknown link or disabled user, EP409 used, replaced or
-- expired (each with its own words for the page).
CREATE OR REPLACE FUNCTION epos_password_link_grant(p_hash text, p_lock boolean) RETURNS credential_grants
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    g credential_grants%ROWTYPE;
BEGIN
    IF p_lock THEN
        SELECT * INTO g FROM credential_grants WHERE token_hash = p_hash FOR UPDATE;
    ELSE
        SELECT * INTO g FROM credential_grants WHERE token_hash = p_hash;
    END IF;
    IF NOT FOUND OR EXISTS (SELECT 1 FROM users u WHERE u.id = g.user_id AND u.disabled) THEN
        RAISE EXCEPTION USING ERRCODE = 'EP404', MESSAGE = 'Ссылка недействительна';
    END IF;
    IF g.used_at IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'EP409',
            MESSAGE = 'Ссылка уже использована: войдите со своим паролем';
    END IF;
    IF g.ended_at IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'EP409',
            MESSAGE = 'Эта ссылка заменена новой: откройте последнее письмо';
    END IF;
    IF g.expires_at <= now() THEN
        RAISE EXCEPTION USING ERRCODE = 'EP409',
            MESSAGE = 'Срок действия ссылки истёк: попросите администратора выдать доступ заново';
    END IF;
    RETURN g;
END
$$;

-- epos_password_link_check(token_hash): raises as epos_password_link_grant
-- unless the link can be used; the hub asks before it hashes a password.
CREATE OR REPLACE FUNCTION epos_password_link_check(p_hash text) RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    PERFORM epos_password_link_grant(p_hash, false);
END
$$;

-- epos_password_link_use(token_hash, password_hash, ttl) consumes the link
-- once: stores the yescrypt hash (made by the hub), clears
-- must_change_password, ends the user's other sessions and opens one
-- (epos_login_session: sid, expires_at, user_json). Raises as
-- epos_password_link_grant (a second use: EP409), EP400 for something that
-- is not a crypt hash. Audited.
CREATE OR REPLACE FUNCTION epos_password_link_use(p_hash text, p_pwhash text, p_ttl int)
RETURNS TABLE (sid bigint, expires_at bigint, user_json text)
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    g credential_grants%ROWTYPE;
BEGIN
    g := epos_password_link_grant(p_hash, true);
    IF p_pwhash IS NULL OR p_pwhash !~ '^\$[A-Za-z0-9]+\$[!-~]{8,}$' THEN
        RAISE EXCEPTION USING ERRCODE = 'EP400', MESSAGE = 'Недопустимый хеш пароля';
    END IF;
    UPDATE credential_grants SET used_at = now() WHERE id = g.id;
    UPDATE users SET password_hash = p_pwhash, must_change_password = false WHERE id = g.user_id;
    UPDATE sessions s SET revoked_at = now() WHERE s.user_id = g.user_id AND s.revoked_at IS NULL;
    INSERT INTO audit_log (actor_id, action, object, detail)
    VALUES (g.user_id, 'password.link', 'user:' || g.user_id, jsonb_build_object('grant_id', g.id));
    RETURN QUERY SELECT * FROM epos_login_session(g.user_id, p_ttl);
END
$$;
