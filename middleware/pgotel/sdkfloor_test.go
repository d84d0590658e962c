package pgotel_test

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// BenchmarkSDKFloor measures what the OpenTelemetry SDK alone costs for one query span as
// this middleware records it (always sample, a dropping processor, the same seven
// attributes given at start): the floor under the recording-tracer overhead, whatever the
// instrumentation does around it. The bare case is a span without attributes.
func BenchmarkSDKFloor(b *testing.B) {
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()), sdktrace.WithSpanProcessor(dropping{}))
	defer tp.Shutdown(context.Background())
	tr := tp.Tracer("floor")
	opts := []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
		attribute.String("db.system.name", "postgresql"),
		attribute.String("db.namespace", "test"),
		attribute.String("db.operation.name", "SELECT"),
		attribute.String("db.query.summary", "SELECT"),
		attribute.String("db.query.text", "SELECT 1"),
		attribute.String("server.address", "127.0.0.1"),
		attribute.Int("server.port", 5432),
	)}
	ctx := context.Background()
	for _, c := range []struct {
		name string
		opts []trace.SpanStartOption
	}{{"attributes", opts}, {"bare", []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindClient)}}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_, span := tr.Start(ctx, "SELECT", c.opts...)
				span.End()
			}
		})
	}
}
