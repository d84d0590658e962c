package listen_test

import (
	"context"
	"database/sql"
	"fmt"
	"log"

	"github.com/pgprovider/pgprovider/listen"
)

// A subscriber re-reads its state on every gap and treats notifications as wake-ups.
func Example() {
	ctx := context.Background()
	l, err := listen.New("postgres://app@db.internal/app")
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close(ctx)
	sub, err := l.Subscribe(ctx, "jobs")
	if err != nil {
		log.Fatal(err)
	}
	for ev := range sub.C() {
		if ev.IsGap() {
			fmt.Println("reload all pending jobs:", ev.Gap.Reason)
			continue
		}
		fmt.Println("job ready:", ev.Notification.Payload)
	}
}

// Notify inside a transaction: the notification is delivered on commit only.
func ExampleNotify() {
	ctx := context.Background()
	db, err := sql.Open("pgprovider", "postgres://app@db.internal/app")
	if err != nil {
		log.Fatal(err)
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, "INSERT INTO jobs (id) VALUES (42)"); err != nil {
		log.Fatal(err)
	}
	if err := listen.Notify(ctx, tx, "jobs", "42"); err != nil {
		log.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		log.Fatal(err)
	}
}

// SubscribeFunc runs a handler on its own goroutine; panics are recovered and reported.
func ExampleSubscribeFunc() {
	ctx := context.Background()
	l, err := listen.New("postgres://app@db.internal/app",
		listen.WithErrorHandler(func(ch string, err error) { log.Printf("%s: %v", ch, err) }))
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close(ctx)
	type job struct{ ID int }
	_, err = listen.SubscribeFunc(ctx, l, "jobs", func(ctx context.Context, ev listen.Event) error {
		if ev.IsGap() {
			return nil // reload state here
		}
		j, err := listen.DecodeJSON[job](ev)
		if err != nil {
			return err
		}
		fmt.Println("job", j.ID)
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
}
