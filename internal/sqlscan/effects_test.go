package sqlscan

import (
	"strconv"
	"strings"
	"testing"
)

// Short names for the table.
const (
	S = SessionState
	L = Listen
	D = DropsPrepared
	T = TempObject
	X = TxControl
	R = Role
	P = Routine
	M = Multi
)

// effectCases is the table of TestEffects, and the seed corpus of FuzzEffects. The first
// block carries over the cases of the root package's session_test.go (changesSession and
// statementVerbs), with their expectations spelled as flags.
var effectCases = []struct {
	sql  string
	want Effect
}{
	// changesSession
	{"SELECT 1", 0},
	{"UPDATE t SET n = 1", 0},
	{"select * from t offset 5", 0},
	{"SET search_path = x", S},
	{"  set app.x = '1'", S},
	{"/* comment */ SET x = 1", S},
	{"-- line\nRESET ALL", S},
	{"select 1; discard all", S | D | R | M},
	{"select set_config('app.x', '1', false)", S},
	{"SELECT pg_advisory_lock(1)", S},
	{"create temp table x (a int)", S | T},
	{"CREATE TEMPORARY TABLE x (a int)", S | T},
	{"create table x (a int)", 0},
	{"insert into pg_temp.x values (1)", S | T},
	{"LISTEN ch", S | L},
	{"unlisten *", S},
	{"PREPARE p AS SELECT 1", S},
	{"DEALLOCATE ALL", S | D},
	{"DECLARE c CURSOR WITH HOLD FOR SELECT 1", S},
	{"DO $$ BEGIN END $$", S | P},
	{"CALL proc()", S | P},
	{"LOAD 'auto_explain'", S},
	{"(select 1)", 0},
	{"", 0},
	{"/* unterminated", S}, // was false: now "not understood"
	{"SELECT PG_TRY_ADVISORY_LOCK(1)", S},
	{"select a_b, c_d from t_t where x_y = 1", 0},
	{"select 1 /* ; */", 0},
	{"select 1;\n -- c\n  SET x = 1", S | M},
	{"_", 0},
	{"set_", 0},
	{"x_set_config", S | R},
	// statementVerbs
	{"DISCARD ALL", S | D | R},
	{"discard plans", S | D},
	{"DISCARD TEMP", S},
	{"select 1; deallocate all", S | D | M},
	{"DEALLOCATE p1", S | D},
	{"DEALLOCATE PREPARE p1", S | D},
	{"select 'discard all'", 0},
	{"LISTEN jobs", S | L},
	{"  /* c */ listen \"Jobs\"", S | L},
	{"-- c\nLISTEN x; DISCARD ALL", S | L | D | R | M},
	{"SELECT * FROM listeners", 0},
	{"UPDATE listeners SET n = 1", 0},
	{"select 1; (listen x)", S | L | M},
	{"-- only a comment", 0},

	// Comments: nested, "--" ended by \r, between keywords.
	{"/* /* */ x */ SET x = 1", S},
	{"SELECT 1 /* a /* b */ ; SET x = 1 */", 0},
	{"/* /* */", S},
	{"SELECT 1; -- c\rSET x = 1", S | M},
	{"-- c\rLISTEN x", S | L},
	{"SELECT 1 -- c\rSET x = 1", 0}, // one command: the SET is not a verb
	{"CREATE /*x*/ TEMP TABLE t (a int)", S | T},
	{"CREATE -- x\n TEMPORARY TABLE t ()", S | T},
	{"SET /* a */ ROLE x", S | R},
	{"DISCARD/**/ALL", S | D | R},
	// White space: \f and \v.
	{"\fSET x = 1", S},
	{"\vSET x = 1", S},
	{"SELECT 1;\fLISTEN x", S | L | M},
	{"SET\fROLE x", S | R},
	{"SELECT 1;\v\f\r\n\tDO $$ $$", S | P | M},
	// Leading parentheses.
	{"((SET x = 1))", S},
	{"(( /* c */ (LISTEN x)))", S | L},
	{"(SELECT 1) UNION (SELECT 2)", 0},
	// Keywords in any case.
	{"sEt RoLe x", S | R},
	{"LiStEn x", S | L},
	// Only the first word of a command is a verb.
	{"UPDATE t SET role = 'x'", 0},
	{"SELECT role, listen, execute FROM t", 0},
	{"SELECT 1 AS execute", 0},
	{"INSERT INTO listeners VALUES (1)", 0},
	{"SELECT 1 FROM t WHERE name = 'SET ROLE x'", 0},
	{"SELECT 1; SELECT 2", M},

	// Strings.
	{"SELECT U&'d\\0061t'", 0},
	{"SELECT U&'a'';SET x=1'", 0},
	{"SELECT U&'d!0061t' UESCAPE '!'", 0},
	{"SELECT E'it\\'s; SET x = 1'", 0},
	{"SELECT e'a\\\\'; SET x = 1", S | M},
	{"SELECT E'a''; SET x = 1'", 0},
	{"SELECT 'a''; SET x = 1'", 0},
	{"SELECT N'a''; SET x = 1', B'01', X'1F'", 0},
	{"SELECT 'a'\n'b'", 0},
	// An E string continued on another line stays an E string: PostgreSQL runs this SET.
	{"SELECT E'a'\n'\\'' ; SET application_name = x; --'", S | M},
	{"SELECT E'a' -- c\n  -- d\n'\\'' ; SET application_name = x; --'", S | M},
	// A backslash in a plain literal: with standard_conforming_strings off this SET runs.
	{"SELECT 'a\\' , ' ; SET application_name = x; --'", S | M},
	{"SELECT 'C:\\path'", 0},
	// Dollar quoting.
	{"SELECT $$ ; SET x = 1 $$", 0},
	{"SELECT $f$ $1 ; $$ ; $f$, $1", 0},
	{"SELECT $a$ x $b$ y $a$; LISTEN c", S | L | M},
	{"DO $body$ BEGIN PERFORM 1; END $body$", S | P},
	{"SELECT $1, $2 FROM t WHERE a = $3", 0},
	{"SELECT a$b FROM t", 0},
	{"SELECT $a$ set_config $a$", S | R},
	{"do language plpgsql $$ begin perform set_config('app.x', 'y', true); end $$", S | P | R},
	{"DO 'BEGIN NULL; END'", S | P},
	// Quoted identifiers.
	{`SELECT "a;b" FROM t`, 0},
	{`SELECT "a""; SET x = 1" FROM t`, 0},
	{`SELECT "set_config"('app.x', 'y', false)`, S},
	{`SELECT "SET_CONFIG"($1, 'y', false)`, S | R},
	{`SELECT U&"set\005fconfig"('app.x', 'y', false)`, S | R},
	{`SELECT U&"d\0061t" FROM t`, S | R},
	{`SELECT x.U&"d\0061t" FROM t x`, S | R},
	// Not understood: unterminated.
	{"SELECT 'abc", S},
	{"SELECT E'abc\\", S},
	{`SELECT "abc`, S},
	{"SELECT $$abc", S},
	{"SELECT $tag$ abc $ta", S},
	{`SELECT U&"abc`, S | R},
	{"SELECT 1 $x$ 2", S},

	// Multiple commands.
	{"SELECT 1;", 0},
	{"SELECT 1; ;", 0},
	{";;", 0},
	{"SELECT 1; -- c", 0},
	{"SELECT 1; /* c */", 0},
	{"SELECT ';'", 0},
	{"INSERT INTO t VALUES (1); COMMIT; INSERT INTO t VALUES (2)", X | M},
	{"BEGIN; UPDATE t SET a = 1; ROLLBACK", X | M},
	{"BEGIN; SET LOCAL x = 1; COMMIT", S | X | M},

	// Transaction control.
	{"BEGIN", X},
	{"begin isolation level serializable", X},
	{"START TRANSACTION", X},
	{"start transaction read only", X},
	{"COMMIT", X},
	{"COMMIT AND CHAIN", X},
	{"END", X},
	{"ABORT", X},
	{"ROLLBACK", X},
	{"SAVEPOINT s", X},
	{"RELEASE SAVEPOINT s", X},
	{"RELEASE s", X},
	{"ROLLBACK TO SAVEPOINT s", X},
	{"PREPARE TRANSACTION 'x'", S | X}, // PREPARE transaction AS ... is a statement named transaction
	{"COMMIT PREPARED 'x'", X},
	{"ROLLBACK PREPARED 'x'", X},
	// SQL-standard function bodies hold semicolons: the END after one is taken for a
	// command (a false effect, never a missed one).
	{"CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; END", X | M},

	// Routines and prepared statements.
	{"CALL p(1)", S | P},
	{"call s.p()", S | P},
	{"EXECUTE p", S | P},
	{"EXECUTE p(1, 'x')", S | P},
	{"PREPARE p AS SELECT set_config('role', 'r', false)", S | R},
	{"PREPARE p AS SELECT set_config('role', 'r', false); EXECUTE p", S | R | P | M},
	{"PREPARE p (int) AS SELECT $1", S},
	{"EXPLAIN ANALYZE EXECUTE p", S | P},
	{"EXPLAIN (ANALYZE, BUFFERS) EXECUTE p(1)", S | P},
	{"EXPLAIN ANALYZE VERBOSE DECLARE c CURSOR FOR SELECT 1", S},
	{"EXPLAIN SELECT 1", 0},
	{"EXPLAIN UPDATE t SET role = 1", 0},
	{"EXPLAIN EXPLAIN EXECUTE p", S | P},
	{"CREATE TABLE t AS EXECUTE p", S | P},
	{"CREATE TEMP TABLE t AS EXECUTE p", S | T | P},
	{"EXPLAIN ANALYZE CREATE TABLE t AS EXECUTE p", S | P},

	// Temporary objects.
	{"SELECT * INTO TEMP t FROM x", S | T},
	{"SELECT 1 INTO TEMPORARY TABLE t", S | T},
	{"select 1 into local temp t", S | T},
	{"WITH x AS (SELECT 1) SELECT * INTO GLOBAL TEMPORARY t FROM x", S | T},
	{"EXPLAIN ANALYZE SELECT * INTO TEMP t FROM x", S | T},
	{"SELECT 1 INTO UNLOGGED t", 0},
	{"SELECT 1 INTO t", 0},
	{"INSERT INTO temp VALUES (1)", 0},
	{"CREATE LOCAL TEMP TABLE t (a int)", S | T},
	{"CREATE GLOBAL TEMPORARY TABLE t (a int)", S | T},
	{"CREATE OR REPLACE TEMP VIEW v AS SELECT 1", S | T},
	{"CREATE TEMP SEQUENCE s", S | T},
	{"EXPLAIN ANALYZE CREATE TEMP TABLE t AS SELECT 1", S | T},
	{"CREATE SCHEMA s CREATE TEMP TABLE t (a int)", S | T},
	{"create unlogged table t (a int)", 0},
	{"DROP TABLE pg_temp.t", S | T},
	{"SET search_path TO pg_temp, public", S | T},

	// Roles.
	{"SET ROLE admin", S | R},
	{"SET SESSION AUTHORIZATION 'u'", S | R},
	{"set local role x", S | R},
	{"SET SESSION ROLE x", S | R},
	{"SET LOCAL SESSION AUTHORIZATION DEFAULT", S | R},
	{"set ROLE to default", S | R},
	{"RESET ROLE", S | R},
	{"RESET SESSION AUTHORIZATION", S | R},
	{`SET "role" = 'x'`, S | R},
	{`SET "ROLE" TO x`, S | R},
	{"SET session_authorization = 'u'", S | R},
	{"SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY", S},
	{"SET LOCAL statement_timeout = 5", S},
	{"SET app.role = 'x'", S},
	{"RESET ALL", S},
	{"SET TIME ZONE 'UTC'", S},
	{"SET TRANSACTION ISOLATION LEVEL SERIALIZABLE", S},
	{"SELECT set_config('role', 'x', false)", S | R},
	{"SELECT set_config('ROLE', 'x', false)", S | R},
	{"SELECT set_config('session_authorization', 'x', false)", S | R},
	{"SELECT set_config($1, $2, false)", S | R},
	{"SELECT set_config('ro' || 'le', 'x', false)", S | R},
	{"SELECT set_config(E'role', 'x', false)", S | R},
	{"SELECT set_config('ro'\n'le', 'x', false)", S | R},
	{"SELECT set_config('app.x'::text, 'y', false)", S | R},
	{"SELECT pg_catalog.set_config('app.x', 'y', true)", S},
	{"SELECT set_config ( /* c */ 'app.x' , 'y', true)", S},
	{"SELECT set_config('a''b', 'y', false)", S},
	{"SELECT set_config('app.x', 'y', false), set_config(name, 'y', false) FROM t", S | R},
	{"SELECT set_config", S | R},
	{"SELECT 'set_config'", S | R},
	{"-- set_config\nSELECT 1", S | R},
	{"WITH x AS (SELECT set_config('app.x', '1', false)) SELECT * FROM x", S},
	{"WITH x AS (SELECT set_config('role', 'r', false)) SELECT * FROM x", S | R},

	// Other session functions.
	{"SELECT pg_advisory_unlock_all()", S},
	{"SELECT pg_advisory_xact_lock(1)", S},
	{"SELECT pg_try_advisory_lock_shared(1)", S},

	// No effect.
	{"VALUES (1)", 0},
	{"TABLE t", 0},
	{"NOTIFY ch, 'x'", 0},
	{"SHOW search_path", 0},
	{"LOCK TABLE t", 0},
	{"FETCH 1 FROM c", 0},
	{"WITH x AS (SELECT 1) SELECT * FROM x", 0},
	{"SELECT temperature FROM readings", 0},
	{"DELETE FROM t WHERE id = $1", 0},
	{"MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE", 0},
}

