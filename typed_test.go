package pgprovider_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestMisspeltMiddlewareDoesNotCompile builds small programs with a mistake in a middleware
// and checks that the compiler refuses each one: a misspelt wrapper, a wrapper of the wrong
// kind, and a misspelt Wrappers method. (A method named like a wrapper that the driver would
// never call is refused by NewConnector instead: TestChainConfigErrors.)
func TestMisspeltMiddlewareDoesNotCompile(t *testing.T) {
	_, here, _, _ := runtime.Caller(0)
	repo := filepath.Dir(here)
	goSum, err := os.ReadFile(filepath.Join(repo, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, code, want string
	}{
		{"misspelt wrapper", `middleware.Wrappers{Querry: nil}`, "unknown field Querry"},
		{"wrapper of the wrong kind", `middleware.Wrappers{Exec: func(next middleware.QueryFunc) middleware.QueryFunc { return next }}`, "cannot use"},
		{"misspelt Wrappers method", `misspelt{}`, "does not implement middleware.Middleware"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			write := func(name, text string) {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			write("go.mod", "module typo\n\ngo 1.26\n\nrequire github.com/pgprovider/pgprovider v0.0.0\n\nreplace github.com/pgprovider/pgprovider => "+repo+"\n")
			write("go.sum", string(goSum))
			write("main.go", `package main

import (
	"github.com/pgprovider/pgprovider"
	"github.com/pgprovider/pgprovider/middleware"
)

type misspelt struct{}

func (misspelt) Wrapper() middleware.Wrappers { return middleware.Wrappers{} }

func main() { _, _ = pgprovider.Open("", pgprovider.WithMiddleware(`+tt.code+`)) }
`)
			cmd := exec.Command("go", "build", "-mod=mod", "-o", os.DevNull, ".")
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), "GOFLAGS=", "GOWORK=off")
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("the program compiled:\n%s", tt.code)
			}
			if !strings.Contains(string(out), tt.want) {
				t.Fatalf("go build failed without %q:\n%s", tt.want, out)
			}
		})
	}
}
