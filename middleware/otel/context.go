package pgotel

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

type summaryKey struct{}

type offKey struct{}

// WithSummary returns a context whose operations are named summary (span name and
// db.query.summary) instead of the summary derived from the SQL text. Keep it low-cardinality
// ("GetUserByEmail", "SELECT users"); it is never a place for values.
func WithSummary(ctx context.Context, summary string) context.Context {
	return context.WithValue(ctx, summaryKey{}, summary)
}

// WithoutTracing returns a context whose operations produce no spans (metrics are still
// recorded).
func WithoutTracing(ctx context.Context) context.Context {
	return context.WithValue(ctx, offKey{}, true)
}

func tracingOff(ctx context.Context) bool {
	v, _ := ctx.Value(offKey{}).(bool)
	return v
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
