package scale

import (
	"os"
	"runtime"
	"testing"

	"github.com/pgprovider/pgprovider/internal/pgtest"
)

// maxConns is the server's max_connections: the memory measurement holds memConns
// connections of one variant at a time, the tenant benchmarks a few pools of 8.
const maxConns = memConns + 200

func TestMain(m *testing.M) {
	if os.Getenv(profileEnv) != "" {
		runtime.MemProfileRate = 1 // every allocation, before the first one that matters
	}
	os.Exit(pgtest.Main(m, pgtest.Options{MaxConnections: maxConns}))
}

// measure reports a full measurement run (PGPROVIDER_MEASURE=1).
func measure() bool { return os.Getenv("PGPROVIDER_MEASURE") == "1" }
