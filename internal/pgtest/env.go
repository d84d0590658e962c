package pgtest

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// ErrNoPostgres is returned (wrapped) by Start when the PostgreSQL server
// binaries cannot be found.
var ErrNoPostgres = errors.New("pgtest: PostgreSQL server binaries not found")

type env struct {
	binDir string
	cred   *syscall.Credential // non-nil when running as root
	uid    int
	gid    int
}

var (
	envOnce sync.Once
	envVal  *env
	envErr  error
)

// getEnv locates the server binaries and the OS user to run them as.
func getEnv() (*env, error) {
	envOnce.Do(func() { envVal, envErr = loadEnv() })
	return envVal, envErr
}

func loadEnv() (*env, error) {
	dir, err := findBinDir()
	if err != nil {
		return nil, err
	}
	e := &env{binDir: dir, uid: -1, gid: -1}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("pgtest: running as root needs a postgres OS user: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		e.uid, e.gid = uid, gid
		e.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	return e, nil
}

func findBinDir() (string, error) {
	ok := func(d string) bool {
		for _, b := range []string{"initdb", "postgres", "pg_basebackup"} {
			if _, err := os.Stat(filepath.Join(d, b)); err != nil {
				return false
			}
		}
		return true
	}
	var tried []string
	if d := os.Getenv("PGBINDIR"); d != "" {
		if ok(d) {
			return d, nil
		}
		tried = append(tried, d+" ($PGBINDIR)")
	}
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		d := strings.TrimSpace(string(out))
		if ok(d) {
			return d, nil
		}
		tried = append(tried, d+" (pg_config)")
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return pgMajor(dirs[i]) > pgMajor(dirs[j]) })
	for _, d := range dirs {
		if ok(d) {
			return d, nil
		}
		tried = append(tried, d)
	}
	return "", fmt.Errorf("%w (tried %v; set $PGBINDIR)", ErrNoPostgres, tried)
}

func pgMajor(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

func (e *env) bin(name string) string { return filepath.Join(e.binDir, name) }

// command builds a command that runs as the postgres OS user when needed.
func (e *env) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(e.bin(name), args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: e.cred}
	cmd.Dir = "/"
	return cmd
}

// run runs a short-lived tool and includes its output in the error.
func (e *env) run(extraEnv []string, name string, args ...string) error {
	cmd := e.command(name, args...)
	cmd.Env = append(os.Environ(), extraEnv...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("pgtest: %s %s: %v\n%s", name, strings.Join(args, " "), err, tail(out.String(), 30))
	}
	return nil
}

// mkdir creates dir (mode 0755) owned by the postgres user.
func (e *env) mkdir(dir string, mode os.FileMode) error {
	if err := os.MkdirAll(dir, mode); err != nil {
		return err
	}
	if err := os.Chmod(dir, mode); err != nil {
		return err
	}
	return e.chown(dir)
}

func (e *env) chown(path string) error {
	if e.cred == nil {
		return nil
	}
	return os.Chown(path, e.uid, e.gid)
}

// writeFile writes a file owned by the postgres user.
func (e *env) writeFile(path string, data []byte, appendMode bool) error {
	flag := os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	if appendMode {
		flag = os.O_WRONLY | os.O_CREATE | os.O_APPEND
	}
	f, err := os.OpenFile(path, flag, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return e.chown(path)
}

// freePort returns a currently unused loopback TCP port.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// fileTail returns the last n lines of the file at path.
func fileTail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return ""
	}
	const max = 16 << 10
	off := st.Size() - max
	if off < 0 {
		off = 0
	}
	buf := make([]byte, st.Size()-off)
	n2, _ := f.ReadAt(buf, off)
	return tail(string(buf[:n2]), n)
}

// pidAlive reports whether a process with this pid exists.
func pidAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// childPIDs returns the pids of the direct children of ppid.
func childPIDs(ppid int) []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// Format: pid (comm) state ppid ...; comm may contain spaces.
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 2 {
			continue
		}
		if p, _ := strconv.Atoi(f[1]); p == ppid {
			out = append(out, pid)
		}
	}
	return out
}

// removeStale deletes leftovers of earlier test processes that died without
// cleaning up (directories named pgtest-<pid>-* whose pid is gone).
func removeStale() {
	matches, _ := filepath.Glob(filepath.Join(os.TempDir(), "pgtest-*-*"))
	for _, m := range matches {
		parts := strings.SplitN(filepath.Base(m), "-", 3)
		if len(parts) < 3 {
			continue
		}
		pid, err := strconv.Atoi(parts[1])
		if err != nil || pid == os.Getpid() || pidAlive(pid) {
			continue
		}
		// Kill any postmaster still running from that directory.
		pm, _ := filepath.Glob(filepath.Join(m, "*", "data", "postmaster.pid"))
		for _, f := range pm {
			if b, err := os.ReadFile(f); err == nil {
				p, err := strconv.Atoi(strings.SplitN(string(b), "\n", 2)[0])
				if err != nil || p <= 0 {
					continue
				}
				// Only signal it if it really is a postgres of that directory.
				cl, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p))
				if bytes.Contains(cl, []byte(m)) {
					_ = syscall.Kill(p, syscall.SIGQUIT)
				}
			}
		}
		_ = os.RemoveAll(m)
	}
}
