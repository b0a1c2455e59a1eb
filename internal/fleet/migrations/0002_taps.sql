-- nfcd fleet schema, migration 2: the fleet audit log and the kiosks.

-- Every kiosk's audit entries, shipped in batches. (kiosk, time, local_seq)
-- is the idempotent key: a batch resent after a lost acknowledgement adds
-- nothing. The time is part of it because a unique index of a partitioned
-- table must contain the partition key; a resent row carries the same time.
CREATE TABLE nfcd.taps (
    time      timestamptz NOT NULL,   -- the kiosk's time of the tap
    kiosk     text        NOT NULL,
    local_seq bigint      NOT NULL,   -- the kiosk's audit sequence number
    tap       text        NOT NULL DEFAULT '', -- the verdict's tap ID, as in its events
    reader    text        NOT NULL,
    profile   text        NOT NULL,
    uid       bytea CHECK (octet_length(uid) BETWEEN 1 AND 32), -- NULL when the UID could not be read
    ctr       bigint CHECK (ctr BETWEEN 0 AND 4294967295), -- NULL without a counter
    verdict   text        NOT NULL,
    reason    text        NOT NULL,
    detail    text        NOT NULL DEFAULT '',
    key_id    text        NOT NULL DEFAULT '', -- the verdict signing key's ID
    fleet     text        NOT NULL DEFAULT '', -- confirmed, unconfirmed or off
    shipped   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (kiosk, time, local_seq)      -- also serves "one kiosk, newest first"
) PARTITION BY RANGE (time);

-- Rows of a month without a partition (a kiosk whose clock is far off) land
-- here instead of failing the batch.
CREATE TABLE nfcd.taps_default PARTITION OF nfcd.taps DEFAULT;

CREATE INDEX taps_uid_time ON nfcd.taps (uid, time DESC); -- history of one tag
CREATE INDEX taps_time ON nfcd.taps (time DESC);          -- the newest taps of the fleet

-- ensure_tap_partitions creates the monthly partitions (UTC months)
-- taps_YYYYMM for the month of p_at and the p_months - 1 months after it,
-- and returns how many it created. Kiosks call it daily and migrations once;
-- the transaction-scoped advisory lock makes concurrent calls harmless. A
-- month whose rows already sit in taps_default is skipped with a warning
-- (PostgreSQL refuses to create it while they are there).
CREATE FUNCTION nfcd.ensure_tap_partitions(p_at timestamptz, p_months integer)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    m       timestamp := date_trunc('month', p_at AT TIME ZONE 'UTC');
    name    text;
    created integer := 0;
BEGIN
    PERFORM pg_advisory_xact_lock(7955155072944439298); -- 'nfcd' << 32 | 2
    FOR i IN 1 .. p_months LOOP
        name := 'taps_' || to_char(m, 'YYYYMM');
        IF to_regclass('nfcd.' || name) IS NULL THEN
            BEGIN
                EXECUTE format('CREATE TABLE nfcd.%I PARTITION OF nfcd.taps FOR VALUES FROM (%L) TO (%L)',
                    name, m AT TIME ZONE 'UTC', (m + interval '1 month') AT TIME ZONE 'UTC');
                created := created + 1;
            EXCEPTION WHEN check_violation THEN
                RAISE WARNING 'nfcd: partition % not created: taps_default holds rows of that month', name;
            END;
        END IF;
        m := m + interval '1 month';
    END LOOP;
    RETURN created;
END
$$;

-- drop_tap_partitions is the retention of the audit log: it drops the
-- monthly partitions that end at or before p_before, deletes older rows of
-- taps_default, and returns the names of the dropped partitions.
CREATE FUNCTION nfcd.drop_tap_partitions(p_before timestamptz)
RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
    part text;
    upper timestamptz;
BEGIN
    PERFORM pg_advisory_xact_lock(7955155072944439298);
    FOR part IN
        SELECT c.relname FROM pg_inherits i
        JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'nfcd.taps'::regclass AND c.relname ~ '^taps_[0-9]{6}$'
        ORDER BY c.relname
    LOOP
        upper := (to_date(substr(part, 6), 'YYYYMM')::timestamp + interval '1 month') AT TIME ZONE 'UTC';
        IF upper <= p_before THEN
            EXECUTE format('DROP TABLE nfcd.%I', part);
            RETURN NEXT part;
        END IF;
    END LOOP;
    DELETE FROM nfcd.taps_default WHERE time < p_before;
END
$$;

-- One row per kiosk: what it runs and when the fleet last heard from it.
CREATE TABLE nfcd.kiosks (
    id         text        PRIMARY KEY,
    version    text        NOT NULL DEFAULT '',
    first_seen timestamptz NOT NULL DEFAULT now(),
    last_seen  timestamptz NOT NULL DEFAULT now()
);

SELECT nfcd.ensure_tap_partitions(now(), 3);
