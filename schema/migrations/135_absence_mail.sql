-- 135_absence_mail.sql -- the applied and kept notice mails are one function now,
-- epos_absence_mail(notice, gid, kept, day_off) in functions/absence.sql: drop its two predecessors.
DROP FUNCTION IF EXISTS epos_absence_mail_filed(bigint, bigint);
DROP FUNCTION IF EXISTS epos_absence_mail_kept(bigint, bigint, boolean);
