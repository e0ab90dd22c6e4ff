-- 043_news_mail.sql -- news and calendar events by email to the parents of their audience.
-- Its functions: functions/mail.sql.

CREATE TABLE news_mailed (
    news_id    bigint PRIMARY KEY REFERENCES news(id) ON DELETE CASCADE,
    recipients integer NOT NULL,
    at         timestamptz NOT NULL DEFAULT now()
);
