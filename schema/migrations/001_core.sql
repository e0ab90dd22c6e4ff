-- 001_core.sql -- the data model: orgs, people, relations, attendance, chats, event log, feed, mail, outbox.
--
-- Applied by `eposctl migrate` inside one transaction together with its row in
-- schema_migrations; so no BEGIN/COMMIT here and nothing that cannot run in a
-- transaction (CREATE INDEX CONCURRENTLY, ALTER TYPE … ADD VALUE).
-- Enum-like columns are text with a CHECK: adding a value later is an
-- ALTER TABLE … DROP/ADD CONSTRAINT in a new migration, no type to migrate.

-- The ledgers. eposctl creates them before the first migration (it must
-- read them first); repeated here so the file documents the whole model.
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    text PRIMARY KEY,                 -- file name without ".sql", e.g. '001_core'
    applied_at timestamptz NOT NULL DEFAULT now(),
    checksum   text                              -- sha256 of the file as applied (hex)
);
CREATE TABLE IF NOT EXISTS schema_functions (
    file       text PRIMARY KEY,                 -- 'chat.sql' of schema/functions/
    checksum   text NOT NULL,                    -- sha256 of the file as last applied
    applied_at timestamptz NOT NULL DEFAULT now()
);

-- ---------------------------------------------------------------- orgs

CREATE TABLE orgs (
    id                  bigserial PRIMARY KEY,
    name                text NOT NULL UNIQUE CHECK (length(btrim(name)) > 0),
    kind                text NOT NULL CHECK (kind IN ('kindergarten', 'school')),
    tz                  text NOT NULL DEFAULT 'Asia/Yekaterinburg' CHECK (length(tz) > 0),
    timesheet_deadline  time NOT NULL DEFAULT '18:00',
    quiet_from          time NOT NULL DEFAULT '20:00',  -- routine mail waits from …
    quiet_to            time NOT NULL DEFAULT '08:00',  -- … until (may wrap midnight)
    parents_see_parents boolean NOT NULL DEFAULT false,  -- parents may write to other parents
    created_at          timestamptz NOT NULL DEFAULT now()
);

-- Day overrides of the org's calendar; a day without a row is a workday on
-- Monday..Friday and a day off on Saturday/Sunday.
CREATE TABLE org_calendar (
    org_id bigint NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    day    date NOT NULL,
    kind   text NOT NULL CHECK (kind IN ('workday', 'holiday', 'vacation')),
    PRIMARY KEY (org_id, day)
);

CREATE TABLE buildings (
    id      bigserial PRIMARY KEY,
    org_id  bigint NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    name    text NOT NULL,
    address text
);
CREATE INDEX buildings_org_idx ON buildings (org_id);

-- A kindergarten group (kind 'group') or a school class (kind 'class').
CREATE TABLE groups (
    id              bigserial PRIMARY KEY,
    org_id          bigint NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    building_id     bigint REFERENCES buildings(id) ON DELETE SET NULL,
    name            text NOT NULL CHECK (length(btrim(name)) > 0),
    kind            text NOT NULL CHECK (kind IN ('group', 'class')),
    lessons_per_day integer NOT NULL DEFAULT 0 CHECK (lessons_per_day BETWEEN 0 AND 12),
    UNIQUE (org_id, name)        -- also serves "groups of an org"
);

-- ---------------------------------------------------------------- people

CREATE TABLE users (
    id                   bigserial PRIMARY KEY,
    login                text NOT NULL UNIQUE
                         CHECK (login = lower(login) AND login ~ '^[a-z0-9][a-z0-9._@-]{0,63}$'),
    password_hash        text,                       -- yescrypt "$y$…"; NULL: cannot log in yet
    must_change_password boolean NOT NULL DEFAULT false,
    full_name            text NOT NULL CHECK (length(btrim(full_name)) > 0),
    email                text,
    phone                text,
    disabled             boolean NOT NULL DEFAULT false,
    created_at           timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE sessions (
    id         bigserial PRIMARY KEY,
    user_id    bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz,
    CHECK (expires_at > created_at)
);
CREATE INDEX sessions_user_idx ON sessions (user_id);

CREATE TABLE staff_roles (
    user_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    org_id  bigint NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    role    text NOT NULL CHECK (role IN ('admin', 'teacher', 'class_teacher')),
    PRIMARY KEY (user_id, org_id, role)
);
CREATE INDEX staff_roles_org_idx ON staff_roles (org_id, role);

-- The binding an administrator makes: this teacher keeps this group's timesheet.
CREATE TABLE teacher_groups (
    user_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    group_id bigint NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, group_id)
);
CREATE INDEX teacher_groups_group_idx ON teacher_groups (group_id);

-- At most one class teacher per group (normally a class).
CREATE TABLE class_teachers (
    group_id bigint PRIMARY KEY REFERENCES groups(id) ON DELETE CASCADE,
    user_id  bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE
);
CREATE INDEX class_teachers_user_idx ON class_teachers (user_id);

