package pgprovider_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"log"

	"github.com/DATA-DOG/go-sqlmock"
	"github.com/jackc/pgx/v5"
	"github.com/pgprovider/pgprovider"
	"github.com/pgprovider/pgprovider/middleware"
	"github.com/pgprovider/pgprovider/retry"
	"github.com/pgprovider/pgprovider/tenancy"
)

// Open parses the DSN at once, so a malformed one is an error here (with the password
// redacted), and connects lazily, when the first statement needs a connection.
func ExampleOpen() {
	db, err := pgprovider.Open("postgres://app:secret@db.internal/app?sslmode=verify-full")
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	fmt.Println("open connections:", db.Stats().OpenConnections)

	_, err = pgprovider.Open("postgres://app:secret@db.internal:port/app")
	fmt.Println(err)
	// Output:
	// open connections: 0
	// cannot parse `postgres://app:xxxxx@db.internal:port/app`: invalid port
}

// A Connector is what sql.OpenDB takes. Side APIs (the LISTEN/NOTIFY listener, a replica
// router) read the parsed configuration from it, so they reach the same servers.
func ExampleNewConnector() {
	c, err := pgprovider.NewConnector("host=db1,db2 user=app dbname=app sslmode=require target_session_attrs=read-write")
	if err != nil {
		log.Fatal(err)
	}
	db := sql.OpenDB(c)
	defer db.Close() // closes c and its middleware
	cc := c.ConnConfig()
	fmt.Println(cc.Host, cc.Fallbacks[0].Host, cc.Database)
	// Output: db1 db2 app
}

// The chain is built once, when the Connector is: a middleware list in the wrong order is
// an error from Open, before any connection is made.
func ExampleWithMiddleware() {
	_, err := pgprovider.Open("postgres://app@db.internal/app", pgprovider.WithMiddleware(
		tenancy.Schema(), // tenancy inside retry: every attempt re-applies the tenant
		retry.New(),
	))
	fmt.Println(errors.Is(err, pgprovider.ErrMiddleware))

	db, err := pgprovider.Open("postgres://app@db.internal/app", pgprovider.WithMiddleware(
		retry.New(),
		tenancy.Schema(tenancy.WithPrefix("tenant_")),
	))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	fmt.Println("chain accepted")
	// Output:
	// true
	// chain accepted
}

// sqlmockConnector puts go-sqlmock's connection behind the executor: WithBackend takes a
// driver.Connector, and go-sqlmock opens its connection by DSN.
type sqlmockConnector struct {
	drv driver.Driver
	dsn string
}

func (c sqlmockConnector) Connect(context.Context) (driver.Conn, error) { return c.drv.Open(c.dsn) }
func (c sqlmockConnector) Driver() driver.Driver                        { return c.drv }

// Unit-test a middleware without a server: go-sqlmock stands in for PostgreSQL behind the
// chain, and the middleware sees every operation as it would in production.
func ExampleWithBackend() {
	mdb, mock, err := sqlmock.NewWithDSN("example-with-backend")
	if err != nil {
		log.Fatal(err)
	}
	defer mdb.Close()
	mock.ExpectExec("UPDATE items").WillReturnResult(sqlmock.NewResult(0, 3))

	logOps := middleware.Wrappers{Exec: func(next middleware.ExecFunc) middleware.ExecFunc {
		return func(ctx context.Context, s middleware.Statement) (driver.Result, error) {
			res, err := next(ctx, s)
			fmt.Printf("%s %q in tx: %v, error: %v\n", s.Op, s.SQL, s.InTx, err)
			return res, err
		}
	}}
	db, err := pgprovider.Open("", pgprovider.WithBackend(sqlmockConnector{mdb.Driver(), "example-with-backend"}),
		pgprovider.WithMiddleware(logOps))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	res, err := db.Exec("UPDATE items SET seen = true")
	if err != nil {
		log.Fatal(err)
	}
	n, _ := res.RowsAffected()
	fmt.Println("rows:", n, "expectations met:", mock.ExpectationsWereMet() == nil)
	// Output:
	// exec "UPDATE items SET seen = true" in tx: false, error: <nil>
	// rows: 3 expectations met: true
}

// Register a configured variant under its own driver name, for GORM's DriverName or sqlx.
// Register once, at start-up: a name database/sql already knows is an error, never a panic.
func ExampleRegister() {
	err := pgprovider.Register("pgprovider-iam", pgprovider.WithBeforeConnect(func(ctx context.Context, c *pgx.ConnConfig) error {
		c.Password = "token fetched for this connection"
		return nil
	}))
	if err != nil {
		log.Fatal(err)
	}
	db, err := sql.Open("pgprovider-iam", "host=db.internal user=app dbname=app")
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	err = pgprovider.Register("pgprovider")
	fmt.Println(errors.Is(err, pgprovider.ErrDriverName), err)
	// Output: true pgprovider: invalid driver name: "pgprovider" is already registered
}

// Copy rows with pgx through a database/sql connection. Raw applies the session state the
// context declares first (a tenancy middleware's search_path), so the COPY lands in the same
// schema as a statement run with ctx would. It needs a server, so this example only compiles;
// against a database with an items(name text) table it prints "copied 2 rows".
func ExampleRaw() {
	db, err := pgprovider.Open("postgres://app@db.internal/app")
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	err = pgprovider.Raw(ctx, conn, func(ctx context.Context, pc *pgx.Conn) error {
		n, err := pc.CopyFrom(ctx, pgx.Identifier{"items"}, []string{"name"}, pgx.CopyFromRows([][]any{{"a"}, {"b"}}))
		fmt.Printf("copied %d rows\n", n)
		return err
	})
	if err != nil {
		log.Fatal(err)
	}
}
