package recorder

import "github.com/pgprovider/pgprovider/pgerror"

// Outcome describes an operation's error for telemetry, with bounded values only (never an
// error message), from the module's one classifier (pgerror).
type Outcome struct {
	// Type is the error.type value: the SQLSTATE of a server error, else the name of the
	// error's pgerror class ("canceled", "timeout", "not_sent", "outcome_unknown", ...).
	Type string
	// SQLState is the server's SQLSTATE, or "" when the server did not answer with an error.
	SQLState string
	// Error reports whether the outcome is an error for span status purposes: false for nil,
	// context.Canceled, sql.ErrNoRows and driver.ErrSkip.
	Error bool
}

// Describe describes err; it allocates nothing.
func Describe(err error) Outcome {
	if err == nil {
		return Outcome{}
	}
	c := pgerror.Classify(err)
	o := Outcome{Type: c.String(), Error: c != pgerror.None && c != pgerror.Canceled}
	if code := pgerror.Code(err); code != "" {
		o.Type, o.SQLState = code, code
	}
	if c == pgerror.None {
		o.Type = "none"
	}
	return o
}

// sqlstateClass returns the two-character class of a SQLSTATE, or "".
func sqlstateClass(code string) string {
	if len(code) != 5 {
		return ""
	}
	for i := 0; i < 5; i++ {
		c := code[i]
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z') {
			return ""
		}
	}
	return code[:2]
}
