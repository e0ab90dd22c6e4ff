-- hub-data.sql -- bench users in bulk: :n staff of one org, a session each, :pairs direct chats.
--
-- Run by bench/run-hub.sh with psql -v n=15000 -v pairs=500 on a freshly
-- migrated database. Every user is a teacher of the org "Нагрузочный тест", so
-- the hub subscribes each of their connections to org:<id> (and user:<id>);
-- users bench1+bench2, bench3+bench4, ... share one direct chat each for the
-- chat benchmark. Tokens are minted outside from the (user_id, session id)
-- pairs with bench/mktokens, which signs them with the hub's token_secret.
\set ON_ERROR_STOP on
BEGIN;

INSERT INTO orgs (name, kind) VALUES ('Нагрузочный тест', 'school');

INSERT INTO users (login, full_name)
SELECT 'bench' || i, 'Нагрузка ' || i FROM generate_series(1, :n) AS i;

INSERT INTO staff_roles (user_id, org_id, role)
SELECT u.id, o.id, 'teacher'
  FROM users u CROSS JOIN orgs o
 WHERE u.login LIKE 'bench%' AND o.name = 'Нагрузочный тест';

INSERT INTO sessions (user_id, expires_at)
SELECT id, now() + interval '2 days' FROM users WHERE login LIKE 'bench%';

INSERT INTO chats (kind, org_id, direct_key, created_by)
SELECT 'direct', o.id, least(a.id, b.id) || ':' || greatest(a.id, b.id), a.id
  FROM generate_series(1, :pairs) AS k
  JOIN users a ON a.login = 'bench' || (2 * k - 1)
  JOIN users b ON b.login = 'bench' || (2 * k)
 CROSS JOIN orgs o
 WHERE o.name = 'Нагрузочный тест';

INSERT INTO chat_members (chat_id, user_id)
SELECT c.id, m.uid
  FROM chats c
 CROSS JOIN LATERAL (VALUES (split_part(c.direct_key, ':', 1)::bigint),
                            (split_part(c.direct_key, ':', 2)::bigint)) AS m(uid)
 WHERE c.org_id = (SELECT id FROM orgs WHERE name = 'Нагрузочный тест');

COMMIT;
ANALYZE;
