package pgtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// proc is a running postmaster started by this package.
type proc struct {
	cmd    *exec.Cmd
	pid    int
	exited chan struct{} // closed when the process has been reaped
	err    error         // Wait result, valid after exited is closed
}

// registry of every live postmaster, for teardown in Main.
var registry struct {
	mu    sync.Mutex
	procs map[int]*proc
}

func register(p *proc) {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	if registry.procs == nil {
		registry.procs = make(map[int]*proc)
	}
	registry.procs[p.pid] = p
}

func unregister(p *proc) {
	registry.mu.Lock()
	delete(registry.procs, p.pid)
	registry.mu.Unlock()
}

// killRegistered stops every postmaster that is still running.
func killRegistered() {
	registry.mu.Lock()
	ps := make([]*proc, 0, len(registry.procs))
	for _, p := range registry.procs {
		ps = append(ps, p)
	}
	registry.mu.Unlock()
	for _, p := range ps {
		p.shutdown(syscall.SIGQUIT, 10*time.Second)
	}
}

// signalTree sends sig to the postmaster and its direct children (backends
// and auxiliary processes).
func (p *proc) signalTree(sig syscall.Signal, childrenFirst bool) {
	kids := childPIDs(p.pid)
	if !childrenFirst {
		_ = syscall.Kill(p.pid, sig)
	}
	for _, k := range kids {
		_ = syscall.Kill(k, sig)
	}
	if childrenFirst {
		_ = syscall.Kill(p.pid, sig)
	}
}

// shutdown thaws the tree, sends sig to the postmaster and waits up to
// grace for it to exit, then SIGKILLs the postmaster and its children.
func (p *proc) shutdown(sig syscall.Signal, grace time.Duration) bool {
	select {
	case <-p.exited:
		return true
	default:
	}
	p.signalTree(syscall.SIGCONT, true)
	_ = syscall.Kill(p.pid, sig)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.exited:
		return true
	case <-t.C:
	}
	kids := childPIDs(p.pid)
	_ = syscall.Kill(p.pid, syscall.SIGKILL)
	for _, k := range kids {
		_ = syscall.Kill(k, syscall.SIGKILL)
	}
	<-p.exited
	return false
}

// launch starts the postmaster as a child process. The parent-death signal
// kills it if the test binary dies; postgres backends exit on their own
// once the postmaster is gone.
func (n *Node) launch() (*proc, error) {
	e := n.c.env
	logf, err := os.OpenFile(n.LogPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	_ = e.chown(n.LogPath)
	cmd := e.command("postgres", "-D", n.DataDir,
		"-c", "port="+strconv.Itoa(n.Port),
		"-c", "unix_socket_directories="+n.Dir,
		"-c", "cluster_name="+n.Name)
	cmd.Dir = n.Dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr.Setpgid = true
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("pgtest: %s: start postgres: %w", n.Name, err)
	}
	p := &proc{cmd: cmd, pid: cmd.Process.Pid, exited: make(chan struct{})}
	register(p)
	go func() {
		p.err = cmd.Wait()
		unregister(p)
		close(p.exited)
	}()
	return p, nil
}

// firstStart picks a free port and starts the node, retrying with another
// port if the chosen one was taken in the meantime.
func (n *Node) firstStart(ctx context.Context) error {
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		if n.Port, err = freePort(); err != nil {
			return err
		}
		if err = n.Start(ctx); err == nil {
			return nil
		}
		if !strings.Contains(err.Error(), "could not bind") && !strings.Contains(err.Error(), "already in use") {
			return err
		}
		_ = n.Kill(ctx)
	}
	return err
}

// Running reports whether the node's postmaster is running.
func (n *Node) Running() bool {
	n.mu.Lock()
	p := n.proc
	n.mu.Unlock()
	if p == nil {
		return false
	}
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// PID returns the postmaster pid, or 0 if the node is not running.
func (n *Node) PID() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.proc == nil {
		return 0
	}
	return n.proc.pid
}

// Start starts a stopped node and waits until it accepts connections (like
// pg_ctl -w start). The error includes the server log tail.
func (n *Node) Start(ctx context.Context) error {
	n.mu.Lock()
	if n.proc != nil {
		select {
		case <-n.proc.exited:
		default:
			n.mu.Unlock()
			return fmt.Errorf("pgtest: %s: already running", n.Name)
		}
	}
	p, err := n.launch()
	if err != nil {
		n.mu.Unlock()
		return err
	}
	n.proc, n.frozen = p, false
	n.mu.Unlock()
	return n.WaitReady(ctx)
}

// Stop performs a fast shutdown (SIGINT, like pg_ctl stop -m fast) and
// waits for the server to exit. Stopping a stopped node is a no-op.
func (n *Node) Stop(ctx context.Context) error { return n.stop(ctx, syscall.SIGINT) }

// Kill performs an immediate shutdown (SIGQUIT, like pg_ctl stop -m
// immediate; crash recovery runs on the next start) and waits for exit.
func (n *Node) Kill(ctx context.Context) error { return n.stop(ctx, syscall.SIGQUIT) }

// Restart is Stop followed by Start.
func (n *Node) Restart(ctx context.Context) error {
	if err := n.Stop(ctx); err != nil {
		return err
	}
	return n.Start(ctx)
}

func (n *Node) stop(ctx context.Context, sig syscall.Signal) error {
	n.mu.Lock()
	p := n.proc
	frozen := n.frozen
	n.frozen = false
	n.mu.Unlock()
	if p == nil {
		return nil
	}
	if frozen {
		p.signalTree(syscall.SIGCONT, true)
	}
	_ = syscall.Kill(p.pid, sig)
	select {
	case <-p.exited:
		return nil
	case <-ctx.Done():
		p.shutdown(syscall.SIGKILL, 0)
		return fmt.Errorf("pgtest: %s: stop: %w (killed)\n%s", n.Name, ctx.Err(), n.logTail())
	}
}

// terminate is Close's per-node teardown.
func (n *Node) terminate() error {
	n.mu.Lock()
	p := n.proc
	n.mu.Unlock()
	if p == nil {
		return nil
	}
	if !p.shutdown(syscall.SIGQUIT, 10*time.Second) {
		return fmt.Errorf("pgtest: %s: had to SIGKILL postmaster", n.Name)
	}
	return nil
}

// Freeze sends SIGSTOP to the node's postmaster and its child processes
// (and nothing else), simulating a hung server: TCP connects still complete
// but nothing answers. Close, Stop and Kill thaw it first.
func (n *Node) Freeze() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.proc == nil {
		return fmt.Errorf("pgtest: %s: not running", n.Name)
	}
	pid, err := n.postmasterPID()
	if err != nil {
		return err
	}
	if pid != n.proc.pid {
		return fmt.Errorf("pgtest: %s: postmaster.pid says %d, started %d", n.Name, pid, n.proc.pid)
	}
	n.proc.signalTree(syscall.SIGSTOP, false)
	n.frozen = true
	return nil
}

// Thaw sends SIGCONT to the node's postmaster and its child processes.
func (n *Node) Thaw() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.proc == nil {
		return fmt.Errorf("pgtest: %s: not running", n.Name)
	}
	n.proc.signalTree(syscall.SIGCONT, true)
	n.frozen = false
	return nil
}

// postmasterPID reads the first line of postmaster.pid.
func (n *Node) postmasterPID() (int, error) {
	b, err := os.ReadFile(n.DataDir + "/postmaster.pid")
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0]))
	if err != nil {
		return 0, errors.New("pgtest: bad postmaster.pid")
	}
	return pid, nil
}
