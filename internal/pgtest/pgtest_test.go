package pgtest

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) {
	os.Exit(Main(m, Options{MaxConnections: 50}))
}

func testCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func count(t *testing.T, ctx context.Context, n *Node, sql string) int {
	t.Helper()
	var c int
	must(t, n.QueryRow(ctx, sql).Scan(&c))
	return c
}

func TestDSN(t *testing.T) {
	plain := &Node{Host: "127.0.0.1", Port: 5555, c: &Cluster{}}
	pw := &Node{Host: "127.0.0.1", Port: 5555, c: &Cluster{opts: Options{Password: "a b'c"}}}
	tests := []struct {
		name string
		got  string
		want string
	}{
		{"default", plain.DSN(), "host=127.0.0.1 port=5555 user=postgres dbname=postgres sslmode=disable"},
		{"override and extend", plain.DSN("dbname", "x", "application_name", "my app"),
			"host=127.0.0.1 port=5555 user=postgres dbname=x sslmode=disable application_name='my app'"},
		{"password", pw.DSN(), `host=127.0.0.1 port=5555 user=postgres dbname=postgres sslmode=disable password='a b\'c'`},
		{"url", plain.URL(), "postgres://postgres@127.0.0.1:5555/postgres?sslmode=disable"},
		{"url password", pw.URL(), "postgres://postgres:a%20b%27c@127.0.0.1:5555/postgres?sslmode=disable"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: got %q want %q", tt.name, tt.got, tt.want)
		}
	}
}

func TestShared(t *testing.T) {
	t.Parallel()
	c := Shared(t)
	if c != Shared(t) {
		t.Fatal("Shared returned a different cluster")
	}
	ctx := testCtx(t, 30*time.Second)
	if c.Primary() != c.Nodes[0] {
		t.Fatal("primary is not node0")
	}
	if got := count(t, ctx, c.Nodes[0], "SELECT setting::int FROM pg_settings WHERE name = 'max_connections'"); got != 50 {
		t.Fatalf("max_connections = %d", got)
	}
}

func TestReplicationControls(t *testing.T) {
	t.Parallel()
	c := New(t, Options{Replicas: 2, Settings: map[string]string{"work_mem": "8MB"}})
	ctx := testCtx(t, 90*time.Second)
	p, r1, r2 := c.Nodes[0], c.Nodes[1], c.Nodes[2]
	insert := func(t *testing.T, n *Node, x int) {
		t.Helper()
		must(t, n.Exec(ctx, "INSERT INTO t VALUES ($1)", x))
	}
	has := func(t *testing.T, n *Node, x int) bool {
		t.Helper()
		var ok bool
		must(t, n.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM t WHERE x = $1)", x).Scan(&ok))
		return ok
	}
	steps := []struct {
		name string
		fn   func(t *testing.T)
	}{
		{"replicates", func(t *testing.T) {
			must(t, p.Exec(ctx, "CREATE TABLE t (x int)"))
			insert(t, p, 1)
			for _, r := range []*Node{r1, r2} {
				must(t, r.WaitCaughtUp(ctx, p))
				if !has(t, r, 1) {
					t.Fatalf("%s: row missing", r.Name)
				}
			}
			if c.Primary() != p {
				t.Fatal("Primary() is not node0")
			}
		}},
		{"pause resume replay", func(t *testing.T) {
			must(t, r1.PauseReplay(ctx))
			insert(t, p, 2)
			must(t, r2.WaitCaughtUp(ctx, p))
			if !has(t, r2, 2) || has(t, r1, 2) {
				t.Fatal("paused replica replayed, or running one did not")
			}
			must(t, r1.ResumeReplay(ctx))
			must(t, r1.WaitCaughtUp(ctx, p))
			if !has(t, r1, 2) {
				t.Fatal("row missing after resume")
			}
		}},
		{"apply delay", func(t *testing.T) {
			must(t, r1.SetApplyDelay(ctx, 300*time.Millisecond))
			start := time.Now()
			insert(t, p, 3)
			must(t, r1.WaitCaughtUp(ctx, p))
			if d := time.Since(start); d < 300*time.Millisecond {
				t.Fatalf("caught up after %v despite apply delay", d)
			}
			must(t, r1.SetApplyDelay(ctx, 0))
		}},
		{"set config", func(t *testing.T) {
			show := func() (string, string) {
				var a, b string
				must(t, r1.QueryRow(ctx, "SELECT current_setting('max_standby_streaming_delay'), current_setting('hot_standby_feedback')").Scan(&a, &b))
				return a, b
			}
			for _, tc := range []struct {
				delay, feedback   string // "" resets
				wantDelay, wantFb string
			}{
				{"1500ms", "on", "1500ms", "on"},
				{"1s", "", "1s", "off"},
				{"", "", "30s", "off"},
			} {
				must(t, r1.SetConfig(ctx, map[string]string{"max_standby_streaming_delay": tc.delay, "hot_standby_feedback": tc.feedback}))
				if d, fb := show(); d != tc.wantDelay || fb != tc.wantFb {
					t.Fatalf("SetConfig(%q, %q): max_standby_streaming_delay %s, hot_standby_feedback %s; want %s, %s",
						tc.delay, tc.feedback, d, fb, tc.wantDelay, tc.wantFb)
				}
			}
			if err := r1.SetConfig(ctx, map[string]string{"x; DROP": "1"}); err == nil {
				t.Fatal("a bad parameter name was accepted")
			}
		}},
		{"terminate backends", func(t *testing.T) {
			conn, err := p.Connect(ctx, "application_name", "victim")
			must(t, err)
			defer conn.Close(context.Background())
			n, err := p.TerminateBackends(ctx, "application_name = 'nobody'")
			must(t, err)
			if n != 0 {
				t.Fatalf("terminated %d, want 0", n)
			}
			n, err = p.TerminateBackends(ctx, "application_name = 'victim'")
			must(t, err)
			if n != 1 {
				t.Fatalf("terminated %d, want 1", n)
			}
			if _, err := conn.Exec(ctx, "SELECT 1"); err == nil {
				t.Fatal("terminated connection still works")
			}
		}},
		{"freeze thaw", func(t *testing.T) {
			conn, err := p.Connect(ctx)
			must(t, err)
			defer conn.Close(context.Background())
			must(t, p.Freeze())
			for _, tc := range []struct {
				name string
				fn   func(context.Context) error
			}{
				{"existing conn", func(ctx context.Context) error { _, err := conn.Exec(ctx, "SELECT 1"); return err }},
				{"new conn", func(ctx context.Context) error {
					c2, err := p.Connect(ctx)
					if err == nil {
						c2.Close(context.Background())
					}
					return err
				}},
			} {
				qctx, cancel := context.WithTimeout(ctx, time.Second)
				start := time.Now()
				err := tc.fn(qctx)
				cancel()
				if err == nil {
					t.Fatalf("%s: query succeeded on frozen node", tc.name)
				}
				if d := time.Since(start); d < 900*time.Millisecond || d > 5*time.Second {
					t.Fatalf("%s: failed after %v (%v), want ~1s timeout", tc.name, d, err)
				}
			}
			must(t, p.Thaw())
			c2, err := p.Connect(ctx)
			must(t, err)
			defer c2.Close(context.Background())
			if _, err := c2.Exec(ctx, "SELECT 1"); err != nil {
				t.Fatalf("after thaw: %v", err)
			}
		}},
		{"kill start", func(t *testing.T) {
			pid := p.PID()
			must(t, p.Kill(ctx))
			if p.Running() || pidAlive(pid) {
				t.Fatal("still running after Kill")
			}
			if _, err := p.Connect(ctx); err == nil {
				t.Fatal("connected to killed node")
			}
			must(t, p.Start(ctx))
			if !has(t, p, 3) {
				t.Fatal("data lost")
			}
			insert(t, p, 4)
			must(t, r2.WaitCaughtUp(ctx, p))
		}},
		{"restart replica", func(t *testing.T) {
			must(t, r2.Restart(ctx))
			must(t, r2.WaitCaughtUp(ctx, p))
		}},
		{"promote follow", func(t *testing.T) {
			must(t, r1.WaitCaughtUp(ctx, p))
			must(t, r2.WaitCaughtUp(ctx, p))
			must(t, p.Stop(ctx))
			must(t, r1.Promote(ctx))
			if c.Primary() != r1 {
				t.Fatal("Primary() is not the promoted node")
			}
			must(t, r2.Follow(ctx, r1))
			insert(t, r1, 5)
			must(t, r2.WaitCaughtUp(ctx, r1))
			if !has(t, r2, 5) {
				t.Fatal("row from new primary missing")
			}
		}},
	}
	for _, s := range steps {
		if !t.Run(s.name, s.fn) {
			t.FailNow()
		}
	}
}

