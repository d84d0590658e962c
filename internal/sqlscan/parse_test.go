package sqlscan

import (
	"strconv"
	"strings"
	"testing"
)

// otelCases reproduces the SQL cases of OpenTelemetry's non-normative
// database-test-cases/db-sql-test-cases.json (sanitized text, summary); where the
// fixture allows several texts, the first one listed is the one this package produces.
var otelCases = []struct{ name, in, text, summary string }{
	{"numeric_literal_integers", "SELECT 12, -12, +12", "SELECT ?, ?, ?", "SELECT"},
	{"numeric_literal_with_decimal_point", "SELECT 12.34, -12.34, +12.34, .01, -.01", "SELECT ?, ?, ?, ?, ?", "SELECT"},
	{"numeric_literal_exponential", "SELECT 12.34e56, -12.34e56, +12.34e56", "SELECT ?, ?, ?", "SELECT"},
	{"numeric_literal_negative_exponential", "SELECT 12.34e-56, -12.34e-56, +12.34e-56", "SELECT ?, ?, ?", "SELECT"},
	{"arithmetic_on_numeric_literals", "SELECT 99+100", "SELECT ??", "SELECT"},
	{"hex_literal", "SELECT 0xDEADBEEF, 0XdeadBEEF", "SELECT ?, ?", "SELECT"},
	{"string_literal", "SELECT 'hello'", "SELECT ?", "SELECT"},
	{"string_literal_escaped_single_quote", "SELECT 'My name''s not important'", "SELECT ?", "SELECT"},
	{"string_with_embedded_newline", "SELECT 'My name is \n not important'", "SELECT ?", "SELECT"},
	{"numbers_in_identifiers", "SELECT c3po, r2d2 FROM covid19 WHERE n1h1=1234", "SELECT c3po, r2d2 FROM covid19 WHERE n1h1=?", "SELECT covid19"},
	{"periods_in_identifiers", "SELECT a FROM dbo.Table JOIN dbo.AnotherTable", "SELECT a FROM dbo.Table JOIN dbo.AnotherTable", "SELECT dbo.Table dbo.AnotherTable"},
	{"insert_into", "INSERT INTO X VALUES(1, 23456, 123.456, 99+100)", "INSERT INTO X VALUES(?, ?, ?, ??)", "INSERT X"},
	{"uuid", "SELECT { guid '01234567-89ab-cdef-0123-456789abcdef' }", "SELECT { guid ? }", "SELECT"},
	{"in_clause", "SELECT * FROM table WHERE value IN (123, 456, 'abc')", "SELECT * FROM table WHERE value IN (?)", "SELECT table"},
	{"comments", "SELECT column -- end of line comment\nFROM /* block \n comment */ table", "SELECT column \nFROM  table", "SELECT table"},
	{"insert_into_select", "INSERT INTO shipping_details\n(order_id,\naddress)\nSELECT order_id,\naddress\nFROM   orders\nWHERE  order_id = 1",
		"INSERT INTO shipping_details\n(order_id,\naddress)\nSELECT order_id,\naddress\nFROM   orders\nWHERE  order_id = ?", "INSERT shipping_details SELECT orders"},
	{"select_nested_query", "SELECT order_date\nFROM   (SELECT *\nFROM   orders o\nJOIN customers c\nON o.customer_id = c.customer_id)",
		"SELECT order_date\nFROM   (SELECT *\nFROM   orders o\nJOIN customers c\nON o.customer_id = c.customer_id)", "SELECT SELECT orders customers"},
	{"select_nested_query_case_preserved", "SELEcT order_date\nFROM   (sELECT *\nFROM   orders o\nJOIN customers c\nON o.customer_id = c.customer_id)",
		"SELEcT order_date\nFROM   (sELECT *\nFROM   orders o\nJOIN customers c\nON o.customer_id = c.customer_id)", "SELEcT sELECT orders customers"},
	{"case_preserved", "SELEcT order_date\nFROM ORders", "SELEcT order_date\nFROM ORders", "SELEcT ORders"},
	{"cross_join", "SELECT * FROM Orders o CROSS JOIN OrderDetails od", "SELECT * FROM Orders o CROSS JOIN OrderDetails od", "SELECT Orders OrderDetails"},
	{"cross_join_comma_separated_syntax", "SELECT * FROM Orders o, OrderDetails od", "SELECT * FROM Orders o, OrderDetails od", "SELECT Orders OrderDetails"},
	{"create_table", "CREATE  TABLE MyTable (\n    ID NOT NULL IDENTITY(1,1) PRIMARY KEY\n)", "CREATE  TABLE MyTable (\n    ID NOT NULL IDENTITY(?,?) PRIMARY KEY\n)", "CREATE TABLE MyTable"},
	{"alter_table", "ALTER  TABLE MyTable ADD Name varchar(255)", "ALTER  TABLE MyTable ADD Name varchar(?)", "ALTER TABLE MyTable"},
	{"drop_table", "DROP  TABLE MyTable", "DROP  TABLE MyTable", "DROP TABLE MyTable"},
	{"keyword_prefix_for_target", "SELECT * FROM SelectedData", "SELECT * FROM SelectedData", "SELECT SelectedData"},
	{"summary_truncated", "SELECT * FROM " + strings.Repeat("v", 250) + " o, OrderDetails od", "SELECT * FROM " + strings.Repeat("v", 250) + " o, OrderDetails od", "SELECT"},
	{"create_unique_clustered_index", "CREATE UNIQUE CLUSTERED INDEX IX_Employee_Email ON Employees (Email);", "CREATE UNIQUE CLUSTERED INDEX IX_Employee_Email ON Employees (Email);", "CREATE INDEX IX_Employee_Email"},
	{"select_distinct", "SELECT DISTINCT Country FROM Countries", "SELECT DISTINCT Country FROM Countries", "SELECT Countries"},
	{"select_distinct_with_join", "SELECT DISTINCT o.Id FROM Orders o JOIN Customers c ON o.CustomerId = c.Id", "SELECT DISTINCT o.Id FROM Orders o JOIN Customers c ON o.CustomerId = c.Id", "SELECT Orders Customers"},
	{"create_table_with_if_not_exists", "CREATE TABLE IF NOT EXISTS Users (Id INT PRIMARY KEY, Name NVARCHAR(100));", "CREATE TABLE IF NOT EXISTS Users (Id INT PRIMARY KEY, Name NVARCHAR(?));", "CREATE TABLE Users"},
	{"create_view_with_select", "CREATE VIEW ActiveUsers AS SELECT * FROM Users WHERE IsActive = 1;", "CREATE VIEW ActiveUsers AS SELECT * FROM Users WHERE IsActive = ?;", "CREATE VIEW ActiveUsers"},
	{"alter_table_rename_column", "ALTER TABLE Orders RENAME COLUMN OldName TO NewName;", "ALTER TABLE Orders RENAME COLUMN OldName TO NewName;", "ALTER TABLE Orders"},
	{"create_trigger_on_table", "CREATE TRIGGER trg_UpdateTimestamp ON Orders AFTER UPDATE AS BEGIN UPDATE Orders SET UpdatedAt = GETDATE() WHERE Id IN (SELECT Id FROM inserted); END;",
		"CREATE TRIGGER trg_UpdateTimestamp ON Orders AFTER UPDATE AS BEGIN UPDATE Orders SET UpdatedAt = GETDATE() WHERE Id IN (SELECT Id FROM inserted); END;", "CREATE TRIGGER trg_UpdateTimestamp"},
	{"create_index_with_include", "CREATE INDEX IX_Orders_CustomerId ON Orders (CustomerId) INCLUDE (OrderDate, TotalAmount);", "CREATE INDEX IX_Orders_CustomerId ON Orders (CustomerId) INCLUDE (OrderDate, TotalAmount);", "CREATE INDEX IX_Orders_CustomerId"},
}