func TestEffects(t *testing.T) {
	for _, c := range effectCases {
		if got := Effects(c.sql); got != c.want {
			t.Errorf("Effects(%q) = %q, want %q", c.sql, got, c.want)
		}
		if Plain(c.sql) && Effects(c.sql) != 0 {
			t.Errorf("Plain(%q) is true but Effects = %q", c.sql, Effects(c.sql))
		}
	}
}

func TestPlain(t *testing.T) {
	for sql, want := range map[string]bool{
		"SELECT 1": true, "select 1": true, "insert into t values (1)": true, "WITH x AS (SELECT 1) SELECT * FROM x": true,
		"update t set a = 1": true, "zzz": true, "Delete from t": true, "VALUES (1)": true, "TABLE t": true,
		"SELECT id, name FROM users WHERE id = $1": true, "SELECT customer_id FROM orders": true,
		`SELECT "users"."id" FROM "users" WHERE "users"."name" = $1`: true, "SELECT * FROM t WHERE s = 'it''s'": true,
		"SELECT*FROM t": true, "SELECT(1)": true, "select\n1": true, "MERGE INTO t USING s ON true WHEN MATCHED THEN DELETE": true,
		// Not plain: a verb with an effect, or possibly one.
		"": false, "LISTEN x": false, "listen x": false, "DISCARD ALL": false, "deallocate p": false, "Abc": false,
		"SET x = 1": false, "SELECTx": false, "selects": false, "SHOW x": false, "UPDATES": false, "DELETE_x": false,
		"SELECT 1; LISTEN x": false, " LISTEN x": false, "(select 1)": false, "-- c\nselect 1": false, "/* c */ select 1": false,
		"\x00": false, "{": false, "@": false, "`": false, "\xff": false, "1": false, "[": false,
		// Not plain: something Effects would have to read.
		"SELECT set_config('a', 'b', false)": false, "SELECT pg_advisory_lock(1)": false, "SELECT * FROM pg_temp.t": false,
		"SELECT * INTO TEMP t FROM x": false, "SELECT temperature FROM t": false, "SELECT 1 /* c */": false,
		"SELECT 1 -- c": false, "SELECT $$x$$": false, "SELECT a$": false, `SELECT U&"x"`: false, "SELECT u&'x'": false,
		"SELECT 'a\\'": false, "SELECT 'x": false, `SELECT "x`: false, `SELECT 'a"b'`: false, `SELECT "a'b"`: false,
		"SELECT 1;": false,
	} {
		if got := Plain(sql); got != want {
			t.Errorf("Plain(%q) = %v, want %v", sql, got, want)
		}
		if Plain(sql) && Effects(sql) != 0 {
			t.Errorf("Plain(%q) is true but Effects = %q", sql, Effects(sql))
		}
	}
}

