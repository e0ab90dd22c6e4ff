-- 051_credentials_check.sql -- refuse a credentials request before any hashing.
--
-- Hashing a password is deliberate CPU work; the hub asks this first, so a
-- user who may not issue credentials cannot make the hub hash at all.
-- epos_staff_credentials repeats the same checks in its own transaction.
CREATE FUNCTION epos_staff_credentials_check(p_uid bigint, p_sid bigint, p_staff bigint)
RETURNS void
LANGUAGE plpgsql AS $$
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
