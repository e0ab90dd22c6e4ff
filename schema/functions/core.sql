-- core.sql -- helpers every domain uses: request-body parsing, dates, and who is admin, staff or guardian.
--
-- Refusals raise a custom SQLSTATE the hub maps to a status (docs/ARCHITECTURE.md,
-- "The API functions"): EP400 bad_request, EP401 unauthorized, EP403 forbidden,
-- EP404 not_found, EP409 conflict; the message is Russian, fit for the user.
-- Nothing here writes.

-- ---------------------------------------------------------------- body helpers

-- epos_body_object(body) raises EP400 unless body is a JSON object.
CREATE OR REPLACE FUNCTION epos_body_object(p_body jsonb) RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF p_body IS NULL OR jsonb_typeof(p_body) <> 'object' THEN
        RAISE EXCEPTION USING ERRCODE = 'EP400', MESSAGE = 'Ожидается JSON-объект';
    END IF;
END
$$;

-- epos_json_id(value, field) -> the positive integer id in a JSON value; NULL
-- for a missing value or JSON null; EP400 naming the field for anything else
-- (a string, a fraction, zero, a number past bigint).
CREATE OR REPLACE FUNCTION epos_json_id(p_val jsonb, p_field text) RETURNS bigint
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    v numeric;
BEGIN
    IF p_val IS NULL OR jsonb_typeof(p_val) = 'null' THEN
        RETURN NULL;
    END IF;
    IF jsonb_typeof(p_val) = 'number' THEN
        v := p_val::numeric;
        IF v = trunc(v) AND v >= 1 AND v <= 9223372036854775807 THEN
            RETURN v::bigint;
        END IF;
    END IF;
    RAISE EXCEPTION USING ERRCODE = 'EP400',
        MESSAGE = format('Поле «%s» должно быть положительным целым числом', p_field);
END
$$;

-- epos_json_ids(value, field) -> the distinct ids of a JSON array of positive
-- integers, in first-seen order; '{}' for a missing value; EP400 naming the
-- field when it is not such an array or holds more than 1000 items.
CREATE OR REPLACE FUNCTION epos_json_ids(p_val jsonb, p_field text) RETURNS bigint[]
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    v_out bigint[] := '{}'::bigint[];
    v_id  bigint;
    v_el  jsonb;
BEGIN
    IF p_val IS NULL OR jsonb_typeof(p_val) = 'null' THEN
        RETURN v_out;
    END IF;
    IF jsonb_typeof(p_val) <> 'array' OR jsonb_array_length(p_val) > 1000 THEN
        RAISE EXCEPTION USING ERRCODE = 'EP400',
            MESSAGE = format('Поле «%s» должно быть списком идентификаторов', p_field);
    END IF;
    FOR v_el IN SELECT x FROM jsonb_array_elements(p_val) AS t(x) LOOP
        IF jsonb_typeof(v_el) <> 'number' THEN
            RAISE EXCEPTION USING ERRCODE = 'EP400',
                MESSAGE = format('Поле «%s» должно быть списком идентификаторов', p_field);
        END IF;
        v_id := epos_json_id(v_el, p_field);
        IF NOT v_id = ANY (v_out) THEN
            v_out := v_out || v_id;
        END IF;
    END LOOP;
    RETURN v_out;
END
$$;

-- epos_is_staff(uid) -> true when the user has a staff role in some org.
CREATE OR REPLACE FUNCTION epos_is_staff(p_uid bigint) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM staff_roles r JOIN users u ON u.id = r.user_id AND NOT u.disabled
                    WHERE r.user_id = p_uid)
$$;

-- ---------------------------------------------------------------- history

-- epos_arg_int(args, name, default) -> the query parameter as a number;
-- EP400 naming it unless it is 1..18 digits.
CREATE OR REPLACE FUNCTION epos_arg_int(p_args jsonb, p_name text, p_default bigint) RETURNS bigint
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    v text := p_args ->> p_name;
BEGIN
    IF v IS NULL OR v = '' THEN
        RETURN p_default;
    END IF;
    IF v !~ '^[0-9]{1,18}$' THEN
        RAISE EXCEPTION USING ERRCODE = 'EP400',
            MESSAGE = format('Параметр «%s» должен быть неотрицательным целым числом', p_name);
    END IF;
    RETURN v::bigint;
