package soak

import (
	"os"
	"strconv"
	"testing"
	"time"
)

// SeedTB runs one seed inside a long test without a subtest: its
// cleanups run at Done (so that a soak of thousands of seeds holds one
// seed's disks at a time), the rest goes to the test.
type SeedTB struct {
	testing.TB
	cleanups []func()
}

// Cleanup registers f for Done.
func (s *SeedTB) Cleanup(f func()) { s.cleanups = append(s.cleanups, f) }

// Done runs the cleanups, last first.
func (s *SeedTB) Done() {
	for i := len(s.cleanups) - 1; i >= 0; i-- {
		s.cleanups[i]()
	}
	s.cleanups = nil
}

// LongRun returns what a long soak runs: its duration (AOE_SOAK_SECONDS,
// default 300) and its first seed (AOE_SOAK_SEED, which also makes it run
// that seed only; else drawn from the clock, printed to rerun a failure).
func LongRun(t testing.TB) (d time.Duration, first uint64, only bool) {
	d = 300 * time.Second
	if s := os.Getenv("AOE_SOAK_SECONDS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatalf("AOE_SOAK_SECONDS=%q: %v", s, err)
		}
		d = time.Duration(n) * time.Second
	}
	if s := os.Getenv("AOE_SOAK_SEED"); s != "" {
		seed, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("AOE_SOAK_SEED=%q: %v", s, err)
		}
		return d, seed, true
	}
	return d, uint64(time.Now().UnixNano()) & (1<<48 - 1), false
}