func TestPasswordSyncReplica(t *testing.T) {
	t.Parallel()
	const pw = "s3cr et'pw"
	c := New(t, Options{Password: pw, Replicas: 1, SyncReplica: true})
	ctx := testCtx(t, 60*time.Second)
	p := c.Nodes[0]
	tests := []struct {
		name    string
		connStr string
		ok      bool
	}{
		{"dsn with password", p.DSN(), true},
		{"url with password", p.URL(), true},
		{"wrong password", p.DSN("password", "nope"), false},
		{"no password", p.DSN("password", ""), false},
	}
	for _, tt := range tests {
		conn, err := pgx.Connect(ctx, tt.connStr)
		if err == nil {
			conn.Close(ctx)
		}
		if (err == nil) != tt.ok {
			t.Errorf("%s: err = %v, want ok=%v", tt.name, err, tt.ok)
		}
	}
	var state string
	must(t, p.QueryRow(ctx, "SELECT sync_state FROM pg_stat_replication WHERE application_name = 'node1'").Scan(&state))
	if state != "sync" {
		t.Fatalf("sync_state = %q", state)
	}
	must(t, p.Exec(ctx, "CREATE TABLE s (x int); INSERT INTO s VALUES (1)"))
	must(t, c.Nodes[1].WaitCaughtUp(ctx, p))
	if got := count(t, ctx, c.Nodes[1], "SELECT count(*)::int FROM s"); got != 1 {
		t.Fatalf("replica rows = %d", got)
	}
}

func TestCloseFrozen(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t, 60*time.Second)
	c, err := Start(ctx, Options{})
	if err != nil {
		failOrSkip(t, err) // skips only outside CI, when the PostgreSQL binaries are missing
	}
	n := c.Nodes[0]
	conn, err := n.Connect(ctx)
	must(t, err)
	defer conn.Close(context.Background())
	pid := n.PID()
	kids := childPIDs(pid)
	if len(kids) == 0 {
		t.Fatal("no child processes found")
	}
	must(t, n.Freeze())
	must(t, c.Close())
	must(t, c.Close()) // idempotent
	for _, p := range append(kids, pid) {
		if pidAlive(p) {
			t.Errorf("pid %d still alive after Close", p)
		}
	}
	if _, err := os.Stat(n.Dir); !os.IsNotExist(err) {
		t.Errorf("node dir still exists: %v", err)
	}
}
