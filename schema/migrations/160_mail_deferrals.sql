-- 160_mail_deferrals.sql -- how many times servers deferred each mail (4xx while the relay took
-- other mail), so temporary failures follow the mail_retry schedule of hours, apart from the job's
-- ordinary attempts. Its function: epos_email_deferred in functions/mail.sql.

ALTER TABLE email_log ADD COLUMN deferrals integer NOT NULL DEFAULT 0 CHECK (deferrals >= 0);
