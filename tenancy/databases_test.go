package tenancy_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pgprovider/pgprovider/internal/pgtest"
	"github.com/pgprovider/pgprovider/tenancy"
)

const secret = "s3cret-pw-never-shown"

// tenantDBs creates databases tdb_<id> for ids and returns a resolver whose DSNs carry a
// password (ignored by the trust cluster) and a counter of resolve calls.
func tenantDBs(t *testing.T, ids ...string) (func(context.Context, string) (string, error), *atomic.Int64) {
	t.Helper()
	p := pgtest.Shared(t).Primary()
	for _, id := range ids {
		admin(t, "DROP DATABASE IF EXISTS tdb_"+id+" WITH (FORCE)", "CREATE DATABASE tdb_"+id)
	}
	t.Cleanup(func() {
		for _, id := range ids {
			_ = p.Exec(context.Background(), "DROP DATABASE IF EXISTS tdb_"+id+" WITH (FORCE)")
		}
	})
	var calls atomic.Int64
	return func(ctx context.Context, id string) (string, error) {
		calls.Add(1)
		return p.DSN("dbname", "tdb_"+id, "password", secret), nil
	}, &calls
}

func noSecret(t *testing.T, err error) {
	t.Helper()
	if err != nil && strings.Contains(err.Error(), secret) {
		t.Fatalf("error reveals the password: %v", err)
	}
}

func currentDB(t *testing.T, d *tenancy.Databases, id string) string {
	t.Helper()
	db, release, err := d.DB(as(id))
	noSecret(t, err)
	if err != nil {
		t.Fatalf("DB(%s): %v", id, err)
	}
	defer release()
	var name string
	if err := db.QueryRowContext(context.Background(), "SELECT current_database()").Scan(&name); err != nil {
		t.Fatal(err)
	}
	return name
}

