-- nfcd fleet schema, migration 1: the shared counter high-water marks.
--
-- One row per tag (profile, uid): the highest SDMReadCtr any kiosk of the
-- fleet accepted. The replay rule is the same as the local store's: a tap is
-- accepted only when its counter is above the mark (gaps are normal, equal or
-- lower is a replay).

CREATE TABLE nfcd.counters (
    profile text        NOT NULL,
    uid     bytea       NOT NULL CHECK (octet_length(uid) BETWEEN 1 AND 32),
    -- SDMReadCtr is 24 bits on NTAG 424 DNA; nfcd carries it as uint32.
    ctr     bigint      NOT NULL CHECK (ctr BETWEEN 0 AND 4294967295),
    -- The kiosk that accepted ctr, and when its tap happened (kiosk clock).
    kiosk   text        NOT NULL,
    at      timestamptz NOT NULL,
    -- The random ID of the advance that set this row: a kiosk resending an
    -- advance whose first answer it never got recognises its own.
    nonce   bigint      NOT NULL,
    -- When the database accepted it (database clock).
    updated timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (profile, uid)
) WITH (fillfactor = 90); -- room on the page for HOT updates: an advance never touches the index

-- advance is the compare-and-advance of one tap in one round trip. It
-- accepts ctr when the tag has no mark yet or ctr is above it, and returns
-- the mark after the call: on refusal, the kiosk that holds it and when.
--
-- The refusal path reads the row in a second statement: in READ COMMITTED
-- each statement of a volatile function takes a new snapshot, so it sees the
-- row version that made ON CONFLICT refuse, including one inserted by a
-- transaction that committed after this call began (a single-statement CTE
-- would read its start-of-statement snapshot and could find no row).
CREATE FUNCTION nfcd.advance(
    p_profile text, p_uid bytea, p_ctr bigint, p_kiosk text, p_at timestamptz, p_nonce bigint,
    OUT o_accepted boolean, OUT o_ctr bigint, OUT o_kiosk text, OUT o_at timestamptz, OUT o_nonce bigint)
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO nfcd.counters AS c (profile, uid, ctr, kiosk, at, nonce)
    VALUES (p_profile, p_uid, p_ctr, p_kiosk, p_at, p_nonce)
    ON CONFLICT (profile, uid) DO UPDATE
        SET ctr = EXCLUDED.ctr, kiosk = EXCLUDED.kiosk, at = EXCLUDED.at,
            nonce = EXCLUDED.nonce, updated = now()
        WHERE c.ctr < EXCLUDED.ctr
    RETURNING true, c.ctr, c.kiosk, c.at, c.nonce
    INTO o_accepted, o_ctr, o_kiosk, o_at, o_nonce;
    IF FOUND THEN
        RETURN;
    END IF;
    SELECT false, c.ctr, c.kiosk, c.at, c.nonce
    INTO o_accepted, o_ctr, o_kiosk, o_at, o_nonce
    FROM nfcd.counters c
    WHERE c.profile = p_profile AND c.uid = p_uid;
END
$$;