END
$$;

-- ---------------------------------------------------------------- who may do what

-- epos_is_admin(uid, org) -> true when uid (not disabled) administers org.
CREATE OR REPLACE FUNCTION epos_is_admin(p_uid bigint, p_org bigint) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM staff_roles r JOIN users u ON u.id = r.user_id AND NOT u.disabled
                    WHERE r.user_id = p_uid AND r.org_id = p_org AND r.role = 'admin')
$$;

-- epos_org_require_admin(uid, org) raises EP404 for an unknown org, EP403
-- unless uid administers it.
CREATE OR REPLACE FUNCTION epos_org_require_admin(p_uid bigint, p_org bigint) RETURNS void
LANGUAGE plpgsql STABLE AS $$
BEGIN
    PERFORM 1 FROM orgs o WHERE o.id = p_org;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'EP404', MESSAGE = 'Организация не найдена';
    END IF;
    IF NOT epos_is_admin(p_uid, p_org) THEN
        RAISE EXCEPTION USING ERRCODE = 'EP403', MESSAGE = 'Это может только администратор организации';
    END IF;
END
$$;

-- epos_need(value, message) -> value; EP400 with the message when it is NULL
-- (a required field or parameter left out).
CREATE OR REPLACE FUNCTION epos_need(p_val anyelement, p_message text) RETURNS anyelement
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF p_val IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'EP400', MESSAGE = p_message;
    END IF;
    RETURN p_val;
END
$$;

-- epos_can_staff_group(uid, gid) -> true when uid keeps or oversees the
-- group's timesheet: a teacher bound to it, its class teacher, or an
-- administrator of its org. False for a disabled user or an unknown group.
CREATE OR REPLACE FUNCTION epos_can_staff_group(p_uid bigint, p_gid bigint) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM users u WHERE u.id = p_uid AND NOT u.disabled)
       AND (EXISTS (SELECT 1 FROM teacher_groups t WHERE t.user_id = p_uid AND t.group_id = p_gid)
            OR EXISTS (SELECT 1 FROM class_teachers c WHERE c.user_id = p_uid AND c.group_id = p_gid)
            OR EXISTS (SELECT 1 FROM groups g JOIN staff_roles r ON r.org_id = g.org_id
                        WHERE g.id = p_gid AND r.user_id = p_uid AND r.role = 'admin'))
$$;

-- epos_is_guardian(uid, child) -> true when uid (not disabled) is a parent of the child.
CREATE OR REPLACE FUNCTION epos_is_guardian(p_uid bigint, p_child bigint) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM guardians g JOIN users u ON u.id = g.user_id AND NOT u.disabled
                    WHERE g.user_id = p_uid AND g.child_id = p_child)
$$;

-- epos_group_staff(gid) -> the users who keep the group's timesheet and are
-- told about it: its bound teachers and its class teacher (not disabled).
CREATE OR REPLACE FUNCTION epos_group_staff(p_gid bigint) RETURNS SETOF bigint
LANGUAGE sql STABLE AS $$
    SELECT x.user_id
      FROM (SELECT t.user_id FROM teacher_groups t WHERE t.group_id = p_gid
            UNION
            SELECT c.user_id FROM class_teachers c WHERE c.group_id = p_gid) x
      JOIN users u ON u.id = x.user_id AND NOT u.disabled
     ORDER BY 1
$$;

-- ---------------------------------------------------------------- dates

