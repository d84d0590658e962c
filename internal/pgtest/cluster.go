// Package pgtest starts throw-away PostgreSQL clusters (a primary plus
// optional streaming replicas) for tests, and offers controls to stop, kill,
// promote, freeze and re-point their nodes.
//
// Every node runs as a child postgres process (as the postgres OS user when
// the test runs as root) with a parent-death signal, so servers die with the
// test binary even if it panics or is killed.
//
// Per-test cluster:
//
//	c := pgtest.New(t, pgtest.Options{Replicas: 1})
//	conn, err := c.Primary().Connect(ctx)
//	...
//	err = c.Nodes[1].WaitCaughtUp(ctx, c.Nodes[0])
//
// Package-shared cluster:
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, pgtest.Options{})) }
//	func TestX(t *testing.T) { c := pgtest.Shared(t); ... }
//
// Binaries are looked up in $PGBINDIR, then `pg_config --bindir`, then the
// newest /usr/lib/postgresql/*/bin. If they are missing, New and Shared skip
// the test, unless the CI environment variable is set, in which case they
// fail it.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// Options configures a cluster.
type Options struct {
	// Replicas is the number of streaming replicas, each created with
	// pg_basebackup -X stream -c fast and its own replication slot.
	Replicas int
	// SyncReplica makes the first replica synchronous
	// (synchronous_standby_names) and keeps synchronous_commit on.
	SyncReplica bool
	// Password, if set, becomes the postgres superuser's password and
	// loopback TCP connections must authenticate with scram-sha-256.
	// Otherwise everything is trust.
	Password string
	// MaxConnections sets max_connections (default 100).
	MaxConnections int
	// Settings are extra postgresql.conf settings, applied to every node.
	Settings map[string]string
}

// Cluster is a running set of nodes. Nodes[0] is the initial primary and
// Nodes[i] (i >= 1) are replicas named "node<i>" that stream from it.
type Cluster struct {
	Nodes []*Node

	env       *env
	opts      Options
	root      string
	closeOnce sync.Once
	closeErr  error
}

// New starts a cluster for the test and closes it in t.Cleanup. It calls
// t.Fatal on error, or t.Skip when the binaries are missing and the CI
// environment variable is not set.
func New(t testing.TB, opts Options) *Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := Start(ctx, opts)
	if err != nil {
		failOrSkip(t, err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("pgtest: close: %v", err)
		}
	})
	return c
}

func failOrSkip(t testing.TB, err error) {
	t.Helper()
	if errors.Is(err, ErrNoPostgres) && os.Getenv("CI") == "" {
		t.Skipf("skipping: %v", err)
	}
	t.Fatal(err)
}

// Start creates and starts a cluster. The caller must Close it. On error
// every process already started is stopped and its files removed.
func Start(ctx context.Context, opts Options) (_ *Cluster, err error) {
	e, err := getEnv()
	if err != nil {
		return nil, err
	}
	if opts.MaxConnections <= 0 {
		opts.MaxConnections = 100
	}
	removeStale()
	tmpl, err := template(e)
	if err != nil {
		return nil, err
	}
	root, err := os.MkdirTemp("", fmt.Sprintf("pgtest-%d-", os.Getpid()))
	if err != nil {
		return nil, err
	}
	c := &Cluster{env: e, opts: opts, root: root}
	defer func() {
		if err != nil {
			_ = c.Close()
		}
	}()
	if err := os.Chmod(root, 0o755); err != nil {
		return nil, err
	}
	if err := c.startPrimary(ctx, tmpl); err != nil {
		return nil, err
	}
	for i := 1; i <= opts.Replicas; i++ {
		if err := c.startReplica(ctx, i); err != nil {
			return nil, err
		}
	}
	if opts.Replicas > 0 {
		if err := c.waitStreaming(ctx); err != nil {
			return nil, err
		}
	}
	return c, nil
}

func (c *Cluster) newNode(name string) (*Node, error) {
	dir := filepath.Join(c.root, name)
	if err := c.env.mkdir(dir, 0o755); err != nil {
		return nil, err
	}
	n := &Node{
		Name:    name,
		Host:    "127.0.0.1",
		Dir:     dir,
		DataDir: filepath.Join(dir, "data"),
		LogPath: filepath.Join(dir, "postgres.log"),
		c:       c,
	}
	c.Nodes = append(c.Nodes, n)
	return n, nil
}

// baseConf is appended to postgresql.conf of the primary; replicas inherit
// it through pg_basebackup. Node-specific settings (port, socket directory,
// cluster_name) are passed on the postgres command line.
func (c *Cluster) baseConf() string {
	set := map[string]string{
		"fsync":                        "off",
		"synchronous_commit":           "off",
		"full_page_writes":             "off",
		"listen_addresses":             "'127.0.0.1'",
		"wal_level":                    "replica",
		"max_wal_senders":              "10",
		"max_replication_slots":        "10",
		"hot_standby":                  "on",
		"wal_log_hints":                "on",
		"shared_buffers":               "'32MB'",
		"max_connections":              fmt.Sprint(c.opts.MaxConnections),
		"logging_collector":            "off",
		"log_line_prefix":              "'%m [%p] %q%a '",
		"wal_receiver_status_interval": "'1s'",
		"wal_retrieve_retry_interval":  "'100ms'",
		"wal_writer_delay":             "'10ms'",
		"checkpoint_timeout":           "'30min'",
		"max_wal_size":                 "'1GB'",
		"dynamic_shared_memory_type":   "posix",
	}
	if c.opts.SyncReplica {
		set["synchronous_commit"] = "on"
	}
	for k, v := range c.opts.Settings {
		set[k] = quoteConf(v)
	}
	keys := make([]string, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString("\n# pgtest\n")
	for _, k := range keys {
		fmt.Fprintf(&b, "%s = %s\n", k, set[k])
	}
	return b.String()
}

// quoteConf quotes a configuration value unless it is already quoted.
func quoteConf(v string) string {
	if len(v) >= 2 && v[0] == '\'' && v[len(v)-1] == '\'' {
		return v
	}
	return "'" + strings.ReplaceAll(v, "'", "''") + "'"
}

// confString quotes v as a configuration-file string, escaping backslashes
// and quotes.
func confString(v string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `''`).Replace(v) + "'"
}

