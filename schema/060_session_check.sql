-- 060_session_check.sql -- the hubs' periodic check of the sessions behind their live sockets.
--
-- Revocation reaches a hub through a Redis message that can be lost, and a
-- token's expiry passes while its socket stays open: every hub asks this every
-- few seconds for the session ids it holds, and closes the dead ones (4401).

-- epos_sessions_dead(sids) -> (sid, reason) for each of the given session ids
-- that may no longer act: reason 'revoked' (logout, password change, new
-- credentials, or no such session), 'disabled' (the user was disabled) or
-- 'expired'. Live sessions are not listed; NULL or an empty array: no rows.
-- One indexed lookup per id: a hub with 15,000 sockets asks in one statement.
CREATE FUNCTION epos_sessions_dead(p_sids bigint[]) RETURNS TABLE (sid bigint, reason text)
LANGUAGE sql STABLE AS $$
    SELECT q.id,
           CASE WHEN s.id IS NULL OR s.revoked_at IS NOT NULL THEN 'revoked'
                WHEN u.disabled THEN 'disabled'
                ELSE 'expired' END
      FROM unnest(coalesce(p_sids, '{}')) AS q(id)
      LEFT JOIN sessions s ON s.id = q.id
      LEFT JOIN users u ON u.id = s.user_id
     WHERE s.id IS NULL OR s.revoked_at IS NOT NULL OR u.disabled OR s.expires_at <= now()
$$;
