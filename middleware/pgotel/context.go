package pgotel

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// ctxOptions are the per-call settings a context carries ([WithSummary], [WithoutTracing]),
// under one key so that an operation finds them all in one walk up the context.
type ctxOptions struct {
	summary string
	off     bool
}

type optionsKey struct{}

func optionsFrom(ctx context.Context) ctxOptions {
	o, _ := ctx.Value(optionsKey{}).(ctxOptions)
	return o
}

// WithSummary returns a context whose operations are named summary (span name and
// db.query.summary) instead of the summary derived from the SQL text. Keep it low-cardinality
// ("GetUserByEmail", "SELECT users"); it is never a place for values.
func WithSummary(ctx context.Context, summary string) context.Context {
	o := optionsFrom(ctx)
	o.summary = summary
	return context.WithValue(ctx, optionsKey{}, o)
}

// WithoutTracing returns a context whose operations produce no spans (metrics are still
// recorded).
func WithoutTracing(ctx context.Context) context.Context {
	o := optionsFrom(ctx)
	o.off = true
	return context.WithValue(ctx, optionsKey{}, o)
}

// AddAttemptEvent records a retry attempt as an event named "db.attempt" on the span in ctx
// (the operation span of this package, when a retry middleware listed after it calls this
// before each attempt it makes beyond the first or after each failed attempt). attempt is
// 1-based; err is the error of the attempt, or nil. Only its error.type (SQLSTATE or a short
// type) is recorded, never its message. It does nothing when no span records.
func AddAttemptEvent(ctx context.Context, attempt int, err error) {
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	if err == nil {
		span.AddEvent("db.attempt", trace.WithAttributes(attribute.Int("db.attempt", attempt)))
		return
	}
	span.AddEvent("db.attempt", trace.WithAttributes(attribute.Int("db.attempt", attempt),
		attribute.String("error.type", classify(err).Type)))
}
