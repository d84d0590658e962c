package orm

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/pgprovider/pgprovider/internal/pgtest"
)

// TestExamples runs each example program with `go run` against the shared cluster, as a user
// would, and checks that it exits 0 and prints what it demonstrates.
func TestExamples(t *testing.T) {
	url := pgtest.Shared(t).Primary().URL()
	tests := []struct {
		dir  string
		want []string
	}{
		{"./examples/sqlx", []string{
			`tenant acme: 2 items, total qty 4, In matched ["anvil" "rocket skates"]`,
			`tenant globex: 1 items, total qty 1, In matched ["doomsday device"]`,
			"sold an anvil in a transaction, 2 left",
			"no tenant: tenancy: no tenant in the context",
			"sqlx example done",
		}},
		{"./examples/gorm", []string{
			"tenant acme: P1=12 P3=30",
			"tenant globex: P1=20 P2=40",
			"duplicate: gorm.ErrDuplicatedKey=true pgerror.UniqueViolation=true constraint=idx_products_code",
			"no tenant: tenancy: no tenant in the context",
			"gorm example done",
		}},
	}
	for _, tc := range tests {
		t.Run(strings.TrimPrefix(tc.dir, "./examples/"), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, "go", "run", tc.dir)
			cmd.Env = append(os.Environ(), "DATABASE_URL="+url)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("go run %s: %v\n%s", tc.dir, err, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(string(out), w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			t.Logf("%s:\n%s", tc.dir, out)
		})
	}
}
