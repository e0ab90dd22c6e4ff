-- 034_absence_answers.sql -- a notice carries the teacher's corrections.
--
-- When a teacher marks present a child a parent said would be absent, the
-- parent is told live (absence.status 'corrected' on user:<parent>). Those
-- events are also the record: a notice now lists them as "answers"
-- [{date,status,text}], so the parent sees them on any device and after a
-- reload, not only while the page that received them stays open.
CREATE OR REPLACE FUNCTION epos_absence_item(p_id bigint) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'id', n.id, 'child_id', n.child_id, 'child_name', c.full_name,
        'group_id', g.id, 'group_name', g.name, 'org_id', c.org_id,
        'parent_id', n.parent_id, 'parent_name', p.full_name,
        'from', to_char(n.from_date, 'YYYY-MM-DD'), 'to', to_char(n.to_date, 'YYYY-MM-DD'),
        'lessons', to_jsonb(n.lessons), 'reason', n.reason, 'status', n.status,
        'created_at', epos_ts(n.created_at), 'updated_at', epos_ts(n.updated_at),
        'applied', n.applied_at IS NOT NULL,
        'answers', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                               'date', ev.payload->>'date', 'status', ev.payload->>'status',
                               'text', ev.payload->>'text') ORDER BY ev.seq), '[]')
                      FROM events ev
                     WHERE ev.topic = 'user:' || n.parent_id AND ev.type = 'absence.status'
                       AND ev.payload->>'absence_id' = n.id::text
                       AND ev.payload->>'status' = 'corrected'))
      FROM absence_notices n
      JOIN children c ON c.id = n.child_id
      JOIN users p ON p.id = n.parent_id
      LEFT JOIN enrolments e ON e.child_id = n.child_id
      LEFT JOIN groups g ON g.id = e.group_id
     WHERE n.id = p_id
$$;
