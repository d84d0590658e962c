package pgotel

import (
	"context"
	"time"

	"github.com/pgprovider/pgprovider/middleware"
	"github.com/pgprovider/pgprovider/middleware/internal/sqlsummary"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// WrapBegin starts the transaction span, which stays open until COMMIT or ROLLBACK; the
// statements of the transaction become its children.
func (m *Middleware) WrapBegin(next middleware.BeginFunc) middleware.BeginFunc {
	return func(ctx context.Context, b middleware.Begin) error {
		t := time.Now()
		sctx, ok := m.parent(ctx, nil, false)
		var span trace.Span
		if ok {
			parent := trace.SpanContextFromContext(ctx)
			kv := append(make([]attribute.KeyValue, 0, len(m.base)+2), m.base...)
			if ns := m.namespace(ctx, b.State); ns != "" {
				kv = append(kv, keyNamespace.String(ns))
			}
			sctx, span = m.tracer.Start(sctx, txSpanName, m.kind, trace.WithAttributes(kv...))
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
		err := next(sctx, b)
		m.observe(sqlsummary.KindBegin, err, time.Since(t))
		if err != nil && span != nil {
			end(span, err)
			span = nil
		}
		return err
	}
}

// WrapCommit traces COMMIT as a child of the transaction span, then ends the latter.
func (m *Middleware) WrapCommit(next middleware.CallFunc) middleware.CallFunc {
	return m.endTx(next, "COMMIT", sqlsummary.KindCommit)
}

// WrapRollback traces ROLLBACK as a child of the transaction span, then ends the latter.
func (m *Middleware) WrapRollback(next middleware.CallFunc) middleware.CallFunc {
	return m.endTx(next, "ROLLBACK", sqlsummary.KindRollback)
}

func (m *Middleware) endTx(next middleware.CallFunc, op string, k sqlsummary.Kind) middleware.CallFunc {
	return func(ctx context.Context, c middleware.Call) error {
		t := time.Now()
		m.mu.Lock()
		tx, hasTx := m.txs[c.Session.ID()]
		delete(m.txs, c.Session.ID())
		m.mu.Unlock()
		if hasTx {
			m.openTxs.Add(-1)
		}
		sctx := ctx
		var span trace.Span
		if hasTx {
			sctx = trace.ContextWithSpan(ctx, tx.span)
		}
		if pctx, ok := m.parent(sctx, nil, false); ok {
			kv := append(make([]attribute.KeyValue, 0, len(m.base)+4), m.base...)
			if m.dbName != "" {
				kv = append(kv, keyNamespace.String(m.dbName))
			}
			kv = append(kv, keyOperation.String(op), keySummary.String(op))
			sctx, span = m.tracer.Start(pctx, op, m.kind, trace.WithAttributes(kv...))
		}
		err := next(sctx, c)
		m.observe(k, err, time.Since(t))
		if span != nil {
			end(span, err)
		}
		if hasTx {
			end(tx.span, err)
		}
		return err
	}
}

// WrapResetSession ends a transaction span left open on a session that database/sql is
// reusing (its transaction ended without COMMIT or ROLLBACK reaching the chain, for example
// when the connection broke). It adds no span of its own.
func (m *Middleware) WrapResetSession(next middleware.CallFunc) middleware.CallFunc {
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
