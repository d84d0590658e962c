//go:build tools

// Package deps pins modules the project's packages use, so that go mod tidy keeps them while
// those packages are being written.
package deps

import (
	_ "github.com/DATA-DOG/go-sqlmock"
	_ "github.com/cenkalti/backoff/v4"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/prometheus/client_golang/prometheus/promhttp"
	_ "github.com/prometheus/client_golang/prometheus/testutil"
	_ "go.opentelemetry.io/otel"
	_ "go.opentelemetry.io/otel/metric"
	_ "go.opentelemetry.io/otel/sdk/metric"
	_ "go.opentelemetry.io/otel/sdk/trace"
	_ "go.opentelemetry.io/otel/sdk/trace/tracetest"
	_ "go.opentelemetry.io/otel/trace"
	_ "go.uber.org/goleak"
)
