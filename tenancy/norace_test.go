//go:build !race

package tenancy_test

const raceEnabled = false
