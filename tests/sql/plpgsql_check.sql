-- plpgsql_check.sql -- every PL/pgSQL function of the schema through plpgsql_check; any finding fails (scripts/test, phase sqlcheck).
--
-- Run by psql on a freshly migrated database. Checks every epos_* function
-- and every trigger function with its table, with the other, performance
-- and security warnings on. The extra warning "unused parameter" is left
-- out: every API function has the same five parameters whether it reads
-- them or not. Each finding is printed; then one error with their count.
\set ON_ERROR_STOP on
CREATE EXTENSION IF NOT EXISTS plpgsql_check;

CREATE TEMP TABLE findings AS
SELECT f.fn, c.level, c.lineno, c.message, c.detail, c.hint, c.query
  FROM (SELECT p.oid, p.oid::regprocedure::text AS fn, 0::oid AS relid
          FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang AND l.lanname = 'plpgsql'
         WHERE p.pronamespace = 'public'::regnamespace AND p.proname LIKE 'epos\_%'
           AND p.prorettype <> 'trigger'::regtype
        UNION ALL
        SELECT t.tgfoid, t.tgfoid::regprocedure::text || ' ON ' || t.tgrelid::regclass::text, t.tgrelid
          FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid
          JOIN pg_language l ON l.oid = p.prolang AND l.lanname = 'plpgsql'
         WHERE NOT t.tgisinternal) f,
       plpgsql_check_function_tb(f.oid, f.relid, fatal_errors => false, other_warnings => true,
                                 performance_warnings => true, extra_warnings => true,
                                 security_warnings => true) c
 WHERE c.message NOT LIKE 'unused parameter %';

\pset footer off
SELECT fn AS function, level, lineno AS line, message, detail, hint FROM findings ORDER BY fn, lineno;

DO $$
DECLARE
    n int := (SELECT count(*) FROM findings);
    f int := (SELECT count(DISTINCT p.oid) FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
               WHERE l.lanname = 'plpgsql' AND p.pronamespace = 'public'::regnamespace);
BEGIN
    IF n > 0 THEN
        RAISE EXCEPTION 'plpgsql_check: % finding(s) in the functions above', n;
    END IF;
    RAISE NOTICE 'plpgsql_check: % PL/pgSQL functions, no finding', f;
END
$$;
