// Package fleettest runs private PostgreSQL servers for the tests of the
// fleet and provides an in-memory fleet.Queue and a TCP proxy that can
// stall or cut the connections to the database.
//
// A test binary shares one server (started on first use, stopped by Main)
// and gives each test its own database:
//
//	func TestMain(m *testing.M) { os.Exit(fleettest.Main(m)) }
//
//	func TestX(t *testing.T) {
//		dsn := fleettest.Database(t)
//		…
//	}
//
// The server is Debian's PostgreSQL (package postgresql; the version
// directory under /usr/lib/postgresql is found at run time, NFCD_PG_BIN
// overrides it, and postgres and initdb on PATH also do). PostgreSQL
// refuses to run as root, so as root the server runs as the postgres user
// in a temporary directory that user owns. It listens on a free loopback
// port and on a Unix socket in that directory, with trust authentication.
// Without PostgreSQL the tests are skipped with a loud message, except
// under CI=true, where they fail.
package fleettest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrNoPostgres means no PostgreSQL server binaries were found.
var ErrNoPostgres = errors.New("fleettest: PostgreSQL is not installed (Debian: apt-get install postgresql)")

// startTimeout bounds the wait for a started server to accept connections.
const startTimeout = 60 * time.Second

// Cluster is a private PostgreSQL server (one initdb data directory) for
// tests. Its superuser is "postgres", reachable without a password.
type Cluster struct {
	bin  string // directory of postgres and initdb
	dir  string // temporary directory: data/, the socket, postgres.log
	port int
	as   *account // the postgres user, when running as root
	opts []string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
}

// ClusterOptions configure StartCluster.
type ClusterOptions struct {
	// Settings are extra server settings, e.g. "fsync=off".
	Settings []string
}

// FindBin returns the directory holding PostgreSQL's server binaries: the
// newest /usr/lib/postgresql/<version>/bin, NFCD_PG_BIN when set, or the
// directory of postgres on PATH.
func FindBin() (string, error) {
	if d := os.Getenv("NFCD_PG_BIN"); d != "" {
		if !isExec(filepath.Join(d, "postgres")) || !isExec(filepath.Join(d, "initdb")) {
			return "", fmt.Errorf("fleettest: NFCD_PG_BIN=%s holds no postgres and initdb", d)
		}
		return d, nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return versionOf(dirs[i]) > versionOf(dirs[j]) })
	for _, d := range dirs {
		if isExec(filepath.Join(d, "postgres")) && isExec(filepath.Join(d, "initdb")) {
			return d, nil
		}
	}
	if p, err := exec.LookPath("postgres"); err == nil {
		d := filepath.Dir(p)
		if isExec(filepath.Join(d, "initdb")) {
			return d, nil
		}
	}
	return "", ErrNoPostgres
}

// versionOf returns the number of /usr/lib/postgresql/<number>/bin.
func versionOf(bin string) float64 {
	v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(bin)), 64)
	return v
}

func isExec(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// account is a user to run the server as.
type account struct{ uid, gid uint32 }

// StartCluster creates a data directory with initdb and starts a server on
// it. Close stops the server and deletes the directory.
func StartCluster(opts ClusterOptions) (*Cluster, error) {
	if !supported {
		return nil, fmt.Errorf("%w on %s: %w", ErrNoPostgres, runtime.GOOS, errors.ErrUnsupported)
	}
	bin, err := FindBin()
	if err != nil {
		return nil, err
	}
	c := &Cluster{bin: bin, opts: opts.Settings}
	base := os.TempDir()
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("fleettest: running as root needs the postgres user (Debian's postgresql package creates it): %w", err)
		}
		uid, _ := strconv.ParseUint(u.Uid, 10, 32)
		gid, _ := strconv.ParseUint(u.Gid, 10, 32)
		c.as = &account{uid: uint32(uid), gid: uint32(gid)}
		if !searchable(base) {
			// The postgres user must reach its directory.
			base = "/tmp"
		}
	}
	removeStale(base)
	c.dir, err = os.MkdirTemp(base, dirPrefix)
	if err != nil {
		return nil, fmt.Errorf("fleettest: %w", err)
	}
	if c.as != nil {
		if err := os.Chown(c.dir, int(c.as.uid), int(c.as.gid)); err != nil {
			os.RemoveAll(c.dir)
			return nil, fmt.Errorf("fleettest: %w", err)
		}
	}
	initdb := c.command(filepath.Join(bin, "initdb"), "-D", c.data(), "-U", "postgres", "--auth=trust",
		"--encoding=UTF8", "--locale=C", "--no-sync", "--no-instructions")
	if out, err := initdb.CombinedOutput(); err != nil {
		os.RemoveAll(c.dir)
		return nil, fmt.Errorf("fleettest: initdb: %v\n%s", err, out)
	}
	var lastErr error
	for range 3 { // the free port can be taken before the server binds it
		if c.port, err = freePort(); err != nil {
			os.RemoveAll(c.dir)
			return nil, err
		}
		if lastErr = c.Start(); lastErr == nil {
			return c, nil
		}
	}
	os.RemoveAll(c.dir)
	return nil, lastErr
}

// dirPrefix names the temporary directories of clusters.
const dirPrefix = "nfcd-pg-"

