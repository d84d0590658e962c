package main

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/stdlib" // raw pgx stdlib ("pgx"), for comparison
	"github.com/pgprovider/pgprovider"
	"github.com/pgprovider/pgprovider/internal/faultproxy"
	"github.com/pgprovider/pgprovider/pgerror"
)

// incrementSQL is the statement the connection is cut after.
const incrementSQL = "UPDATE counter SET n = n + 1"

// oneShotCut cuts the connection right after forwarding the next simple query (a client
// chunk starting with 'Q') once armed; database/sql's "-- ping" is let through. An answer
// the server sends on the cut connection before the cut takes effect is dropped, so the
// client never sees it.
type oneShotCut struct {
	armed, fired atomic.Bool
	cutConn      atomic.Int64 // the id of the connection cut, plus one; 0 before the cut
}

func (c *oneShotCut) filter(id int, dir faultproxy.Direction, chunk []byte) faultproxy.Action {
	if dir == faultproxy.ServerToClient {
		if c.cutConn.Load() == int64(id)+1 {
			return faultproxy.CutBefore
		}
		return faultproxy.Forward
	}
	if len(chunk) == 0 || chunk[0] != 'Q' || bytes.Contains(chunk, []byte("-- ping")) {
		return faultproxy.Forward
	}
	if c.armed.CompareAndSwap(true, false) {
		c.cutConn.Store(int64(id) + 1)
		c.fired.Store(true)
		return faultproxy.CutAfter
	}
	return faultproxy.Forward
}

// cutResult is what one driver made of the cut.
type cutResult struct {
	err   error
	delta int // how many times the counter was incremented
	fired bool
}

// stepBadConn runs the same UPDATE through raw pgx stdlib and through pgprovider, with the
// connection cut after the UPDATE reached the server but before its answer came back.
func stepBadConn(ctx context.Context, e *env) error {
	cfg, err := pgx.ParseConfig(e.primaryDSN)
	if err != nil {
		return err
	}
	if strings.HasPrefix(cfg.Host, "/") {
		fmt.Fprintln(e.out, "skipped: the fault proxy needs a TCP address, the DSN uses a Unix socket")
		return nil
	}
	proxy, err := faultproxy.New(net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port))))
	if err != nil {
		return err
	}
	defer proxy.Close()
	cut := &oneShotCut{}
	proxy.SetFilter(cut.filter)
	dsn := dsnWith(e.dsn, "host", proxy.Host(), "port", strconv.Itoa(proxy.Port()))
	fmt.Fprintf(e.out, "fault proxy %s -> %s cuts the connection right after forwarding %q\n",
		proxy.Addr(), proxy.Target(), incrementSQL)

	raw, err := sql.Open("pgx", dsn)
	if err != nil {
		return err
	}
	fmt.Fprintln(e.out, "-- through raw pgx stdlib (sql.Open(\"pgx\", dsn)); it has no middleware, so nothing is logged")
	rawRes, err := runCut(ctx, e, raw, cut)
	if err != nil || !rawRes.fired {
		return noCut(e, err)
	}
	fmt.Fprintf(e.out, "pgx stdlib: error=%v, counter incremented %s\n", rawRes.err, times(rawRes.delta))

	ours, err := pgprovider.Open(dsn, pgprovider.WithMiddleware(newLogger(e.out)))
	if err != nil {
		return err
	}
	fmt.Fprintln(e.out, "-- through pgprovider:")
	ourRes, err := runCut(ctx, e, ours, cut)
	if err != nil || !ourRes.fired {
		return noCut(e, err)
	}
	fmt.Fprintf(e.out, "pgprovider: error=%v, counter incremented %s\n", ourRes.err, times(ourRes.delta))

	if rawRes.err == nil && rawRes.delta == 2 {
		fmt.Fprintln(e.out, "pgx stdlib took the lost connection for safe to retry and answered driver.ErrBadConn,")
		fmt.Fprintln(e.out, "so database/sql ran the UPDATE again on a new connection: the caller saw success, the counter moved twice.")
	}
	// The cut resets the connection: the server usually has read and run the UPDATE, but may
	// also have dropped it unread. Either way the outcome is unknown and it was not re-sent.
	if !errors.Is(ourRes.err, pgerror.OutcomeUnknown) || ourRes.delta > 1 {
		return fmt.Errorf("pgprovider: want ErrOutcomeUnknown and at most one increment, got error=%v and %d", ourRes.err, ourRes.delta)
	}
	fmt.Fprintln(e.out, "pgprovider reported ErrOutcomeUnknown and did not re-run the UPDATE: the caller decides.")
	return nil
}

// noCut passes err on; without an error, the proxy never saw the UPDATE in plain text (a TLS
// connection), so the comparison cannot be shown.
func noCut(e *env, err error) error {
	if err == nil {
		fmt.Fprintln(e.out, "skipped: the proxy saw no plaintext query to cut (TLS?); use sslmode=disable to see this part")
	}
	return err
}

// runCut opens one pooled connection on db, arms the cut, runs the UPDATE and measures how
// many times it was applied. It closes db.
func runCut(ctx context.Context, e *env, db *sql.DB, cut *oneShotCut) (cutResult, error) {
	defer db.Close()
	db.SetMaxOpenConns(1)
	if err := db.PingContext(ctx); err != nil {
		return cutResult{}, err
	}
	before, err := counter(ctx, e)
	if err != nil {
		return cutResult{}, err
	}
	cut.fired.Store(false)
	cut.cutConn.Store(0)
	cut.armed.Store(true)
	_, execErr := db.ExecContext(ctx, incrementSQL)
	cut.armed.Store(false)
	after, err := counter(ctx, e)
	if err != nil {
		return cutResult{}, err
	}
	return cutResult{err: execErr, delta: after - before, fired: cut.fired.Load()}, nil
}

// times spells a count of increments.
func times(n int) string {
	if n == 1 {
		return "1 time"
	}
	return fmt.Sprintf("%d times", n)
}

// dsnWith returns dsn with the key=value settings kv added, overriding earlier ones; it
// handles both URL and key=value connection strings.
func dsnWith(dsn string, kv ...string) string {
	var b strings.Builder
	b.WriteString(dsn)
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		sep := "?"
		if strings.Contains(dsn, "?") {
			sep = "&"
		}
		for i := 0; i+1 < len(kv); i += 2 {
			b.WriteString(sep + url.QueryEscape(kv[i]) + "=" + url.QueryEscape(kv[i+1]))
			sep = "&"
		}
		return b.String()
	}
	quote := strings.NewReplacer(`\`, `\\`, `'`, `\'`)
	for i := 0; i+1 < len(kv); i += 2 {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(kv[i] + "='" + quote.Replace(kv[i+1]) + "'")
	}
	return b.String()
}
