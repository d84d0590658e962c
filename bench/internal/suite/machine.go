package suite

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver
)

// Machine returns, as markdown list items, where a measurement ran: date, the pgprovider
// commit, nproc, the first lines of lscpu, the Go version and the version of the PostgreSQL
// server at dsn. Call it before pinning the process to a CPU (nproc reads the affinity mask).
func Machine(ctx context.Context, dsn string) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "- date: %s\n", time.Now().UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&sb, "- pgprovider: commit %s\n", commit())
	fmt.Fprintf(&sb, "- nproc: %s\n", command("nproc"))
	if out := command("lscpu"); out != "unknown" {
		lines := strings.Split(out, "\n")
		lines = lines[:min(len(lines), 10)]
		sb.WriteString("- `lscpu | head`:\n\n  ```\n")
		for _, l := range lines {
			fmt.Fprintf(&sb, "  %s\n", l)
		}
		sb.WriteString("  ```\n\n")
	}
	fmt.Fprintf(&sb, "- Go: %s, GOMAXPROCS %d\n", runtime.Version(), runtime.GOMAXPROCS(0))
	v := "unknown"
	if db, err := sql.Open("pgx", dsn); err == nil {
		_ = db.QueryRowContext(ctx, "SELECT version()").Scan(&v)
		db.Close()
	}
	fmt.Fprintf(&sb, "- PostgreSQL: %s (temporary cluster from the project's harness on 127.0.0.1, fsync=off)\n", v)
	return sb.String()
}

// LoadAvg returns the first three fields of /proc/loadavg.
func LoadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

func command(name string, args ...string) string {
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}

// commit describes the pgprovider source measured: HEAD of the checkout, and whether files
// outside bench/ differ from it.
func commit() string {
	top := command("git", "rev-parse", "--show-toplevel")
	if top == "unknown" {
		return "unknown (not a git checkout)"
	}
	c := command("git", "-C", top, "rev-parse", "--short=12", "HEAD")
	if st := command("git", "-C", top, "status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)bench"); st != "" && st != "unknown" {
		c += " with uncommitted changes"
	}
	return c
}
