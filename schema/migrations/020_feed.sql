-- 020_feed.sql -- the feed: news and calendar events, who sees them, publishing them.
-- Its functions: functions/feed.sql.

-- A retried POST with the same client id "cid" finds the item it made.
ALTER TABLE news ADD COLUMN cid text CHECK (cid IS NULL OR char_length(cid) BETWEEN 1 AND 64);
CREATE UNIQUE INDEX news_author_cid_idx ON news (author_id, cid) WHERE cid IS NOT NULL;
-- An author always sees what they published (GET /api/feed).
CREATE INDEX news_author_idx ON news (author_id, id DESC);
