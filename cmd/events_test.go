package cmd

import (
	"bytes"
	"context"
	"strings"
	"syscall"
	"testing"
)

// TestEventsIntervalFloor: --interval below 10ms (a nanosecond would burn a
// CPU), zero, negative or unparsable is a usage error, before anything is
// read; never a panic.
func TestEventsIntervalFloor(t *testing.T) {
	for _, v := range []string{"1ns", "9ms", "9999us", "0", "0s", "-1s", "2562048h", "fast"} {
		r := execute(t, []string{"aoe", "events", "--sysfs", fixtures + "/basic", "--no-uevents", "--no-err", "--interval", v}, runOpts{})
		if r.code != ExitUsage || r.stdout != "" || !strings.Contains(r.stderr, "interval") || !strings.Contains(r.stderr, "Run 'aoe events --help'") {
			t.Errorf("--interval %s: %+v", v, r)
		}
	}
	r := execute(t, []string{"aoe", "events", "--interval", "1ns"}, runOpts{})
	if want := "aoe events: --interval must be at least 10ms, got 1ns\n"; !strings.HasPrefix(r.stderr, want) {
		t.Errorf("stderr %q, want %q", r.stderr, want)
	}
}

// TestEventsSignalExit: a signal ends aoe events with 128 + its number
// (130 for SIGINT, 143 for SIGTERM), as every other command, never 0.
func TestEventsSignalExit(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		ctx, cancel := context.WithCancelCause(context.Background())
		var stdout, stderr bytes.Buffer
		env := &Env{Stdout: &stdout, Stderr: &stderr, Getenv: func(string) string { return "" }, Version: "test"}
		done := make(chan int, 1)
		go func() {
			done <- Main(ctx, []string{"aoe", "events", "--sysfs", fixtures + "/basic", "--no-uevents", "--no-err", "--interval", "10ms", "--initial"}, env)
		}()
		cancel(&SignalError{Signal: sig})
		code := <-done
		if want := 128 + int(sig); code != want {
			t.Errorf("%v: exit %d, want %d (stderr %q)", sig, code, want, stderr.String())
		}
		if stderr.Len() != 0 {
			t.Errorf("%v: stderr %q, want nothing", sig, stderr.String())
		}
	}
}
