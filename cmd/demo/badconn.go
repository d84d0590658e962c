package main

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
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

// errEncrypted reports that the proxy never saw the UPDATE: the connection uses TLS.
var errEncrypted = errors.New("the proxy saw no UPDATE to cut: the connection is encrypted (sslmode=disable shows this step)")

// cutter, once armed, lets the next request holding incrementSQL through, then drops the
// server's answer and cuts the connection: the server ran the UPDATE, the client never knows.
type cutter struct {
	armed atomic.Bool
	conn  atomic.Int64 // the id (from 1) of the connection that carried the UPDATE; 0 when none
}

func (c *cutter) filter(id int, dir faultproxy.Direction, chunk []byte) faultproxy.Action {
	switch {
	case dir == faultproxy.ClientToServer && bytes.Contains(chunk, []byte(incrementSQL)) && c.armed.CompareAndSwap(true, false):
		c.conn.Store(int64(id))
	case dir == faultproxy.ServerToClient && c.conn.CompareAndSwap(int64(id), 0):
		return faultproxy.CutBefore
	}
	return faultproxy.Forward
}

// stepBadConn runs the same UPDATE through raw pgx stdlib and through pgprovider, with the
// connection cut after the UPDATE reached the server but before its answer came back.
func stepBadConn(ctx context.Context, e *env) error {
	cfg, err := pgx.ParseConfig(e.primaryDSN)
	if err != nil {
		return err
	}
	if strings.HasPrefix(cfg.Host, "/") {
		return errors.New("the fault proxy needs a TCP address, but the DSN names a Unix socket")
	}
	proxy, err := faultproxy.New(net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port))))
	if err != nil {
		return err
	}
	defer proxy.Close()
	cut := &cutter{}
	proxy.SetFilter(cut.filter)
	dsn := dsnWith(e.dsn, "host", proxy.Host(), "port", strconv.Itoa(proxy.Port()))
	if ip := net.ParseIP(cfg.Host); cfg.Host == "localhost" || ip != nil && ip.IsLoopback() {
		dsn = dsnWith(dsn, "sslmode", "disable") // the proxy must see the UPDATE; nothing leaves the machine
	}
	fmt.Fprintf(e.out, "a fault proxy (%s -> %s) forwards %q, then cuts the connection\n"+
		"instead of forwarding the server's answer: the server ran the UPDATE, the client does not know\n",
		proxy.Addr(), proxy.Target(), incrementSQL)

	fmt.Fprintln(e.out, "-- raw pgx stdlib, sql.Open(\"pgx\", dsn) (no middleware, so nothing is logged):")
	raw, err := sql.Open("pgx", dsn)
	if err != nil {
		return err
	}
	rawErr, rawDelta, err := runCut(ctx, e.admin, raw, cut)
	if errors.Is(err, errEncrypted) {
		fmt.Fprintln(e.out, "skipped:", err)
		return nil
	} else if err != nil {
		return err
	}
	fmt.Fprintf(e.out, "pgx stdlib: error=%v, counter incremented %d time(s)\n", rawErr, rawDelta)
	if rawErr == nil && rawDelta == 2 {
		fmt.Fprintln(e.out, "  pgx stdlib answered driver.ErrBadConn (\"safe to retry\"), so database/sql ran the UPDATE again\n"+
			"  on a new connection: the caller saw success, and the counter moved twice.")
	}

	fmt.Fprintln(e.out, "-- pgprovider.Open(dsn, ...):")
	ours, err := pgprovider.Open(dsn, pgprovider.WithMiddleware(newLogger(e.out)))
	if err != nil {
		return err
	}
	ourErr, ourDelta, err := runCut(ctx, e.admin, ours, cut)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.out, "pgprovider: error=%v, counter incremented %d time(s)\n", ourErr, ourDelta)
	if !errors.Is(ourErr, pgerror.OutcomeUnknown) || ourDelta != 1 {
		return fmt.Errorf("pgprovider: want pgerror.OutcomeUnknown and one increment, got %v and %d", ourErr, ourDelta)
	}
	fmt.Fprintln(e.out, "  errors.Is(err, pgerror.OutcomeUnknown): the UPDATE was sent once and never again; the caller decides.")
	return nil
}

// runCut arms the cut, runs the UPDATE on db (one pooled connection), and returns its error
// and how many times it was applied, read through admin (outside the proxy). It closes db.
func runCut(ctx context.Context, admin, db *sql.DB, cut *cutter) (execErr error, delta int, err error) {
	defer db.Close()
	db.SetMaxOpenConns(1)
	if err := db.PingContext(ctx); err != nil {
		return nil, 0, err
	}
	var before, after int
	if err := admin.QueryRowContext(ctx, "SELECT n FROM "+demoSchema+".counter").Scan(&before); err != nil {
		return nil, 0, err
	}
	cut.armed.Store(true)
	_, execErr = db.ExecContext(ctx, incrementSQL)
	if cut.armed.Swap(false) {
		return nil, 0, errEncrypted
	}
	err = admin.QueryRowContext(ctx, "SELECT n FROM "+demoSchema+".counter").Scan(&after)
	return execErr, after - before, err
}
