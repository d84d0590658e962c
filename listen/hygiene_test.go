// Pool hygiene, seen from the listen package: pooled database/sql connections drop
// notifications instead of buffering them, and a connection that LISTENed or received a
// notification runs UNLISTEN * before database/sql hands it out again; use package listen to
// receive notifications.

package listen_test

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pgprovider/pgprovider"
)

func heapAlloc() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

func TestPoolHygiene(t *testing.T) {
	node := shared(t)
	ctx := context.Background()
	tests := []struct {
		name  string
		flood int // notifications sent to the pooled connection's channel
	}{
		{"LISTEN then 10k notifications", 10000},
		{"LISTEN without notifications", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := openDB(t, node.DSN())
			db.SetMaxOpenConns(1)
			conn, err := db.Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if _, err := conn.ExecContext(ctx, "LISTEN hygiene"); err != nil {
				t.Fatal(err)
			}
			before := heapAlloc()
			if tt.flood > 0 {
				if err := node.Exec(ctx, "SELECT pg_notify('hygiene', repeat('x', 1000) || g) FROM generate_series(1, $1) g", tt.flood); err != nil {
					t.Fatal(err)
				}
			}
			var one int
			if err := conn.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil { // pgx reads what arrived
				t.Fatal(err)
			}
			if grew := int64(heapAlloc()) - int64(before); grew > 2<<20 {
				t.Fatalf("heap grew by %d bytes: notifications are buffered on a pooled connection", grew)
			}
			err = pgprovider.Raw(ctx, conn, func(ctx context.Context, pc *pgx.Conn) error {
				wctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
				defer cancel()
				if n, _ := pc.WaitForNotification(wctx); n != nil {
					t.Errorf("pgx buffered notification %q", n.Channel)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			conn.Close() // back to the pool: the next borrower must not inherit the LISTEN
			var n int
			if err := db.QueryRowContext(ctx, "SELECT count(*) FROM pg_listening_channels()").Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n != 0 {
				t.Fatalf("next borrower listens on %d channels", n)
			}
		})
	}
}
