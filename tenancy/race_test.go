//go:build race

package tenancy_test

// raceEnabled: the race detector slows the client several times over, so the stress test's
// default statement count is lowered to stay within the CI time budget.
const raceEnabled = true
