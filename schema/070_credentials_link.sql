-- 070_credentials_link.sql -- first-login credentials as a one-time set-password link.
--
-- Issuing credentials (POST /api/staff/{id}/credentials) no longer makes a
-- password: it records a grant and queues a mail whose job payload carries
-- only ids. The worker that renders the mail draws a random token, stores
-- its SHA-256 here (epos_credentials_mint) and puts the token only into the
-- mail's link; PostgreSQL, the outbox, the Redis streams, the retry set, the
-- dead letters and the logs never hold anything that signs anyone in. A
-- replayed or retried mail mints a new token, and the new hash replaces the
-- old, so only the link of the last mail works. The staff member opens the
-- link and chooses a password (POST /api/password/set: epos_password_link_check
-- before any hashing, epos_password_link_use to consume the link once and
-- open a session).
--
-- Issuing is idempotent for a short while: a second request for the same
-- person within five minutes, while the first grant is unused and its mail
-- not dead, answers the same and queues nothing (a client retrying after a
-- lost answer does not send a second mail). Later, or after a dead mail, a
-- new grant ends the old one (its link stops working) and a new mail goes.

CREATE TABLE credential_grants (
    id         bigserial PRIMARY KEY,
    user_id    bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    issued_by  bigint REFERENCES users(id) ON DELETE SET NULL,
    org_id     bigint REFERENCES orgs(id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    token_hash text UNIQUE CHECK (token_hash ~ '^[0-9a-f]{64}$'), -- SHA-256 of the mailed token
    minted_at  timestamptz,
    expires_at timestamptz,
    used_at    timestamptz,
    ended_at   timestamptz -- a newer grant replaced this one
);
CREATE INDEX credential_grants_user_idx ON credential_grants (user_id, created_at DESC);

-- The password used to travel in the outbox; these made and checked it.
DROP FUNCTION epos_staff_credentials(bigint, bigint, bigint, text, text, text);
DROP FUNCTION epos_staff_credentials_check(bigint, bigint, bigint);

-- epos_credentials_message_id(grant) -> the Message-ID of the grant's mail.
CREATE FUNCTION epos_credentials_message_id(p_grant bigint) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT format('<credentials.%s@epos.local>', p_grant)
$$;

-- POST /api/staff/{id}/credentials → {"login","sent_to","expires_in_hours","repeated"}.
-- The caller must be an administrator of an org where the person holds a
-- staff role (EP403), the person must exist (EP404) and have an address
-- (EP409). A new grant ends the person's password and sessions (refresh: their
-- sockets close) and queues one urgent 'email.notify' job {user_id, kind
-- 'credentials', message_id, subject, grant_id}. repeated: true when a grant
-- of the last five minutes was answered again and nothing was queued.
CREATE FUNCTION epos_api_staff_credentials(p_uid bigint, p_sid bigint, p_id bigint, p_args jsonb,
                                           p_body jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
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
        'subject', 'Доступ к ЭПОС',
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
CREATE FUNCTION epos_credentials_mint(p_grant bigint, p_hash text) RETURNS jsonb
LANGUAGE plpgsql AS $$
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
CREATE FUNCTION epos_password_link_grant(p_hash text, p_lock boolean) RETURNS credential_grants
LANGUAGE plpgsql AS $$
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
CREATE FUNCTION epos_password_link_check(p_hash text) RETURNS void
LANGUAGE plpgsql AS $$
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
CREATE FUNCTION epos_password_link_use(p_hash text, p_pwhash text, p_ttl int)
RETURNS TABLE (sid bigint, expires_at bigint, user_json text)
LANGUAGE plpgsql AS $$
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
