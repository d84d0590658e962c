package suite

import (
	"context"
	"database/sql"
	"os"

	"github.com/pgprovider/pgprovider/internal/pgtest"
)

// Server is the PostgreSQL server the benchmarks run against.
type Server struct {
	// DSN connects to it as a superuser.
	DSN string
	// Local reports a server this process started; its backends can be pinned.
	Local   bool
	cluster *pgtest.Cluster
}

// StartServer returns the server named by $BENCH_DSN, or starts a temporary one with the
// project's test harness, allowing maxConns connections.
func StartServer(ctx context.Context, maxConns int) (*Server, error) {
	if dsn := os.Getenv("BENCH_DSN"); dsn != "" {
		return &Server{DSN: dsn}, nil
	}
	c, err := pgtest.Start(ctx, pgtest.Options{MaxConnections: maxConns})
	if err != nil {
		return nil, err
	}
	return &Server{DSN: c.Primary().DSN("connect_timeout", "10"), Local: true, cluster: c}, nil
}

// Close stops the server if this process started it.
func (s *Server) Close() error {
	if s.cluster == nil {
		return nil
	}
	return s.cluster.Close()
}

// Version returns the server's version string (SELECT version()).
func (s *Server) Version(ctx context.Context) (string, error) {
	db, err := sql.Open("pgx", s.DSN)
	if err != nil {
		return "", err
	}
	defer db.Close()
	var v string
	err = db.QueryRowContext(ctx, "SELECT version()").Scan(&v)
	return v, err
}
