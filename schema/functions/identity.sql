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

-- epos_login_lookup(login) -> the row the C login handler verifies the
-- password against (login compared lower-case, surrounding blanks ignored);
-- no row for an unknown login. password_hash is NULL for an account that
-- cannot log in yet.
CREATE OR REPLACE FUNCTION epos_login_lookup(p_login text)
RETURNS TABLE (uid bigint, password_hash text, disabled boolean, must_change_password boolean)
LANGUAGE sql STABLE
SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT u.id, u.password_hash, u.disabled, u.must_change_password
      FROM users u WHERE u.login = lower(btrim(p_login))
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
-- first-login credentials an administrator generates for a staff member.
--
-- The hub makes the password and its yescrypt hash (hub/api_credentials.c: the
-- hash is CPU work for the thread pool, not for SQL); this function checks the
-- administrator, stores the hash, ends the staff member's sessions and queues
-- the mail in the same transaction. The password itself travels only in the
-- outbox payload of an urgent email.notify job (email_log keeps no body for
-- kind 'credentials').
CREATE OR REPLACE FUNCTION epos_staff_credentials(p_uid bigint, p_sid bigint, p_staff bigint, p_hash text,
                                       p_password text, p_url text) RETURNS jsonb
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    v_user users%ROWTYPE;
    v_org  orgs%ROWTYPE;
    v_n    bigint;
BEGIN
    PERFORM epos_require_session(p_sid, p_uid);
    SELECT * INTO v_user FROM users WHERE id = p_staff;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'EP404', MESSAGE = 'Сотрудник не найден';
    END IF;
    -- The administrator must run an org in which this person holds a staff role.
    SELECT o.* INTO v_org
      FROM staff_roles mine
      JOIN staff_roles theirs ON theirs.org_id = mine.org_id AND theirs.user_id = p_staff
      JOIN orgs o ON o.id = mine.org_id
     WHERE mine.user_id = p_uid AND mine.role = 'admin'
     LIMIT 1;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'EP403',
            MESSAGE = 'Выдавать доступ можно только сотрудникам своей организации';
    END IF;
    IF coalesce(v_user.email, '') = '' THEN
        RAISE EXCEPTION USING ERRCODE = 'EP409',
            MESSAGE = 'У сотрудника не указан адрес почты: доступ некуда отправить';
    END IF;

    UPDATE users SET password_hash = p_hash, must_change_password = true WHERE id = p_staff;
    UPDATE sessions SET revoked_at = now() WHERE user_id = p_staff AND revoked_at IS NULL;
    INSERT INTO audit_log (actor_id, action, object, detail)
    VALUES (p_uid, 'credentials.generate', 'user:' || p_staff,
            jsonb_build_object('org_id', v_org.id));
    SELECT count(*) INTO v_n FROM audit_log
     WHERE action = 'credentials.generate' AND object = 'user:' || p_staff;

    INSERT INTO outbox (kind, payload)
    VALUES ('email.notify', jsonb_build_object(
        'user_id', p_staff,
        'kind', 'credentials',
        'urgent', true,
        'message_id', format('<credentials.%s.%s@epos.local>', p_staff, v_n),
        'subject', 'Доступ к ЭПОС',
        'body', format(E'Здравствуйте, %s!\n\nДля вас создан доступ к ЭПОС (%s).\n\n'
                       'Адрес: %s\nЛогин: %s\nВременный пароль: %s\n\n'
                       'При первом входе система попросит сменить пароль.\n',
                       v_user.full_name, v_org.name, p_url, v_user.login, p_password)));

    RETURN jsonb_build_object('status', 200,
        'body', jsonb_build_object('login', v_user.login, 'sent_to', v_user.email));
END;
$$;

-- ========================================================================
-- refuse a credentials request before any hashing.
--
-- Hashing a password is deliberate CPU work; the hub asks this first, so a
-- user who may not issue credentials cannot make the hub hash at all.
-- epos_staff_credentials repeats the same checks in its own transaction.
CREATE OR REPLACE FUNCTION epos_staff_credentials_check(p_uid bigint, p_sid bigint, p_staff bigint)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    PERFORM epos_require_session(p_sid, p_uid);
    IF NOT EXISTS (SELECT 1 FROM users WHERE id = p_staff) THEN
        RAISE EXCEPTION USING ERRCODE = 'EP404', MESSAGE = 'Сотрудник не найден';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM staff_roles mine
                     JOIN staff_roles theirs ON theirs.org_id = mine.org_id
                    WHERE mine.user_id = p_uid AND mine.role = 'admin'
                      AND theirs.user_id = p_staff) THEN
        RAISE EXCEPTION USING ERRCODE = 'EP403',
            MESSAGE = 'Выдавать доступ можно только сотрудникам своей организации';
    END IF;
    IF coalesce((SELECT email FROM users WHERE id = p_staff), '') = '' THEN
        RAISE EXCEPTION USING ERRCODE = 'EP409',
            MESSAGE = 'У сотрудника не указан адрес почты: доступ некуда отправить';
    END IF;
END
$$;