CREATE TABLE children (
    id         bigserial PRIMARY KEY,
    org_id     bigint NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    full_name  text NOT NULL CHECK (length(btrim(full_name)) > 0),
    birth_date date
);
CREATE INDEX children_org_idx ON children (org_id);

-- The current group of a child: one row per child.
CREATE TABLE enrolments (
    child_id bigint PRIMARY KEY REFERENCES children(id) ON DELETE CASCADE,
    group_id bigint NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
    since    date NOT NULL DEFAULT current_date
);
CREATE INDEX enrolments_group_idx ON enrolments (group_id);

-- A parent (законный представитель) of a child.
CREATE TABLE guardians (
    user_id  bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    child_id bigint NOT NULL REFERENCES children(id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, child_id)
);
CREATE INDEX guardians_child_idx ON guardians (child_id);

-- ---------------------------------------------------------------- attendance

-- A parent's notice: whole days from_date..to_date (lessons NULL), or only the
-- listed lessons (1-based) of each of those days.
CREATE TABLE absence_notices (
    id         bigserial PRIMARY KEY,
    child_id   bigint NOT NULL REFERENCES children(id) ON DELETE CASCADE,
    parent_id  bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    from_date  date NOT NULL,
    to_date    date NOT NULL,
    lessons    integer[] CHECK (lessons IS NULL OR (cardinality(lessons) > 0
                                                    AND 0 < ALL (lessons) AND 13 > ALL (lessons))),
    reason     text NOT NULL DEFAULT '',
    status     text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'withdrawn')),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CHECK (to_date >= from_date)
);
CREATE INDEX absence_notices_child_idx ON absence_notices (child_id, from_date, to_date);

-- The timesheet: one mark per child and day; a child without a row is "unmarked".
-- group_id is the group the child was in that day (enrolments only knows today).
CREATE TABLE attendance_marks (
    child_id   bigint NOT NULL REFERENCES children(id) ON DELETE CASCADE,
    day        date NOT NULL,
    group_id   bigint NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
    status     text NOT NULL CHECK (status IN ('present', 'absent')),
    source     text NOT NULL CHECK (source IN ('teacher', 'parent')),
    reason     text,
    lessons    integer[],                     -- absent for these lessons only; NULL: whole day
    notice_id  bigint REFERENCES absence_notices(id) ON DELETE SET NULL,
    marked_by  bigint REFERENCES users(id) ON DELETE SET NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (child_id, day)
);
CREATE INDEX attendance_marks_group_day_idx ON attendance_marks (group_id, day);
CREATE INDEX attendance_marks_notice_idx ON attendance_marks (notice_id) WHERE notice_id IS NOT NULL;

-- ---------------------------------------------------------------- chats

