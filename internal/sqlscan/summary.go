package sqlscan

import "strings"

var dmlKinds = map[string]Kind{
	"SELECT": KindSelect, "INSERT": KindInsert, "UPDATE": KindUpdate, "DELETE": KindDelete,
	"MERGE": KindMerge, "CALL": KindCall, "COPY": KindCopy, "TRUNCATE": KindDDL,
	"BEGIN": KindBegin, "START": KindBegin, "COMMIT": KindCommit, "END": KindCommit,
	"ROLLBACK": KindRollback, "ABORT": KindRollback,
	"SAVEPOINT": KindOther, "RELEASE": KindOther, "VALUES": KindOther, "SHOW": KindOther,
	"SET": KindOther, "RESET": KindOther, "LISTEN": KindOther, "NOTIFY": KindOther,
	"UNLISTEN": KindOther, "VACUUM": KindOther, "ANALYZE": KindOther, "EXPLAIN": KindOther,
	"LOCK": KindOther, "DISCARD": KindOther, "DO": KindOther, "GRANT": KindOther, "REVOKE": KindOther,
}

var ddlVerbs = map[string]bool{"CREATE": true, "ALTER": true, "DROP": true}

var ddlModifiers = map[string]bool{
	"OR": true, "REPLACE": true, "UNIQUE": true, "CLUSTERED": true, "NONCLUSTERED": true,
	"TEMP": true, "TEMPORARY": true, "UNLOGGED": true, "MATERIALIZED": true, "GLOBAL": true,
	"LOCAL": true, "RECURSIVE": true,
}

var ddlSkip = map[string]bool{"IF": true, "NOT": true, "EXISTS": true, "CONCURRENTLY": true, "ONLY": true}

// clause keywords end a FROM list (an alias is any other word).
var clauseWords = map[string]bool{
	"WHERE": true, "JOIN": true, "INNER": true, "LEFT": true, "RIGHT": true, "FULL": true,
	"CROSS": true, "NATURAL": true, "OUTER": true, "ON": true, "USING": true, "GROUP": true,
	"ORDER": true, "HAVING": true, "LIMIT": true, "OFFSET": true, "UNION": true, "EXCEPT": true,
	"INTERSECT": true, "WINDOW": true, "FOR": true, "RETURNING": true, "SET": true, "VALUES": true,
	"SELECT": true, "FETCH": true, "AS": true, "LATERAL": true, "ONLY": true,
}

type summarizer struct {
	b      strings.Builder
	full   bool
	op     string
	kind   Kind
	nOps   int
	multi  bool
	copyOp bool
}

func (s *summarizer) add(part string) {
	if s.full || part == "" {
		return
	}
	n := s.b.Len()
	if n > 0 {
		n++
	}
	if n+len(part) > MaxSummary {
		s.full = true
		return
	}
	if s.b.Len() > 0 {
		s.b.WriteByte(' ')
	}
	s.b.WriteString(part)
}

func (s *summarizer) operation(text, upper string, k Kind) {
	if s.nOps == 0 {
		s.op, s.kind = upper, k
	}
	s.nOps++
	s.add(text)
}

// summarize builds "{operation} {target} ..." from the significant tokens.
func summarize(all []token) (summary, op string, kind Kind, stmts int) {
	toks := make([]token, 0, len(all))
	for _, t := range all {
		if t.kind != tSpace && t.kind != tComment {
			toks = append(toks, t)
		}
	}
	var s summarizer
	expect := false // the next word is a target
	list := false   // inside a FROM list: "a x, b y"
	start := true   // at the start of a statement
	prev := ""      // the previous word, upper-cased
	for i := 0; i < len(toks) && !s.full; i++ {
		t := toks[i]
		atStart := start
		start = false
		if t.kind == tPunct {
			switch t.text {
			case ",":
				expect = list
			case ";":
				if i+1 < len(toks) {
					s.multi = true
				}
				list, expect, s.copyOp, start = false, false, false, true
			default:
				if t.text == "(" {
					list = false
				}
				expect = false
			}
			continue
		}
		if t.kind != tWord {
			expect = false
			continue
		}
		u := strings.ToUpper(t.text)
		p := prev
		prev = u
		if expect && !clauseWords[u] {
			s.add(t.text)
			expect = false
			continue
		}
		expect = false
		if k, ok := dmlKinds[u]; ok && isOperation(u, k, atStart, p) {
			s.operation(t.text, u, k)
			switch u {
			case "UPDATE", "COPY":
				expect = true
				s.copyOp = u == "COPY"
			case "TRUNCATE":
				if i+1 < len(toks) && strings.EqualFold(toks[i+1].text, "table") {
					i++
				}
				expect = true
			}
			list = false
			continue
		}
		if ddlVerbs[u] && s.nOps == 0 {
			i = s.ddl(toks, i, u)
			continue
		}
		switch u {
		case "FROM":
			if !s.copyOp {
				expect, list = true, true
			}
		case "JOIN", "INTO":
			expect, list = true, false
		default:
			if list && clauseWords[u] {
				list = false
			}
		}
	}
	if s.multi {
		s.op, s.kind = "", KindOther
	}
	if len(toks) > 0 {
		stmts = 1
		for i, t := range toks {
			if t.text == ";" && i+1 < len(toks) && toks[i+1].text != ";" {
				stmts++
			}
		}
	}
	return s.b.String(), s.op, s.kind, stmts
}

// isOperation reports whether the verb u starts an operation here: data-manipulation verbs
// anywhere (subqueries, CTEs) except in locking clauses and ON CONFLICT DO UPDATE, every other
// verb only at the start of a statement.
func isOperation(u string, k Kind, atStart bool, prev string) bool {
	switch k {
	case KindSelect, KindInsert, KindDelete, KindMerge:
		return true
	case KindUpdate:
		return prev != "FOR" && prev != "DO" && prev != "KEY"
	}
	return atStart
}

// ddl summarizes "CREATE [modifiers] TYPE [IF NOT EXISTS] name" and ends the summary.
func (s *summarizer) ddl(toks []token, i int, verb string) int {
	j := i + 1
	for j < len(toks) && toks[j].kind == tWord && ddlModifiers[strings.ToUpper(toks[j].text)] {
		j++
	}
	if j >= len(toks) || toks[j].kind != tWord {
		s.operation(verb, verb, KindDDL)
		return len(toks)
	}
	objType := strings.ToUpper(toks[j].text)
	s.operation(verb+" "+objType, verb+" "+objType, KindDDL)
	for j++; j < len(toks) && toks[j].kind == tWord && ddlSkip[strings.ToUpper(toks[j].text)]; j++ {
	}
	if j < len(toks) && toks[j].kind == tWord {
		s.add(toks[j].text)
	}
	// The rest (AS SELECT ..., column definitions) is not part of the summary, but a later
	// statement would make the text multi-statement.
	for ; j < len(toks); j++ {
		if toks[j].text == ";" && j+1 < len(toks) {
			s.multi = true
		}
	}
	return len(toks)
}
