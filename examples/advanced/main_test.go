package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pgprovider/pgprovider/internal/pgtest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, pgtest.Options{})) }

func TestRun(t *testing.T) {
	url := pgtest.Shared(t).Primary().URL()
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out bytes.Buffer
	if err := run(ctx, url, &out); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	if testing.Verbose() {
		t.Log(s)
	}
	for _, want := range []string{
		`trace: {"attributes":{"db.namespace":"postgres","db.operation.name":"INSERT"`,
		`"db.response.status_code":"23505"`,
		`"span":"CountItems"`,
		`"span":"transaction"`,
		`"span":"COMMIT"`,
		"custom middleware saw 3 exec statements",
		`metric: pgprovider_operation_errors_total{operation="INSERT",pool="primary",sqlstate_class="23"} 1`,
		`metric: pgprovider_operation_duration_seconds_count{operation="COMMIT",pool="primary",status="ok"} 1`,
		"level=ERROR msg=exec",
		"metrics: http://127.0.0.1:",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %s\n%s", want, s)
		}
	}
}
