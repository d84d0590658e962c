package main

import (
	"bytes"
	"context"
	"net/http"
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
	defer http.DefaultClient.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out bytes.Buffer
	if err := run(ctx, url, &out); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	t.Log(s)
	for _, want := range []string{
		`GET /items X-Tenant="acme"     -> 200 [anvil, rocket skates]`,
		`GET /items X-Tenant="globex"   -> 200 [doomsday device]`,
		`GET /notes X-Tenant="acme"     -> 200 [order more anvils]`,
		`GET /notes X-Tenant="globex"   -> 200 [hire a hero]`,
		`GET /items X-Tenant=""         -> 401`,
		`GET /items X-Tenant="a, public" -> 400`,
		`GET /items X-Tenant="initech"  -> 404`,
		`GET /notes X-Tenant="initech"  -> 200 []`,
	} {
		if !strings.Contains(s, want) {
			t.Errorf("missing %q", want)
		}
	}
}
