package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// adminAppName is the application_name of the package's own admin
// connections; TerminateBackends never terminates them.
const adminAppName = "pgtest-admin"

// Node is one PostgreSQL server of a Cluster.
type Node struct {
	Name    string // "node0", "node1", ...; also cluster_name and the replica's application_name
	Host    string // always 127.0.0.1
	Port    int    // TCP port, stable across restarts
	Dir     string // node directory; also the Unix socket directory
	DataDir string // data directory (Dir/data)
	LogPath string // server log file (Dir/postgres.log)

	c      *Cluster
	mu     sync.Mutex
	proc   *proc
	frozen bool
}

// DSN returns a key=value connection string for the postgres superuser over
// TCP: host, port, user=postgres, dbname=postgres, sslmode=disable and, for
// password clusters, password. Extra key, value pairs override or extend it.
func (n *Node) DSN(kv ...string) string {
	keys := []string{"host", "port", "user", "dbname", "sslmode"}
	vals := map[string]string{"host": n.Host, "port": strconv.Itoa(n.Port), "user": "postgres",
		"dbname": "postgres", "sslmode": "disable"}
	if pw := n.c.opts.Password; pw != "" {
		keys = append(keys, "password")
		vals["password"] = pw
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if _, ok := vals[kv[i]]; !ok {
			keys = append(keys, kv[i])
		}
		vals[kv[i]] = kv[i+1]
	}
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, k+"="+quoteDSN(vals[k]))
	}
	return strings.Join(parts, " ")
}

func quoteDSN(v string) string {
	if v != "" && !strings.ContainsAny(v, " '\\\t\n") {
		return v
	}
	r := strings.NewReplacer(`\`, `\\`, `'`, `\'`)
	return "'" + r.Replace(v) + "'"
}

// URL returns a postgres:// URL for the postgres superuser over TCP
// (including the password for password clusters).
func (n *Node) URL() string {
	u := url.URL{Scheme: "postgres", User: url.User("postgres"), Host: fmt.Sprintf("%s:%d", n.Host, n.Port),
		Path: "/postgres", RawQuery: "sslmode=disable"}
	if pw := n.c.opts.Password; pw != "" {
		u.User = url.UserPassword("postgres", pw)
	}
	return u.String()
}

// Connect opens a pgx connection to DSN(kv...). The caller closes it.
func (n *Node) Connect(ctx context.Context, kv ...string) (*pgx.Conn, error) {
	return pgx.Connect(ctx, n.DSN(kv...))
}

// adminConn connects over the Unix socket, which is always trusted.
func (n *Node) adminConn(ctx context.Context) (*pgx.Conn, error) {
	conn, err := pgx.Connect(ctx, fmt.Sprintf(
		"host=%s port=%d user=postgres dbname=postgres sslmode=disable application_name=%s connect_timeout=5",
		n.Dir, n.Port, adminAppName))
	if err != nil {
		return nil, fmt.Errorf("pgtest: %s: connect: %w", n.Name, err)
	}
	return conn, nil
}

// Exec runs an admin statement on a short-lived superuser connection.
func (n *Node) Exec(ctx context.Context, sql string, args ...any) error {
	conn, err := n.adminConn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, sql, args...); err != nil {
		return fmt.Errorf("pgtest: %s: %s: %w", n.Name, sql, err)
	}
	return nil
}

// QueryRow returns a row whose Scan opens a short-lived superuser
// connection, runs the query, scans the first row and closes the
// connection. Nothing happens until Scan is called; ctx must stay valid
// until then.
func (n *Node) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	return &lazyRow{ctx: ctx, n: n, sql: sql, args: args}
}

type lazyRow struct {
	ctx  context.Context
	n    *Node
	sql  string
	args []any
}

// Scan connects, runs the query, scans the first row and disconnects.
func (r *lazyRow) Scan(dest ...any) error {
	conn, err := r.n.adminConn(r.ctx)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	return conn.QueryRow(r.ctx, r.sql, r.args...).Scan(dest...)
}

