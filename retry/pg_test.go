package retry_test

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pgprovider/pgprovider"
	"github.com/pgprovider/pgprovider/internal/pgtest"
	"github.com/pgprovider/pgprovider/retry"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, pgtest.Options{})) }

// openPG opens a pool through retry.New (plus extra middleware) on dsn.
func openPG(t *testing.T, dsn string, opts []pgprovider.Option, ropts ...retry.Option) *sql.DB {
	t.Helper()
	opts = append([]pgprovider.Option{pgprovider.WithMiddleware(retry.New(append([]retry.Option{fast}, ropts...)...))}, opts...)
	db, err := pgprovider.Open(dsn, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func mustExec(t *testing.T, db interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}, q string, args ...any) {
	t.Helper()
	if _, err := db.ExecContext(context.Background(), q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// waitLocked waits until a backend running a statement like pattern waits on a lock.
func waitLocked(t *testing.T, admin *sql.DB, pattern string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		var n int
		err := admin.QueryRowContext(ctx, `SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE $1`, pattern).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatal("no backend waits on a lock")
		case <-time.After(5 * time.Millisecond): // polling the server: there is no push signal
		}
	}
}

func onlyCodes(mu *sync.Mutex, codes *[]string) retry.Option {
	return retry.WithOnAttempt(func(_ context.Context, a retry.Attempt) {
		mu.Lock()
		defer mu.Unlock()
		*codes = append(*codes, pgErrCode(a.Err))
	})
}

// Case 22: an autocommit UPDATE hits a real 40001 (repeatable read, concurrent update by a
// second session) and is retried: the counter grows exactly once per success.
func TestRealSerializationFailureRetried(t *testing.T) {
	node := pgtest.Shared(t).Primary()
	admin := openPG(t, node.DSN(), nil)
	mustExec(t, admin, `DROP TABLE IF EXISTS ser; CREATE TABLE ser (id int PRIMARY KEY, n int NOT NULL); INSERT INTO ser VALUES (1, 0)`)
	var mu sync.Mutex
	var codes []string
	db := openPG(t, node.DSN(), []pgprovider.Option{pgprovider.WithConnConfig(func(c *pgx.ConnConfig) {
		c.RuntimeParams["default_transaction_isolation"] = "repeatable read"
	})}, onlyCodes(&mu, &codes))

	other, err := admin.BeginTx(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	mustExec(t, other, `UPDATE ser SET n = n + 1 WHERE id = 1`)
	done := make(chan error, 1)
	go func() {
		_, err := db.Exec(`UPDATE ser SET n = n + 1 WHERE id = 1 /* retried */`)
		done <- err
	}()
	waitLocked(t, admin, "%retried%")
	if err := other.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	var n int
	if err := admin.QueryRow(`SELECT n FROM ser WHERE id = 1`).Scan(&n); err != nil || n != 2 {
		t.Fatalf("n = %d (%v), want 2", n, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(codes) != 2 || codes[0] != "40001" {
		t.Fatalf("attempts %v, want a 40001 then success", codes)
	}
}

// A real deadlock: the retried session detects it (shorter deadlock_timeout) and retries.
// PostgreSQL checks for a deadlock once, deadlock_timeout after a wait begins: the retried
// session's timeout must outlast the time the other session takes to close the cycle after
// waitLocked saw the wait (20 ms did not, once, on a loaded CI machine: the other session's
// 10 s check found the cycle instead).
func TestRealDeadlockRetried(t *testing.T) {
	node := pgtest.Shared(t).Primary()
	admin := openPG(t, node.DSN(), nil)
	mustExec(t, admin, `DROP TABLE IF EXISTS dl; CREATE TABLE dl (id int PRIMARY KEY, n int NOT NULL); INSERT INTO dl VALUES (1, 0), (2, 0)`)
	var mu sync.Mutex
	var codes []string
	db := openPG(t, node.DSN(), []pgprovider.Option{pgprovider.WithConnConfig(func(c *pgx.ConnConfig) {
		c.RuntimeParams["deadlock_timeout"] = "1s"
	})}, onlyCodes(&mu, &codes))

	other, err := admin.BeginTx(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	mustExec(t, other, `SET LOCAL deadlock_timeout = '10s'`)
	mustExec(t, other, `UPDATE dl SET n = n + 1 WHERE id = 2`)
	done := make(chan error, 1)
	go func() {
		// Locks row 1, then waits for row 2.
		_, err := db.Exec(`UPDATE dl SET n = n + 1 WHERE id IN (1, 2) /* deadlocked */`)
		done <- err
	}()
	waitLocked(t, admin, "%deadlocked%")
	otherDone := make(chan error, 1)
	go func() {
		_, err := other.Exec(`UPDATE dl SET n = n + 1 WHERE id = 1`) // closes the cycle
		if err == nil {
			err = other.Commit()
		}
		otherDone <- err
	}()
	if err := <-otherDone; err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	var sum int
	if err := admin.QueryRow(`SELECT sum(n) FROM dl`).Scan(&sum); err != nil || sum != 4 {
		t.Fatalf("sum = %d (%v), want 4", sum, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(codes) < 2 || codes[0] != "40P01" {
		t.Fatalf("attempts %v, want a 40P01 first", codes)
	}
}

// Case 26: the backend is terminated (57P01) between two uses of a connection; the next
// statement is retried on a fresh backend that the executor opens, and applied once.
func TestTerminatedBackendRetriedOnNewBackend(t *testing.T) {
	node := pgtest.Shared(t).Primary()
	admin := openPG(t, node.DSN(), nil)
	mustExec(t, admin, `DROP TABLE IF EXISTS term; CREATE TABLE term (n int NOT NULL); INSERT INTO term VALUES (0)`)
	var mu sync.Mutex
	var codes []string
	db := openPG(t, node.DSN(), nil, onlyCodes(&mu, &codes))
	ctx := context.Background()
	conn, err := db.Conn(ctx) // pinned: no pool checkout (and no reset) between the uses
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var pid1, pid2 int
	if err := conn.QueryRowContext(ctx, `SELECT pg_backend_pid()`).Scan(&pid1); err != nil {
		t.Fatal(err)
	}
	if n, err := node.TerminateBackends(ctx, "pid = "+itoa(pid1)); err != nil || n != 1 {
		t.Fatalf("terminated %d: %v", n, err)
	}
	if _, err := conn.ExecContext(ctx, `UPDATE term SET n = n + 1`); err != nil {
		t.Fatal(err)
	}
	if err := conn.QueryRowContext(ctx, `SELECT pg_backend_pid()`).Scan(&pid2); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := admin.QueryRow(`SELECT n FROM term`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("n = %d (%v), want 1", n, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if pid1 == pid2 || len(codes) != 2 {
		t.Fatalf("pids %d -> %d, attempts %v: want a retry on a new backend", pid1, pid2, codes)
	}
	t.Logf("first attempt failed with %q, retried on backend %d (was %d)", codes[0], pid2, pid1)
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

var _ = errors.Is
