package orm

import (
	"database/sql"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/pgprovider/pgprovider"
	"github.com/pgprovider/pgprovider/internal/pgtest"
	"github.com/pgprovider/pgprovider/replica"
	"github.com/pgprovider/pgprovider/retry"
	"github.com/pgprovider/pgprovider/tenancy"
	"go.uber.org/goleak"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
)

func nodeName(n *pgtest.Node) string { return net.JoinHostPort(n.Host, strconv.Itoa(n.Port)) }

// TestReplicaIntent: with retry, tenancy and replica routing, the replica intent and the
// tenant carried by the context (db.WithContext for GORM, the ctx argument for sqlx) route
// reads to the replica in the tenant's schema; writes and transactions stay on the primary.
func TestReplicaIntent(t *testing.T) {
	t.Cleanup(func() {
		goleak.VerifyNone(t, goleak.IgnoreAnyFunction("github.com/pgprovider/pgprovider/internal/pgtest.(*Node).launch.func1"))
	})
	c := pgtest.Shared(t)
	primary, standby := c.Primary(), c.Replicas()[0]
	ctx := ctxT(t, 30*time.Second)
	schemas(t, "ormrep_", "a", "b")

	r, err := replica.New([]string{standby.DSN()}, replica.WithPrimary(primary.DSN()),
		replica.WithProbeInterval(100*time.Millisecond), replica.WithProbeTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	ctr, err := pgprovider.NewConnector(primary.DSN(),
		pgprovider.WithMiddleware(retry.New(), tenancy.Schema(tenancy.WithPrefix("ormrep_")), r),
		pgprovider.WithBeforeConnect(r.BeforeConnect))
	if err != nil {
		r.Close()
		t.Fatal(err)
	}
	db := sql.OpenDB(ctr) // closing db closes the connector, which closes the Router
	t.Cleanup(func() { db.Close() })
	g := openGorm(t, postgres.New(postgres.Config{Conn: db}), true)
	x := sqlx.NewDb(db, "pgprovider")

	for _, id := range []string{"a", "b"} {
		tg := g.WithContext(tenancy.WithTenant(ctx, id))
		if err := tg.AutoMigrate(&product{}); err != nil {
			t.Fatal(err)
		}
		if err := tg.Create(&product{Code: id + "1", Price: 1}).Error; err != nil {
			t.Fatal(err)
		}
	}
	if err := standby.WaitCaughtUp(ctx, primary); err != nil {
		t.Fatal(err)
	}
	// The monitor marks the replica up after its rise probes: there is no event to await.
	deadline := time.Now().Add(10 * time.Second)
	for !replicaUp(r, nodeName(standby)) {
		if time.Now().After(deadline) {
			t.Fatalf("replica never became eligible: %+v", r.Stats())
		}
		time.Sleep(20 * time.Millisecond)
	}

	for _, id := range []string{"a", "b"} {
		var served string
		rctx := replica.WithServedBy(replica.UseReplica(tenancy.WithTenant(ctx, id)), &served)
		tests := []struct {
			name string
			run  func() (string, error)
			want string // node that must serve
		}{
			{"gorm read", func() (string, error) {
				var p product
				err := g.WithContext(rctx).First(&p).Error
				return p.Code, err
			}, nodeName(standby)},
			{"sqlx read", func() (string, error) {
				var code string
				err := x.GetContext(rctx, &code, "SELECT code FROM products WHERE price = $1", 1)
				return code, err
			}, nodeName(standby)},
			{"gorm transaction", func() (string, error) {
				var p product
				err := g.WithContext(rctx).Transaction(func(tx *gorm.DB) error { return tx.First(&p).Error })
				return p.Code, err
			}, nodeName(primary)},
			{"sqlx primary override", func() (string, error) {
				var code string
				err := x.GetContext(replica.UsePrimary(rctx), &code, "SELECT code FROM products")
				return code, err
			}, nodeName(primary)},
		}
		for _, tc := range tests {
			served = ""
			code, err := tc.run()
			if err != nil {
				t.Fatalf("tenant %s, %s: %v", id, tc.name, err)
			}
			if code != id+"1" || served != tc.want {
				t.Fatalf("tenant %s, %s: read %q served by %q; want %q served by %q", id, tc.name, code, served, id+"1", tc.want)
			}
		}
	}
}

func replicaUp(r *replica.Router, name string) bool {
	for _, s := range r.Stats() {
		if s.Name == name {
			return s.Healthy && !s.Suspect
		}
	}
	return false
}
