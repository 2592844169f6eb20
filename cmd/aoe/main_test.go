package main

import (
	"bytes"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/goaoe/aoe/cmd"
)

const fixture = "../../sysfs/testdata/basic"

// testEnv records control-node writes; block makes every write hang, as a
// write the kernel keeps restarting would.
func testEnv(block chan struct{}) (*cmd.Env, *bytes.Buffer) {
	var stderr bytes.Buffer
	return &cmd.Env{
		Stdout: &bytes.Buffer{},
		Stderr: &stderr,
		Getenv: func(string) string { return "" },
		NodeWriter: func(string, []byte) error {
			if block != nil {
				<-block
			}
			return nil
		},
	}, &stderr
}

// signalAfter sends sig to this process after d; run has registered for it,
// so the test process is not killed.
func signalAfter(d time.Duration, sig syscall.Signal) {
	go func() {
		time.Sleep(d)
		syscall.Kill(syscall.Getpid(), sig)
	}()
}

// TestSignalEndsWait: SIGINT and SIGTERM end `aoe discover --wait` (which
// waits on its context) with 130 and 143, promptly.
func TestSignalEndsWait(t *testing.T) {
	for _, tc := range []struct {
		sig  syscall.Signal
		code int
	}{{syscall.SIGINT, 130}, {syscall.SIGTERM, 143}} {
		env, stderr := testEnv(nil)
		argv := []string{"aoe", "discover", "--sysfs", fixture, "--devdir", "/nonexistent", "--wait", "e9.9", "--timeout", "60s"}
		signalAfter(200*time.Millisecond, tc.sig)
		start := time.Now()
		code := run(argv, env, 10*time.Second)
		if code != tc.code || time.Since(start) > 5*time.Second {
			t.Errorf("%v: exit %d after %v (stderr %q), want %d promptly", tc.sig, code, time.Since(start), stderr, tc.code)
		}
		if stderr.Len() != 0 {
			t.Errorf("%v: stderr %q, want nothing", tc.sig, stderr)
		}
	}
}

// TestSignalEndsBlockedCommand: a command stuck in a call that ignores its
// context still ends grace after SIGTERM, with 143; under a classic name
// too.
func TestSignalEndsBlockedCommand(t *testing.T) {
	for _, argv0 := range []string{"aoe", "aoe-discover"} {
		block := make(chan struct{})
		env, _ := testEnv(block)
		argv := []string{argv0, "--sysfs", fixture, "--devdir", "/nonexistent"}
		if argv0 == "aoe" {
			argv = append([]string{"aoe", "discover"}, argv[1:]...)
		}
		signalAfter(200*time.Millisecond, syscall.SIGTERM)
		start := time.Now()
		code := run(argv, env, 300*time.Millisecond)
		close(block)
		if code != 143 || time.Since(start) > 5*time.Second {
			t.Errorf("%s: exit %d after %v, want 143 promptly", strings.Join(argv, " "), code, time.Since(start))
		}
	}
}
