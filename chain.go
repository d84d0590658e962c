package pgprovider

import (
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"

	"github.com/pgprovider/pgprovider/middleware"
)

// ErrMiddleware is matched (errors.Is) by the error [NewConnector], [Open] and the first
// connection of a registered driver return for a middleware list the driver cannot use: a
// middleware that wraps nothing, one with a method that looks like a wrapper but is never
// called (WrapExec, a leftover of another API or a typo), or ranked middleware out of the
// recommended order (observability, retry, tenancy, replica routing). The message names the
// middleware's place in the list, its kind and its type.
var ErrMiddleware = errors.New("pgprovider: invalid middleware")

// chain is the Connector's middleware composed around the executor, once, when the Connector
// is built: one function per operation, the executor's own where no middleware wraps it.
//
//	request ──► mw[0] ──► mw[1] ──► … ──► executor ──► backend (pgx)
//	result  ◄── mw[0] ◄── mw[1] ◄── … ◄──
//
// An empty chain is the executor's functions themselves: a statement goes from the session to
// the executor in one call.
type chain struct {
	connect, ping, reset, commit, rollback, stmtClose, raw, release middleware.CallFunc
	begin                                                           middleware.BeginFunc
	prepare                                                         middleware.PrepareFunc
	exec                                                            middleware.ExecFunc
	query                                                           middleware.QueryFunc
	rowsEnd                                                         middleware.RowsEndFunc

	// rowsEnded and released say whether a middleware wraps OpRowsEnd and OpRelease: a
	// result set then keeps what OpRowsEnd reports, and IsValid runs OpRelease.
	rowsEnded, released bool
	mws                 []middleware.Middleware
}

// rankNames names the kinds of middleware the ranks stand for, in error messages.
var rankNames = map[middleware.Rank]string{
	middleware.RankObserve: "observability", middleware.RankRetry: "retry",
	middleware.RankTenancy: "tenancy", middleware.RankRouting: "replica routing",
}

// describe names a middleware in an error: its place in the list, its kind when ranked, its
// type.
func describe(i int, mw middleware.Middleware, r middleware.Rank) string {
	if name, ok := rankNames[r]; ok {
		return fmt.Sprintf("middleware %d (%s, %T)", i+1, name, mw)
	}
	return fmt.Sprintf("middleware %d (%T)", i+1, mw)
}

// newChain composes mws (outermost first; nil entries skipped) around the executor, for the
// Connector ctr.
func newChain(mws []middleware.Middleware, ctr middleware.Connector) (*chain, error) {
	c := &chain{
		connect: execConnect, ping: execPing, reset: execReset, commit: execCommit,
		rollback: execRollback, stmtClose: execStmtClose, raw: execRaw, release: execRelease,
		begin: execBegin, prepare: execPrepare, exec: execExec, query: execQuery, rowsEnd: execRowsEnd,
	}
	var ws []middleware.Wrappers
	var lastRank middleware.Rank
	var lastName string
	for i, mw := range mws {
		if mw == nil || reflect.ValueOf(mw).Kind() == reflect.Pointer && reflect.ValueOf(mw).IsNil() {
			continue
		}
		if err := checkMethods(mw); err != nil {
			return nil, err
		}
		w := mw.Wrappers(ctr)
		if wrapsNothing(w) {
			return nil, fmt.Errorf("%w: %s wraps no operation", ErrMiddleware, describe(i, mw, w.Rank))
		}
		if w.Rank != 0 {
			if w.Rank < lastRank {
				return nil, fmt.Errorf("%w: %s is listed after %s; the recommended order is observability, retry, tenancy, replica routing",
					ErrMiddleware, describe(i, mw, w.Rank), lastName)
			}
			lastRank, lastName = w.Rank, describe(i, mw, w.Rank)
		}
		c.mws = append(c.mws, mw)
		ws = append(ws, w)
	}
	for i := len(ws) - 1; i >= 0; i-- { // innermost (last listed) first
		c.wrap(ws[i])
	}
	return c, nil
}

// wrapsNothing reports Wrappers whose every wrapper is nil.
func wrapsNothing(w middleware.Wrappers) bool {
	v := reflect.ValueOf(w)
	for i := 0; i < v.NumField(); i++ {
		if f := v.Field(i); f.Kind() == reflect.Func && !f.IsNil() {
			return false
		}
	}
	return true
}

// checkMethods refuses a middleware with an exported method named like a wrapper: the driver
// only calls Wrappers, so such a method (WrapExec, WrapQuerry) would silently do nothing.
func checkMethods(mw middleware.Middleware) error {
	t := reflect.TypeOf(mw)
	for i := 0; i < t.NumMethod(); i++ {
		if name := t.Method(i).Name; strings.HasPrefix(name, "Wrap") && name != "Wrappers" {
			return fmt.Errorf("%w: %T has a method %s, which the driver never calls: a middleware wraps operations through the fields of the middleware.Wrappers its Wrappers method returns",
				ErrMiddleware, mw, name)
		}
	}
	return nil
}

func (c *chain) wrap(w middleware.Wrappers) {
	call := func(dst *middleware.CallFunc, f func(middleware.CallFunc) middleware.CallFunc) {
		if f != nil {
			*dst = f(*dst)
		}
	}
	call(&c.connect, w.Connect)
	call(&c.ping, w.Ping)
	call(&c.reset, w.ResetSession)
	call(&c.commit, w.Commit)
	call(&c.rollback, w.Rollback)
	call(&c.stmtClose, w.StmtClose)
	call(&c.raw, w.Raw)
	call(&c.release, w.Release)
	if w.Begin != nil {
		c.begin = w.Begin(c.begin)
	}
	if w.Prepare != nil {
		c.prepare = w.Prepare(c.prepare)
	}
	if w.Exec != nil {
		c.exec = w.Exec(c.exec)
	}
	if w.Query != nil {
		c.query = w.Query(c.query)
	}
	if w.RowsEnd != nil {
		c.rowsEnd, c.rowsEnded = w.RowsEnd(c.rowsEnd), true
	}
	if w.Release != nil {
		c.released = true
	}
}

// close closes, in reverse order, every middleware that implements io.Closer, and returns the
// errors joined.
func (c *chain) close() error {
	var errs []error
	for i := len(c.mws) - 1; i >= 0; i-- {
		if cl, ok := c.mws[i].(io.Closer); ok {
			if err := cl.Close(); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}
