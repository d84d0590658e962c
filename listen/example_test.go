package listen_test

import (
	"context"
	"database/sql"
	"fmt"
	"log"

	"github.com/pgprovider/pgprovider"
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
	sub, err := l.Subscribe(ctx, "jobs") // returns once LISTEN is acknowledged
	if err != nil {
		log.Fatal(err)
	}
	for ev := range sub.C() {
		if ev.IsGap() { // initial, after a reconnect, or after an overflow
			fmt.Println("reload all pending jobs:", ev.Gap.Reason)
			continue
		}
		fmt.Println("job ready:", ev.Payload)
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

// A listener built from the driver's connector dials with its credentials hook and TLS.
// Handle events on a goroutine of your own; the listener never waits for it.
func ExampleFromConnector() {
	ctx := context.Background()
	c, err := pgprovider.NewConnector("postgres://app@db.internal/app")
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	l, err := listen.FromConnector(c, listen.WithBufferSize(4096),
		listen.WithStateHook(func(s listen.State) {
			if !s.Connected {
				log.Printf("listener down (%v), dial %d in %v", s.Err, s.Attempt, s.Delay)
			}
		}))
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close(ctx)
	sub, err := l.Subscribe(ctx, "jobs")
	if err != nil {
		log.Fatal(err)
	}
	type job struct{ ID int }
	go func() {
		for ev := range sub.C() { // closed by Unsubscribe or Close
			if ev.IsGap() {
				continue // reload state here
			}
			j, err := listen.DecodeJSON[job](ev)
			if err != nil {
				log.Print(err)
				continue
			}
			fmt.Println("job", j.ID)
		}
	}()
}

// Validate checks a channel name and a payload the way Notify and Subscribe do, before
// anything reaches the server.
func ExampleValidate() {
	for _, c := range []struct{ channel, payload string }{
		{"Orders", "42"},
		{"orders.v2 \"eu\"", ""},
		{"", "42"},
		{"a_channel_name_of_sixty_four_bytes_is_one_byte_longer_than_63_by", ""},
		{"orders", string(make([]byte, 8000))},
	} {
		fmt.Println(listen.Validate(c.channel, c.payload))
	}
	// Output:
	// <nil>
	// <nil>
	// listen: invalid channel name: empty
	// listen: invalid channel name: 64 bytes long, at most 63
	// listen: invalid payload: 8000 bytes long, at most 7999
}

// DecodeJSON decodes a notification's payload; a gap has none.
func ExampleDecodeJSON() {
	type job struct {
		ID int `json:"id"`
	}
	j, err := listen.DecodeJSON[job](listen.Event{Channel: "jobs", Payload: `{"id":42}`})
	fmt.Println(j.ID, err)
	_, err = listen.DecodeJSON[job](listen.Event{Channel: "jobs", Gap: &listen.Gap{Reason: listen.GapReconnect}})
	fmt.Println(err)
	// Output:
	// 42 <nil>
	// listen: invalid event for DecodeJSON: a reconnect gap on "jobs", not a notification
}
