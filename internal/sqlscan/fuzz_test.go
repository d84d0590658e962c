package sqlscan

import (
	"strings"
	"testing"
)

// FuzzEffects checks, on any text: Effects and Plain do not panic; Plain implies no effect;
// changing the case of ASCII letters outside quotes changes no effect; and inserting
// comments or white space between tokens (or before the text) removes no effect.
func FuzzEffects(f *testing.F) {
	for _, c := range effectCases {
		f.Add(c.sql)
	}
	for _, s := range plainEdges {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, sql string) {
		e := Effects(sql)
		if Plain(sql) && e != 0 {
			t.Fatalf("Plain(%q) is true but Effects = %q", sql, e)
		}
		// Most inputs do not start like a plain statement: check Plain on some that do.
		for _, prefix := range []string{"SELECT ", "select 1 ", "INSERT INTO t ", "w "} {
			if v := prefix + sql; Plain(v) && Effects(v) != 0 {
				t.Fatalf("Plain(%q) is true but Effects = %q", v, Effects(v))
			}
		}
		for _, up := range []bool{true, false} {
			v := changeCase(sql, up)
			if got := Effects(v); got != e {
				t.Fatalf("Effects(%q) = %q, but Effects(%q) = %q", sql, e, v, got)
			}
		}
		for _, v := range spread(sql) {
			if got := Effects(v); !got.Has(e) {
				t.Fatalf("Effects(%q) = %q, but Effects(%q) = %q: lost %q", sql, e, v, got, e&^got)
			}
		}
	})
}

// plainEdges are seeds near the edges of what Plain accepts.
var plainEdges = []string{
	"SELECT 1 -- c\n'x'", "SELECT 'a' -- 'b'\n", "SELECT 'a'/*'*/", `SELECT "a" -- "`, `SELECT "a" /* " */`,
	"SELECT $1$x", "SELECT a$b$ c", "SELECT x FROM t WHERE a = 'temp'", "INSERT INTO u&x", "SELECT 'a'\n'b' FROM t",
	"SELECT 1 INTO t", "WITH a AS (SELECT 1) SELECT * INTO tmp FROM a", "SELECT e'a' FROM t", "SELECT U&'a' FROM t",
	"SELECT x.u&\"a\"", "SELECT 'it''s'", `SELECT "a""b"`, "UPDATE t SET a = $1 WHERE b = $2", "DELETE FROM t USING u",
	"SELECT 1 - -1", "SELECT a/b, c-d FROM t", "SELECT pg_x, set_y, advisory FROM t", "VALUES ('a'), ('b')",
}

// changeCase upper- or lower-cases the ASCII letters of sql's words outside their quoted
// parts: keywords and identifiers, never literals, comments or dollar-quote tags.
func changeCase(sql string, up bool) string {
	b := []byte(sql)
	l := lexer{s: sql}
	for {
		start := l.i
		t, ok := l.next()
		if !ok {
			return string(b)
		}
		if t.kind != tWord {
			continue
		}
		quoted := false
		for i := start; i < l.i; i++ {
			switch c := b[i]; {
			case c == '"':
				quoted = !quoted
			case quoted:
			case up && c >= 'a' && c <= 'z':
				b[i] = c - 'a' + 'A'
			case !up && c >= 'A' && c <= 'Z':
				b[i] = c - 'A' + 'a'
			}
		}
	}
}

// spread returns variants of sql with comments or white space added between tokens: before
// the text, in place of each run of spaces, and before each run of white space.
func spread(sql string) []string {
	out := []string{"/* c */ " + sql, "\f" + sql, "--\n" + sql}
	for _, ins := range []string{"\f", "/**/", "\t/* x */\v", " /* /* nested */ */ "} {
		var replaced, before strings.Builder
		l := lexer{s: sql}
		for {
			t, ok := l.next()
			if !ok {
				break
			}
			if t.kind == tSpace {
				before.WriteString(ins)
				if strings.Trim(t.text, " ") == "" {
					replaced.WriteString(ins)
				} else {
					replaced.WriteString(t.text)
				}
			} else {
				replaced.WriteString(t.text)
			}
			before.WriteString(t.text)
		}
		out = append(out, replaced.String(), before.String())
	}
	return out
}

// FuzzParse checks that Parse and Sanitize do not panic, and that neither the sanitized text
// nor Parse's Text (when the text is not parameterized) holds a literal's content: the
// literal is put first, where it is certainly a literal, followed by the fuzzed text.
func FuzzParse(f *testing.F) {
	for _, c := range effectCases {
		f.Add(c.sql, "secret")
	}
	for _, c := range otelCases {
		f.Add(c.in, "hunter2")
	}
	f.Add("\n'continued'", "Tr0ub4dor")
	f.Add("-- c\n'continued'", "Tr0ub4dor")
	f.Fuzz(func(t *testing.T, sql, secret string) {
		Sanitize(sql)
		Parse(sql)
		// The secret: letters and digits only (so no quote can end it), more than 3.
		s := []byte("Zq")
		for i := 0; i < len(secret) && len(s) < 40; i++ {
			if c := secret[i]; c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
				s = append(s, c)
			}
		}
		if len(s) < 5 {
			s = append(s, "x9Q"...)
		}
		lit := string(s)
		if strings.Contains(sql, lit) || strings.Contains(Sanitize(sql), lit) {
			return // the text itself may spell it outside a literal
		}
		for _, text := range []string{"'" + lit + "' " + sql, "SELECT E'" + lit + "'," + sql, "'" + lit + "'\n" + sql} {
			if got := Sanitize(text); strings.Contains(got, lit) {
				t.Fatalf("Sanitize(%q) = %q holds the literal %q", text, got, lit)
			}
			if info := Parse(text); !info.Parameterized && strings.Contains(info.Text, lit) {
				t.Fatalf("Parse(%q).Text = %q holds the literal %q", text, info.Text, lit)
			}
		}
	})
}