// poll calls fn every 20ms until it returns true, and fails with the last
// error and the server log tail when ctx ends.
func (n *Node) poll(ctx context.Context, what string, fn func(context.Context) (bool, error)) error {
	var last error
	for {
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		ok, err := fn(actx)
		cancel()
		if err == nil && ok {
			return nil
		}
		var pe permanentError
		if errors.As(err, &pe) {
			return pe.error
		}
		if err != nil {
			last = err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("pgtest: %s: waiting for %s: %w (last error: %v)\n%s", n.Name, what, ctx.Err(), last, n.logTail())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (n *Node) logTail() string {
	return "--- " + n.LogPath + " (tail) ---\n" + fileTail(n.LogPath, 25)
}

// Promote promotes a standby and waits until it accepts writes.
func (n *Node) Promote(ctx context.Context) error {
	var ok bool
	if err := n.QueryRow(ctx, "SELECT pg_promote(true, 60)").Scan(&ok); err != nil {
		return fmt.Errorf("pgtest: %s: promote: %w\n%s", n.Name, err, n.logTail())
	}
	if !ok {
		return fmt.Errorf("pgtest: %s: promote did not finish\n%s", n.Name, n.logTail())
	}
	return nil
}

func (n *Node) primaryConninfo(p *Node) string {
	s := fmt.Sprintf("host=%s port=%d user=postgres application_name=%s", p.Host, p.Port, n.Name)
	if pw := n.c.opts.Password; pw != "" {
		s += " password=" + quoteDSN(pw)
	}
	return s
}

// Follow re-points this standby at primary: it creates a physical slot named
// after this node on primary (if missing), sets primary_conninfo and
// primary_slot_name, reloads, and waits until the WAL receiver streams from
// primary. recovery_target_timeline is 'latest', so a promoted node's new
// timeline is followed, provided this node had not replayed past the fork.
func (n *Node) Follow(ctx context.Context, primary *Node) error {
	if err := primary.Exec(ctx, `SELECT pg_create_physical_replication_slot($1, true)
		WHERE NOT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = $1)`, n.Name); err != nil {
		return err
	}
	for _, s := range []string{
		"ALTER SYSTEM SET primary_conninfo = " + quoteLiteral(n.primaryConninfo(primary)),
		"ALTER SYSTEM SET primary_slot_name = " + quoteLiteral(n.Name),
		"SELECT pg_reload_conf()",
	} {
		if err := n.Exec(ctx, s); err != nil {
			return err
		}
	}
	return n.poll(ctx, "streaming from "+primary.Name, func(ctx context.Context) (bool, error) {
		var ok bool
		err := n.QueryRow(ctx, `SELECT coalesce((SELECT status = 'streaming' AND sender_port = $1
			FROM pg_stat_wal_receiver), false)`, primary.Port).Scan(&ok)
		return ok, err
	})
}

// PauseReplay pauses WAL replay on a standby (pg_wal_replay_pause). No
// further WAL record is applied once it returns.
func (n *Node) PauseReplay(ctx context.Context) error {
	return n.Exec(ctx, "SELECT pg_wal_replay_pause()")
}

// ResumeReplay resumes WAL replay on a standby (pg_wal_replay_resume).
func (n *Node) ResumeReplay(ctx context.Context) error {
	return n.Exec(ctx, "SELECT pg_wal_replay_resume()")
}

// SetApplyDelay sets recovery_min_apply_delay (millisecond precision) and
// reloads, waiting until new sessions see the value. Zero removes the delay.
func (n *Node) SetApplyDelay(ctx context.Context, d time.Duration) error {
	ms := d.Milliseconds()
	if err := n.Exec(ctx, fmt.Sprintf("ALTER SYSTEM SET recovery_min_apply_delay = '%dms'", ms)); err != nil {
		return err
	}
	if err := n.Exec(ctx, "SELECT pg_reload_conf()"); err != nil {
		return err
	}
	return n.poll(ctx, "recovery_min_apply_delay reload", func(ctx context.Context) (bool, error) {
		var v int64
		err := n.QueryRow(ctx, "SELECT setting::bigint FROM pg_settings WHERE name = 'recovery_min_apply_delay'").Scan(&v)
		return v == ms, err
	})
}

// SetConfig sets server parameters with ALTER SYSTEM (an empty value resets
// one to its default), reloads, and waits until new sessions run with the
// reloaded configuration. Values are given as in postgresql.conf ("1s",
// "off"). Parameters that need a restart take effect at the next Start.
func (n *Node) SetConfig(ctx context.Context, settings map[string]string) error {
	var before time.Time
	if err := n.QueryRow(ctx, "SELECT pg_conf_load_time()").Scan(&before); err != nil {
		return fmt.Errorf("pgtest: %s: %w", n.Name, err)
	}
	names := make([]string, 0, len(settings))
	for k := range settings {
		if k == "" || strings.Trim(k, "abcdefghijklmnopqrstuvwxyz0123456789_.") != "" {
			return fmt.Errorf("pgtest: %s: bad parameter name %q", n.Name, k)
		}
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		s := "ALTER SYSTEM RESET " + k
		if v := settings[k]; v != "" {
			s = "ALTER SYSTEM SET " + k + " = " + quoteLiteral(v)
		}
		if err := n.Exec(ctx, s); err != nil {
			return err
		}
	}
	if err := n.Exec(ctx, "SELECT pg_reload_conf()"); err != nil {
		return err
	}
	return n.poll(ctx, "configuration reload", func(ctx context.Context) (bool, error) {
		var t time.Time
		err := n.QueryRow(ctx, "SELECT pg_conf_load_time()").Scan(&t)
		return t.After(before), err
	})
}

// TerminateBackends calls pg_terminate_backend (waiting up to 5 s for each
// to exit) on every client backend in pg_stat_activity matching the
// optional extra SQL condition where (e.g. "application_name = 'x'"). It
// never terminates its own or pgtest's admin backends, nor WAL senders and
// background processes. It returns how many were terminated.
func (n *Node) TerminateBackends(ctx context.Context, where string) (int, error) {
	cond := "true"
	if strings.TrimSpace(where) != "" {
		cond = "(" + where + ")"
	}
	var cnt int
	err := n.QueryRow(ctx, `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, 5000))::int
		FROM pg_stat_activity
		WHERE pid <> pg_backend_pid() AND backend_type = 'client backend'
		AND application_name IS DISTINCT FROM '`+adminAppName+`' AND `+cond).Scan(&cnt)
	if err != nil {
		return 0, fmt.Errorf("pgtest: %s: terminate backends: %w", n.Name, err)
	}
	return cnt, nil
}

// WaitReady waits until the node accepts connections, failing early (with
// the log tail) if the server process exits.
func (n *Node) WaitReady(ctx context.Context) error {
	n.mu.Lock()
	p := n.proc
	n.mu.Unlock()
	if p == nil {
		return fmt.Errorf("pgtest: %s: not running", n.Name)
	}
	return n.poll(ctx, "ready", func(ctx context.Context) (bool, error) {
		select {
		case <-p.exited:
			return false, permanentError{fmt.Errorf("pgtest: %s: server exited: %v\n%s", n.Name, p.err, n.logTail())}
		default:
		}
		conn, err := n.adminConn(ctx)
		if err != nil {
			return false, err
		}
		conn.Close(context.Background())
		return true, nil
	})
}

// WaitCaughtUp waits until this node's replay LSN reaches primary's current
// WAL LSN (taken once, at the call).
func (n *Node) WaitCaughtUp(ctx context.Context, primary *Node) error {
	var lsn string
	if err := primary.QueryRow(ctx, `SELECT (CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn()
		ELSE pg_current_wal_insert_lsn() END)::text`).Scan(&lsn); err != nil {
		return err
	}
	conn, err := n.adminConn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	return n.poll(ctx, "replay LSN "+lsn, func(ctx context.Context) (bool, error) {
		var ok bool
		err := conn.QueryRow(ctx, "SELECT coalesce(pg_last_wal_replay_lsn() >= $1::pg_lsn, false)", lsn).Scan(&ok)
		return ok, err
	})
}

// permanentError stops poll immediately.
type permanentError struct{ error }

// quoteLiteral quotes s as an SQL string literal.
func quoteLiteral(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}
