-- 032_reminders.sql -- the deadline pass: remind the teachers of incomplete timesheets, tell the administrators.
-- Its functions: functions/reminders.sql.

ALTER TABLE reminder_runs ADD COLUMN attempt integer NOT NULL DEFAULT 1 CHECK (attempt > 0);
