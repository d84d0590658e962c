package sqlscan

// This file derives low-cardinality telemetry from SQL text, following the OpenTelemetry
// database semantic conventions: a query summary ("{operation} {target}..."), the operation
// name, and the query text to record (as-is when parameterized, otherwise with literals
// replaced by "?" and IN lists collapsed). Results are cached per query string.

import (
	"strings"
	"sync"
	"sync/atomic"
)

// MaxSummary is the longest summary produced, in bytes (semantic conventions: 255).
const MaxSummary = 255

// Info is what telemetry needs to know about one SQL text. It is immutable once built.
type Info struct {
	// Summary is the low-cardinality summary, e.g. "SELECT orders customers"; empty when no
	// operation was recognised.
	Summary string
	// Operation is the upper-cased operation of a single-statement text (SELECT, INSERT,
	// CREATE TABLE ...), or "" for multiple statements or an unknown verb.
	Operation string
	// Text is the text to record as db.query.text: the input when Parameterized, otherwise the
	// sanitized text.
	Text string
	// Parameterized reports that the text uses $n placeholders.
	Parameterized bool
	// Kind is the bounded operation kind used as a metric attribute.
	Kind Kind
	// Statements is the number of statements in the text (at least 1 for non-empty text).
	Statements int
}

// Shared is the process-wide cache used by pgprovider's middleware packages, so that
// tracing, metrics and logging analyse each distinct text once.
var Shared = NewCache(4096)

// Kind is a bounded enumeration of operation names, for metric attributes.
type Kind uint8

// The operation kinds.
const (
	KindOther Kind = iota
	KindSelect
	KindInsert
	KindUpdate
	KindDelete
	KindMerge
	KindCall
	KindCopy
	KindDDL
	KindBegin
	KindCommit
	KindRollback
	KindCount
)

var kindNames = [...]string{"", "SELECT", "INSERT", "UPDATE", "DELETE", "MERGE", "CALL", "COPY", "DDL", "BEGIN", "COMMIT", "ROLLBACK"}

// String returns the upper-case operation name of k, or "" for [KindOther].
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return ""
}

// Parse analyses sql without caching.
func Parse(sql string) Info {
	toks := tokenize(sql)
	info := Info{Parameterized: hasParam(toks)}
	info.Summary, info.Operation, info.Kind, info.Statements = summarize(toks)
	if info.Parameterized {
		info.Text = sql
	} else {
		info.Text = sanitize(sql, toks)
	}
	return info
}

// Sanitize returns sql with literals replaced by "?", comments removed and IN lists of
// literals collapsed to "(?)".
func Sanitize(sql string) string { return sanitize(sql, tokenize(sql)) }

// Cache memoizes [Parse] per query string. It holds at most its size of entries; once full
// it starts over, so a flood of distinct texts costs parsing, never unbounded memory.
// The zero value is not usable: build it with [NewCache]. It is safe for concurrent use.
type Cache struct {
	m   sync.Map // string -> *Info
	n   atomic.Int64
	max int64
}

// NewCache returns a cache holding up to size entries (1024 when size <= 0).
func NewCache(size int) *Cache {
	if size <= 0 {
		size = 1024
	}
	return &Cache{max: int64(size)}
}

// MaxCachedText is the longest SQL text a cache keeps: the key is the text itself, so caching
// long generated statements (bulk inserts) would hold megabytes; they are analysed per call.
const MaxCachedText = 4096

// Get returns the analysis of sql. On a hit it does not allocate.
func (c *Cache) Get(sql string) *Info {
	if len(sql) > MaxCachedText {
		info := Parse(sql)
		return &info
	}
	if v, ok := c.m.Load(sql); ok {
		return v.(*Info)
	}
	info := Parse(sql)
	if c.n.Add(1) > c.max {
		c.m.Clear()
		c.n.Store(1)
	}
	v, _ := c.m.LoadOrStore(sql, &info)
	return v.(*Info)
}

// Len returns the number of cached entries (approximate under concurrency).
func (c *Cache) Len() int { return int(c.n.Load()) }

func hasParam(toks []token) bool {
	for _, t := range toks {
		if t.kind == tParam {
			return true
		}
	}
	return false
}

// sanitize rebuilds the text from tokens: literals become "?", comments vanish.
func sanitize(sql string, toks []token) string {
	var b strings.Builder
	b.Grow(len(sql))
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		switch t.kind {
		case tComment:
		case tString, tNumber:
			b.WriteByte('?')
		case tWord:
			b.WriteString(t.text)
			if strings.EqualFold(t.text, "in") {
				if j, ok := literalList(toks, i+1); ok {
					// keep the whitespace between IN and "("
					for k := i + 1; k < len(toks) && toks[k].kind == tSpace; k++ {
						b.WriteString(toks[k].text)
					}
					b.WriteString("(?)")
					i = j
				}
			}
		default:
			b.WriteString(t.text)
		}
	}
	return b.String()
}

// literalList reports whether toks[i:] starts (after spaces) with a parenthesised list of
// literals only, and returns the index of its closing parenthesis.
func literalList(toks []token, i int) (int, bool) {
	for i < len(toks) && toks[i].kind == tSpace {
		i++
	}
	if i >= len(toks) || toks[i].text != "(" {
		return 0, false
	}
	n := 0
	for i++; i < len(toks); i++ {
		switch t := toks[i]; {
		case t.kind == tString || t.kind == tNumber:
			n++
		case t.kind == tSpace || t.kind == tComment || t.text == ",":
		case t.text == ")":
			return i, n > 0
		default:
			return 0, false
		}
	}
	return 0, false
}
