package pgotel

import (
	"context"
	"time"

	"github.com/pgprovider/pgprovider/internal/sqlscan"
	"github.com/pgprovider/pgprovider/middleware"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// txStartOpts returns the start options of a transaction span in namespace ns.
func (m *Middleware) txStartOpts(ns string) []trace.SpanStartOption {
	kv := append(make([]attribute.KeyValue, 0, len(m.base)+1), m.base...)
	if ns != "" {
		kv = append(kv, keyNamespace.String(ns))
	}
	return []trace.SpanStartOption{m.kind, trace.WithAttributes(kv...)}
}

// endTxOpts returns the start options of the COMMIT or ROLLBACK span.
func (m *Middleware) endTxOpts(op string) []trace.SpanStartOption {
	kv := append(make([]attribute.KeyValue, 0, len(m.base)+3), m.base...)
	if m.dbName != "" {
		kv = append(kv, keyNamespace.String(m.dbName))
	}
	kv = append(kv, keyOperation.String(op), keySummary.String(op))
	return []trace.SpanStartOption{m.kind, trace.WithAttributes(kv...)}
}

// txSpan is the context a transaction's BEGIN runs with: it carries the transaction span,
// found again by the statements of the transaction (middleware.Session.TxValue) and by COMMIT
// and ROLLBACK (their context has BEGIN's values), so that no map or lock is shared between
// sessions.
type txSpan struct {
	context.Context
	m      *Middleware
	span   trace.Span
	parent trace.SpanContext // the span current at BEGIN
}

type txSpanKey struct{ m *Middleware }

// Value returns the transaction span's record for this middleware's key.
func (t *txSpan) Value(key any) any {
	if k, ok := key.(txSpanKey); ok && k.m == t.m {
		return t
	}
	return t.Context.Value(key)
}

// txOf returns the transaction span record carried by v (a TxValue or a context's Value).
func (m *Middleware) txOf(v any) *txSpan {
	t, _ := v.(*txSpan)
	return t
}

// wrapBegin starts the transaction span, which stays open until COMMIT or ROLLBACK; the
// statements of the transaction become its children.
func (m *Middleware) wrapBegin(next middleware.BeginFunc) middleware.BeginFunc {
	return func(ctx context.Context, b middleware.Begin) error {
		sctx, ok := m.parent(ctx, optionsFrom(ctx).off, nil, false)
		var span trace.Span
		if ok {
			opts := m.txOpts
			if ns := m.namespace(ctx, b.State); ns != m.dbName {
				opts = m.txStartOpts(ns)
			}
			parent := trace.SpanContextFromContext(ctx)
			sctx, span = m.tracer.Start(sctx, txSpanName, opts...)
			sctx = &txSpan{Context: sctx, m: m, span: span, parent: parent}
		}
		clock, timed := span.(spanClock)
		var t time.Duration
		if !timed && m.rec != nil {
			t = mono()
		}
		err := next(sctx, b)
		m.observe(sqlscan.KindBegin, err, clock, t)
		if err != nil && span != nil {
			end(span, err)
		}
		return err
	}
}

// wrapCommit traces COMMIT as a child of the transaction span, then ends the latter.
func (m *Middleware) wrapCommit(next middleware.CallFunc) middleware.CallFunc {
	return m.endTx(next, "COMMIT", m.commitOpts, sqlscan.KindCommit)
}

// wrapRollback traces ROLLBACK as a child of the transaction span, then ends the latter.
func (m *Middleware) wrapRollback(next middleware.CallFunc) middleware.CallFunc {
	return m.endTx(next, "ROLLBACK", m.rollbackOpts, sqlscan.KindRollback)
}

func (m *Middleware) endTx(next middleware.CallFunc, op string, opts []trace.SpanStartOption, k sqlscan.Kind) middleware.CallFunc {
	return func(ctx context.Context, c middleware.Call) error {
		tx := m.txOf(ctx.Value(txSpanKey{m}))
		var span trace.Span
		if pctx, ok := m.parent(ctx, optionsFrom(ctx).off, nil, false); ok || tx != nil {
			if tx != nil {
				pctx = trace.ContextWithSpan(pctx, tx.span)
			}
			ctx, span = m.tracer.Start(pctx, op, opts...)
		}
		clock, timed := span.(spanClock)
		var t time.Duration
		if !timed && m.rec != nil {
			t = mono()
		}
		err := next(ctx, c)
		if span != nil {
			end(span, err)
		}
		m.observe(k, err, clock, t)
		if tx != nil {
			end(tx.span, err)
		}
		return err
	}
}

// wrapResetSession marks a checkout for the recorder's connection use time.
func (m *Middleware) wrapResetSession(next middleware.CallFunc) middleware.CallFunc {
	return func(ctx context.Context, c middleware.Call) error {
		m.rec.CheckOut(c.Session.ID())
		return next(ctx, c)
	}
}
