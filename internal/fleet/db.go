package fleet

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap"
)

// DB is a connection to the fleet database for the work that needs no
// kiosk queues: migrations, the fleet's history, the kiosk list and the
// upkeep of the taps partitions. `nfcd fleet migrate` and `nfcd history
// --fleet` use a DB of their own; a Client has one.
type DB struct {
	kiosk    string
	password string // for scrubbing error texts; never printed
	pool     *pgxpool.Pool
	log      *zap.Logger
}

// Connect prepares a DB from the [fleet] section. Like Open it does not
// wait for the database; the first call does.
func Connect(ctx context.Context, cfg Config, log *zap.Logger) (*DB, error) {
	r, err := cfg.resolve(osHostname, osGetenv)
	if err != nil {
		return nil, err
	}
	return newDB(ctx, r, 0, log)
}

// newDB opens the pool of r, keeping warm connections idle.
func newDB(ctx context.Context, r *resolved, warm int32, log *zap.Logger) (*DB, error) {
	if log == nil {
		log = zap.NewNop()
	}
	d := &DB{kiosk: r.kiosk, password: r.password, log: log.Named("fleet")}
	pc := r.pool
	pc.MaxConns = poolMaxConns
	pc.MinConns = warm
	pc.MinIdleConns = warm
	if pc.ConnConfig.ConnectTimeout == 0 {
		pc.ConnConfig.ConnectTimeout = connectTimeout
	}
	if _, ok := pc.ConnConfig.RuntimeParams["application_name"]; !ok {
		pc.ConnConfig.RuntimeParams["application_name"] = "nfcd " + r.kiosk
	}
	if warm > 0 && pc.ConnConfig.DefaultQueryExecMode == pgx.QueryExecModeCacheStatement {
		// A warm connection has the check prepared too, so that the first
		// tap after a (re)connect is one round trip like every other (pgx
		// finds a statement prepared under its SQL text as name). Without
		// the schema yet, the check is prepared on first use instead.
		pc.AfterConnect = func(ctx context.Context, conn *pgx.Conn) error {
			conn.Prepare(ctx, advanceSQL, advanceSQL)
			return nil
		}
	}
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("fleet: %w", d.scrub(err))
	}
	d.pool = pool
	return d, nil
}

// Kiosk returns this station's ID.
func (d *DB) Kiosk() string { return d.kiosk }

// Close closes the database connections. A Client's queued work stays in
// its queues.
func (d *DB) Close() { d.pool.Close() }

// Migrate applies the embedded schema migrations (`nfcd fleet migrate`).
// Of many kiosks migrating together one does the work; the others wait for
// it and find nothing to do. A database whose schema is newer than this
// nfcd's is left alone.
func (d *DB) Migrate(ctx context.Context) (Migration, error) {
	m, err := migrateTo(ctx, d.pool, SchemaVersion)
	return m, d.scrub(err)
}

// EnsurePartitions creates the monthly partitions of the taps table for the
// month of at and the two after it (`nfcd fleet migrate` does this; Run
// does it daily). It returns how many it created.
func (d *DB) EnsurePartitions(ctx context.Context, at time.Time) (int, error) {
	var n int
	err := d.pool.QueryRow(ctx, `SELECT nfcd.ensure_tap_partitions($1, $2)`, at, partitionsAhead).Scan(&n)
	return n, d.scrub(err)
}

// DropTaps is the retention of the fleet's audit log: it drops the monthly
// partitions of taps that end at or before before, deletes older rows that
// sit in the default partition, and returns the dropped partitions' names.
func (d *DB) DropTaps(ctx context.Context, before time.Time) ([]string, error) {
	rows, err := d.pool.Query(ctx, `SELECT nfcd.drop_tap_partitions($1)`, before)
	if err != nil {
		return nil, d.scrub(err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	return names, d.scrub(err)
}

// scrub hides the connection password in err's text.
func (d *DB) scrub(err error) error { return scrub(err, d.password) }

// SchemaVersion reads the database's schema version (0 without the fleet
// schema): `nfcd fleet status` without a running daemon uses it as the
// connection probe.
func (d *DB) SchemaVersion(ctx context.Context) (int, error) {
	v, err := readVersion(ctx, d.pool)
	return v, d.scrub(err)
}
