-- 12-feed.test.sql -- news and calendar events: who may publish and see them, what a post leaves behind, cid, acks, /api/publish.
BEGIN;
\ir fixtures.sql
SELECT plan(61);

-- ---- who may publish
SELECT throws_ok($$SELECT epos_api_news_create(900201, 900201, NULL, '{}', '{"org_id": 900001, "title": "x"}')$$,
                 'EP403', NULL, 'a parent may not publish');
SELECT throws_ok($$SELECT epos_api_news_create(900102, 900102, NULL, '{}', '{"org_id": 900001, "title": "x"}')$$,
                 'EP403', NULL, 'a teacher who is no class teacher may not publish');
SELECT throws_ok($$SELECT epos_api_news_create(900101, 900101, NULL, '{}', '{"org_id": 900002, "title": "x"}')$$,
                 'EP403', NULL, 'an admin may not publish in another org');
SELECT throws_ok($$SELECT epos_api_news_create(900101, 900101, NULL, '{}',
                   '{"org_id": 900001, "title": "x", "group_ids": [900021]}')$$,
                 'EP403', NULL, 'nor to a group of another org');
SELECT throws_ok($$SELECT epos_api_news_create(900104, 900104, NULL, '{}', '{"org_id": 900002, "title": "x"}')$$,
                 'EP403', NULL, 'a class teacher may not publish to the whole org');
SELECT throws_ok($$SELECT epos_api_news_create(900101, 900101, NULL, '{}', '{"org_id": 999999, "title": "x"}')$$,
                 'EP404', NULL, 'an unknown org is not found');
SELECT throws_ok($$SELECT epos_api_news_create(900101, 900101, NULL, '{}',
                   '{"org_id": 900001, "title": "x", "group_ids": [999999]}')$$,
                 'EP404', NULL, 'an unknown group is not found');
SELECT throws_ok($$SELECT epos_api_news_create(900101, 900102, NULL, '{}', '{"org_id": 900001, "title": "x"}')$$,
                 'EP401', NULL, 'another user''s session is refused');

-- ---- bad bodies
SELECT throws_ok($$SELECT epos_api_news_create(900101, 900101, NULL, '{}', '[]')$$, 'EP400', NULL,
                 'a body that is not an object is refused');
SELECT throws_ok($$SELECT epos_api_news_create(900101, 900101, NULL, '{}', '{"title": "x"}')$$, 'EP400', NULL,
                 'a post without org_id is refused');
SELECT throws_ok($$SELECT epos_api_news_create(900101, 900101, NULL, '{}', '{"org_id": 900001, "title": "  "}')$$,
                 'EP400', NULL, 'a blank title is refused');
SELECT throws_ok($$SELECT epos_api_news_create(900101, 900101, NULL, '{}',
                   jsonb_build_object('org_id', 900001, 'title', repeat('т', 201)))$$,
                 'EP400', NULL, 'a title past 200 characters is refused');
SELECT throws_ok($$SELECT epos_api_news_create(900101, 900101, NULL, '{}',
                   '{"org_id": 900001, "title": "x", "require_ack": "yes"}')$$,
                 'EP400', NULL, 'require_ack must be a boolean');
SELECT throws_ok($$SELECT epos_api_news_create(900101, 900101, NULL, '{}',
                   '{"org_id": 900001, "title": "x", "group_ids": ["900011"]}')$$,
                 'EP400', NULL, 'group ids must be numbers');
SELECT throws_ok($$SELECT epos_api_events_create(900101, 900101, NULL, '{}', '{"org_id": 900001, "title": "x"}')$$,
                 'EP400', NULL, 'an event needs its date');
SELECT throws_ok($$SELECT epos_api_events_create(900101, 900101, NULL, '{}',
                   '{"org_id": 900001, "title": "x", "event_date": "2026-02-30"}')$$,
                 'EP400', NULL, 'an impossible date is refused');
SELECT throws_ok($$SELECT epos_api_events_create(900101, 900101, NULL, '{}',
                   '{"org_id": 900001, "title": "x", "event_date": "2026-12-01", "event_kind": "party"}')$$,
                 'EP400', NULL, 'an unknown event kind is refused');
SELECT is((SELECT count(*) FROM news), 0::bigint, 'no refused post left a row');

-- ---- an admin publishes to the whole org, with a cid
CREATE TEMP TABLE t_org AS
SELECT epos_api_news_create(900101, 900101, NULL, '{}',
       '{"org_id": 900001, "title": " Собрание ", "body": "В пятницу", "require_ack": true, "cid": "n1"}') AS r;
