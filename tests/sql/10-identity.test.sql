-- 10-identity.test.sql -- sessions, login, passwords, /api/me, who may write to whom, staff credentials.
BEGIN;
\ir fixtures.sql
SELECT plan(50);

-- ---- sessions: a live session of an enabled user, nothing else
SELECT lives_ok($$SELECT epos_require_session(900201, 900201)$$, 'a live session passes');
SELECT throws_ok($$SELECT epos_require_session(900202, 900201)$$, 'EP401', NULL,
                 'another user''s session is refused');
SELECT throws_ok($$SELECT epos_require_session(900204, 900204)$$, 'EP401', NULL,
                 'a disabled user''s session is refused');
UPDATE sessions SET created_at = now() - interval '2 days', expires_at = now() - interval '1 s'
 WHERE id = 900203;
SELECT throws_ok($$SELECT epos_require_session(900203, 900203)$$, 'EP401', NULL,
                 'an expired session is refused');
SELECT throws_ok($$SELECT epos_require_session(NULL, 900201)$$, 'EP401', NULL, 'no session is refused');

-- ---- login
SELECT is((SELECT uid FROM epos_login_lookup('  T.Parent ')), 900201::bigint,
          'the login is found lower-cased and trimmed');
SELECT is_empty($$SELECT * FROM epos_login_lookup('nobody')$$, 'an unknown login gives no row');
SELECT is((SELECT login_key FROM epos_login_find(E' Adm\u0130n1 ')), 'admin1',
          'one normalization: İ folds to i, blanks go');
SELECT is((SELECT uid FROM epos_login_find(E'\u212A')), NULL::bigint,
          'an unknown login is one row without a user');
SELECT is((SELECT login_key FROM epos_login_find(E'\u212A')), 'k', 'the Kelvin sign folds to k');
SELECT throws_ok($$SELECT * FROM epos_login_session(900204, 3600)$$, 'EP401', NULL,
                 'a disabled user cannot open a session');
SELECT throws_ok($$SELECT * FROM epos_login_session(900201, 0)$$, 'EP400', NULL, 'a ttl of 0 s is refused');
SELECT throws_ok($$SELECT * FROM epos_login_session(900201, 31536001)$$, 'EP400', NULL,
                 'a ttl past a year is refused');
CREATE TEMP TABLE t_login AS SELECT * FROM epos_login_session(900201, 3600);
SELECT is((SELECT count(*) FROM sessions s JOIN t_login l ON l.sid = s.id
            WHERE s.user_id = 900201 AND s.revoked_at IS NULL
              AND extract(epoch FROM s.expires_at)::bigint = l.expires_at), 1::bigint,
          'login leaves a live session whose expiry is the token''s');
SELECT is((SELECT user_json::jsonb ->> 'id' FROM t_login), '900201', 'login returns the user object');
SELECT is((SELECT count(*) FROM audit_log a JOIN t_login l ON a.object = 'session:' || l.sid
            WHERE a.action = 'login' AND a.actor_id = 900201), 1::bigint, 'login is audited');

-- ---- passwords
SELECT throws_ok($$SELECT epos_password_set(900201, 900201, 'plain')$$, 'EP400', NULL,
                 'a password that is not a crypt hash is refused');
SELECT throws_ok($$SELECT epos_password_set(900201, 900202, '$y$j9T$abcdefgh$ijkl')$$, 'EP401', NULL,
                 'another user''s session cannot set a password');
SELECT lives_ok($$SELECT epos_password_set(900201, 900201, '$y$j9T$abcdefgh$ijkl')$$,
                'the caller sets a new hash');
SELECT is(epos_password_hash_of(900201), '$y$j9T$abcdefgh$ijkl', 'the hash is stored');
SELECT is((SELECT count(*) FROM sessions WHERE user_id = 900201 AND revoked_at IS NULL), 1::bigint,
          'a changed password ends every other session of the user');
SELECT ok(epos_password_hash_of(900204) IS NULL, 'a disabled user has no hash to check');

-- ---- logout
SELECT is(epos_api_logout(900202, 900202, NULL, '{}', NULL) -> 'body', '{"ok": true}'::jsonb,
          'logout answers ok');
SELECT throws_ok($$SELECT epos_require_session(900202, 900202)$$, 'EP401', NULL,
                 'after logout the session is refused');
SELECT throws_ok($$SELECT epos_api_logout(900202, 900202, NULL, '{}', NULL)$$, 'EP401', NULL,
                 'a second logout is refused');

