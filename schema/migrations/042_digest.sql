-- 042_digest.sql -- unread chat messages by email: one digest per recipient after a delay, never one mail per message.
-- Its functions: functions/mail.sql.

CREATE TABLE digest_pending (
    user_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    chat_id bigint NOT NULL REFERENCES chats(id) ON DELETE CASCADE,
    due_at  timestamptz NOT NULL,
    PRIMARY KEY (user_id, chat_id)
);
CREATE INDEX digest_pending_due_idx ON digest_pending (due_at);

CREATE TABLE digest_mailed (
    user_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    chat_id bigint NOT NULL REFERENCES chats(id) ON DELETE CASCADE,
    seq     bigint NOT NULL,                 -- the last message seq a digest listed
    PRIMARY KEY (user_id, chat_id)
);

-- A chat send marks digest_pending itself (epos_chat_send, functions/chat.sql): no outbox
-- job per message, whose NOTIFY would serialize every sender's commit.
COMMENT ON COLUMN digest_pending.due_at IS
    'the first unread message since the last digest; due after digest_delay_s';