-- epos_org_today(org, now) -> the date it is in the org's time zone at now
-- (default: the transaction's now()). NULL for an unknown org.
CREATE OR REPLACE FUNCTION epos_org_today(p_org bigint, p_now timestamptz DEFAULT now()) RETURNS date
LANGUAGE sql STABLE AS $$
    SELECT (p_now AT TIME ZONE o.tz)::date FROM orgs o WHERE o.id = p_org
$$;

-- epos_is_workday(org, day) -> the org's calendar: an org_calendar row
-- decides ('workday' is one, 'holiday' and 'vacation' are not); without one,
-- Monday to Friday are workdays and weekends are days off.
CREATE OR REPLACE FUNCTION epos_is_workday(p_org bigint, p_day date) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT coalesce((SELECT c.kind = 'workday' FROM org_calendar c
                      WHERE c.org_id = p_org AND c.day = p_day),
                    extract(isodow FROM p_day) < 6)
$$;

-- epos_has_workday(org, from, to) -> true when a day of from..to is a
-- workday of the org's calendar (epos_is_workday).
CREATE OR REPLACE FUNCTION epos_has_workday(p_org bigint, p_from date, p_to date) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM generate_series(p_from, p_to, interval '1 day') d
                    WHERE epos_is_workday(p_org, d::date))
$$;

-- epos_parse_date(text, field) -> the date of a 'YYYY-MM-DD' string; NULL for
-- NULL or ''. EP400 'Неверная дата …' naming the field for any other format
-- or an impossible date such as 2026-02-30.
CREATE OR REPLACE FUNCTION epos_parse_date(p_text text, p_field text) RETURNS date
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    v date;
BEGIN
    IF p_text IS NULL OR p_text = '' THEN
        RETURN NULL;
    END IF;
    IF p_text ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}$' THEN
        BEGIN
            v := to_date(p_text, 'YYYY-MM-DD');
            -- to_date is lenient on some inputs; the round trip is not.
            IF to_char(v, 'YYYY-MM-DD') = p_text THEN
                RETURN v;
            END IF;
        EXCEPTION WHEN data_exception THEN
            NULL;
        END;
    END IF;
    RAISE EXCEPTION USING ERRCODE = 'EP400',
        MESSAGE = format('Неверная дата в поле «%s»: ожидается ГГГГ-ММ-ДД', p_field);
END
$$;

-- epos_body_date(body, field) -> the date in a JSON body's string field;
-- NULL when missing or null; EP400 naming the field otherwise.
CREATE OR REPLACE FUNCTION epos_body_date(p_body jsonb, p_field text) RETURNS date
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF p_body -> p_field IS NULL OR jsonb_typeof(p_body -> p_field) = 'null' THEN
        RETURN NULL;
    END IF;
    IF jsonb_typeof(p_body -> p_field) <> 'string' THEN
        RAISE EXCEPTION USING ERRCODE = 'EP400',
            MESSAGE = format('Неверная дата в поле «%s»: ожидается ГГГГ-ММ-ДД', p_field);
    END IF;
    RETURN epos_parse_date(p_body ->> p_field, p_field);
END
$$;

-- epos_date_text(day) -> '22.11.2026', the date as mail bodies show it.
CREATE OR REPLACE FUNCTION epos_date_text(p_day date) RETURNS text
LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT to_char(p_day, 'DD.MM.YYYY')
$$;

-- epos_period_text(from, to) -> '22.11.2026' or 'с 22.11.2026 по 24.11.2026'.
CREATE OR REPLACE FUNCTION epos_period_text(p_from date, p_to date) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN p_from = p_to THEN epos_date_text(p_from)
                ELSE format('с %s по %s', epos_date_text(p_from), epos_date_text(p_to)) END
$$;

-- ---------------------------------------------------------------- helpers

-- epos_json_time(value, field) -> the time of a JSON "HH:MM" string (00:00..23:59);
-- EP400 naming the field for anything else.
CREATE OR REPLACE FUNCTION epos_json_time(p_val jsonb, p_field text) RETURNS time
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF jsonb_typeof(p_val) = 'string' AND (p_val #>> '{}') ~ '^([01][0-9]|2[0-3]):[0-5][0-9]$' THEN
        RETURN (p_val #>> '{}')::time;
    END IF;
    RAISE EXCEPTION USING ERRCODE = 'EP400',
        MESSAGE = format('Поле «%s» должно быть временем ЧЧ:ММ', p_field);
END
$$;
