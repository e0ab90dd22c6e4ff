-- 031_absence.sql -- parents' absence notices: filing, applying to the timesheet (worker), withdrawing, listing.
-- Its functions: functions/absence.sql.

-- cid: the client's id of the request, so a retried POST finds its notice.
-- applied_at: epos_absence_apply ran (it runs once however often the job does).
ALTER TABLE absence_notices
    ADD COLUMN cid text CHECK (cid IS NULL OR char_length(cid) BETWEEN 1 AND 64),
    ADD COLUMN applied_at timestamptz,
    ADD CONSTRAINT absence_notices_parent_cid_key UNIQUE (parent_id, cid);
