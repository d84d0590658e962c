package suite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"

	"golang.org/x/sys/unix"
)

// PinProcess pins every thread of this process to cpu and sets GOMAXPROCS to 1. Threads the
// runtime creates later are cloned from pinned threads and inherit the affinity. Child
// processes started earlier (the PostgreSQL server) are not affected.
func PinProcess(cpu int) error {
	var set unix.CPUSet
	set.Set(cpu)
	done := map[int]bool{}
	for {
		ents, err := os.ReadDir("/proc/self/task")
		if err != nil {
			return err
		}
		fresh := 0
		for _, e := range ents {
			tid, err := strconv.Atoi(e.Name())
			if err != nil || done[tid] {
				continue
			}
			if err := unix.SchedSetaffinity(tid, &set); err != nil && !errors.Is(err, unix.ESRCH) {
				return fmt.Errorf("sched_setaffinity(thread %d): %w", tid, err)
			}
			done[tid] = true
			fresh++
		}
		if fresh == 0 {
			break
		}
	}
	runtime.GOMAXPROCS(1)
	return nil
}

// Warm opens conns connections in db (held at the same time, so the pool keeps conns open
// connections), sets the pool limits so that they stay open, and returns their backend PIDs.
func Warm(ctx context.Context, db *sql.DB, conns int) ([]int, error) {
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	held := make([]*sql.Conn, 0, conns)
	defer func() {
		for _, c := range held {
			_ = c.Close()
		}
	}()
	pids := make([]int, 0, conns)
	for range conns {
		c, err := db.Conn(ctx)
		if err != nil {
			return nil, err
		}
		held = append(held, c)
		var pid int
		if err := c.QueryRowContext(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
			return nil, err
		}
		pids = append(pids, pid)
	}
	return pids, nil
}

// PinPIDs pins the given processes (server backends) to cpu.
func PinPIDs(pids []int, cpu int) error {
	var set unix.CPUSet
	set.Set(cpu)
	for _, pid := range pids {
		if err := unix.SchedSetaffinity(pid, &set); err != nil {
			return fmt.Errorf("sched_setaffinity(backend %d): %w", pid, err)
		}
	}
	return nil
}

// WarmAndPin opens conns connections in db and, when pin is set, pins their server backends
// to cpu. It is cheap enough to run before every sample, so that a backend the pool replaced
// is pinned as well.
func WarmAndPin(ctx context.Context, db *sql.DB, conns int, pin bool, cpu int) error {
	pids, err := Warm(ctx, db, conns)
	if err != nil || !pin {
		return err
	}
	return PinPIDs(pids, cpu)
}
