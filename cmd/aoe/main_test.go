package main

import (
	"bytes"
	"os"
	"os/exec"
	"regexp"
	"runtime/debug"
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

func TestVersionFrom(t *testing.T) {
	rev := debug.BuildSetting{Key: "vcs.revision", Value: "59921dc88e4c0123456789abcdef012345678901"}
	for _, c := range []struct {
		set  string
		bi   *debug.BuildInfo
		want string
	}{
		{"0.9.0+git.59921dc", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "0.9.0+git.59921dc"},
		{"", nil, "devel"},
		{"", &debug.BuildInfo{Main: debug.Module{Version: "v0.9.0"}}, "v0.9.0"},
		{"", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{rev}}, "devel+git.59921dc"},
		{"", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{rev, {Key: "vcs.modified", Value: "true"}}}, "devel+git.59921dc.dirty"},
		{"", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "devel"},
	} {
		if got := versionFrom(c.set, c.bi); got != c.want {
			t.Errorf("versionFrom(%q, %+v) = %q, want %q", c.set, c.bi, got, c.want)
		}
	}
}

// TestVersionFile: the tree's VERSION is a release (MAJOR.MINOR.PATCH) and
// dist/debian/version.sh makes the build's version from it.
func TestVersionFile(t *testing.T) {
	b, err := os.ReadFile("../../VERSION")
	if err != nil {
		t.Fatal(err)
	}
	v := strings.TrimSpace(string(b))
	if !regexp.MustCompile(`^[0-9]+\.[0-9]+\.[0-9]+$`).MatchString(v) {
		t.Fatalf("VERSION = %q, want MAJOR.MINOR.PATCH", v)
	}
	out, err := exec.Command("sh", "../../dist/debian/version.sh", "../..").Output()
	if err != nil {
		t.Fatalf("version.sh: %v", err)
	}
	got := strings.TrimSpace(string(out))
	if !regexp.MustCompile(`^` + regexp.QuoteMeta(v) + `(\+git\.[0-9a-f]{7}(\.dirty)?)?$`).MatchString(got) {
		t.Errorf("version.sh = %q, want %s[+git.HASH[.dirty]]", got, v)
	}
}