func TestEffectString(t *testing.T) {
	for e, want := range map[Effect]string{
		0:                  "",
		S | L:              "session_state|listen",
		D | T | X | R | P:  "drops_prepared|temp_object|tx_control|role|routine",
		M:                  "multi",
		1 << 8:             "0x100",
		S | 1<<31 | 1<<8:   "session_state|0x80000100",
		Effect(0xffffffff): "session_state|listen|drops_prepared|temp_object|tx_control|role|routine|multi|0xffffff00",
	} {
		if got := e.String(); got != want {
			t.Errorf("Effect(%#x).String() = %q, want %q", uint32(e), got, want)
		}
	}
	if !(S | L).Has(L) || (S | L).Has(L|D) || !Effect(0).Has(0) || Effect(0).Has(S) {
		t.Error("Has")
	}
}

func TestNoAllocs(t *testing.T) {
	for _, sql := range append(benchTexts(), "SET ROLE x; SELECT set_config('app.x', 'y', false)", "SELECT 'a\\' , ' ; SET x = 1; --'",
		"EXPLAIN (ANALYZE) CREATE TEMP TABLE t AS EXECUTE p", "/* unterminated") {
		if n := testing.AllocsPerRun(50, func() { Effects(sql) }); n != 0 {
			t.Errorf("Effects allocates %v times on %d bytes", n, len(sql))
		}
		if n := testing.AllocsPerRun(50, func() { Plain(sql) }); n != 0 {
			t.Errorf("Plain allocates %v times on %d bytes", n, len(sql))
		}
	}
}

