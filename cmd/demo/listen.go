package main

import (
	"context"
	"fmt"
	"time"

	"github.com/pgprovider/pgprovider/listen"
)

// listenerApp is the application_name of the listener's connection, by which the step finds
// it in pg_stat_activity.
const listenerApp = "pgprovider-demo-listener"

// stepListen subscribes to a channel, sends a notification through the *sql.DB, kills the
// listener's backend and shows the gap the subscriber receives once LISTEN is acknowledged on
// a new connection, then a notification sent after the gap.
func stepListen(ctx context.Context, e *env) (err error) {
	l, err := listen.New(dsnWith(e.dsn, "application_name", listenerApp))
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if cerr := l.Close(cctx); err == nil {
			err = cerr
		}
	}()
	sub, err := l.Subscribe(ctx, "demo_jobs")
	if err != nil {
		return err
	}
	fmt.Fprintln(e.out, `subscribed to "demo_jobs" on the listener's own connection, outside the *sql.DB pool`)
	// next sends payload (if any) through the *sql.DB and waits for it, or for a gap if none.
	next := func(payload string) error {
		if payload != "" {
			if err := listen.Notify(ctx, e.db, "demo_jobs", payload); err != nil {
				return err
			}
		}
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		var ev listen.Event
		select {
		case ev = <-sub.C():
		case <-wctx.Done():
		}
		switch {
		case payload == "" && ev.IsGap():
			fmt.Fprintln(e.out, "event: gap (notifications may have been missed): re-read your state now")
		case payload != "" && !ev.IsGap() && ev.Payload == payload:
			fmt.Fprintf(e.out, "event: notification %q\n", ev.Payload)
		default:
			return fmt.Errorf("want %q (empty: a gap) within 10s, got %+v (%v)", payload, ev, wctx.Err())
		}
		return nil
	}
	if err := next(""); err != nil { // the initial gap: load your state now
		return err
	}
	if err := next("job-1"); err != nil {
		return err
	}
	var pid int
	var ok bool
	if err := e.db.QueryRowContext(ctx, "SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
		listenerApp).Scan(&pid, &ok); err != nil || !ok {
		return fmt.Errorf("terminate the listener's backend (terminated: %v): %w", ok, err)
	}
	fmt.Fprintf(e.out, "terminated the listener's backend (pid %d): notifications sent now are lost\n", pid)
	if err := next(""); err != nil { // the gap, once LISTEN is acknowledged on a new connection
		return err
	}
	if err := next("job-2"); err != nil {
		return err
	}
	fmt.Fprintln(e.out, "the subscriber was told of the possible loss, and the notification sent after it arrived")
	return nil
}
