-- 050_credentials.sql -- first-login credentials an administrator generates for a staff member.
--
-- The hub makes the password and its yescrypt hash (hub/api_credentials.c: the
-- hash is CPU work for the thread pool, not for SQL); this function checks the
-- administrator, stores the hash, ends the staff member's sessions and queues
-- the mail in the same transaction. The password itself travels only in the
-- outbox payload of an urgent email.notify job (email_log keeps no body for
-- kind 'credentials').

CREATE FUNCTION epos_staff_credentials(p_uid bigint, p_sid bigint, p_staff bigint, p_hash text,
                                       p_password text, p_url text) RETURNS jsonb
LANGUAGE plpgsql AS $$
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
