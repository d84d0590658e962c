package pgslog_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pgprovider/pgprovider"
	"github.com/pgprovider/pgprovider/internal/pgtest"
	"github.com/pgprovider/pgprovider/middleware"
	pgslog "github.com/pgprovider/pgprovider/middleware/pgslog"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

const password = "pw-Zebra-7731-secret"

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, pgtest.Options{Password: password})) }

type buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *buffer) records(t *testing.T) []map[string]any {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(b.b.String()), "\n") {
		if line == "" {
			continue
		}
		if strings.Contains(line, password) {
			t.Errorf("password logged: %s", line)
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

func open(t *testing.T, dsn string, opts ...pgslog.Option) (*sql.DB, *buffer) {
	t.Helper()
	buf := &buffer{}
	l := slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	db, err := pgprovider.Open(dsn, pgprovider.WithMiddleware(pgslog.New(l, opts...)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, buf
}

func find(recs []map[string]any, msg, text string) map[string]any {
	for _, r := range recs {
		if r["msg"] == msg && (text == "" || r["db.query.text"] == text) {
			return r
		}
	}
	return nil
}

func TestOperationsLogged(t *testing.T) {
	node := pgtest.Shared(t).Primary()
	if !strings.Contains(node.DSN(), password) {
		t.Fatal("harness DSN carries no password")
	}
	db, buf := open(t, node.DSN(), pgslog.WithLevel(middleware.OpBegin, slog.LevelInfo), pgslog.WithSlowThreshold(time.Second))
	tp := sdktrace.NewTracerProvider()
	ctx, span := tp.Tracer("t").Start(context.Background(), "root")
	defer span.End()
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(db.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS slog_items (id int PRIMARY KEY, secret text)"))
	must(db.ExecContext(ctx, "TRUNCATE slog_items"))
	must(db.ExecContext(ctx, "INSERT INTO slog_items VALUES ($1, $2)", 1, "arg-"+password))
	if _, err := db.ExecContext(ctx, "INSERT INTO slog_items VALUES (1, 'literal-"+password+"')"); err == nil {
		t.Fatal("expected unique violation")
	}
	rows, err := db.QueryContext(ctx, "SELECT id FROM slog_items WHERE secret <> $1", password)
	must(nil, err)
	for rows.Next() {
	}
	must(nil, rows.Close())
	tx, err := db.BeginTx(ctx, nil)
	must(nil, err)
	must(nil, tx.Commit())
	must(db.ExecContext(ctx, "SELECT pg_sleep(1.05)"))
	st, err := db.PrepareContext(ctx, "SELECT $1::text")
	must(nil, err)
	st.Close()

	recs := buf.records(t)
	cases := []struct {
		name, msg, text, level string
		want                   map[string]any
		absent                 []string
	}{
		{"connect", "connect", "", "INFO", map[string]any{"db.system.name": "postgresql", "server.port": float64(node.Port)}, nil},
		{"insert", "exec", "INSERT INTO slog_items VALUES ($1, $2)", "DEBUG",
			map[string]any{"db.operation.name": "INSERT", "db.query.summary": "INSERT slog_items", "db.query.parameter_count": float64(2), "db.namespace": "postgres"},
			[]string{"db.query.parameter.0", "error"}},
		{"failed insert", "exec", "INSERT INTO slog_items VALUES (?, ?)", "ERROR",
			map[string]any{"db.response.status_code": "23505", "error.type": "23505"}, []string{"error"}},
		{"query at rows end", "query", "SELECT id FROM slog_items WHERE secret <> $1", "DEBUG",
			map[string]any{"db.response.returned_rows": float64(1)}, nil},
		{"begin level", "begin", "", "INFO", map[string]any{"db.operation.name": "BEGIN"}, nil},
		{"commit", "commit", "", "DEBUG", map[string]any{"db.operation.name": "COMMIT"}, nil},
		{"slow", "slow exec", "SELECT pg_sleep(?)", "WARN", map[string]any{"db.operation.name": "SELECT"}, nil},
		{"prepare", "prepare", "SELECT $1::text", "DEBUG", nil, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := find(recs, c.msg, c.text)
			if r == nil {
				t.Fatalf("no record %q %q in %v", c.msg, c.text, recs)
			}
			if r["level"] != c.level {
				t.Errorf("level %v, want %s", r["level"], c.level)
			}
			for k, v := range c.want {
				if r[k] != v {
					t.Errorf("%s = %v, want %v", k, r[k], v)
				}
			}
			for _, k := range c.absent {
				if _, ok := r[k]; ok {
					t.Errorf("%s present: %v", k, r[k])
				}
			}
			if c.msg != "connect" {
				if r["trace_id"] != span.SpanContext().TraceID().String() || r["span_id"] == nil {
					t.Errorf("trace ids %v %v", r["trace_id"], r["span_id"])
				}
				if _, ok := r["duration"]; !ok {
					t.Error("no duration")
				}
			}
		})
	}
}

func TestArgsAndMessagesOptIn(t *testing.T) {
	db, buf := open(t, pgtest.Shared(t).Primary().DSN(),
		pgslog.WithArgs(func(i int, v any) any { return "***" }), pgslog.WithErrorMessages())
	if _, err := db.Exec("SELECT $1::int", pgx.QueryExecModeSimpleProtocol, "x"); err == nil {
		t.Fatal("expected invalid input")
	}
	r := find(buf.records(t), "exec", "SELECT $1::int")
	if r == nil || r["db.query.parameter.0"] != "***" || r["db.query.parameter.1"] != nil || r["error"] == nil {
		t.Fatalf("record %v", r)
	}
}

func TestWrongPasswordNotLogged(t *testing.T) {
	node := pgtest.Shared(t).Primary()
	wrong := "wrong-" + password
	db, buf := open(t, node.DSN("password", wrong))
	if err := db.Ping(); err == nil {
		t.Fatal("expected authentication failure")
	}
	recs := buf.records(t)
	r := find(recs, "connect", "")
	if r == nil || r["level"] != "ERROR" || r["db.response.status_code"] != "28P01" {
		t.Fatalf("connect record %v", r)
	}
	for _, line := range strings.Split(buf.b.String(), "\n") {
		if strings.Contains(line, wrong) {
			t.Fatalf("password logged: %s", line)
		}
	}
}

func TestDisabledLevelLogsNothing(t *testing.T) {
	buf := &buffer{}
	l := slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: slog.LevelError}))
	db, err := pgprovider.Open(pgtest.Shared(t).Primary().DSN(), pgprovider.WithMiddleware(pgslog.New(l)))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("SELECT 1"); err != nil {
		t.Fatal(err)
	}
	if n := len(buf.records(t)); n != 0 {
		t.Fatalf("%d records", n)
	}
	if pgslog.New(nil).Wrappers(nil).Rank != middleware.RankObserve {
		t.Fatal("rank")
	}
}