func TestOTelCases(t *testing.T) {
	for _, c := range otelCases {
		t.Run(c.name, func(t *testing.T) {
			got := Parse(c.in)
			if got.Text != c.text {
				t.Errorf("text:\n got %q\nwant %q", got.Text, c.text)
			}
			if got.Summary != c.summary {
				t.Errorf("summary: got %q, want %q", got.Summary, c.summary)
			}
		})
	}
}

func TestPostgres(t *testing.T) {
	cases := []struct {
		name, in, text, summary, op string
		param                       bool
	}{
		{"parameterized as-is", "SELECT * FROM users WHERE id = $1 AND name = 'x'", "SELECT * FROM users WHERE id = $1 AND name = 'x'", "SELECT users", "SELECT", true},
		{"escape string", `SELECT E'it\'s', 1`, "SELECT ?, ?", "SELECT", "SELECT", false},
		{"dollar quoted", "SELECT $$secret$$, $tag$a$b$tag$ FROM t", "SELECT ?, ? FROM t", "SELECT t", "SELECT", false},
		{"bit and unicode strings", "SELECT B'101', X'1F', U&'d\\0061t'", "SELECT ?, ?, ?", "SELECT", "SELECT", false},
		{"quoted identifiers", `SELECT "a b".c FROM "My Schema"."T"`, `SELECT "a b".c FROM "My Schema"."T"`, `SELECT "My Schema"."T"`, "SELECT", false},
		{"expression not literal", "SELECT a-1, (b)-2 FROM t", "SELECT a-?, (b)-? FROM t", "SELECT t", "SELECT", false},
		{"cast", "SELECT '1'::int", "SELECT ?::int", "SELECT", "SELECT", false},
		{"update", "UPDATE accounts SET balance = balance - 10 WHERE id = 3", "UPDATE accounts SET balance = balance - ? WHERE id = ?", "UPDATE accounts", "UPDATE", false},
		{"delete", "DELETE FROM sessions WHERE expires < now()", "DELETE FROM sessions WHERE expires < now()", "DELETE sessions", "DELETE", false},
		{"begin", "BEGIN", "BEGIN", "BEGIN", "BEGIN", false},
		{"multi statement", "SELECT 1; SELECT 2", "SELECT ?; SELECT ?", "SELECT SELECT", "", false},
		{"trailing semicolon", "SELECT 1;", "SELECT ?;", "SELECT", "SELECT", false},
		{"copy", "COPY items FROM STDIN", "COPY items FROM STDIN", "COPY items", "COPY", false},
		{"truncate", "TRUNCATE TABLE items", "TRUNCATE TABLE items", "TRUNCATE items", "TRUNCATE", false},
		{"in with params stays", "SELECT * FROM t WHERE a IN ($1, $2)", "SELECT * FROM t WHERE a IN ($1, $2)", "SELECT t", "SELECT", true},
		{"in with subquery", "SELECT * FROM t WHERE a IN (SELECT b FROM u WHERE c = 5)", "SELECT * FROM t WHERE a IN (SELECT b FROM u WHERE c = ?)", "SELECT t SELECT u", "SELECT", false},
		{"on conflict", "INSERT INTO t VALUES ($1) ON CONFLICT (id) DO UPDATE SET n = 1", "INSERT INTO t VALUES ($1) ON CONFLICT (id) DO UPDATE SET n = 1", "INSERT t", "INSERT", true},
		{"on conflict nothing", "INSERT INTO t VALUES (1) ON CONFLICT DO NOTHING", "INSERT INTO t VALUES (?) ON CONFLICT DO NOTHING", "INSERT t", "INSERT", false},
		{"for update", "SELECT * FROM t FOR NO KEY UPDATE", "SELECT * FROM t FOR NO KEY UPDATE", "SELECT t", "SELECT", false},
		{"cte", "WITH x AS (DELETE FROM t RETURNING *) SELECT * FROM x", "WITH x AS (DELETE FROM t RETURNING *) SELECT * FROM x", "DELETE t SELECT x", "DELETE", false},
		{"set after statement", "BEGIN; SET LOCAL x = 1", "BEGIN; SET LOCAL x = ?", "BEGIN SET", "", false},
		{"unterminated", "SELECT 'abc", "SELECT ?", "SELECT", "SELECT", false},
		{"nested comment", "SELECT /* a /* b */ c */ 1", "SELECT  ?", "SELECT", "SELECT", false},
		{"empty", "", "", "", "", false},
		{"unknown verb", "frobnicate 1", "frobnicate ?", "", "", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := Parse(c.in)
			if got.Text != c.text || got.Summary != c.summary || got.Operation != c.op || got.Parameterized != c.param {
				t.Errorf("Parse(%q) = %+v, want text %q summary %q op %q param %v", c.in, got, c.text, c.summary, c.op, c.param)
			}
		})
	}
}

