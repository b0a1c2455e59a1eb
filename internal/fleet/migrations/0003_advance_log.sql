-- nfcd fleet schema, migration 3: the answers to queued advances.
--
-- A kiosk pushes its queued advances in batches and removes them from its
-- queue after the answers arrived. If it crashes (or its queue write fails)
-- in between, it sends them again, and by then the mark may have moved on,
-- even by its own later advances of the same batch: the second answer would
-- no longer say whether the first one was accepted. So each queued advance's
-- first answer is kept here under the kiosk and the advance's nonce, and a
-- resend gets that answer back. Checks answered at once (the hot path) are
-- not logged; only what went through a queue is, a few rows per outage.

CREATE TABLE nfcd.advance_log (
    kiosk        text        NOT NULL,
    nonce        bigint      NOT NULL,
    accepted     boolean     NOT NULL,
    ctr          bigint      NOT NULL, -- the mark after the advance
    holder       text        NOT NULL,
    holder_at    timestamptz NOT NULL,
    holder_nonce bigint      NOT NULL,
    logged       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (kiosk, nonce)
);

-- advance_queued is advance for a queued advance: the first call with a
-- (kiosk, nonce) decides and logs; later calls return the logged answer.
CREATE FUNCTION nfcd.advance_queued(
    p_profile text, p_uid bytea, p_ctr bigint, p_kiosk text, p_at timestamptz, p_nonce bigint,
    OUT o_accepted boolean, OUT o_ctr bigint, OUT o_kiosk text, OUT o_at timestamptz, OUT o_nonce bigint)
LANGUAGE plpgsql AS $$
BEGIN
    SELECT l.accepted, l.ctr, l.holder, l.holder_at, l.holder_nonce
    INTO o_accepted, o_ctr, o_kiosk, o_at, o_nonce
    FROM nfcd.advance_log l
    WHERE l.kiosk = p_kiosk AND l.nonce = p_nonce;
    IF FOUND THEN
        RETURN;
    END IF;
    SELECT a.o_accepted, a.o_ctr, a.o_kiosk, a.o_at, a.o_nonce
    INTO o_accepted, o_ctr, o_kiosk, o_at, o_nonce
    FROM nfcd.advance(p_profile, p_uid, p_ctr, p_kiosk, p_at, p_nonce) a;
    INSERT INTO nfcd.advance_log (kiosk, nonce, accepted, ctr, holder, holder_at, holder_nonce)
    VALUES (p_kiosk, p_nonce, o_accepted, o_ctr, o_kiosk, o_at, o_nonce);
END
$$;
