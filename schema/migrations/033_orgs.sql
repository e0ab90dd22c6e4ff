-- 033_orgs.sql -- an administrator's org settings: deadline, time zone, quiet hours, calendar, staff and bindings.
-- Its functions: functions/orgs.sql.

-- The deadline pass reads every org's local time in one statement: one org
-- with a zone PostgreSQL does not know would fail it for all. The API
-- checks the name against pg_timezone_names; this is the backstop.
CREATE FUNCTION orgs_check_tz() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM now() AT TIME ZONE NEW.tz;
    RETURN NEW;
END
$$;

CREATE TRIGGER orgs_check_tz BEFORE INSERT OR UPDATE OF tz ON orgs
    FOR EACH ROW EXECUTE FUNCTION orgs_check_tz();
