-- 043_news_mail.sql -- news and calendar events by email to the parents of their audience.
--
-- Publishing a news item or event queues a 'news.email' job (020_feed); the
-- job calls epos_news_emails, which queues one 'email.notify' per parent
-- (kind 'news', sent only while the parent is offline) — once per item,
-- however often the job runs (news_mailed).

CREATE TABLE news_mailed (
    news_id    bigint PRIMARY KEY REFERENCES news(id) ON DELETE CASCADE,
    recipients integer NOT NULL,
    at         timestamptz NOT NULL DEFAULT now()
);

-- epos_news_recipients(news) -> the parents (not disabled) of the children
-- the item is for: enrolled in one of its groups, or of its org when it is
-- for the whole org.
CREATE FUNCTION epos_news_recipients(p_news bigint) RETURNS SETOF bigint
LANGUAGE sql STABLE AS $$
    SELECT DISTINCT g.user_id
      FROM news n
      JOIN news_audience a ON a.news_id = n.id
      JOIN children c ON c.org_id = n.org_id
      LEFT JOIN enrolments e ON e.child_id = c.id
      JOIN guardians g ON g.child_id = c.id
      JOIN users u ON u.id = g.user_id AND NOT u.disabled
     WHERE n.id = p_news AND (a.group_id IS NULL OR a.group_id = e.group_id)
     ORDER BY 1
$$;

-- epos_news_mail_text(news, url) -> (subject, body) of the mail about an item.
CREATE FUNCTION epos_news_mail_text(p_news bigint, p_url text, OUT subject text, OUT body text)
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN n.kind = 'news' THEN 'Новость: ' || n.title
                WHEN n.event_kind = 'test' THEN format('Контрольная работа %s: %s', epos_date_text(n.event_date), n.title)
                ELSE format('Событие %s: %s', epos_date_text(n.event_date), n.title) END,
           format(E'Здравствуйте!\n\n%s — %s\n\n%s%s\n%s\nОткрыть ленту ЭПОС: %s\n',
                  o.name, n.title,
                  CASE WHEN n.kind = 'event' THEN 'Дата: ' || epos_date_text(n.event_date) || E'\n\n' ELSE '' END,
                  n.body,
                  CASE WHEN n.require_ack THEN E'\nПожалуйста, подтвердите в ЭПОС, что вы ознакомлены.\n' ELSE '' END,
                  coalesce(p_url, ''))
      FROM news n JOIN orgs o ON o.id = n.org_id
     WHERE n.id = p_news
$$;

-- epos_news_emails(news, url) -> the number of mails queued: one outbox
-- 'email.notify' {user_id,kind:'news',subject,body,urgent:false,
-- only_offline:true,message_id:'<news.<id>.<uid>@epos.local>'} per
-- recipient. Once per item: 0 when it was done before or the item is gone.
CREATE FUNCTION epos_news_emails(p_news bigint, p_url text DEFAULT NULL) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    t   record;
    v_n integer;
BEGIN
    SELECT * INTO t FROM epos_news_mail_text(p_news, p_url);
    IF t.subject IS NULL THEN
        RETURN 0;
    END IF;
    INSERT INTO news_mailed (news_id, recipients) VALUES (p_news, 0) ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
        RETURN 0;
    END IF;
    INSERT INTO outbox (kind, payload)
    SELECT 'email.notify', jsonb_build_object(
               'user_id', r.uid, 'kind', 'news', 'urgent', false, 'only_offline', true,
               'message_id', format('<news.%s.%s@epos.local>', p_news, r.uid),
               'subject', t.subject, 'body', t.body)
      FROM epos_news_recipients(p_news) AS r(uid);
    GET DIAGNOSTICS v_n = ROW_COUNT;
    UPDATE news_mailed SET recipients = v_n WHERE news_id = p_news;
    RETURN v_n;
END
$$;
