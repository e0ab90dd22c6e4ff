-- 030_attendance.sql -- the daily timesheet: who may keep it, a day's marks, corrections, unexplained absences.
-- Its functions: functions/attendance.sql.

-- An absence that had no parent notice was reported to the parents (once per
-- child and day, however often the teacher changes the mark).
CREATE TABLE unexplained_sent (
    child_id bigint NOT NULL REFERENCES children(id) ON DELETE CASCADE,
    day      date NOT NULL,
    sent_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (child_id, day)
);

-- Children by guardian, for "my children's notices" and "this child's parents".
CREATE INDEX IF NOT EXISTS guardians_user_idx ON guardians (user_id);
CREATE INDEX IF NOT EXISTS teacher_groups_user_idx ON teacher_groups (user_id);
