package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

func checkCmd(fs *flag.FlagSet) func(context.Context, []string, io.Writer, io.Writer) error {
	dsn := dsnFlag(fs)
	n := fs.Int("n", 5, "connections per host, for the connect-time percentiles")
	timeout := fs.Duration("timeout", 5*time.Second, "timeout of each connection attempt and query")
	maxUsage := fs.Float64("max-usage", 0, "fail when connections in use / max_connections exceeds this fraction, e.g. 0.8 (0: never)")
	maxLag := fs.Duration("max-lag", 0, "fail when a standby replays more than this behind (0: never)")
	noPrimary := fs.Bool("allow-no-primary", false, "do not fail when no host is a primary (a DSN of standbys only)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: pgprovider check [flags] [DSN]

Connects to every host the DSN lists (host=a,b,c port=p1,p2,p3, or postgres://a:p1,b:p2/db)
and reports, per host: connect time p50/p99 over -n connections, server version, whether TLS
is in use, the role (primary, or standby by pg_is_in_recovery), a standby's replay lag, the
replicas a primary streams to, and connection usage (client backends in pg_stat_activity
against max_connections minus the reserved slots).

The check fails (exit 1) when a host cannot be reached, no host is a primary, or a limit
given by -max-usage or -max-lag is exceeded. Progress goes to stderr, the report to stdout.

Examples:
  pgprovider check 'host=127.0.0.1 port=5432 user=postgres sslmode=disable'
  pgprovider check -n 50 -max-lag 5s 'host=db1,db2,db3 port=5432,5432,5432 user=app dbname=app'

Flags:
`)
		fs.PrintDefaults()
	}
	return func(ctx context.Context, args []string, out, log io.Writer) error {
		d := *dsn
		if len(args) > 0 {
			d, args = args[0], args[1:]
		}
		if len(args) > 0 {
			return usagef("unexpected arguments %q", args)
		}
		d, err := resolveDSN(d)
		if err != nil {
			return err
		}
		if *n < 1 {
			return usagef("-n must be at least 1")
		}
		cfg, err := pgx.ParseConfig(d)
		if err != nil {
			return usagef("invalid DSN: %v", err)
		}
		hosts := []*pgconn.FallbackConfig{{Host: cfg.Host, Port: cfg.Port, TLSConfig: cfg.TLSConfig}}
		hosts = append(hosts, cfg.Fallbacks...)
		hosts = dedupe(hosts)
		var problems []string
		primaries := 0
		for i, h := range hosts {
			fmt.Fprintf(log, "checking %s (%d/%d): %d connections...\n", addr(h), i+1, len(hosts), *n)
			r := checkHost(ctx, cfg, h, *n, *timeout)
			r.print(out)
			switch {
			case r.err != nil:
				problems = append(problems, fmt.Sprintf("%s: %v", r.addr, r.err))
				continue
			case r.primary:
				primaries++
			case *maxLag > 0 && r.lag > *maxLag:
				problems = append(problems, fmt.Sprintf("%s: lag %v above %v", r.addr, r.lag.Round(time.Millisecond), *maxLag))
			}
			if *maxUsage > 0 && r.usage() > *maxUsage {
				problems = append(problems, fmt.Sprintf("%s: connection usage %.0f%% above %.0f%%", r.addr, 100*r.usage(), 100**maxUsage))
			}
		}
		if primaries == 0 && !*noPrimary {
			problems = append(problems, "no host is a primary")
		}
		if len(problems) > 0 {
			fmt.Fprintf(out, "FAILED: %s\n", strings.Join(problems, "; "))
			return errCheckFailed
		}
		fmt.Fprintf(out, "OK: %d hosts, %d primary\n", len(hosts), primaries)
		return nil
	}
}

func addr(h *pgconn.FallbackConfig) string {
	return net.JoinHostPort(h.Host, strconv.Itoa(int(h.Port)))
}

// dedupe drops repeated host:port entries: pgx adds a fallback without TLS for sslmode=prefer.
func dedupe(hosts []*pgconn.FallbackConfig) []*pgconn.FallbackConfig {
	var out []*pgconn.FallbackConfig
	seen := map[string]bool{}
	for _, h := range hosts {
		if !seen[addr(h)] {
			seen[addr(h)] = true
			out = append(out, h)
		}
	}
	return out
}

type replicaInfo struct {
	name, state, sync string
	lag               time.Duration
}

type hostReport struct {
	addr                  string
	err                   error
	p50, p99              time.Duration
	tries                 int
	version               string
	tls                   bool
	primary               bool
	lag                   time.Duration
	lagBytes              int64
	inUse, maxConn, resvd int
	replicas              []replicaInfo
}

func (r *hostReport) usage() float64 {
	if avail := r.maxConn - r.resvd; avail > 0 {
		return float64(r.inUse) / float64(avail)
	}
	return 0
}

func (r *hostReport) print(w io.Writer) {
	fmt.Fprintf(w, "%s\n", r.addr)
	if r.err != nil {
		fmt.Fprintf(w, "  error:       %v\n", r.err)
		return
	}
	fmt.Fprintf(w, "  connect:     p50 %v  p99 %v  (%d connections)\n", r.p50.Round(time.Microsecond), r.p99.Round(time.Microsecond), r.tries)
	fmt.Fprintf(w, "  version:     %s\n", r.version)
	fmt.Fprintf(w, "  tls:         %s\n", map[bool]string{true: "yes", false: "no"}[r.tls])
	if r.primary {
		fmt.Fprintf(w, "  role:        primary\n")
		for _, rep := range r.replicas {
			fmt.Fprintf(w, "  replica:     %s %s (%s) replay lag %v\n", rep.name, rep.state, rep.sync, rep.lag.Round(time.Millisecond))
		}
	} else {
		fmt.Fprintf(w, "  role:        standby\n")
		fmt.Fprintf(w, "  lag:         %v (%d bytes received, not replayed)\n", r.lag.Round(time.Millisecond), r.lagBytes)
	}
	fmt.Fprintf(w, "  connections: %d in use of %d (%d reserved): %.0f%%\n", r.inUse, r.maxConn, r.resvd, 100*r.usage())
}

func checkHost(ctx context.Context, base *pgx.ConnConfig, h *pgconn.FallbackConfig, n int, timeout time.Duration) hostReport {
	r := hostReport{addr: addr(h)}
	cfg := base.Copy()
	cfg.Host, cfg.Port, cfg.TLSConfig, cfg.Fallbacks = h.Host, h.Port, h.TLSConfig, nil
	cfg.ValidateConnect = nil // a standby must be reachable too (target_session_attrs does not apply)
	cfg.ConnectTimeout = timeout
	times := make([]time.Duration, 0, n)
	var conn *pgx.Conn
	for i := range n {
		start := time.Now()
		c, err := pgx.ConnectConfig(ctx, cfg)
		if err != nil {
			r.err = err
			return r
		}
		times = append(times, time.Since(start))
		if i < n-1 {
			c.Close(ctx)
		} else {
			conn = c
		}
	}
	defer conn.Close(context.Background())
	slices.Sort(times)
	r.tries, r.p50, r.p99 = n, times[len(times)/2], times[min(len(times)-1, len(times)*99/100)]
	_, r.tls = conn.PgConn().Conn().(*tls.Conn)

	qctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var recovery bool
	var lagSec float64
	err := conn.QueryRow(qctx, `SELECT version(), pg_is_in_recovery(),
		(SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'),
		current_setting('max_connections')::int, current_setting('superuser_reserved_connections')::int,
		CASE WHEN NOT pg_is_in_recovery() OR pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
		     ELSE coalesce(extract(epoch FROM now() - pg_last_xact_replay_timestamp()), 0) END,
		CASE WHEN pg_is_in_recovery() THEN coalesce(pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()), 0) ELSE 0 END::bigint`).
		Scan(&r.version, &recovery, &r.inUse, &r.maxConn, &r.resvd, &lagSec, &r.lagBytes)
	if err != nil {
		r.err = err
		return r
	}
	if i := strings.Index(r.version, " on "); i > 0 {
		r.version = r.version[:i]
	}
	r.primary = !recovery
	r.lag = time.Duration(lagSec * float64(time.Second))
	if !r.primary {
		return r
	}
	rows, err := conn.Query(qctx, `SELECT application_name, state, sync_state,
		coalesce(extract(epoch FROM replay_lag), 0) FROM pg_stat_replication ORDER BY application_name`)
	if err != nil {
		r.err = err
		return r
	}
	for rows.Next() {
		var ri replicaInfo
		var sec float64
		if err := rows.Scan(&ri.name, &ri.state, &ri.sync, &sec); err != nil {
			r.err = err
			return r
		}
		ri.lag = time.Duration(sec * float64(time.Second))
		r.replicas = append(r.replicas, ri)
	}
	if err := rows.Err(); err != nil {
		r.err = err
	}
	return r
}
