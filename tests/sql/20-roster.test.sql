-- 20-roster.test.sql -- the roster sync (epos_api_roster): malformed documents, a delta move, idempotence, a full sync's ends, rejected rows.
BEGIN;
\ir fixtures.sql
SELECT plan(19);

-- ---- malformed documents change nothing
SELECT throws_ok($$SELECT epos_api_roster(NULL, NULL, NULL, '{}', '[]')$$, 'EP400', NULL, 'not an object');
SELECT throws_ok($$SELECT epos_api_roster(NULL, NULL, NULL, '{}', '{"mode":"sometimes"}')$$, 'EP400', NULL, 'a bad mode');
SELECT throws_ok($$SELECT epos_api_roster(NULL, NULL, NULL, '{}', '{"mode":"delta","pupils":[]}')$$, 'EP400', NULL,
                 'an unknown key');
SELECT throws_ok($$SELECT epos_api_roster(NULL, NULL, NULL, '{}', '{"mode":"delta","people":{}}')$$, 'EP400', NULL,
                 'a section that is not a list');
SELECT throws_ok($$SELECT epos_api_roster(NULL, NULL, NULL, '{}', '{"mode":"full"}')$$, 'EP400', NULL,
                 'a full sync names its org');
SELECT throws_ok($$SELECT epos_api_roster(NULL, NULL, NULL, '{}', '{"mode":"full","org":"nowhere"}')$$, 'EP404', NULL,
                 'a full sync of an unknown org');
SELECT is((SELECT count(*) FROM roster_syncs), 0::bigint, 'no refused document left a trace');

-- The fixture region as the registry knows it.
UPDATE orgs SET ext_id = 'r-org-1' WHERE id = 900001;
UPDATE groups SET ext_id = 'r-g-' || id WHERE id IN (900011, 900012);
UPDATE users SET ext_id = 'r-u-' || id WHERE id IN (900102, 900201);
UPDATE children SET ext_id = 'r-c-' || id WHERE id = 900301;

-- ---- a delta moves a child; the same delta again changes nothing
CREATE TEMP TABLE t_move AS
SELECT epos_api_roster(NULL, NULL, NULL, '{}',
    '{"mode":"delta","children":[{"ext_id":"r-c-900301","name":"Родителев Миша","group":"r-g-900012"}]}') AS r;
SELECT is((SELECT r #>> '{body,counts,children,updated}' FROM t_move), '1', 'the move counts as an update');
SELECT is((SELECT group_id FROM enrolments WHERE child_id = 900301), 900012::bigint, 'the child is in the new group');
SELECT ok((SELECT r -> 'refresh' @> '[900201]' FROM t_move), 'its parent''s topics are recomputed');
SELECT is((SELECT count(*) FROM roster_ended WHERE kind = 'enrolment' AND child_id = 900301 AND group_id = 900011),
          1::bigint, 'the old enrolment is on record');
SELECT is((SELECT jsonb_build_object('changed', x.r #> '{body,changed}', 'refresh', x.r -> 'refresh')
             FROM (SELECT epos_api_roster(NULL, NULL, NULL, '{}', '{"mode":"delta","children":[
                     {"ext_id":"r-c-900301","name":"Родителев Миша","group":"r-g-900012"}]}') AS r) x),
          '{"changed":false,"refresh":[]}'::jsonb, 'an identical delta changes and refreshes nothing');

-- ---- a full sync ends what it omits, deleting no history
CREATE TEMP TABLE t_full AS
SELECT epos_api_roster(NULL, NULL, NULL, '{}', '{"mode":"full","org":"r-org-1",
    "groups":[{"ext_id":"r-g-900011","org":"r-org-1","name":"Солнышко","kind":"group"},
              {"ext_id":"r-g-900012","org":"r-org-1","name":"Зайчики","kind":"group"}],
    "staff":[{"person":"r-u-900102","org":"r-org-1","roles":["teacher"]}],
    "bindings":[{"person":"r-u-900102","group":"r-g-900011","role":"teacher"}],
    "children":[{"ext_id":"r-c-900301","name":"Родителев Миша","group":"r-g-900012"}],
    "guardians":[{"person":"r-u-900201","child":"r-c-900301"}]}') AS r;
SELECT is(ARRAY(SELECT role FROM staff_roles WHERE org_id = 900001 ORDER BY user_id), ARRAY['teacher'],
          'only the listed role is left: the administrator and the other teacher are gone');
SELECT is(ARRAY(SELECT user_id FROM teacher_groups t JOIN groups g ON g.id = t.group_id WHERE g.org_id = 900001),
          ARRAY[900102::bigint], 'only the listed binding is left');
SELECT ok((SELECT left_at IS NOT NULL FROM children WHERE id = 900302)
          AND NOT EXISTS (SELECT 1 FROM enrolments WHERE child_id = 900302),
          'the omitted child left the group and keeps its row');
SELECT is(ARRAY(SELECT user_id FROM guardians WHERE child_id IN (900301, 900302) ORDER BY 1), ARRAY[900201::bigint],
          'only the listed guardianship is left');
SELECT ok((SELECT r -> 'refresh' @> '[900101, 900103, 900202]' FROM t_full),
          'those who lost something are refreshed');

-- ---- a bad row is rejected and leaves nothing; the good row beside it applies
SELECT is((epos_api_roster(NULL, NULL, NULL, '{}', '{"mode":"delta","children":[
    {"ext_id":"r-c-new","name":"Новый Ребёнок","group":"r-g-900011"},
    {"ext_id":"r-c-lost","name":"Потерянный","group":"nowhere"}]}') #> '{body,rejected,0}') - 'message',
    '{"kind":"children","index":1,"key":"r-c-lost","code":"unknown_group"}'::jsonb, 'the bad row is rejected with its code');
SELECT is((SELECT count(*) FROM children WHERE ext_id IN ('r-c-new', 'r-c-lost')), 1::bigint,
          'the good row beside it is created, the bad one is not');


SELECT * FROM finish();
ROLLBACK;