// removeStale deletes the directories of clusters whose test process was
// killed: older than ten minutes, and without a postmaster.pid (a server,
// even one killed with SIGQUIT by the parent-death signal, removes it when
// it exits).
func removeStale(base string) {
	dirs, _ := filepath.Glob(filepath.Join(base, dirPrefix+"*"))
	for _, d := range dirs {
		fi, err := os.Stat(d)
		if err != nil || !fi.IsDir() || time.Since(fi.ModTime()) < 10*time.Minute {
			continue
		}
		if _, err := os.Stat(filepath.Join(d, "data", "postmaster.pid")); err == nil {
			continue
		}
		os.RemoveAll(d)
	}
}

// searchable reports whether every directory from / to dir lets others
// pass through.
func searchable(dir string) bool {
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil || fi.Mode().Perm()&0o001 == 0 {
			return false
		}
		if d == "/" || d == "." {
			return true
		}
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("fleettest: find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (c *Cluster) data() string    { return filepath.Join(c.dir, "data") }
func (c *Cluster) logPath() string { return filepath.Join(c.dir, "postgres.log") }

// command runs name as the postgres user when the test runs as root, with
// the PG* environment variables removed so that the caller's settings do
// not leak into the private server.
func (c *Cluster) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Dir = c.dir
	cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "PG") })
	cmd.SysProcAttr = procAttr(c.as, false)
	return cmd
}

// Port returns the server's TCP port on 127.0.0.1.
func (c *Cluster) Port() int { return c.port }

// Addr returns the server's TCP address.
func (c *Cluster) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(c.port)) }

// SocketDir returns the directory of the server's Unix socket.
func (c *Cluster) SocketDir() string { return c.dir }

// DSN returns a connection URL for database db over TCP, as the superuser.
func (c *Cluster) DSN(db string) string {
	return fmt.Sprintf("postgres://postgres@%s/%s?sslmode=disable", c.Addr(), db)
}

// Start starts the server (again, after Stop) and waits until it accepts
// connections. The server runs as a child of the test process; on Linux it
// gets SIGQUIT (immediate shutdown) if the process dies without stopping it,
// so an aborted test run leaves no server behind.
func (c *Cluster) Start() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cmd != nil {
		return errors.New("fleettest: server already running")
	}
	log, err := os.OpenFile(c.logPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("fleettest: %w", err)
	}
	args := []string{"-D", c.data(), "-p", strconv.Itoa(c.port), "-k", c.dir,
		"-c", "listen_addresses=127.0.0.1", "-c", "max_connections=400",
		"-c", "log_min_messages=warning", "-c", "log_connections=off"}
	for _, s := range c.opts {
		args = append(args, "-c", s)
	}
	cmd := c.command(filepath.Join(c.bin, "postgres"), args...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = procAttr(c.as, true)
	if err := cmd.Start(); err != nil {
		log.Close()
		return fmt.Errorf("fleettest: start postgres: %w", err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		log.Close()
		close(exited)
	}()
	c.cmd, c.exited = cmd, exited
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	for {
		conn, err := pgx.Connect(ctx, fmt.Sprintf("host=%s port=%d user=postgres dbname=postgres connect_timeout=5", c.dir, c.port))
		if err == nil {
			conn.Close(ctx)
			return nil
		}
		select {
		case <-exited:
			c.cmd = nil
			return fmt.Errorf("fleettest: postgres exited at start:\n%s", c.logTail())
		case <-ctx.Done():
			c.stopLocked(syscall.SIGQUIT)
			return fmt.Errorf("fleettest: postgres did not accept connections within %v:\n%s", startTimeout, c.logTail())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Stop shuts the server down the way `pg_ctl stop -m fast` does (SIGINT:
// open transactions are rolled back, clients disconnected) and waits for
// it to exit. The data stays; Start brings it back on the same port.
func (c *Cluster) Stop() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stopLocked(syscall.SIGINT)
}

func (c *Cluster) stopLocked(sig syscall.Signal) error {
	if c.cmd == nil {
		return nil
	}
	if err := c.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("fleettest: stop postgres: %w", err)
	}
	select {
	case <-c.exited:
	case <-time.After(startTimeout):
		c.cmd.Process.Kill()
		<-c.exited
	}
	c.cmd = nil
	return nil
}

// Close stops the server and deletes its directory.
func (c *Cluster) Close() error {
	err := c.Stop()
	if rerr := os.RemoveAll(c.dir); err == nil {
		err = rerr
	}
	return err
}

// logTail returns the end of the server log.
func (c *Cluster) logTail() string {
	b, _ := os.ReadFile(c.logPath())
	if len(b) > 4096 {
		b = b[len(b)-4096:]
	}
	return string(b)
}

// CreateDatabase creates database name.
func (c *Cluster) CreateDatabase(ctx context.Context, name string) error {
	return c.admin(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
}

// DropDatabase drops database name, disconnecting its clients.
func (c *Cluster) DropDatabase(ctx context.Context, name string) error {
	return c.admin(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
}

func (c *Cluster) admin(ctx context.Context, sql string) error {
	conn, err := pgx.Connect(ctx, c.DSN("postgres"))
	if err != nil {
		return fmt.Errorf("fleettest: connect: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		return fmt.Errorf("fleettest: %s: %w", sql, err)
	}
	return nil
}
