// Package examples_test runs every example program, and the demo, against a temporary cluster,
// so that CI proves each one still works.
package examples_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pgprovider/pgprovider/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, pgtest.Options{})) }

func run(t *testing.T, env []string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// keyLines holds, for every example, lines (or parts of lines) its output must contain: the
// one thing each example shows. An example without an entry fails the test.
var keyLines = map[string][]string{
	"advanced":    {"defaultTimeout bounded 2 statements to 5s", `metric pgprovider_operation_errors_total{operation="SELECT",pool="primary",sqlstate_class="22"} 1`},
	"basic":       {"QueryRow: no row for id -1 (sql.ErrNoRows)", "rows with a NULL email: 1"},
	"listen":      {"gap (reconnect): re-read your state now", `notification on "demo": "after the gap"`},
	"multitenant": {`GET /items X-Tenant="acme"     -> 200 [anvil, rocket skates]`, `GET /items X-Tenant="initech"  -> 404`},
	"otel": {
		`span "INSERT example_otel" kind=client status=Error`, `db.response.status_code="23505"`, `span "CountItems"`,
		`metric db.client.operation.duration{db.operation.name="INSERT" error.type="23505"} count=1`,
	},
	"performance": {"CopyFrom via pgprovider.Raw: 20000 rows", "ratio pgprovider/raw:"},
	"pool":        {"leak: transaction held", "monitor: 2 leaks reported"},
	"prometheus": {
		"scraping http://127.0.0.1:",
		`pgprovider_operation_duration_seconds_count{operation="SELECT",pool="primary",status="ok"} 3`,
		`pgprovider_operation_errors_total{operation="SELECT",pool="primary",sqlstate_class="22"} 1`,
	},
	"replica": {"no replicas given (REPLICA_URLS is empty), so reads marked UseReplica fall back to the primary", "(the primary)"},
	"slog": {
		`level=WARN msg="slow exec"`, `db.query.text="SELECT pg_sleep(?)"`,
		"db.query.parameter.0=1 db.query.parameter.1=***", "db.response.status_code=23505 error.type=23505",
	},
	"transaction": {"serializable retry: 2 goroutines x 25 increments = 50"},
}

func TestExamples(t *testing.T) {
	dirs, err := filepath.Glob("*/main.go")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no examples found: %v", err)
	}
	dsn := pgtest.Shared(t).Primary().URL()
	for _, d := range dirs {
		name := filepath.Dir(d)
		t.Run(name, func(t *testing.T) {
			want, ok := keyLines[name]
			if !ok {
				t.Fatalf("examples/%s has no entry in keyLines: add the lines its output must contain", name)
			}
			out := run(t, []string{"DATABASE_URL=" + dsn, "REPLICA_URLS="}, "run", "./examples/"+name)
			t.Logf("%s:\n%s", name, out)
			for _, w := range want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q", w)
				}
			}
		})
	}
}

func TestDemo(t *testing.T) {
	out := run(t, []string{"DATABASE_URL="}, "run", "./cmd/demo")
	t.Logf("demo:\n%s", out)
	for _, w := range []string{
		"errors.Is(err, pgerror.OutcomeUnknown): the UPDATE was sent once",
		"committed by attempt 2",
		"DELETE without a tenant in the context: tenancy.ErrNoTenant",
		`event: notification "job-2"`,
		"read marked replica.UseReplica: served by",
		"(the new primary)",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("demo output lacks %q", w)
		}
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if last := lines[len(lines)-1]; !strings.Contains(last, "all steps passed") {
		t.Errorf("the demo's last line is %q, want one containing \"all steps passed\"", last)
	}
}
