package retry_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/DATA-DOG/go-sqlmock"
	"github.com/pgprovider/pgprovider/middleware"
	"github.com/pgprovider/pgprovider/pgerror"
	"github.com/pgprovider/pgprovider/retry"
)

func TestTxRetry(t *testing.T) {
	commitUnknown := &pgerror.OutcomeUnknownError{Op: middleware.OpCommit, Err: io.ErrUnexpectedEOF}
	const q = "UPDATE t SET n = n + 1"
	type step struct{ execErr, commitErr error }
	tests := []struct {
		name        string
		steps       []step // one per attempt
		wantErr     error
		wantUnknown bool
	}{
		{name: "40001 in fn", steps: []step{{execErr: pgErr("40001")}, {}}},
		{name: "40P01 in fn", steps: []step{{execErr: pgErr("40P01")}, {}}},
		{name: "40001 at commit", steps: []step{{commitErr: pgErr("40001")}, {}}},
		{name: "connection lost before commit", steps: []step{{execErr: errUnknown}, {}}},
		{name: "commit never sent", steps: []step{{commitErr: driver.ErrBadConn}, {}}},
		{name: "23505 permanent", steps: []step{{execErr: pgErr("23505")}}, wantErr: pgErr("23505")},
		{name: "deferred constraint at commit", steps: []step{{commitErr: pgErr("23503")}}, wantErr: pgErr("23503")},
		{name: "commit outcome unknown", steps: []step{{commitErr: commitUnknown}}, wantUnknown: true},
		{name: "commit 57P01", steps: []step{{commitErr: pgErr("57P01")}}, wantUnknown: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, mock := newMock(t)
			for _, s := range tt.steps {
				mock.ExpectBegin()
				if s.execErr != nil {
					mock.ExpectExec(q).WillReturnError(s.execErr)
					mock.ExpectRollback()
					continue
				}
				mock.ExpectExec(q).WillReturnResult(sqlmock.NewResult(0, 1))
				if s.commitErr != nil {
					mock.ExpectCommit().WillReturnError(s.commitErr)
				} else {
					mock.ExpectCommit()
				}
			}
			var txs []*sql.Tx
			err := retry.Tx(context.Background(), db, nil, func(tx *sql.Tx) error {
				txs = append(txs, tx)
				_, err := tx.Exec(q)
				return err
			}, fast)
			switch {
			case tt.wantUnknown:
				if !errors.Is(err, retry.ErrCommitOutcomeUnknown) || !errors.Is(err, pgerror.OutcomeUnknown) {
					t.Fatalf("err = %v, want commit outcome unknown", err)
				}
				if errors.Unwrap(err) == nil {
					t.Fatalf("errors.Unwrap(%v) = nil, want COMMIT's error", err)
				}
			default:
				checkErr(t, err, tt.wantErr)
			}
			if len(txs) != len(tt.steps) {
				t.Fatalf("fn ran %d times, want %d", len(txs), len(tt.steps))
			}
			if len(txs) == 2 && txs[0] == txs[1] {
				t.Fatal("the closure saw the same *sql.Tx twice")
			}
			if err := mock.ExpectationsWereMet(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestTxPanicRollsBackAndRepanics(t *testing.T) {
	db, mock := newMock(t)
	mock.ExpectBegin()
	mock.ExpectRollback()
	defer func() {
		if p := recover(); p != "boom" {
			t.Fatalf("recovered %v, want boom", p)
		}
		if err := mock.ExpectationsWereMet(); err != nil {
			t.Fatal(err)
		}
	}()
	_ = retry.Tx(context.Background(), db, nil, func(*sql.Tx) error { panic("boom") })
	t.Fatal("Tx returned")
}

// Tx waits between attempts holding no connection: with a pool of one, another caller
// runs while Tx waits (the hook runs just before the wait).
func TestTxReleasesConnectionWhileWaiting(t *testing.T) {
	db, mock := newMock(t)
	mock.ExpectBegin()
	mock.ExpectExec("X").WillReturnError(pgErr("40001"))
	mock.ExpectRollback()
	mock.ExpectExec("OTHER").WillReturnResult(sqlmock.NewResult(0, 1))
	mock.ExpectBegin()
	mock.ExpectExec("X").WillReturnResult(sqlmock.NewResult(0, 1))
	mock.ExpectCommit()
	var otherErr error = errors.New("hook not run")
	err := retry.Tx(context.Background(), db, nil, func(tx *sql.Tx) error {
		_, err := tx.Exec("X")
		return err
	}, fast, retry.WithOnAttempt(func(ctx context.Context, a retry.Attempt) {
		if a.Retry {
			ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			_, otherErr = db.ExecContext(ctx, "OTHER")
		}
	}))
	if err != nil || otherErr != nil {
		t.Fatalf("tx: %v, other caller: %v", err, otherErr)
	}
	if err := mock.ExpectationsWereMet(); err != nil {
		t.Fatal(err)
	}
}

func TestTxContextCanceledDuringBackoff(t *testing.T) {
	db, mock := newMock(t)
	mock.ExpectBegin()
	mock.ExpectExec("X").WillReturnError(pgErr("40001"))
	mock.ExpectRollback()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	err := retry.Tx(ctx, db, nil, func(tx *sql.Tx) error {
		_, err := tx.Exec("X")
		return err
	}, retry.WithInterval(time.Minute, time.Minute), retry.WithMaxElapsedTime(0),
		retry.WithOnAttempt(func(context.Context, retry.Attempt) { cancel() }))
	if !errors.Is(err, context.Canceled) || pgErrCode(err) != "40001" {
		t.Fatalf("err = %v", err)
	}
}
