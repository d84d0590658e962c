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
	_, rest, _ := strings.Cut(s, "request trace_id=")
	traceID, _, _ := strings.Cut(rest, "\n")
	for _, want := range []string{
		"level=ERROR msg=exec ",
		"error.type=22012 trace_id=" + traceID + " span_id=",
		`span "SELECT" status=Error`,
		`span "request" status=Unset`,
		"defaultTimeout bounded 2 statements to 5s",
		`metric pgprovider_operation_duration_seconds_count{operation="SELECT",pool="primary",status="ok"} 1`,
		`metric pgprovider_operation_errors_total{operation="SELECT",pool="primary",sqlstate_class="22"} 1`,
	} {
		if traceID == "" || !strings.Contains(s, want) {
			t.Errorf("output lacks %s\n%s", want, s)
		}
	}
}
