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

func TestExamples(t *testing.T) {
	dirs, err := filepath.Glob("*/main.go")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no examples found: %v", err)
	}
	dsn := pgtest.Shared(t).Primary().URL()
	for _, d := range dirs {
		name := filepath.Dir(d)
		t.Run(name, func(t *testing.T) {
			out := run(t, []string{"DATABASE_URL=" + dsn}, "run", "./examples/"+name)
			t.Logf("%s:\n%s", name, out)
		})
	}
}

func TestDemo(t *testing.T) {
	out := run(t, []string{"DATABASE_URL="}, "run", "./cmd/demo")
	if !strings.Contains(out, "all steps passed") {
		t.Fatalf("demo output:\n%s", out)
	}
	t.Logf("demo:\n%s", out)
}