CREATE TABLE chats (
    id         bigserial PRIMARY KEY,
    kind       text NOT NULL CHECK (kind IN ('direct', 'group')),
    title      text,
    org_id     bigint REFERENCES orgs(id) ON DELETE CASCADE,
    direct_key text UNIQUE,                   -- 'min:max' of the two user ids of a direct chat
    created_by bigint REFERENCES users(id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CHECK ((kind = 'direct') = (direct_key IS NOT NULL)),
    CHECK (direct_key IS NULL OR direct_key ~ '^[0-9]+:[0-9]+$')
);

CREATE TABLE chat_members (
    chat_id   bigint NOT NULL REFERENCES chats(id) ON DELETE CASCADE,
    user_id   bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    read_seq  bigint NOT NULL DEFAULT 0 CHECK (read_seq >= 0),
    joined_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (chat_id, user_id)
);
CREATE INDEX chat_members_user_idx ON chat_members (user_id);

CREATE TABLE chat_messages (
    id        bigserial PRIMARY KEY,
    chat_id   bigint NOT NULL REFERENCES chats(id) ON DELETE CASCADE,
    seq       bigint NOT NULL,                -- the seq of its event in topic chat:<chat_id>
    sender_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    cid       text,                           -- client id: a retried send is stored once
    text      text NOT NULL,
    ts        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (chat_id, seq),
    UNIQUE (sender_id, cid)
);

-- ---------------------------------------------------------------- event log

-- The next seq of each topic; the row lock serializes the writers of a topic.
CREATE TABLE topic_seq (
    topic text PRIMARY KEY,
    seq   bigint NOT NULL CHECK (seq > 0)
);

-- Every persistent event, gap-free per topic (see epos_event_append).
CREATE TABLE events (
    topic   text NOT NULL
            CHECK (topic ~ '^(user|chat|group|org|timesheet|orgstaff):[0-9]+$'),
    seq     bigint NOT NULL CHECK (seq > 0),
    type    text NOT NULL CHECK (type ~ '^[a-z][a-z0-9_.]*$'),
    ts      timestamptz NOT NULL DEFAULT now(),
    payload jsonb NOT NULL DEFAULT '{}',
    PRIMARY KEY (topic, seq)
);

-- ---------------------------------------------------------------- feed

CREATE TABLE news (
    id          bigserial PRIMARY KEY,
    org_id      bigint NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    author_id   bigint REFERENCES users(id) ON DELETE SET NULL,
    kind        text NOT NULL DEFAULT 'news' CHECK (kind IN ('news', 'event')),
    event_kind  text CHECK (event_kind IN ('event', 'test', 'holiday')),
    title       text NOT NULL CHECK (length(btrim(title)) > 0),
    body        text NOT NULL DEFAULT '',
    event_date  date,
    require_ack boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (kind = 'news' OR (event_kind IS NOT NULL AND event_date IS NOT NULL))
);
CREATE INDEX news_org_idx ON news (org_id, id DESC);

-- Who a news item is for: group_id NULL = the whole org.
CREATE TABLE news_audience (
    news_id  bigint NOT NULL REFERENCES news(id) ON DELETE CASCADE,
    group_id bigint REFERENCES groups(id) ON DELETE CASCADE,
    UNIQUE NULLS NOT DISTINCT (news_id, group_id)
);
CREATE INDEX news_audience_group_idx ON news_audience (group_id, news_id);

CREATE TABLE news_acks (
    news_id  bigint NOT NULL REFERENCES news(id) ON DELETE CASCADE,
    user_id  bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    acked_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (news_id, user_id)
);
CREATE INDEX news_acks_user_idx ON news_acks (user_id);

-- ---------------------------------------------------------------- mail

-- Per-user email preference for a kind of notification (an event type such
-- as 'chat.message' or 'timesheet.reminder'); no row: the kind's default.
CREATE TABLE notification_prefs (
    user_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    kind    text NOT NULL CHECK (kind ~ '^[a-z][a-z0-9_.]*$'),
    email   boolean NOT NULL,
    PRIMARY KEY (user_id, kind)
);

-- One row per notification mail; message_id is deterministic, so a retried
-- job finds the row instead of sending twice.
CREATE TABLE email_log (
    id              bigserial PRIMARY KEY,
    message_id      text NOT NULL UNIQUE,
    user_id         bigint REFERENCES users(id) ON DELETE SET NULL,
    to_addr         text NOT NULL,
    kind            text NOT NULL,
    subject         text NOT NULL DEFAULT '',
    body            text NOT NULL DEFAULT '',
    urgent          boolean NOT NULL DEFAULT false,   -- ignores quiet hours
    status          text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'sent', 'retry', 'dead')),
    attempts        integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    last_error      text,
    next_attempt_at timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz
);
CREATE INDEX email_log_pending_idx ON email_log (next_attempt_at)
    WHERE status IN ('queued', 'retry');
CREATE INDEX email_log_user_idx ON email_log (user_id, created_at);

CREATE TABLE email_attempts (
    id        bigserial PRIMARY KEY,
    email_id  bigint NOT NULL REFERENCES email_log(id) ON DELETE CASCADE,
    at        timestamptz NOT NULL DEFAULT now(),
    outcome   text NOT NULL CHECK (outcome IN ('sent', 'temporary', 'permanent')),
    smtp_code integer,
    detail    text
);
CREATE INDEX email_attempts_email_idx ON email_attempts (email_id);

-- ---------------------------------------------------------------- outbox

-- Work for the workers, written in the transaction that caused it; the relay
-- moves unrelayed rows to the Redis stream epos:jobs:<kind>.
CREATE TABLE outbox (
    id         bigserial PRIMARY KEY,
    kind       text NOT NULL CHECK (kind ~ '^[a-z][a-z0-9_.]*$'),
    payload    jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now(),
    relayed_at timestamptz
);
CREATE INDEX outbox_unrelayed_idx ON outbox (id) WHERE relayed_at IS NULL;

-- Wake the relay. Statement-level: one NOTIFY per INSERT statement, and
-- PostgreSQL folds identical notifications of one transaction into one,
-- delivered at commit (never for a rolled-back insert).
CREATE FUNCTION outbox_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('outbox', '');
    RETURN NULL;
END
$$;

CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
    FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();

-- ---------------------------------------------------------------- schedulers, audit

-- The deadline pass of an org for a day ran (inserted first: exactly once).
CREATE TABLE reminder_runs (
    org_id      bigint NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    day         date NOT NULL,
    started_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    groups_missed integer,
    PRIMARY KEY (org_id, day)
);

CREATE TABLE audit_log (
    id       bigserial PRIMARY KEY,
    at       timestamptz NOT NULL DEFAULT now(),
    actor_id bigint REFERENCES users(id) ON DELETE SET NULL,
    action   text NOT NULL,
    object   text,
    detail   jsonb
);
CREATE INDEX audit_log_at_idx ON audit_log (at);
CREATE INDEX audit_log_actor_idx ON audit_log (actor_id, at) WHERE actor_id IS NOT NULL;
