package retry_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/DATA-DOG/go-sqlmock"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pgprovider/pgprovider"
	"github.com/pgprovider/pgprovider/middleware"
	"github.com/pgprovider/pgprovider/pgerror"
	"github.com/pgprovider/pgprovider/retry"
)

var attemptFrom = retry.AttemptFrom

func pgErr(code string) error {
	return &pgconn.PgError{Severity: "ERROR", Code: code, Message: "injected " + code}
}

var (
	errUnknown = &pgerror.OutcomeUnknownError{Op: middleware.OpExec, Err: io.ErrUnexpectedEOF}
	fast       = retry.WithInterval(time.Millisecond, 2*time.Millisecond)
)

func TestStatementRetry(t *testing.T) {
	cached := &pgconn.PgError{Code: "0A000", Message: "cached plan must not change result type"}
	tests := []struct {
		name       string
		errs       []error // per attempt; the attempt after the last error succeeds
		opts       []retry.Option
		idempotent bool
		want       int   // attempts that reach the executor
		runs       int   // statements the backend runs, when not want
		wantErr    error // nil: success
	}{
		{name: "40001 retried", errs: []error{pgErr("40001")}, want: 2},
		{name: "40P01 twice", errs: []error{pgErr("40P01"), pgErr("40P01")}, want: 3},
		{name: "57P01 retried", errs: []error{pgErr("57P01")}, want: 2},
		{name: "57P05 retried", errs: []error{pgErr("57P05")}, want: 2},
		{name: "53300 retried", errs: []error{pgErr("53300")}, want: 2},
		{name: "bad conn retried", errs: []error{driver.ErrBadConn}, want: 2},
		{name: "23505 permanent", errs: []error{pgErr("23505")}, want: 1, wantErr: pgErr("23505")},
		{name: "42P01 permanent", errs: []error{pgErr("42P01")}, want: 1, wantErr: pgErr("42P01")},
		{name: "25P02 permanent", errs: []error{pgErr("25P02")}, want: 1, wantErr: pgErr("25P02")},
		{name: "57014 permanent", errs: []error{pgErr("57014")}, want: 1, wantErr: pgErr("57014")},
		{name: "outcome unknown not retried", errs: []error{errUnknown}, want: 1, wantErr: errUnknown},
		{name: "outcome unknown idempotent", errs: []error{errUnknown}, idempotent: true, want: 2},
		// A stale plan is run once more by the driver itself, described afresh (the executor,
		// below the middleware), never by retry.
		{name: "26000 repaired by the driver only", errs: []error{pgErr("26000"), pgErr("26000")}, want: 1, runs: 2, wantErr: pgErr("26000")},
		{name: "cached plan repaired by the driver", errs: []error{cached}, want: 1, runs: 2},
		{name: "other 0A000 permanent", errs: []error{pgErr("0A000")}, want: 1, wantErr: pgErr("0A000")},
		{name: "max attempts", errs: []error{pgErr("40001"), pgErr("40001"), pgErr("40001"), pgErr("40001")},
			opts: []retry.Option{retry.WithMaxAttempts(3)}, want: 3, wantErr: pgErr("40001")},
		{name: "max attempts 1", errs: []error{pgErr("40001")}, opts: []retry.Option{retry.WithMaxAttempts(0)}, want: 1, wantErr: pgErr("40001")},
		{name: "extra code", errs: []error{pgErr("55P03")}, opts: []retry.Option{retry.WithCodes("55P03")}, want: 2},
		{name: "extra code absent", errs: []error{pgErr("55P03")}, want: 1, wantErr: pgErr("55P03")},
		{name: "custom predicate", errs: []error{pgErr("40001")},
			opts: []retry.Option{retry.WithRetryIf(func(error) bool { return false })}, want: 1, wantErr: pgErr("40001")},
		{name: "max elapsed", errs: []error{pgErr("40001")},
			opts: []retry.Option{retry.WithInterval(50*time.Millisecond, time.Second), retry.WithMaxElapsedTime(time.Millisecond)}, want: 1, wantErr: pgErr("40001")},
	}
	for _, tt := range tests {
		for _, kind := range []string{"exec", "query"} {
			t.Run(tt.name+"/"+kind, func(t *testing.T) {
				c := &counter{}
				db, mock := newMock(t, retry.New(append([]retry.Option{fast}, tt.opts...)...), c.mw())
				const q = "UPDATE t SET n = n + 1"
				runs := tt.want
				if tt.runs != 0 {
					runs = tt.runs
				}
				for i := 0; i < runs; i++ {
					var err error
					if i < len(tt.errs) {
						err = tt.errs[i]
					}
					switch {
					case kind == "exec" && err != nil:
						mock.ExpectExec(q).WillReturnError(err)
					case kind == "exec":
						mock.ExpectExec(q).WillReturnResult(sqlmock.NewResult(0, 1))
					case err != nil:
						mock.ExpectQuery(q).WillReturnError(err)
					default:
						mock.ExpectQuery(q).WillReturnRows(sqlmock.NewRows([]string{"n"}).AddRow(1))
					}
				}
				ctx := context.Background()
				if tt.idempotent {
					ctx = retry.Idempotent(ctx)
				}
				var err error
				if kind == "exec" {
					_, err = db.ExecContext(ctx, q)
				} else {
					var n int
					err = db.QueryRowContext(ctx, q).Scan(&n)
				}
				checkErr(t, err, tt.wantErr)
				if merr := mock.ExpectationsWereMet(); merr != nil {
					t.Fatal(merr)
				}
				got := c.execs.Load() + c.queries.Load()
				if got != int64(tt.want) {
					t.Fatalf("attempts = %d, want %d", got, tt.want)
				}
			})
		}
	}
}

