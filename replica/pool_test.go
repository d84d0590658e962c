package replica

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pgprovider/pgprovider"
	"github.com/pgprovider/pgprovider/internal/pgtest"
	"github.com/pgprovider/pgprovider/middleware"
)

// TestPoolExpiredBudgetKeepsConnections: an attempt whose deadline has passed (or whose
// context is done) fails without taking idle connections out.
func TestPoolExpiredBudgetKeepsConnections(t *testing.T) {
	c := pgtest.Shared(t)
	ctr, err := pgprovider.NewConnector(c.Nodes[1].DSN(), pgprovider.WithConnConfig(func(cc *pgx.ConnConfig) {
		cc.DialFunc = dialCapture(cc.DialFunc)
	}))
	if err != nil {
		t.Fatal(err)
	}
	p := newPool(ctr, 8, 8)
	t.Cleanup(func() { _ = p.close() })
	ctx := context.Background()
	var conns []middleware.Backend
	for range 5 {
		cn, nc, err := p.get(ctx, time.Now().Add(time.Second))
		if err != nil || nc == nil {
			t.Fatalf("get: %v (socket %v)", err, nc)
		}
		_ = nc.SetDeadline(time.Time{})
		conns = append(conns, cn)
	}
	for _, cn := range conns {
		p.put(cn)
	}
	idle := func() int { p.mu.Lock(); defer p.mu.Unlock(); return len(p.idle) }
	if idle() != 5 {
		t.Fatalf("%d idle", idle())
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	for _, tt := range []struct {
		name     string
		ctx      context.Context
		deadline time.Time
	}{
		{"deadline passed", ctx, time.Now().Add(-time.Microsecond)},
		{"context done", cancelled, time.Time{}},
	} {
		if _, _, err := p.get(tt.ctx, tt.deadline); err == nil {
			t.Fatalf("%s: get succeeded", tt.name)
		}
		if idle() != 5 || p.open.Load() != 5 {
			t.Fatalf("%s: %d idle, %d open, want 5 and 5", tt.name, idle(), p.open.Load())
		}
	}
}