// Case 17: an evicted pool closes only after the work that holds it is over.
func TestDatabasesEvictionWaitsForInFlight(t *testing.T) {
	resolve, _ := tenantDBs(t, "e0", "e1", "e2")
	d := tenancy.NewDatabases(resolve, tenancy.WithMaxTenants(2), tenancy.WithConnsPerTenant(1))
	defer d.Close()
	db0, release0, err := d.DB(as("e0"))
	if err != nil {
		t.Fatal(err)
	}
	tx, err := db0.BeginTx(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := currentDB(t, d, "e1"); got != "tdb_e1" {
		t.Fatal(got)
	}
	if got := currentDB(t, d, "e2"); got != "tdb_e2" { // evicts idle e1, not busy e0
		t.Fatal(got)
	}
	if open, live := d.Stats(); open != 2 || live != 2 {
		t.Fatalf("open %d live %d, want 2 2", open, live)
	}
	// e1 again: the slots hold busy e0 and idle e2, so e2 is evicted and e0 stays.
	if got := currentDB(t, d, "e1"); got != "tdb_e1" {
		t.Fatal(got)
	}
	// Hold e1 too: now a third tenant must wait, and e0 (least recently used) is drained.
	db1, release1, err := d.DB(as("e1"))
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() {
		_, rel, err := d.DB(as("e2"))
		if err == nil {
			rel()
		}
		got <- err
	}()
	// e0's transaction still works while the eviction waits for it.
	if _, err := tx.ExecContext(context.Background(), "SELECT 1"); err != nil {
		t.Fatalf("in-flight tx on evicted pool: %v", err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatalf("commit on evicted pool: %v", err)
	}
	select {
	case err := <-got:
		t.Fatalf("e2 obtained a slot while e0 and e1 were held: %v", err)
	default:
	}
	release0()
	release0() // idempotent
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	if err := db0.PingContext(context.Background()); err == nil || !strings.Contains(err.Error(), "database is closed") {
		t.Fatalf("evicted pool still open: %v", err)
	}
	if err := db1.PingContext(context.Background()); err != nil {
		t.Fatalf("held pool closed: %v", err)
	}
	release1()
}

// Case 18: a hundred first touches open one pool.
func TestDatabasesSingleFlight(t *testing.T) {
	resolve, calls := tenantDBs(t, "sf")
	d := tenancy.NewDatabases(resolve)
	defer d.Close()
	var wg sync.WaitGroup
	var failed atomic.Int64
	for range 100 {
		wg.Go(func() {
			db, release, err := d.DB(as("sf"))
			if err != nil {
				failed.Add(1)
				return
			}
			defer release()
			if err := db.PingContext(context.Background()); err != nil {
				failed.Add(1)
			}
		})
	}
	wg.Wait()
	if calls.Load() != 1 || failed.Load() != 0 {
		t.Fatalf("resolve called %d times, %d failures", calls.Load(), failed.Load())
	}
}

// Case 19: the pools never hold more connections than the budget, whatever the tenants do.
func TestDatabasesBudget(t *testing.T) {
	ids := []string{"b0", "b1", "b2", "b3"}
	resolve, _ := tenantDBs(t, ids...)
	d := tenancy.NewDatabases(resolve, tenancy.WithMaxTenants(10), tenancy.WithConnsPerTenant(2), tenancy.WithConnBudget(4))
	defer d.Close()
	var wg sync.WaitGroup
	var maxLive atomic.Int64
	errs := make(chan error, 32)
	for g := range 16 {
		wg.Go(func() {
			for i := range 10 {
				ctx, cancel := context.WithTimeout(as(ids[(g+i)%len(ids)]), 20*time.Second)
				db, release, err := d.DB(ctx)
				if err != nil {
					cancel()
					errs <- err
					return
				}
				_, live := d.Stats()
				for v := maxLive.Load(); int64(live) > v && !maxLive.CompareAndSwap(v, int64(live)); v = maxLive.Load() {
				}
				_, err = db.ExecContext(ctx, "SELECT pg_sleep(0.002)")
				release()
				cancel()
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if maxLive.Load() > 2 {
		t.Fatalf("%d pools of 2 connections were live, budget 4", maxLive.Load())
	}
}

// Case 20 and 21: a missing tenant database is a typed error, evicted, not retried, and no
// error shows the password.
func TestDatabasesTenantNotFound(t *testing.T) {
	resolve, calls := tenantDBs(t, "nf")
	d := tenancy.NewDatabases(resolve)
	defer d.Close()
	for i := range 2 {
		_, _, err := d.DB(as("missing"))
		noSecret(t, err)
		if !errors.Is(err, tenancy.ErrTenantNotFound) {
			t.Fatalf("missing: %v", err)
		}
		if calls.Load() != int64(i+1) {
			t.Fatalf("resolve called %d times after %d calls: a retry loop?", calls.Load(), i+1)
		}
	}
	// Dropped while open: the first new connection reports it and evicts the pool.
	if got := currentDB(t, d, "nf"); got != "tdb_nf" {
		t.Fatal(got)
	}
	admin(t, "DROP DATABASE tdb_nf WITH (FORCE)")
	db, release, err := d.DB(as("nf"))
	if err != nil {
		t.Fatal(err)
	}
	for range 3 { // the pooled connection was killed; database/sql then dials a new one
		if err = db.PingContext(context.Background()); errors.Is(err, tenancy.ErrTenantNotFound) {
			break
		}
	}
	noSecret(t, err)
	if !errors.Is(err, tenancy.ErrTenantNotFound) {
		t.Fatalf("after drop: %v", err)
	}
	release()
	if open, live := d.Stats(); open != 0 || live != 0 {
		t.Fatalf("open %d live %d after eviction", open, live)
	}
	_, _, err = d.DB(as("nf"))
	noSecret(t, err)
	if !errors.Is(err, tenancy.ErrTenantNotFound) {
		t.Fatalf("after eviction: %v", err)
	}
	// Resolver errors and bad DSNs keep the password out too.
	bad := tenancy.NewDatabases(func(context.Context, string) (string, error) {
		return fmt.Sprintf("postgres://u:%s@127.0.0.1:1/db?sslmode=bogus", secret), nil
	})
	defer bad.Close()
	_, _, err = bad.DB(as("x"))
	if err == nil {
		t.Fatal("bad DSN accepted")
	}
	noSecret(t, err)
	if _, _, err := d.DB(context.Background()); !errors.Is(err, tenancy.ErrNoTenant) {
		t.Fatalf("no tenant: %v", err)
	}
	if _, _, err := d.DB(as("a,b")); !errors.Is(err, tenancy.ErrInvalidTenant) {
		t.Fatalf("invalid tenant: %v", err)
	}
}

// Pools idle past the TTL are closed by the janitor.
func TestDatabasesIdleTTL(t *testing.T) {
	resolve, _ := tenantDBs(t, "ttl")
	d := tenancy.NewDatabases(resolve, tenancy.WithIdleTTL(50*time.Millisecond))
	defer d.Close()
	currentDB(t, d, "ttl")
	deadline := time.Now().Add(5 * time.Second)
	for {
		if open, _ := d.Stats(); open == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("idle pool not closed")
		}
		time.Sleep(10 * time.Millisecond) // polling the janitor's effect; it has no signal to await
	}
}