// checkErr asserts err matches want: the same SQLSTATE, as a *pgconn.PgError of unchanged type.
func checkErr(t *testing.T, err, want error) {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Fatalf("err = %v, want success", err)
		}
		return
	}
	var wp *pgconn.PgError
	if errors.As(want, &wp) {
		pe, ok := err.(*pgconn.PgError) // the concrete type is unchanged
		if !ok || pe.Code != wp.Code {
			t.Fatalf("err = %T %v, want *pgconn.PgError %s", err, err, wp.Code)
		}
		return
	}
	if !errors.Is(err, want) {
		t.Fatalf("err = %v, want %v", err, want)
	}
}

func TestNoRetryInTransaction(t *testing.T) {
	c := &counter{}
	db, mock := newMock(t, retry.New(fast), c.mw())
	mock.ExpectBegin()
	mock.ExpectExec("UPDATE t SET n = n + 1").WillReturnError(pgErr("40001"))
	mock.ExpectRollback()
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	_, err = tx.Exec("UPDATE t SET n = n + 1")
	checkErr(t, err, pgErr("40001"))
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if got := c.execs.Load(); got != 1 {
		t.Fatalf("execs = %d, want 1", got)
	}
	if err := mock.ExpectationsWereMet(); err != nil {
		t.Fatal(err)
	}
}

func TestContextCanceledDuringBackoff(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	db, mock := newMock(t, retry.New(
		retry.WithInterval(time.Minute, time.Minute),
		retry.WithMaxElapsedTime(0),
		retry.WithJitter(0),
		retry.WithOnAttempt(func(_ context.Context, a retry.Attempt) {
			if a.Retry {
				cancel() // the wait is one minute: only the context can end it
			}
		})))
	mock.ExpectExec("UPDATE t SET n = n + 1").WillReturnError(pgErr("40001"))
	start := time.Now()
	_, err := db.ExecContext(ctx, "UPDATE t SET n = n + 1")
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("returned after %v", d)
	}
	var pe *pgconn.PgError
	var re *retry.Error
	if !errors.Is(err, context.Canceled) || !errors.As(err, &pe) || pe.Code != "40001" || !errors.As(err, &re) || re.Attempts != 1 {
		t.Fatalf("err = %v, want context.Canceled and the 40001 after 1 attempt", err)
	}
}

func TestAttemptsVisible(t *testing.T) {
	c := &counter{}
	var seen []retry.Attempt
	db, mock := newMock(t, retry.New(fast, retry.WithOnAttempt(func(_ context.Context, a retry.Attempt) { seen = append(seen, a) })), c.mw())
	mock.ExpectExec("DELETE FROM t").WillReturnError(pgErr("40001"))
	mock.ExpectExec("DELETE FROM t").WillReturnError(pgErr("40P01"))
	mock.ExpectExec("DELETE FROM t").WillReturnResult(sqlmock.NewResult(0, 1))
	if _, err := db.Exec("DELETE FROM t"); err != nil {
		t.Fatal(err)
	}
	if len(c.attempts) != 3 || c.attempts[0] != 1 || c.attempts[1] != 2 || c.attempts[2] != 3 {
		t.Fatalf("AttemptFrom per attempt = %v, want [1 2 3]", c.attempts)
	}
	if len(seen) != 3 || !seen[0].Retry || !seen[1].Retry || seen[2].Err != nil || seen[2].N != 3 || seen[0].Op != middleware.OpExec {
		t.Fatalf("OnAttempt saw %+v", seen)
	}
}

