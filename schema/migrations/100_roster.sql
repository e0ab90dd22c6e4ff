-- 100_roster.sql -- external ids from the registry (ИС «Контингент»), provenance, and what a sync ended.
--
-- POST /api/roster (schema/functions/roster.sql) upserts by ext_id: the
-- registry's own identifier of an org, group, person or child, unique per
-- kind. A row with an ext_id is the registry's; a row without one was made
-- here (seed, an administrator). synced_at is when a roster sync last
-- created or changed the row (NULL: never) — on the relations too, which
-- have no id of their own (a binding is its person and group, a
-- guardianship its person and child).
--
-- Ending never deletes history: a group that the registry closes keeps its
-- row (ended_at), a child who left keeps theirs (left_at) with every mark
-- and notice; a relation that ends (an enrolment, a binding, a role, a
-- guardianship) leaves the live table — the one every authorization check
-- reads — and is recorded in roster_ended with when and by which sync.

ALTER TABLE orgs ADD COLUMN ext_id text UNIQUE CHECK (ext_id IS NULL OR char_length(ext_id) BETWEEN 1 AND 128),
                 ADD COLUMN synced_at timestamptz;
ALTER TABLE groups ADD COLUMN ext_id text UNIQUE CHECK (ext_id IS NULL OR char_length(ext_id) BETWEEN 1 AND 128),
                   ADD COLUMN synced_at timestamptz,
                   ADD COLUMN ended_at timestamptz;
ALTER TABLE users ADD COLUMN ext_id text UNIQUE CHECK (ext_id IS NULL OR char_length(ext_id) BETWEEN 1 AND 128),
                  ADD COLUMN synced_at timestamptz;
ALTER TABLE children ADD COLUMN ext_id text UNIQUE CHECK (ext_id IS NULL OR char_length(ext_id) BETWEEN 1 AND 128),
                     ADD COLUMN synced_at timestamptz,
                     ADD COLUMN left_at timestamptz;
ALTER TABLE staff_roles ADD COLUMN synced_at timestamptz;
ALTER TABLE teacher_groups ADD COLUMN synced_at timestamptz;
ALTER TABLE class_teachers ADD COLUMN synced_at timestamptz;
ALTER TABLE enrolments ADD COLUMN synced_at timestamptz;
ALTER TABLE guardians ADD COLUMN synced_at timestamptz;

-- One row per sync that reached the database (a malformed document does not).
CREATE TABLE roster_syncs (
    id       bigserial PRIMARY KEY,
    at       timestamptz NOT NULL DEFAULT now(),
    mode     text NOT NULL CHECK (mode IN ('delta', 'full')),
    org_id   bigint REFERENCES orgs(id) ON DELETE SET NULL,  -- the org of a full sync
    counts   jsonb NOT NULL,
    rejected integer NOT NULL DEFAULT 0,
    changed  boolean NOT NULL                                 -- false: an identical sync
);
CREATE INDEX roster_syncs_org_idx ON roster_syncs (org_id, at);

-- A relation a sync ended: kind 'enrolment' (child, group), 'binding'
-- (user, group, role teacher|class_teacher), 'role' (user, org, role),
-- 'guardian' (user, child). since: when it began, when known.
CREATE TABLE roster_ended (
    id       bigserial PRIMARY KEY,
    sync_id  bigint REFERENCES roster_syncs(id) ON DELETE SET NULL,
    kind     text NOT NULL CHECK (kind IN ('enrolment', 'binding', 'role', 'guardian')),
    user_id  bigint REFERENCES users(id) ON DELETE CASCADE,
    child_id bigint REFERENCES children(id) ON DELETE CASCADE,
    group_id bigint REFERENCES groups(id) ON DELETE CASCADE,
    org_id   bigint REFERENCES orgs(id) ON DELETE CASCADE,
    role     text,
    since    date,
    ended_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX roster_ended_user_idx ON roster_ended (user_id) WHERE user_id IS NOT NULL;
CREATE INDEX roster_ended_child_idx ON roster_ended (child_id) WHERE child_id IS NOT NULL;
