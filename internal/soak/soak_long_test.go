//go:build soak

package soak

import (
	"testing"
	"time"
)

// TestSoakLong is `make soak`: random seeds for AOE_SOAK_SECONDS, on the
// disk and (every third seed) through the NBD server, with up to 100
// operations each.
func TestSoakLong(t *testing.T) {
	d, first, only := LongRun(t)
	t.Logf("seeds from %d for %v (rerun one: AOE_SOAK_SEED=N)", first, d)
	var st Stats
	start := time.Now()
	report := start
	for i := uint64(0); time.Since(start) < d; i++ {
		seed := first + i
		overNBD := seed%3 == 2
		tb := &SeedTB{TB: t}
		runSeed(tb, seed, 100, overNBD, &st)
		tb.Done()
		if t.Failed() {
			t.Errorf("seed %d failed (AOE_SOAK_SEED=%d, NBD %v)", seed, seed, overNBD)
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
