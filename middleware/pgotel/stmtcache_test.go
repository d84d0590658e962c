package pgotel

import (
	"fmt"
	"strings"
	"sync"
	"testing"
)

func TestStmtCacheBound(t *testing.T) {
	m := New()
	const size = 8
	m.stmts = newStmtCache(size)
	for i := range 10 * size {
		m.stmt(fmt.Sprintf("SELECT %d", i))
		if n := m.stmts.len(); n > 2*size {
			t.Fatalf("after %d texts the cache holds %d, more than two generations of %d", i+1, n, size)
		}
	}
	count := 0
	for _, g := range []*stmtGen{m.stmts.cur.Load(), m.stmts.old.Load()} {
		g.m.Range(func(any, any) bool { count++; return true })
	}
	if count != m.stmts.len() || count > 2*size {
		t.Fatalf("%d entries, len %d", count, m.stmts.len())
	}
}

func TestStmtCacheSkipsLongTexts(t *testing.T) {
	m := New()
	long := "SELECT 1" + strings.Repeat(" ", 5000)
	if st := m.stmt(long); st.name == "" || m.stmts.len() != 0 {
		t.Fatalf("long text: name %q, %d cached", st.name, m.stmts.len())
	}
}

func TestStmtCacheKeepsTextsInUse(t *testing.T) {
	m := New()
	const size = 8
	m.stmts = newStmtCache(size)
	hot := m.stmt("SELECT hot")
	for i := range 20 * size {
		m.stmt(fmt.Sprintf("SELECT %d", i)) // a flood of texts seen once
		if i%size == 0 && m.stmt("SELECT hot") != hot {
			t.Fatalf("the text in use was dropped after %d other texts", i+1)
		}
	}
}

func TestStmtCacheConcurrent(t *testing.T) {
	m := New()
	const size = 16
	m.stmts = newStmtCache(size)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 200 {
				sql := fmt.Sprintf("SELECT c%d FROM t WHERE id = $1", (i*7+g)%40)
				if st := m.stmt(sql); st.info.Text != sql {
					t.Errorf("%q: text %q", sql, st.info.Text)
				}
			}
		})
	}
	wg.Wait()
	if n := m.stmts.len(); n > 2*size+4 {
		t.Fatalf("cache holds %d", n)
	}
}

func TestStmtNames(t *testing.T) {
	m := New()
	for sql, name := range map[string]string{"SELECT 1": "SELECT", "SELEC 1": "postgresql", "SELECT 1; SELECT 2": "SELECT SELECT"} {
		if got := m.stmt(sql).name; got != name {
			t.Errorf("%q: span name %q, want %q", sql, got, name)
		}
	}
}
