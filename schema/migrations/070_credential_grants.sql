-- 070_credential_grants.sql -- first-login credentials as a one-time set-password link.
--
-- Issuing credentials (POST /api/staff/{id}/credentials) no longer makes a
-- password: it records a grant and queues a mail whose job payload carries
-- only ids. The worker that renders the mail draws a random token, stores
-- its SHA-256 here (epos_credentials_mint) and puts the token only into the
-- mail's link; PostgreSQL, the outbox, the Redis streams, the retry set, the
-- dead letters and the logs never hold anything that signs anyone in. A
-- replayed or retried mail mints a new token, and the new hash replaces the
-- old, so only the link of the last mail works. The staff member opens the
-- link and chooses a password (POST /api/password/set: epos_password_link_check
-- before any hashing, epos_password_link_use to consume the link once and
-- open a session).
--
-- Issuing is idempotent for a short while: a second request for the same
-- person within five minutes, while the first grant is unused and its mail
-- not dead, answers the same and queues nothing (a client retrying after a
-- lost answer does not send a second mail). Later, or after a dead mail, a
-- new grant ends the old one (its link stops working) and a new mail goes.

CREATE TABLE credential_grants (
    id         bigserial PRIMARY KEY,
    user_id    bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    issued_by  bigint REFERENCES users(id) ON DELETE SET NULL,
    org_id     bigint REFERENCES orgs(id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    token_hash text UNIQUE CHECK (token_hash ~ '^[0-9a-f]{64}$'), -- SHA-256 of the mailed token
    minted_at  timestamptz,
    expires_at timestamptz,
    used_at    timestamptz,
    ended_at   timestamptz -- a newer grant replaced this one
);
CREATE INDEX credential_grants_user_idx ON credential_grants (user_id, created_at DESC);

-- The password used to travel in the outbox; these made and checked it
-- (functions/identity.sql held them).
DROP FUNCTION IF EXISTS epos_staff_credentials(bigint, bigint, bigint, text, text, text);
DROP FUNCTION IF EXISTS epos_staff_credentials_check(bigint, bigint, bigint);
