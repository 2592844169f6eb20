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
	if !regexp.MustCompile(`^` + regexp.QuoteMeta(v) + `(\+git\.[0-9]{14}\.[0-9a-f]{7}(\.dirty)?)?$`).MatchString(got) {
		t.Errorf("version.sh = %q, want %s[+git.TIME.HASH[.dirty]]", got, v)
	}
}

// TestVersionOrder: the package's version of a later commit must be newer
// for dpkg, whatever the commit hashes: apt does not upgrade to a package
// version that sorts lower, and dpkg -i warns of a downgrade.
func TestVersionOrder(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatal("git not found")
	}
	dir := t.TempDir()
	git := func(date string, args ...string) {
		t.Helper()
		c := exec.Command("git", append([]string{"-C", dir}, args...)...)
		c.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@t", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@t",
			"GIT_AUTHOR_DATE="+date, "GIT_COMMITTER_DATE="+date)
		if out, err := c.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	version := func() string {
		out, err := exec.Command("sh", "../../dist/debian/version.sh", dir).Output()
		if err != nil {
			t.Fatalf("version.sh: %v", err)
		}
		return strings.TrimSpace(string(out))
	}
	for _, c := range [][2]string{{"1.0", "1.0+git"}, {"1.0~rc1", "1.0"}, {"1.9", "1.10"}, {"1.0+git.a1", "1.0+git.b0"}, {"1.0+git.9", "1.0+git.a"}} {
		if debVersionCompare(c[0], c[1]) >= 0 || debVersionCompare(c[1], c[0]) <= 0 {
			t.Fatalf("debVersionCompare: %s is not before %s", c[0], c[1])
		}
	}
	os.WriteFile(dir+"/VERSION", []byte("0.9.0\n"), 0o644)
	git("2026-12-01T10:00:00Z", "init", "-q")
	git("2026-12-01T10:00:00Z", "add", "VERSION")
	git("2026-12-01T10:00:00Z", "commit", "-q", "-m", "a")
	prev := version()
	// Enough commits that some later hash sorts before an earlier one.
	for i := 1; i <= 12; i++ {
		date := time.Date(2026, 12, 1, 10, i, 0, 0, time.UTC).Format(time.RFC3339)
		git(date, "commit", "-q", "--allow-empty", "-m", "b")
		v := version()
		if debVersionCompare(v, prev) <= 0 {
			t.Fatalf("commit %d: %q does not sort after %q for dpkg", i, v, prev)
		}
		prev = v
	}
}

// debVersionCompare compares two Debian upstream versions (no epoch, no
// revision) as dpkg does: alternating non-digit parts (letters before
// everything else, ~ before the end) and numeric parts.
func debVersionCompare(a, b string) int {
	order := func(c byte) int {
		switch {
		case c == '~':
			return -1
		case c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z':
			return int(c)
		}
		return int(c) + 256
	}
	isDigit := func(c byte) bool { return c >= '0' && c <= '9' }
	for a != "" || b != "" {
		for (a != "" && !isDigit(a[0])) || (b != "" && !isDigit(b[0])) {
			ac, bc := 0, 0
			if a != "" && !isDigit(a[0]) {
				ac = order(a[0])
				a = a[1:]
			}
			if b != "" && !isDigit(b[0]) {
				bc = order(b[0])
				b = b[1:]
			}
			if ac != bc {
				return ac - bc
			}
		}
		a, b = strings.TrimLeft(a, "0"), strings.TrimLeft(b, "0")
		i, j := 0, 0
		for i < len(a) && isDigit(a[i]) {
			i++
		}
		for j < len(b) && isDigit(b[j]) {
			j++
		}
		if i != j {
			return i - j
		}
		if c := strings.Compare(a[:i], b[:j]); c != 0 {
			return c
		}
		a, b = a[i:], b[j:]
	}
	return 0
}