func (c *Cluster) hba() string {
	method := "trust"
	if c.opts.Password != "" {
		method = "scram-sha-256"
	}
	return "# pgtest\n" +
		"local all all trust\n" +
		"local replication all trust\n" +
		"host all all 127.0.0.1/32 " + method + "\n" +
		"host replication all 127.0.0.1/32 " + method + "\n"
}

func (c *Cluster) startPrimary(ctx context.Context, tmpl string) error {
	n, err := c.newNode("node0")
	if err != nil {
		return err
	}
	if err := copyDir(tmpl, n.DataDir); err != nil {
		return err
	}
	if err := c.env.writeFile(filepath.Join(n.DataDir, "postgresql.conf"), []byte(c.baseConf()), true); err != nil {
		return err
	}
	if err := c.env.writeFile(filepath.Join(n.DataDir, "pg_hba.conf"), []byte(c.hba()), false); err != nil {
		return err
	}
	if err := n.firstStart(ctx); err != nil {
		return err
	}
	if c.opts.Password != "" {
		if err := n.Exec(ctx, "ALTER USER postgres PASSWORD "+quoteLiteral(c.opts.Password)); err != nil {
			return err
		}
	}
	return nil
}

func (c *Cluster) startReplica(ctx context.Context, i int) error {
	p := c.Nodes[0]
	n, err := c.newNode(fmt.Sprintf("node%d", i))
	if err != nil {
		return err
	}
	if err := c.env.run(nil, "pg_basebackup", "-D", n.DataDir, "-h", p.Dir, "-p", fmt.Sprint(p.Port),
		"-U", "postgres", "-X", "stream", "-c", "fast", "-C", "-S", n.Name, "--no-sync"); err != nil {
		return err
	}
	if err := c.env.writeFile(filepath.Join(n.DataDir, "standby.signal"), nil, false); err != nil {
		return err
	}
	conf := fmt.Sprintf("primary_conninfo = %s\nprimary_slot_name = '%s'\nrecovery_target_timeline = 'latest'\n",
		confString(n.primaryConninfo(p)), n.Name)
	if err := c.env.writeFile(filepath.Join(n.DataDir, "postgresql.auto.conf"), []byte(conf), true); err != nil {
		return err
	}
	return n.firstStart(ctx)
}

// waitStreaming waits until every replica streams from the primary and, with
// SyncReplica, makes the first replica synchronous.
func (c *Cluster) waitStreaming(ctx context.Context) error {
	p := c.Nodes[0]
	if c.opts.SyncReplica {
		if err := p.Exec(ctx, `ALTER SYSTEM SET synchronous_standby_names = '"node1"'`); err != nil {
			return err
		}
		if err := p.Exec(ctx, "SELECT pg_reload_conf()"); err != nil {
			return err
		}
	}
	want := "true"
	if c.opts.SyncReplica {
		want = "coalesce(bool_or(application_name = 'node1' AND sync_state = 'sync'), false)"
	}
	q := fmt.Sprintf(`SELECT count(*) FILTER (WHERE state = 'streaming') >= $1 AND %s FROM pg_stat_replication`, want)
	return p.poll(ctx, "replicas streaming", func(ctx context.Context) (bool, error) {
		var ok bool
		err := p.QueryRow(ctx, q, len(c.Nodes)-1).Scan(&ok)
		return ok, err
	})
}

// Primary returns the first node that is running and not in recovery, or
// Nodes[0] if there is none.
func (c *Cluster) Primary() *Node {
	for _, n := range c.Nodes {
		if !n.Running() {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		var rec bool
		err := n.QueryRow(ctx, "SELECT pg_is_in_recovery()").Scan(&rec)
		cancel()
		if err == nil && !rec {
			return n
		}
	}
	return c.Nodes[0]
}

// Replicas returns all nodes except Primary().
func (c *Cluster) Replicas() []*Node {
	p := c.Primary()
	var out []*Node
	for _, n := range c.Nodes {
		if n != p {
			out = append(out, n)
		}
	}
	return out
}

// Close stops every node with an immediate shutdown (thawing frozen nodes
// first), waits for the processes to exit and removes all files. It is
// idempotent and safe to call on a partially started cluster.
func (c *Cluster) Close() error {
	c.closeOnce.Do(func() {
		var wg sync.WaitGroup
		errs := make([]error, len(c.Nodes))
		for i, n := range c.Nodes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = n.terminate()
			}()
		}
		wg.Wait()
		errs = append(errs, os.RemoveAll(c.root))
		c.closeErr = errors.Join(errs...)
	})
	return c.closeErr
}
