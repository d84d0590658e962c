package replica

import (
	"context"
	"testing"
	"time"

	"github.com/pgprovider/pgprovider/internal/pgtest"
)

// S10: read-your-writes with replica 2 applying WAL 2 s late. Strict mode: no read misses the
// session's own write, and replica 1 serves reads once it has caught up. The sticky window
// shorter than the delay shows violations (counted, not asserted).
func TestReadYourWritesS10(t *testing.T) {
	leakCheck(t)
	c := pgtest.Shared(t)
	ctx := ctxT(t, 60*time.Second)
	n2 := c.Nodes[2]
	if err := n2.SetApplyDelay(ctx, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n2.SetApplyDelay(context.Background(), 0) })
	if err := c.Nodes[0].Exec(ctx, "CREATE TABLE IF NOT EXISTS s10 (id bigserial PRIMARY KEY, mode text)"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		opts   []Option
		strict bool
	}{
		{"strict", []Option{WithStrictReadYourWrites()}, true},
		{"sticky_100ms", []Option{WithStickyWindow(100 * time.Millisecond)}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, _ := open(t, c.Nodes[0].DSN(), []string{c.Nodes[1].DSN(), n2.DSN()}, tc.opts...)
			var violations, onReplica, reads int
			served := map[string]int{}
			for w := 0; w < 8; w++ {
				sctx := WithSession(ctx)
				var id int64
				if err := db.QueryRowContext(sctx, "INSERT INTO s10 (mode) VALUES ($1) RETURNING id", tc.name).Scan(&id); err != nil {
					t.Fatal(err)
				}
				var by string
				rctx := WithServedBy(UseReplica(sctx), &by)
				for i := 0; i < 15; i++ {
					var n int
					if err := db.QueryRowContext(rctx, "SELECT count(*) FROM s10 WHERE id = $1", id).Scan(&n); err != nil {
						t.Fatal(err)
					}
					reads++
					served[by]++
					if by != name(c.Nodes[0]) {
						onReplica++
					}
					if n != 1 {
						violations++
					}
					time.Sleep(20 * time.Millisecond) // the reader's think time
				}
			}
			t.Logf("%s: %d reads, %d on replicas, %d read-your-writes violations; served by %v", tc.name, reads, onReplica, violations, served)
			if tc.strict {
				if violations != 0 {
					t.Fatalf("strict mode: %d violations", violations)
				}
				if served[name(n2)] != 0 || served[name(c.Nodes[1])] == 0 {
					t.Fatalf("strict mode: served by %v: the delayed replica must serve none, the other some", served)
				}
			}
		})
	}
}
