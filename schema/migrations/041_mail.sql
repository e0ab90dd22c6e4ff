-- 041_mail.sql -- the mail job's SQL: preferences, quiet hours, the email log, mail held past quiet hours.
-- Its functions: functions/mail.sql.

CREATE TABLE mail_deferred (
    message_id text PRIMARY KEY,
    due_at     timestamptz NOT NULL,
    payload    jsonb NOT NULL,             -- the email.notify payload to queue again
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX mail_deferred_due_idx ON mail_deferred (due_at);