// database/sql repeats a call that ends in driver.ErrBadConn: up to 3 calls, each running the
// retry loop. The statement never ran, so nothing is applied twice; the attempts multiply.
func TestComposesWithDatabaseSQLBadConnRetries(t *testing.T) {
	c := &counter{}
	db, mock := newMock(t, retry.New(fast, retry.WithMaxAttempts(2)), c.mw())
	for i := 0; i < 6; i++ {
		mock.ExpectExec("UPDATE t SET n = n + 1").WillReturnError(driver.ErrBadConn)
	}
	_, err := db.Exec("UPDATE t SET n = n + 1")
	if !errors.Is(err, driver.ErrBadConn) {
		t.Fatalf("err = %v", err)
	}
	if got := c.execs.Load(); got != 6 {
		t.Fatalf("executor attempts = %d, want 3 database/sql calls × 2 attempts = 6", got)
	}
	if err := mock.ExpectationsWereMet(); err != nil {
		t.Fatal(err)
	}
}

func TestRowsFailingMidStreamNotReexecuted(t *testing.T) {
	c := &counter{}
	db, mock := newMock(t, retry.New(fast), c.mw())
	mock.ExpectQuery("SELECT n FROM t").WillReturnRows(
		sqlmock.NewRows([]string{"n"}).AddRow(1).AddRow(2).RowError(1, pgErr("40001")))
	rows, err := db.Query("SELECT n FROM t")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for rows.Next() {
		n++
	}
	checkErr(t, rows.Err(), pgErr("40001"))
	_ = rows.Close()
	if n != 1 || c.queries.Load() != 1 {
		t.Fatalf("rows = %d, queries = %d; want 1 row, 1 query", n, c.queries.Load())
	}
}

func TestBeginAndPrepareRetried(t *testing.T) {
	c := &counter{}
	db, mock := newMock(t, retry.New(fast), c.mw())
	mock.ExpectBegin().WillReturnError(pgErr("57P03"))
	mock.ExpectBegin()
	mock.ExpectRollback()
	mock.ExpectPrepare("SELECT 1").WillReturnError(pgErr("53300"))
	mock.ExpectPrepare("SELECT 1").WillBeClosed()
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	_ = tx.Rollback()
	st, err := db.Prepare("SELECT 1")
	if err != nil {
		t.Fatal(err)
	}
	_ = st.Close()
	if c.begins.Load() != 2 {
		t.Fatalf("begins = %d", c.begins.Load())
	}
	if err := mock.ExpectationsWereMet(); err != nil {
		t.Fatal(err)
	}
}

// flakyConnector fails the first n connects with err.
type flakyConnector struct {
	dsnConnector
	mu  sync.Mutex
	n   int
	err error
}

func (f *flakyConnector) Connect(ctx context.Context) (driver.Conn, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.n > 0 {
		f.n--
		return nil, f.err
	}
	return f.dsnConnector.Connect(ctx)
}

func TestConnectRetried(t *testing.T) {
	tests := []struct {
		name  string
		err   error
		fails int
		want  int64 // connect attempts
		ok    bool
	}{
		{"cannot connect now", pgErr("57P03"), 2, 3, true},
		{"too many connections", pgErr("53300"), 1, 2, true},
		{"bad password", pgErr("28P01"), 1, 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dsn := "retry_connect_" + tt.name
			mdb, _, err := sqlmock.NewWithDSN(dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer mdb.Close()
			c := &counter{}
			fc := &flakyConnector{dsnConnector: dsnConnector{mdb.Driver(), dsn}, n: tt.fails, err: tt.err}
			db, err := pgprovider.Open("", pgprovider.WithBackend(fc), pgprovider.WithMiddleware(retry.New(fast), c.mw()))
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			err = db.Ping()
			if (err == nil) != tt.ok || c.connects.Load() != tt.want {
				t.Fatalf("err = %v, connects = %d; want ok=%v, %d", err, c.connects.Load(), tt.ok, tt.want)
			}
		})
	}
}

// Every call builds its own backoff: 100 goroutines retrying at once share nothing (-race).
func TestConcurrentCallsShareNoBackoff(t *testing.T) {
	exec := retry.New(fast).Wrappers(nil).Exec(flakyExec)
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for i := 0; i < 100; i++ {
		wg.Go(func() {
			ctx := context.WithValue(context.Background(), failKey{}, new(int))
			if _, err := exec(ctx, middleware.Statement{Op: middleware.OpExec, SQL: "x"}); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

type failKey struct{}

// flakyExec fails each call's first two attempts with 40001 (counted in the context).
func flakyExec(ctx context.Context, s middleware.Statement) (driver.Result, error) {
	n := ctx.Value(failKey{}).(*int)
	if *n++; *n <= 2 {
		return nil, pgErr("40001")
	}
	return driver.RowsAffected(1), nil
}

var _ = sql.ErrNoRows

func pgErrCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}
