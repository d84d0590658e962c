package middleware

import (
	"strings"

	"github.com/jackc/pgx/v5"
)

// Setting is one run-time parameter a statement needs, such as search_path or a custom
// setting like app.tenant_id.
type Setting struct {
	Name  string
	Value string
}

// State is the session state an operation declares it needs: the operation runs on a backend
// whose settings have these values (see "Session state" in the package documentation). Treat
// a State as immutable once it is in a payload: build a new one with [State.With] rather than
// appending to a shared slice.
type State []Setting

// With returns a copy of s in which the setting name has the given value (added or replaced).
func (s State) With(name, value string) State {
	out := make(State, 0, len(s)+1)
	for _, x := range s {
		if x.Name != name {
			out = append(out, x)
		}
	}
	return append(out, Setting{Name: name, Value: value})
}

// Get returns the value of the named setting and whether s declares it.
func (s State) Get(name string) (string, bool) {
	for _, x := range s {
		if x.Name == name {
			return x.Value, true
		}
	}
	return "", false
}

// SearchPath returns the search_path value for the given schemas, each quoted as an identifier
// with pgx.Identifier.Sanitize (so a schema name can never inject another one), with pg_temp
// placed explicitly last so that a temporary table never shadows a schema's table.
func SearchPath(schemas ...string) string {
	var b strings.Builder
	for _, s := range schemas {
		b.WriteString(pgx.Identifier{s}.Sanitize())
		b.WriteString(", ")
	}
	b.WriteString("pg_temp")
	return b.String()
}
