-- 012_logout_refresh.sql -- a logout reaches the open WebSockets of that session.
--
-- The hub recomputes the topics of the users named in "refresh"; for a
-- revoked session that query fails with EP401 and the hub closes the
-- connection with 4401. Without it a logged-out browser tab kept receiving.
CREATE OR REPLACE FUNCTION epos_api_logout(p_uid bigint, p_sid bigint, p_id bigint, p_args jsonb,
                                           p_body jsonb)
RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM epos_require_session(p_sid, p_uid);
    UPDATE sessions SET revoked_at = now() WHERE id = p_sid AND user_id = p_uid;
    INSERT INTO audit_log (actor_id, action, object)
    VALUES (p_uid, 'logout', 'session:' || p_sid);
    RETURN jsonb_build_object('status', 200, 'body', jsonb_build_object('ok', true),
                              'refresh', jsonb_build_array(p_uid));
END
$$;
