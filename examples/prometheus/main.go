// Command prometheus shows pgprovider's Prometheus collector: pool figures from the *sql.DB
// and operation durations and errors from the in-driver recorder, served at /metrics on a
// loopback port. It runs a few statements, scrapes its own endpoint once, prints some lines
// of what Prometheus would see, stops the server and exits.
//
//	DATABASE_URL='postgres://user:pass@localhost:5432/db?sslmode=disable' go run ./examples/prometheus
package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/pgprovider/pgprovider"
	"github.com/pgprovider/pgprovider/middleware/metrics"
	"github.com/pgprovider/pgprovider/middleware/pgprom"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

func main() {
	dsn := os.Getenv("DATABASE_URL")
	if dsn == "" {
		log.Fatal("set DATABASE_URL, e.g. postgres://user:pass@localhost:5432/db?sslmode=disable")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := run(ctx, dsn, os.Stdout); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, dsn string, out io.Writer) (err error) {
	// The recorder is a middleware: it measures every operation (atomic counters, no
	// allocation); the collector reads it, and the *sql.DB's pool statistics, at scrape time.
	// With pgotel in the chain, pass the recorder to pgotel.WithRecorder instead.
	rec := metrics.New()
	db, err := pgprovider.Open(dsn, pgprovider.WithMiddleware(rec))
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(4)
	reg := prometheus.NewRegistry()
	if _, err := pgprom.Register(reg, db, pgprom.WithRecorder(rec)); err != nil {
		return err
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0") // a free loopback port
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), ReadHeaderTimeout: 5 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	defer func() { // stop the server and wait for Serve to return
		if serr := srv.Shutdown(ctx); err == nil {
			err = serr
		}
		if serr := <-served; err == nil && !errors.Is(serr, http.ErrServerClosed) {
			err = serr
		}
	}()

	for i := range 3 {
		if _, err := db.ExecContext(ctx, "SELECT pg_sleep($1)", 0.001*float64(i)); err != nil {
			return err
		}
	}
	if _, err := db.ExecContext(ctx, "SELECT 1/0"); err == nil { // division_by_zero, SQLSTATE 22012
		return errors.New("expected a division by zero")
	}

	url := "http://" + ln.Addr().String() + "/metrics"
	fmt.Fprintln(out, "scraping", url)
	client := &http.Client{Transport: &http.Transport{}} // its own transport, closed below
	defer client.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		for _, prefix := range []string{
			"pgprovider_operation_duration_seconds_count",
			"pgprovider_operation_errors_total",
			"pgprovider_pool_open_connections",
			"pgprovider_pool_max_open_connections",
		} {
			if strings.HasPrefix(line, prefix) {
				fmt.Fprintln(out, line)
			}
		}
	}
	return sc.Err()
}