// longSelect is a realistic statement of 2 KB: eight joined selects with snake_case names.
var longSelect = func() string {
	one := "SELECT o.id, o.customer_id, o.created_at, o.total_amount, c.email, c.display_name FROM orders o JOIN customers c ON c.id = o.customer_id WHERE o.created_at > $1 AND o.status = ANY($2) AND c.region_id = $3"
	s := one
	for len(s) < 2000 {
		s += " UNION ALL " + one
	}
	return s
}()

func benchTexts() []string {
	return []string{"SELECT 1", "SELECT id, name FROM users WHERE id = $1", longSelect}
}

func BenchmarkPlain(b *testing.B) {
	for _, sql := range benchTexts() {
		if !Plain(sql) {
			b.Fatalf("Plain(%.40q) is false", sql)
		}
		b.Run(benchName(sql), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(sql)))
			for b.Loop() {
				Plain(sql)
			}
		})
	}
}

func BenchmarkEffects(b *testing.B) {
	texts := append(benchTexts(), "SET ROLE x", "BEGIN; UPDATE accounts SET balance = balance - $1 WHERE id = $2; COMMIT")
	for _, sql := range texts {
		b.Run(benchName(sql), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(sql)))
			for b.Loop() {
				Effects(sql)
			}
		})
	}
}

func benchName(sql string) string {
	if len(sql) > 40 {
		return strings.Fields(sql)[0] + "_" + strconv.Itoa(len(sql)) + "B"
	}
	return sql
}
