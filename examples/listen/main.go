// Command listen shows a LISTEN/NOTIFY round trip with package listen, and the gap a
// subscriber receives after its connection was lost: it kills the listener's own backend and
// sends a notification after the gap arrived.
//
//	DATABASE_URL=postgres://user:pass@localhost:5432/db?sslmode=disable go run ./examples/listen
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/pgprovider/pgprovider"
	"github.com/pgprovider/pgprovider/listen"
)

func main() {
	dsn := os.Getenv("DATABASE_URL")
	if dsn == "" {
		log.Fatal("set DATABASE_URL")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := run(ctx, dsn); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, dsn string) error {
	db, err := pgprovider.Open(dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	l, err := listen.New(dsn)
	if err != nil {
		return err
	}
	defer l.Close(context.Background())

	sub, err := l.Subscribe(ctx, "demo")
	if err != nil {
		return err
	}
	if err := show(ctx, sub); err != nil { // the initial gap: load your state here
		return err
	}
	if err := listen.Notify(ctx, db, "demo", "hello"); err != nil {
		return err
	}
	if err := show(ctx, sub); err != nil {
		return err
	}

	pid := l.Stats().BackendPID
	fmt.Printf("terminating the listener's backend (pid %d)\n", pid)
	if _, err := db.ExecContext(ctx, "SELECT pg_terminate_backend($1)", pid); err != nil {
		return err
	}
	if err := show(ctx, sub); err != nil { // the reconnect gap, after LISTEN was acknowledged again
		return err
	}
	if err := listen.Notify(ctx, db, "demo", "after the gap"); err != nil {
		return err
	}
	if err := show(ctx, sub); err != nil {
		return err
	}
	st := l.Stats()
	fmt.Printf("stats: connects=%d received=%d gaps=%d dropped=%d\n", st.Connects, st.Received, st.Gaps, st.Dropped)
	return sub.Unsubscribe(ctx)
}

func show(ctx context.Context, sub *listen.Subscription) error {
	select {
	case ev := <-sub.C():
		if ev.IsGap() {
			fmt.Printf("gap (%s): re-read your state now\n", ev.Gap.Reason)
		} else {
			fmt.Printf("notification on %q: %q (from pid %d)\n", ev.Channel, ev.Payload, ev.PID)
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
