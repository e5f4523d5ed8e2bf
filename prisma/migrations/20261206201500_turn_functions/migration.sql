-- The hot path's writes as functions: each is one statement the gateway prepares once per
-- connection (no SQL text to parse and plan per call), one round trip, one transaction.
-- Inside a function each statement takes a fresh snapshot (READ COMMITTED), so what is read
-- after a lock sees everything committed before the lock was granted.

-- Appends one event to a session's log. The session's events lock makes its cursors commit in
-- the order they are drawn (a follower that saw N never later finds N-1); the session's cursor
-- before the new one (`prev_cursor`) is read under it. Instants are stored as UTC without a zone.
CREATE FUNCTION gw_append_event(p_session UUID, p_turn UUID, p_type TEXT, p_payload JSONB, p_created TIMESTAMPTZ,
  OUT event_cursor BIGINT, OUT prev_cursor BIGINT)
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_advisory_xact_lock(hashtext('events'), hashtext(p_session::text));
  SELECT coalesce(max(e.cursor), 0) INTO prev_cursor FROM "SessionEvent" e WHERE e."sessionId" = p_session;
  INSERT INTO "SessionEvent" ("sessionId", "turnId", type, payload, "createdAt")
    VALUES (p_session, p_turn, p_type, p_payload, p_created AT TIME ZONE 'UTC')
    RETURNING cursor INTO event_cursor;
END
$$;

-- A turn's start: under the session's turn lock, the session if it is this tenant's user's
-- (`owned`), its running turn if any (`busy`), whether its token is known to be out of credits
-- (`exhausted`: a 2001 whose re-check is not due yet); the turn's row, its turn.started event
-- and the day's usage count only when it is theirs, free and not exhausted (`event_cursor` set).
CREATE FUNCTION gw_start_turn(p_session UUID, p_tenant UUID, p_user UUID, p_turn UUID, p_text TEXT, p_instance UUID,
  p_started TIMESTAMPTZ, p_lease_until TIMESTAMPTZ, p_payload JSONB,
  OUT owned BOOLEAN, OUT session_row JSONB, OUT busy UUID, OUT exhausted BOOLEAN, OUT event_cursor BIGINT, OUT prev_cursor BIGINT)
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_advisory_xact_lock(hashtext('turn'), hashtext(p_session::text));
  SELECT to_jsonb(s),
      (SELECT t.id FROM "Turn" t WHERE t."sessionId" = p_session AND t.status = 'running' LIMIT 1),
      EXISTS (SELECT 1 FROM "Credential" c WHERE c.id = s."credentialId" AND c.state = 'exhausted' AND c."retryAfter" > now() AT TIME ZONE 'UTC')
    INTO session_row, busy, exhausted
    FROM "Session" s WHERE s.id = p_session AND s."tenantId" = p_tenant AND s."userId" = p_user;
  owned := session_row IS NOT NULL;
  IF NOT owned OR busy IS NOT NULL OR exhausted THEN
    RETURN;
  END IF;
  INSERT INTO "Turn" (id, "sessionId", text, status, "startedAt", "instanceId", "leaseUntil")
    VALUES (p_turn, p_session, p_text, 'running', p_started AT TIME ZONE 'UTC', p_instance, p_lease_until AT TIME ZONE 'UTC');
  SELECT a.event_cursor, a.prev_cursor INTO event_cursor, prev_cursor FROM gw_append_event(p_session, p_turn, 'turn.started', p_payload, p_started) a;
  INSERT INTO "UsageDaily" ("tenantId", "userId", "day", "turns")
    VALUES (p_tenant, p_user, (p_started AT TIME ZONE 'UTC')::date, 1)
    ON CONFLICT ("tenantId", "day", "userId") DO UPDATE SET "turns" = "UsageDaily"."turns" + 1;
END
$$;

-- A turn's end: its row is closed only if it still runs and is still this instance's (one
-- whose lease lapsed was closed as interrupted by another), and then its last event is
-- appended in the same transaction. No row closed: `event_cursor` is null.
CREATE FUNCTION gw_finish_turn(p_turn UUID, p_instance UUID, p_status TEXT, p_reply TEXT, p_error JSONB, p_finished TIMESTAMPTZ,
  p_session UUID, p_type TEXT, p_payload JSONB,
  OUT event_cursor BIGINT, OUT prev_cursor BIGINT)
LANGUAGE plpgsql AS $$
BEGIN
  UPDATE "Turn" SET status = p_status::"TurnStatus", reply = p_reply, error = p_error, "finishedAt" = p_finished AT TIME ZONE 'UTC', "leaseUntil" = NULL
    WHERE id = p_turn AND status = 'running' AND "instanceId" = p_instance;
  IF NOT FOUND THEN
    RETURN;
  END IF;
  SELECT a.event_cursor, a.prev_cursor INTO event_cursor, prev_cursor FROM gw_append_event(p_session, p_turn, p_type, p_payload, p_finished) a;
END
$$;
