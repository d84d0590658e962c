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

// wrapBegin starts the transaction span, which stays open until COMMIT or ROLLBACK; the
// statements of the transaction become its children.
func (m *Middleware) wrapBegin(next middleware.BeginFunc) middleware.BeginFunc {
	return func(ctx context.Context, b middleware.Begin) error {
		sctx, ok := m.parent(ctx, optionsFrom(ctx).off, nil, false)
		var span trace.Span
		if ok {
			parent := trace.SpanContextFromContext(ctx)
			opts := m.txOpts
			if ns := m.namespace(ctx, b.State); ns != m.dbName {
				opts = m.txStartOpts(ns)
			}
			sctx, span = m.tracer.Start(sctx, txSpanName, opts...)
			defer func() {
				if span == nil {
					return
				}
				m.mu.Lock()
				old, dup := m.txs[b.Session.ID()]
				m.txs[b.Session.ID()] = txEntry{span: span, parent: parent}
				m.mu.Unlock()
				if !dup {
					m.openTxs.Add(1)
				}
				if dup { // the previous transaction of this session never ended through the chain
					old.span.End()
				}
			}()
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
			span = nil
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
		var tx txEntry
		var hasTx bool
		if m.openTxs.Load() > 0 {
			m.mu.Lock()
			tx, hasTx = m.txs[c.Session.ID()]
			delete(m.txs, c.Session.ID())
			m.mu.Unlock()
			if hasTx {
				m.openTxs.Add(-1)
			}
		}
		sctx := ctx
		var span trace.Span
		if hasTx {
			sctx = trace.ContextWithSpan(ctx, tx.span)
		}
		if pctx, ok := m.parent(sctx, optionsFrom(ctx).off, nil, false); ok {
			sctx, span = m.tracer.Start(pctx, op, opts...)
		}
		clock, timed := span.(spanClock)
		var t time.Duration
		if !timed && m.rec != nil {
			t = mono()
		}
		err := next(sctx, c)
		if span != nil {
			end(span, err)
		}
		m.observe(k, err, clock, t)
		if hasTx {
			end(tx.span, err)
		}
		return err
	}
}

// wrapResetSession ends a transaction span left open on a session that database/sql is
// reusing (its transaction ended without COMMIT or ROLLBACK reaching the chain, for example
// when the connection broke). It adds no span of its own.
func (m *Middleware) wrapResetSession(next middleware.CallFunc) middleware.CallFunc {
	return func(ctx context.Context, c middleware.Call) error {
		if m.rec != nil {
			m.rec.CheckOut(c.Session.ID())
		}
		if m.openTxs.Load() == 0 { // no transaction span open anywhere: nothing can dangle
			return next(ctx, c)
		}
		m.mu.Lock()
		tx, ok := m.txs[c.Session.ID()]
		delete(m.txs, c.Session.ID())
		m.mu.Unlock()
		if ok {
			m.openTxs.Add(-1)
			tx.span.End()
		}
		return next(ctx, c)
	}
}
