package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pgprovider/pgprovider/internal/pgtest"
)

var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "pgprovider-cli-")
	if err != nil {
		panic(err)
	}
	binDir = dir
	code := pgtest.Main(m, pgtest.Options{Replicas: 1})
	os.RemoveAll(dir)
	os.Exit(code)
}

var buildOnce struct {
	sync.Once
	bin string
	out []byte
	err error
}

// build compiles the command once per test binary.
func build(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		buildOnce.bin = filepath.Join(binDir, "pgprovider")
		buildOnce.out, buildOnce.err = exec.Command("go", "build", "-o", buildOnce.bin, ".").CombinedOutput()
	})
	if buildOnce.err != nil {
		t.Fatalf("go build: %v\n%s", buildOnce.err, buildOnce.out)
	}
	return buildOnce.bin
}

func closedPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}

func TestCLI(t *testing.T) {
	bin := build(t)
	c := pgtest.Shared(t)
	p, r := c.Primary(), c.Replicas()[0]
	if err := r.WaitCaughtUp(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	multi := fmt.Sprintf("host=127.0.0.1,127.0.0.1 port=%d,%d user=postgres dbname=postgres sslmode=disable", p.Port, r.Port)
	down := fmt.Sprintf("host=127.0.0.1 port=%d user=postgres sslmode=disable connect_timeout=2", closedPort(t))

	tests := []struct {
		name   string
		args   []string
		env    []string
		code   int
		stdout []string // substrings expected on stdout
		stderr []string // substrings expected on stderr
	}{
		{name: "no arguments", code: 2, stderr: []string{"Usage:", "Examples:"}},
		{name: "help", args: []string{"--help"}, code: 0, stdout: []string{"Commands:", "Exit codes:"}},
		{name: "help check", args: []string{"help", "check"}, code: 0, stdout: []string{"pg_is_in_recovery", "-max-lag"}},
		{name: "unknown command", args: []string{"frobnicate"}, code: 2, stderr: []string{`unknown command "frobnicate"`}},
		{name: "unknown flag", args: []string{"check", "-bogus"}, code: 2, stderr: []string{"flag provided but not defined"}},
		{name: "no DSN", args: []string{"check"}, env: []string{"DATABASE_URL="}, code: 2, stderr: []string{"no DSN"}},
		{name: "invalid DSN", args: []string{"check", "host=x port=notaport"}, code: 2, stderr: []string{"invalid DSN"}},
		{name: "check cluster", args: []string{"check", "-n", "10", multi}, code: 0,
			stdout: []string{fmt.Sprintf("127.0.0.1:%d\n", p.Port), "role:        primary", "role:        standby",
				"replica:     node1 streaming", "connect:     p50", "tls:         no", "version:     PostgreSQL", "connections:", "OK: 2 hosts, 1 primary"},
			stderr: []string{"checking 127.0.0.1", "(2/2)"}},
		{name: "check from DATABASE_URL", args: []string{"check", "-n", "1"}, env: []string{"DATABASE_URL=" + p.URL()}, code: 0, stdout: []string{"OK: 1 hosts, 1 primary"}},
		{name: "check standby only", args: []string{"check", "-n", "1", r.DSN()}, code: 1, stdout: []string{"FAILED: no host is a primary"}},
		{name: "check standby allowed", args: []string{"check", "-n", "1", "-allow-no-primary", r.DSN()}, code: 0},
		{name: "check usage limit", args: []string{"check", "-n", "1", "-max-usage", "0.0001", p.DSN()}, code: 1, stdout: []string{"connection usage"}},
		{name: "check host down", args: []string{"check", "-n", "1", down}, code: 1, stdout: []string{"error:", "FAILED:"}},
		{name: "notify", args: []string{"notify", "-dsn", p.DSN(), "cli_test", "hello"}, code: 0, stdout: []string{"sent on cli_test (5 bytes)"}},
		{name: "notify invalid channel", args: []string{"notify", "-dsn", p.DSN(), "", "x"}, code: 2, stderr: []string{"invalid channel"}},
		{name: "notify wrong arity", args: []string{"notify", "-dsn", p.DSN(), "only"}, code: 2, stderr: []string{"want CHANNEL PAYLOAD"}},
		{name: "notify server down", args: []string{"notify", "-dsn", down, "c", "x"}, code: 1, stderr: []string{"pgprovider notify:"}},
		{name: "listen no channel", args: []string{"listen", "-dsn", p.DSN()}, code: 2, stderr: []string{"no channel given"}},
		{name: "bench", args: []string{"bench", "-dsn", p.DSN(), "-n", "200", "-rounds", "2"}, code: 0,
			stdout: []string{"pgx stdlib:", "pgprovider:", "ratio:"}, stderr: []string{"round 2/2 pgprovider"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, tt.args...)
			cmd.Env = append(os.Environ(), tt.env...)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tt.code {
				t.Fatalf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.code, &stdout, &stderr)
			}
			for _, s := range tt.stdout {
				if !strings.Contains(stdout.String(), s) {
					t.Errorf("stdout lacks %q:\n%s", s, &stdout)
				}
			}
			for _, s := range tt.stderr {
				if !strings.Contains(stderr.String(), s) {
					t.Errorf("stderr lacks %q:\n%s", s, &stderr)
				}
			}
			if strings.Contains(tt.name, "check cluster") {
				t.Logf("check output:\n%s", &stdout)
			}
		})
	}
}

// TestListenNotify tails a channel in one process and notifies it from another: the
// listener prints the initial gap, then the notification, and exits 0 after -count 1.
func TestListenNotify(t *testing.T) {
	bin := build(t)
	dsn := pgtest.Shared(t).Primary().DSN()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	lis := exec.CommandContext(ctx, bin, "listen", "-dsn", dsn, "-count", "1", "-for", "50s", "Mixed Case")
	out, err := lis.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	lis.Stderr = &stderr
	if err := lis.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(out)
	if !lines.Scan() || !strings.Contains(lines.Text(), "\tgap\tMixed Case\tinitial\tdropped=0") {
		t.Fatalf("first line %q, want the initial gap; stderr:\n%s", lines.Text(), &stderr)
	}
	// The initial gap arrives after LISTEN was acknowledged: the notification cannot be missed.
	if out, err := exec.CommandContext(ctx, bin, "notify", "-dsn", dsn, "Mixed Case", "payload with\ttab").CombinedOutput(); err != nil {
		t.Fatalf("notify: %v\n%s", err, out)
	}
	if !lines.Scan() || !strings.Contains(lines.Text(), "\tnotify\tMixed Case\tpid=") || !strings.HasSuffix(lines.Text(), "\tpayload with\ttab") {
		t.Fatalf("second line %q, want the notification", lines.Text())
	}
	if err := lis.Wait(); err != nil {
		t.Fatalf("listen exit: %v\nstderr:\n%s", err, &stderr)
	}
	if !strings.Contains(stderr.String(), "connected (backend pid") {
		t.Fatalf("stderr:\n%s", &stderr)
	}
}