-- ---- /api/me
SELECT is(epos_api_me(900201, 900201, NULL, '{}', NULL) #> '{body,children,0,id}', '900301'::jsonb,
          'a parent sees their child');
SELECT is(jsonb_array_length(epos_api_me(900201, 900201, NULL, '{}', NULL) #> '{body,children}'), 1,
          'and no other family''s');
SELECT is(epos_api_me(900102, 900102, NULL, '{}', NULL) #> '{body,groups,0,id}', '900011'::jsonb,
          'a teacher sees the group bound to them');
SELECT throws_ok($$SELECT epos_api_me(900201, 900101, NULL, '{}', NULL)$$, 'EP401', NULL,
                 '/api/me needs the caller''s own session');

-- ---- who may write to whom
SELECT ok(epos_can_contact(900201, 900102), 'a parent may write to their child''s teacher');
SELECT ok(epos_can_contact(900201, 900101), 'a parent may write to their child''s org admin');
SELECT ok(NOT epos_can_contact(900201, 900103), 'not to the teacher of another group');
SELECT ok(NOT epos_can_contact(900201, 900202), 'not to another parent (parents_see_parents off)');
SELECT ok(NOT epos_can_contact(900201, 900201), 'not to oneself');
SELECT ok(NOT epos_can_contact(900102, 900204), 'not to a disabled user');
SELECT ok(epos_can_contact(900102, 900201), 'a teacher may write to the parents of their group');
SELECT ok(NOT epos_can_contact(900104, 900201), 'not a class teacher of another org');

-- ---- staff credentials (an admin, for staff of their own org): a one-time link, no password
SELECT throws_ok($$SELECT epos_api_staff_credentials(900201, 900201, 900102, '{}', '{}')$$, 'EP403', NULL,
                 'a parent may not issue credentials');
SELECT throws_ok($$SELECT epos_api_staff_credentials(900101, 900101, 900104, '{}', '{}')$$, 'EP403', NULL,
                 'an admin may not issue credentials in another org');
SELECT throws_ok($$SELECT epos_api_staff_credentials(900101, 900101, 999999, '{}', '{}')$$, 'EP404', NULL,
                 'an unknown staff member is not found');
SELECT is((epos_api_staff_credentials(900101, 900101, 900102, '{}', '{}') -> 'body' ->> 'repeated'),
          'false', 'an admin issues credentials to a teacher of their org');
SELECT is((SELECT count(*) FROM outbox WHERE kind = 'email.notify' AND payload ->> 'kind' = 'credentials'
            AND (payload ->> 'user_id')::bigint = 900102 AND payload ->> 'urgent' = 'true'
            AND NOT payload ? 'body' AND payload ? 'grant_id'), 1::bigint,
          'one urgent credentials mail is queued, carrying ids and no secret');
SELECT is((SELECT count(*) FROM sessions WHERE user_id = 900102 AND revoked_at IS NULL)
          + (SELECT count(*) FROM users WHERE id = 900102
              AND (NOT must_change_password OR password_hash IS NOT NULL)), 0::bigint,
          'the teacher''s sessions and password end until the link is used');
SELECT is((epos_api_staff_credentials(900101, 900101, 900102, '{}', '{}') -> 'body' ->> 'repeated'),
          'true', 'a second request within five minutes is answered again');
SELECT is((SELECT count(*) FROM outbox WHERE kind = 'email.notify' AND payload ->> 'kind' = 'credentials'
            AND (payload ->> 'user_id')::bigint = 900102), 1::bigint, 'and queues no second mail');
SELECT is((epos_credentials_mint((SELECT max(id) FROM credential_grants WHERE user_id = 900102),
                                 repeat('ab', 32)) ->> 'ok'), 'true', 'the worker mints the link');
SELECT lives_ok($$SELECT epos_password_link_check(repeat('ab', 32))$$, 'the minted link may be used');
SELECT is((SELECT count(*) FROM epos_password_link_use(repeat('ab', 32), '$y$j9T$abcdefgh$ijkl', 3600)), 1::bigint,
          'using the link opens a session');
SELECT throws_ok($$SELECT epos_password_link_check(repeat('ab', 32))$$, 'EP409', NULL,
                 'a used link is refused');
SELECT throws_ok($$SELECT epos_password_link_check(repeat('cd', 32))$$, 'EP404', NULL,
                 'an unknown link is not found');

SELECT * FROM finish();
ROLLBACK;
