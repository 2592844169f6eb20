//go:build soak

package cmd

import (
	"testing"
	"time"

	"github.com/goaoe/aoe/internal/soak"
)

// TestSoakCommandsLong is `make soak` for the commands: random seeds for
// AOE_SOAK_SECONDS through aoe read and aoe write.
func TestSoakCommandsLong(t *testing.T) {
	d, first, only := soak.LongRun(t)
	t.Logf("seeds from %d for %v (rerun one: AOE_SOAK_SEED=N go test -tags soak -run TestSoakCommandsLong ./cmd)", first, d)
	var st soak.Stats
	dir := t.TempDir()
	start := time.Now()
	report := start
	for i := uint64(0); time.Since(start) < d; i++ {
		seed := first + i
		tb := &soak.SeedTB{TB: t}
		soakCommands(tb, dir, seed, 30, &st)
		tb.Done()
		if t.Failed() {
			t.Errorf("seed %d failed (AOE_SOAK_SEED=%d)", seed, seed)
			break
		}
		if only {
			break
		}
		if time.Since(report) > 30*time.Second {
			report = time.Now()
			t.Logf("%v: %v", time.Since(start).Round(time.Second), &st)
		}
	}
	t.Logf("executions in %v: %v", time.Since(start).Round(time.Second), &st)
}