func TestKind(t *testing.T) {
	for in, want := range map[string]Kind{
		"select 1": KindSelect, "INSERT INTO t VALUES (1)": KindInsert, "update t set a=1": KindUpdate,
		"delete from t": KindDelete, "commit": KindCommit, "rollback": KindRollback, "begin": KindBegin,
		"create table t (a int)": KindDDL, "show all": KindOther, "select 1; select 2": KindOther,
	} {
		if got := Parse(in).Kind; got != want {
			t.Errorf("%q: kind %v, want %v", in, got, want)
		}
	}
	if KindSelect.String() != "SELECT" || Kind(200).String() != "" {
		t.Error("Kind.String")
	}
	if Parse("SELECT 1; SELECT 2;").Statements != 2 || Parse("SELECT 1").Statements != 1 || Parse("").Statements != 0 {
		t.Error("Statements")
	}
	if Sanitize("SELECT 1") != "SELECT ?" {
		t.Error("Sanitize")
	}
}

func TestCacheBounded(t *testing.T) {
	c := NewCache(8)
	for i := range 100 {
		info := c.Get("SELECT " + strconv.Itoa(i))
		if info.Text != "SELECT ?" {
			t.Fatalf("text %q", info.Text)
		}
	}
	if n := c.Len(); n > 8 {
		t.Fatalf("cache holds %d entries, limit 8", n)
	}
	a, b := c.Get("SELECT 99"), c.Get("SELECT 99")
	if a != b {
		t.Fatal("hit returned a different entry")
	}
	if n := testing.AllocsPerRun(100, func() { c.Get("SELECT 99") }); n != 0 {
		t.Fatalf("cache hit allocates %v", n)
	}
	if NewCache(0).max != 1024 {
		t.Fatal("default size")
	}
	long := "INSERT INTO t VALUES (1)" + strings.Repeat(", (1)", MaxCachedText/5)
	before := c.Len()
	if info := c.Get(long); info.Operation != "INSERT" || c.Len() != before {
		t.Fatalf("a %d-byte text: operation %q, cache %d -> %d entries", len(long), info.Operation, before, c.Len())
	}
}

func BenchmarkCacheHit(b *testing.B) {
	c := NewCache(0)
	q := "SELECT * FROM users WHERE id = $1"
	c.Get(q)
	b.ReportAllocs()
	for b.Loop() {
		c.Get(q)
	}
}
