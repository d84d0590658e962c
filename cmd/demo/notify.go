package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pgprovider/pgprovider"
	"github.com/pgprovider/pgprovider/listen"
)

// listenChannel is the channel the LISTEN/NOTIFY step uses; channel names are case-sensitive.
const listenChannel = "demo_jobs"

// listenerAppName is listen's default application_name, under which the listener's
// connection shows in pg_stat_activity.
const listenerAppName = "pgprovider-listener"

// eventTimeout bounds each wait for an event, so a lost event fails the step instead of
// hanging the demo.
const eventTimeout = 10 * time.Second

// stepListen subscribes to a channel, sends a notification through the *sql.DB, kills the
// listener's backend and shows the gap the listener delivers once it has LISTENed again.
func stepListen(ctx context.Context, e *env) (err error) {
	conn, err := pgprovider.NewConnector(e.dsn)
	if err != nil {
		return err
	}
	defer conn.Close()
	l, err := listen.FromConnector(conn, listen.WithBackoff(50*time.Millisecond, time.Second))
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if cerr := l.Close(cctx); cerr != nil && err == nil {
			err = fmt.Errorf("close listener: %w", cerr)
		}
	}()

	sub, err := l.Subscribe(ctx, listenChannel)
	if err != nil {
		return err
	}
	ev, err := nextEvent(ctx, sub)
	if err != nil {
		return err
	}
	if !ev.IsGap() || ev.Gap.Reason != listen.GapInitial {
		return fmt.Errorf("want the initial gap, got %+v", ev)
	}
	fmt.Fprintf(e.out, "subscribed to %q on a dedicated connection (backend pid %d)\n", listenChannel, l.Stats().BackendPID)
	fmt.Fprintln(e.out, "gap (initial): load your state now")

	if err := notifyAndReceive(ctx, e, sub, "job-1"); err != nil {
		return err
	}

	// The kill runs on its own goroutine: pg_terminate_backend with a timeout returns only
	// after polling for the backend's exit, and the gap is timed from here.
	pid := l.Stats().BackendPID
	killed := time.Now()
	killErr := make(chan error, 1)
	go func() { killErr <- killListener(ctx, e, pid) }()
	ev, err = nextEvent(ctx, sub)
	gapAfter := time.Since(killed)
	if kerr := <-killErr; kerr != nil {
		return kerr
	}
	if err != nil {
		return err
	}
	if !ev.IsGap() || ev.Gap.Reason != listen.GapReconnect {
		return fmt.Errorf("want a reconnect gap, got %+v", ev)
	}
	fmt.Fprintf(e.out, "terminated the listener's backend (pid %d, application_name %q)\n", pid, listenerAppName)
	fmt.Fprintf(e.out, "gap (reconnect) %s after the kill, once LISTEN was acknowledged again on backend pid %d:\n",
		gapAfter.Round(100*time.Microsecond), l.Stats().BackendPID)
	fmt.Fprintln(e.out, "  re-read your state now")
	fmt.Fprintf(e.out, "  (the connection was lost with: %v)\n", ev.Gap.Err)

	if err := notifyAndReceive(ctx, e, sub, "job-2"); err != nil {
		return err
	}
	fmt.Fprintln(e.out, "the notification sent after the gap arrived")
	st := l.Stats()
	fmt.Fprintf(e.out, "listener stats: connects=%d reconnects=%d received=%d gaps=%d\n",
		st.Connects, st.Reconnects, st.Received, st.Gaps)
	return nil
}

// notifyAndReceive sends payload with listen.Notify through the demo's *sql.DB and waits for
// it on sub.
func notifyAndReceive(ctx context.Context, e *env, sub *listen.Subscription, payload string) error {
	if err := listen.Notify(ctx, e.db, listenChannel, payload); err != nil {
		return err
	}
	ev, err := nextEvent(ctx, sub)
	if err != nil {
		return err
	}
	if ev.IsGap() || ev.Notification.Payload != payload {
		return fmt.Errorf("want notification %q, got %+v", payload, ev)
	}
	n := ev.Notification
	fmt.Fprintf(e.out, "notification on %q: payload %q from backend pid %d\n", n.Channel, n.Payload, n.PID)
	return nil
}

// killListener terminates the listener's backend: with the harness on the temporary cluster,
// through the demo's *sql.DB otherwise (matching the pid too, so that other listeners on a
// shared server survive).
func killListener(ctx context.Context, e *env, pid uint32) error {
	var n int
	var err error
	if e.cluster != nil {
		n, err = e.cluster.Primary().TerminateBackends(ctx, "application_name = '"+listenerAppName+"'")
	} else {
		err = e.db.QueryRowContext(ctx, `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))::int
			FROM pg_stat_activity WHERE application_name = $1 AND pid = $2`, listenerAppName, int64(pid)).Scan(&n)
	}
	if err != nil {
		return err
	}
	if n != 1 {
		return fmt.Errorf("terminated %d backends named %q, want 1 (does the DSN set application_name?)", n, listenerAppName)
	}
	return nil
}

// nextEvent waits for the next event of sub, bounded by eventTimeout.
func nextEvent(ctx context.Context, sub *listen.Subscription) (listen.Event, error) {
	ctx, cancel := context.WithTimeout(ctx, eventTimeout)
	defer cancel()
	select {
	case ev, ok := <-sub.C():
		if !ok {
			return listen.Event{}, errors.New("subscription ended")
		}
		return ev, nil
	case <-ctx.Done():
		return listen.Event{}, fmt.Errorf("waiting for an event on %q: %w", sub.Channel(), ctx.Err())
	}
}
