package suite

import (
	"context"
	"database/sql"
	"fmt"
	"runtime"
)

// heapInUse returns the bytes of live heap objects after two garbage collections.
func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// MemoryPerConn opens n connections through v (all open at once, then left idle in the pool)
// and returns the live heap they add, per connection.
func MemoryPerConn(ctx context.Context, v Variant, dsn string, n int) (float64, error) {
	before := heapInUse()
	db, err := v.Open(dsn)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	db.SetMaxOpenConns(n)
	db.SetMaxIdleConns(n)
	held := make([]*sql.Conn, 0, n)
	for range n {
		c, err := db.Conn(ctx)
		if err != nil {
			for _, h := range held {
				_ = h.Close()
			}
			return 0, err
		}
		held = append(held, c)
	}
	for _, h := range held {
		if err := h.Close(); err != nil {
			return 0, err
		}
	}
	held = nil
	after := heapInUse()
	if st := db.Stats(); st.OpenConnections != n {
		return 0, fmt.Errorf("memory: pool holds %d connections, want %d", st.OpenConnections, n)
	}
	runtime.KeepAlive(db)
	return (float64(after) - float64(before)) / float64(n), nil
}
