package health_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/pgprovider/pgprovider"
	"github.com/pgprovider/pgprovider/health"
	"github.com/pgprovider/pgprovider/internal/pgtest"
	"github.com/pgprovider/pgprovider/listen"
)

// TestPrimaryKilled kills the primary: readiness turns 503 within the timeout while liveness
// stays 200; after a restart readiness is 200 again, and so is the listener check once the
// listener has reconnected.
func TestPrimaryKilled(t *testing.T) {
	c := pgtest.New(t, pgtest.Options{})
	node := c.Primary()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	db, err := pgprovider.Open(node.DSN("connect_timeout", "2"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	l, err := listen.New(node.DSN(), listen.WithBackoff(10*time.Millisecond, 100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close(context.Background())
	sub, err := l.Subscribe(ctx, "health_test")
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe(context.Background())

	h := health.New(db, health.WithTimeout(time.Second), health.WithCacheTTL(0), health.WithListener(l))
	if code, rep := get(t, h.Readiness(), http.MethodGet); code != 200 {
		t.Fatalf("readiness before kill = %d %+v", code, rep)
	}

	if err := node.Kill(ctx); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	code, rep := get(t, h.Readiness(), http.MethodGet)
	if code != 503 || find(rep, "primary").Status != "fail" {
		t.Fatalf("readiness with the primary killed = %d %+v", code, rep)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("readiness took %v with a 1s timeout", d)
	}
	t.Logf("primary down: %s", find(rep, "primary").Error)
	if code, _ := get(t, h.Liveness(), http.MethodGet); code != 200 {
		t.Fatalf("liveness with the primary killed = %d, want 200", code)
	}

	if err := node.Start(ctx); err != nil {
		t.Fatal(err)
	}
	// The pool's connections died with the server; database/sql drops them (ErrBadConn) and
	// the ping reaches a fresh backend. The listener reconnects with its own backoff.
	for {
		code, rep = get(t, h.Readiness(), http.MethodGet)
		if code == 200 {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("readiness after restart = %d %+v", code, rep)
		}
		select {
		case <-sub.C(): // the reconnect gap arrives once LISTEN is acknowledged again
		case <-time.After(50 * time.Millisecond):
		}
	}
	if p := find(rep, "primary"); p.Status != "ok" {
		t.Fatalf("primary after restart: %+v", p)
	}
	if code, _ := get(t, h.Liveness(), http.MethodGet); code != 200 {
		t.Fatalf("liveness after restart = %d", code)
	}
}
