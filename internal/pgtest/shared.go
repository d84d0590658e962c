package pgtest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

var tmplState struct {
	mu  sync.Mutex
	dir string // parent of the cached initdb output ("<dir>/data")
}

// template returns a data directory produced by initdb once per process;
// clusters copy it instead of running initdb each time.
func template(e *env) (string, error) {
	tmplState.mu.Lock()
	defer tmplState.mu.Unlock()
	if tmplState.dir != "" {
		return filepath.Join(tmplState.dir, "data"), nil
	}
	dir, err := os.MkdirTemp("", fmt.Sprintf("pgtest-%d-tmpl-", os.Getpid()))
	if err != nil {
		return "", err
	}
	if err := e.mkdir(dir, 0o755); err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	data := filepath.Join(dir, "data")
	if err := e.run(nil, "initdb", "-D", data, "-U", "postgres", "-A", "trust",
		"-E", "UTF8", "--locale=C", "-N"); err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	tmplState.dir = dir
	return data, nil
}

// removeTemplate deletes the cached initdb output.
func removeTemplate() {
	tmplState.mu.Lock()
	defer tmplState.mu.Unlock()
	if tmplState.dir != "" {
		os.RemoveAll(tmplState.dir)
		tmplState.dir = ""
	}
}

// copyDir copies src to dst preserving modes and ownership.
func copyDir(src, dst string) error {
	if out, err := exec.Command("cp", "-a", src, dst).CombinedOutput(); err != nil {
		return fmt.Errorf("pgtest: cp -a %s %s: %v: %s", src, dst, err, out)
	}
	return nil
}

var shared struct {
	mu      sync.Mutex
	inMain  bool
	opts    Options
	cluster *Cluster
	err     error
}

// Main runs the package tests with m.Run and afterwards tears down the
// cluster returned by Shared (if it was started), any other postgres process
// this package started, and the cached initdb template. Use it from
// TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, pgtest.Options{Replicas: 1})) }
//
// opts configure the shared cluster, which is started lazily on the first
// call to Shared.
func Main(m *testing.M, opts Options) (code int) {
	shared.mu.Lock()
	shared.inMain = true
	shared.opts = opts
	shared.mu.Unlock()
	defer teardown()
	return m.Run()
}

func teardown() {
	shared.mu.Lock()
	c := shared.cluster
	shared.cluster, shared.err = nil, fmt.Errorf("pgtest: shared cluster already torn down")
	shared.mu.Unlock()
	if c != nil {
		if err := c.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "pgtest: closing shared cluster:", err)
		}
	}
	killRegistered()
	removeTemplate()
}

// Shared returns the package-wide cluster, starting it on first use with
// the Options given to Main. It requires TestMain to call Main, which tears
// it down. Tests sharing it must not leave it in a changed topology.
func Shared(t testing.TB) *Cluster {
	t.Helper()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if !shared.inMain {
		t.Fatal("pgtest.Shared requires TestMain to call pgtest.Main")
	}
	if shared.cluster == nil && shared.err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		shared.cluster, shared.err = Start(ctx, shared.opts)
		cancel()
	}
	if shared.err != nil {
		failOrSkip(t, shared.err)
	}
	return shared.cluster
}

// Cleanup stops every postgres process this package started and removes the cached initdb
// template. Programs that call Start outside tests defer it; test binaries use Main.
func Cleanup() {
	killRegistered()
	removeTemplate()
}