CREATE TEMP TABLE t_ids AS SELECT (r #>> '{body,item,id}')::bigint AS org_news FROM t_org;
SELECT is((SELECT r ->> 'status' FROM t_org), '201', 'an admin''s whole-org post is created');
SELECT is((SELECT r #>> '{body,item,title}' FROM t_org), 'Собрание', 'the title is stored trimmed');
SELECT is((SELECT r #> '{body,item,group_ids}' FROM t_org), '[]'::jsonb, 'a whole-org item has no group ids');
SELECT is((SELECT array_agg(f ->> 'topic') FROM t_org, jsonb_array_elements(r -> 'frames') f),
          ARRAY['org:900001'], 'it is published on the org topic only');
SELECT is((SELECT count(*) FROM events WHERE topic = 'org:900001' AND type = 'news'
            AND (payload ->> 'id')::bigint = (SELECT org_news FROM t_ids)), 1::bigint,
          'one news event is in the org''s log');
SELECT is((SELECT count(*) FROM news_audience WHERE news_id = (SELECT org_news FROM t_ids) AND group_id IS NULL),
          1::bigint, 'its audience is the whole org');
SELECT is((SELECT count(*) FROM outbox WHERE kind = 'news.email'
            AND (payload ->> 'news_id')::bigint = (SELECT org_news FROM t_ids)), 1::bigint,
          'one news.email job is queued');
SELECT is((SELECT count(*) FROM audit_log WHERE action = 'news.create' AND actor_id = 900101
            AND object = 'news:' || (SELECT org_news FROM t_ids)), 1::bigint, 'the post is audited');

-- ---- the same cid again: the stored item, nothing new
CREATE TEMP TABLE t_again AS
SELECT epos_api_news_create(900101, 900101, NULL, '{}', '{"org_id": 900001, "title": "Другое", "cid": "n1"}') AS r;
SELECT is((SELECT r ->> 'status' FROM t_again), '200', 'a repeated cid answers 200');
SELECT is((SELECT (r #>> '{body,item,id}')::bigint FROM t_again), (SELECT org_news FROM t_ids),
          'with the item it made');
SELECT is((SELECT r -> 'frames' FROM t_again), '[]'::jsonb, 'and publishes nothing');
SELECT is((SELECT count(*) FROM news), 1::bigint, 'no second item is stored');
SELECT is((SELECT count(*) FROM events WHERE topic = 'org:900001'), 1::bigint, 'no second event is appended');
SELECT throws_ok($$SELECT epos_api_events_create(900101, 900101, NULL, '{}',
                   '{"org_id": 900001, "title": "x", "event_date": "2026-12-01", "cid": "n1"}')$$,
                 'EP409', NULL, 'a news cid reused for an event is a conflict');

-- ---- chosen groups: one event per group topic, in id order
CREATE TEMP TABLE t_groups AS
SELECT epos_api_news_create(900101, 900101, NULL, '{}',
       '{"org_id": 900001, "title": "Зайчикам", "group_ids": [900012, 900012]}') AS r;
SELECT is((SELECT r #> '{body,item,group_ids}' FROM t_groups), '[900012]'::jsonb, 'group ids are made distinct');
CREATE TEMP TABLE t_two AS
SELECT epos_api_news_create(900101, 900101, NULL, '{}',
       '{"org_id": 900001, "title": "Обоим", "group_ids": [900012, 900011]}') AS r;
SELECT is((SELECT array_agg(f ->> 'topic' ORDER BY n) FROM t_two, jsonb_array_elements(r -> 'frames')
             WITH ORDINALITY AS x(f, n)),
          ARRAY['group:900011', 'group:900012'], 'a two-group post appends on each group topic in id order');
SELECT is((SELECT array_agg(seq ORDER BY seq) FROM events WHERE topic = 'group:900012'), ARRAY[1, 2]::bigint[],
          'the group topic''s seqs are gap-free');

-- ---- a class teacher publishes an event for their class
CREATE TEMP TABLE t_ev AS
SELECT epos_api_events_create(900104, 900104, NULL, '{}',
       '{"org_id": 900002, "title": "Экскурсия", "event_date": "2026-12-20", "group_ids": [900021]}') AS r;
SELECT is((SELECT r #>> '{body,item,event_kind}' FROM t_ev), 'event', 'event_kind defaults to event');
SELECT is((SELECT type FROM events WHERE topic = 'group:900021'), 'calendar.event',
          'a calendar.event is appended on the class topic');
SELECT is((SELECT count(*) FROM audit_log WHERE action = 'event.create' AND actor_id = 900104), 1::bigint,
          'the event is audited as event.create');

-- ---- who sees what in the feed
SELECT is((SELECT array_agg((i ->> 'title') ORDER BY (i ->> 'id')::bigint DESC)
             FROM jsonb_array_elements(epos_api_feed(900201, 900201, NULL, '{}', NULL) #> '{body,items}') i),
          ARRAY['Обоим', 'Собрание'], 'a parent sees the whole-org item and their group''s, newest first');
SELECT is(jsonb_array_length(epos_api_feed(900202, 900202, NULL, '{}', NULL) #> '{body,items}'), 3,
          'the other group''s parent sees the items for their group too');
SELECT is(epos_api_feed(900203, 900203, NULL, '{}', NULL) #>> '{body,items,0,title}', 'Экскурсия',
          'a parent of the other org sees only their class''s event');
SELECT is(jsonb_array_length(epos_api_feed(900101, 900101, NULL, '{"limit": "1"}', NULL) #> '{body,items}'), 1,
          'limit cuts the page');
SELECT is(epos_api_feed(900201, 900201, NULL,
                        jsonb_build_object('before', (SELECT org_news FROM t_ids)::text), NULL) #> '{body,items}',
          '[]'::jsonb, 'before pages back past the oldest item');
SELECT throws_ok($$SELECT epos_api_feed(900201, 900201, NULL, '{"limit": "ten"}', NULL)$$, 'EP400', NULL,
                 'a limit that is not a number is refused');
SELECT is(epos_api_feed(900201, 900201, NULL, '{}', NULL) #>> '{body,items,1,acked}', 'false',
          'an item not yet acknowledged shows acked false');

-- ---- acknowledging
SELECT throws_ok(format($$SELECT epos_api_news_ack(900203, 900203, %s, '{}', NULL)$$,
                        (SELECT org_news FROM t_ids)), 'EP404', NULL, 'an item one cannot see is not found');
SELECT throws_ok(format($$SELECT epos_api_news_ack(900201, 900201, %s, '{}', NULL)$$,
                        (SELECT (r #>> '{body,item,id}') FROM t_two)), 'EP409', NULL,
                 'an item that asks for no acknowledgement is a conflict');
CREATE TEMP TABLE t_ack AS
SELECT epos_api_news_ack(900201, 900201, (SELECT org_news FROM t_ids), '{}', NULL) AS r;
SELECT is((SELECT count(*) FROM news_acks WHERE user_id = 900201), 1::bigint, 'the acknowledgement is stored');
SELECT is((SELECT (f ->> 'topic') FROM t_ack, jsonb_array_elements(r -> 'frames') f), 'user:900101',
          'the author is told on their user topic');
SELECT is((SELECT payload ->> 'user_id' FROM events WHERE topic = 'user:900101' AND type = 'news.ack'), '900201',
          'the news.ack event names who acknowledged');
SELECT is(epos_api_news_ack(900201, 900201, (SELECT org_news FROM t_ids), '{}', NULL) -> 'frames', '[]'::jsonb,
          'a second acknowledgement publishes nothing');
SELECT is((SELECT count(*) FROM events WHERE topic = 'user:900101'), 1::bigint, 'and appends no event');

-- ---- the author's statistics
SELECT throws_ok(format($$SELECT epos_api_news_acks(900201, 900201, %s, '{}', NULL)$$,
                        (SELECT org_news FROM t_ids)), 'EP403', NULL, 'a parent may not see the statistics');
SELECT throws_ok($$SELECT epos_api_news_acks(900101, 900101, 999999, '{}', NULL)$$, 'EP404', NULL,
                 'an unknown item is not found');
SELECT is(epos_api_news_acks(900101, 900101, (SELECT org_news FROM t_ids), '{}', NULL) -> 'body',
          jsonb_build_object('acked', jsonb_build_array(jsonb_build_object(
                                 'id', 900201, 'name', 'Родителев Павел Андреевич',
                                 'at', (SELECT epos_ts(acked_at) FROM news_acks WHERE user_id = 900201))),
                             'pending', '[{"id": 900202, "name": "Мамина Елена Олеговна"}]'::jsonb),
          'the author sees who acknowledged and which parents (not the disabled one) have not');

-- ---- POST /api/publish (another subsystem; no user)
SELECT throws_ok($$SELECT epos_api_publish(NULL, NULL, NULL, '{}', '{"type": "Bad Type", "data": {}, "org": 900001}')$$,
                 'EP400', NULL, 'a type outside ^[a-z][a-z0-9_.]*$ is refused');
SELECT throws_ok($$SELECT epos_api_publish(NULL, NULL, NULL, '{}', '{"type": "x", "data": [], "org": 900001}')$$,
                 'EP400', NULL, 'data must be an object');
SELECT throws_ok($$SELECT epos_api_publish(NULL, NULL, NULL, '{}', '{"type": "x", "data": {}}')$$,
                 'EP400', NULL, 'at least one target is needed');
SELECT throws_ok($$SELECT epos_api_publish(NULL, NULL, NULL, '{}',
                   '{"type": "x", "data": {}, "users": [900201, 999999]}')$$,
                 'EP404', NULL, 'an unknown user is not found');
CREATE TEMP TABLE t_pub AS
SELECT epos_api_publish(NULL, NULL, NULL, '{}',
       '{"type": "grades.new", "data": {"n": 5}, "users": [900202, 900201], "groups": [900011], "org": 900001}') AS r;
SELECT is((SELECT r #> '{body,events}' FROM t_pub),
          '[{"seq": 1, "topic": "user:900201"}, {"seq": 1, "topic": "user:900202"},
            {"seq": 2, "topic": "group:900011"}, {"seq": 2, "topic": "org:900001"}]'::jsonb,
          'publish appends users, then groups, then the org, each in id order, at their next seqs');
SELECT is((SELECT count(*) FROM events WHERE type = 'grades.new' AND payload = '{"n": 5}'), 4::bigint,
          'every target''s log holds the event with its data');

SELECT * FROM finish();
ROLLBACK;
