-- 130_mail_data.sql -- mail text leaves SQL: drop the functions that built subjects and bodies
-- (or passed the public URL for them). Their successors in functions/mail.sql queue data only;
-- the worker renders the text from its templates (workers/templates).
DROP FUNCTION IF EXISTS epos_email_notify(bigint, text, text, text, text, boolean);
DROP FUNCTION IF EXISTS epos_digest_text(bigint, bigint[], text);
DROP FUNCTION IF EXISTS epos_digest_user(bigint, timestamptz, text);
DROP FUNCTION IF EXISTS epos_digest_collect(timestamptz, text, integer);
DROP FUNCTION IF EXISTS epos_news_mail_text(bigint, text);
DROP FUNCTION IF EXISTS epos_news_emails(bigint, text);
