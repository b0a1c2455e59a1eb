package fleet

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// SchemaVersion is the version of the fleet schema this build creates and
// needs: the number of the last file in migrations/.
const SchemaVersion = 3

// lockMigrate is the session-level advisory lock held while migrating:
// 'nfcd' << 32 | 1. (Partition maintenance in the schema uses | 2.)
const lockMigrate int64 = 0x6E666364_00000001

// migrateUnlockTimeout bounds releasing the migration lock.
const migrateUnlockTimeout = 5 * time.Second

var (
	// ErrSchemaOld means the database's fleet schema is older than this
	// build needs and the client may not migrate it (Config.Migrate is
	// off): run `nfcd fleet migrate`.
	ErrSchemaOld = errors.New("fleet: database schema is older than this nfcd needs")

	// ErrSchemaMismatch means a migration recorded in the database differs
	// from the one of the same number built into this nfcd: the schema was
	// created by a different (development) build and is not upgraded.
	ErrSchemaMismatch = errors.New("fleet: database schema does not match this nfcd's migrations")
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migration is one numbered file of migrations/.
type migration struct {
	version int
	name    string
	sql     string
	sum     [32]byte
}

var loadMigrations = sync.OnceValues(func() ([]migration, error) {
	return parseMigrations(migrationFiles, "migrations")
})

// parseMigrations reads NNNN_name.sql files numbered 1, 2, … without gaps.
func parseMigrations(fsys fs.FS, dir string) ([]migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, e := range entries {
		num, name, ok := strings.Cut(strings.TrimSuffix(e.Name(), ".sql"), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || !strings.HasSuffix(e.Name(), ".sql") || len(num) != 4 {
			return nil, fmt.Errorf("migration file %s: want NNNN_name.sql", e.Name())
		}
		if v != len(ms)+1 {
			return nil, fmt.Errorf("migration file %s: want number %d", e.Name(), len(ms)+1)
		}
		b, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: name, sql: string(b), sum: sha256.Sum256(b)})
	}
	return ms, nil
}

// bootstrapSQL creates the schema and its version table. It runs under the
// migration lock, so concurrent kiosks never race on IF NOT EXISTS.
const bootstrapSQL = `
CREATE SCHEMA IF NOT EXISTS nfcd;
CREATE TABLE IF NOT EXISTS nfcd.schema_migrations (
    version  integer     PRIMARY KEY,
    name     text        NOT NULL,
    checksum bytea       NOT NULL,
    applied  timestamptz NOT NULL DEFAULT now()
)`

// Migration reports what Migrate did.
type Migration struct {
	From, To int // schema versions before and after; From == To: nothing to do
}

// readVersion returns the newest applied migration, 0 for a database
// without the fleet schema.
func readVersion(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}) (int, error) {
	var v int
	err := q.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM nfcd.schema_migrations`).Scan(&v)
	var pe *pgconn.PgError
	if errors.As(err, &pe) && (pe.Code == "42P01" || pe.Code == "3F000") { // undefined_table, invalid_schema_name
		return 0, nil
	}
	return v, err
}

// migrateTo applies the embedded migrations up to version target, each in
// its own transaction, while holding a session-level advisory lock on one
// connection: of many kiosks starting together one migrates and the others
// wait, then find nothing to do. A database already at target or newer is
// left alone (migrations only add, so an older nfcd keeps working against
// a newer schema).
func migrateTo(ctx context.Context, pool *pgxpool.Pool, target int) (Migration, error) {
	ms, err := loadMigrations()
	if err != nil {
		return Migration{}, err
	}
	if target < 0 || target > len(ms) {
		return Migration{}, fmt.Errorf("fleet: no schema version %d (this nfcd knows 1 to %d)", target, len(ms))
	}
	// Fast path without the lock: most starts find the schema current.
	if v, err := readVersion(ctx, pool); err == nil && v >= target && v > 0 {
		if err := verifyApplied(ctx, pool, ms, v); err != nil {
			return Migration{}, err
		}
		return Migration{From: v, To: v}, nil
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return Migration{}, fmt.Errorf("fleet: migrate: connect: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, lockMigrate); err != nil {
		return Migration{}, fmt.Errorf("fleet: migrate: take the migration lock: %w", err)
	}
	defer func() {
		// A lost connection releases the lock on the server by itself.
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), migrateUnlockTimeout)
		defer cancel()
		if _, err := conn.Exec(uctx, `SELECT pg_advisory_unlock($1)`, lockMigrate); err != nil {
			conn.Conn().Close(uctx)
		}
	}()
	if _, err := conn.Exec(ctx, bootstrapSQL); err != nil {
		return Migration{}, fmt.Errorf("fleet: migrate: create the version table: %w", err)
	}
	from, err := readVersion(ctx, conn)
	if err != nil {
		return Migration{}, fmt.Errorf("fleet: migrate: read the schema version: %w", err)
	}
	if err := verifyApplied(ctx, conn, ms, from); err != nil {
		return Migration{}, err
	}
	v := from
	for ; v < target; v++ {
		m := ms[v]
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, m.sql); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO nfcd.schema_migrations (version, name, checksum) VALUES ($1, $2, $3)`,
				m.version, m.name, m.sum[:])
			return err
		})
		if err != nil {
			return Migration{From: from, To: v}, fmt.Errorf("fleet: migrate: apply %04d_%s: %w", m.version, m.name, err)
		}
	}
	return Migration{From: from, To: max(v, from)}, nil
}

// verifyApplied checks the recorded checksums of migrations 1..v that this
// build also has.
func verifyApplied(ctx context.Context, q interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}, ms []migration, v int) error {
	rows, err := q.Query(ctx, `SELECT version, checksum FROM nfcd.schema_migrations ORDER BY version`)
	if err != nil {
		return fmt.Errorf("fleet: read the applied migrations: %w", err)
	}
	want := 1
	var version int
	var sum []byte
	_, err = pgx.ForEachRow(rows, []any{&version, &sum}, func() error {
		if version != want {
			return fmt.Errorf("%w: migration %d is missing", ErrSchemaMismatch, want)
		}
		want++
		if version <= len(ms) && !bytes.Equal(sum, ms[version-1].sum[:]) {
			return fmt.Errorf("%w: migration %04d_%s has a different checksum", ErrSchemaMismatch, version, ms[version-1].name)
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, ErrSchemaMismatch) {
			return err
		}
		return fmt.Errorf("fleet: read the applied migrations: %w", err)
	}
	if want-1 != v {
		return fmt.Errorf("%w: versions 1 to %d recorded, %d expected", ErrSchemaMismatch, want-1, v)
	}
	return nil
}
