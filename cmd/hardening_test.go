package cmd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestStatSkipsSymlinkLoop: one symlink loop in block/ costs one warning on
// stderr, not the listing (aoe stat and aoe-stat).
func TestStatSkipsSymlinkLoop(t *testing.T) {
	sys := copyTree(t, "basic", t.TempDir())
	if err := os.Symlink("etherd!e5.5", filepath.Join(sys, "block", "etherd!e5.5")); err != nil {
		t.Fatal(err)
	}
	r := execute(t, []string{"aoe", "stat", "--sysfs", sys, "--devdir", testDevDir}, runOpts{})
	if r.code != 0 || strings.Count(r.stdout, "\n") != 5 || strings.Count(r.stderr, "\n") != 1 ||
		!strings.Contains(r.stderr, "warning: skipped "+sys+"/block/etherd!e5.5: too many levels of symbolic links") {
		t.Errorf("aoe stat: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	r = execute(t, []string{"aoe-stat", "--sysfs", sys, "--devdir", testDevDir}, runOpts{})
	if r.code != 0 || strings.Count(r.stdout, "\n") != 4 || strings.Count(r.stderr, "\n") != 1 ||
		!strings.HasPrefix(r.stderr, "aoe-stat Warning: skipped ") {
		t.Errorf("aoe-stat: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
}

// TestStatSkipsVanishedDevice: a device whose directory was emptied (as
// kernfs does while it removes it during a flush) is not printed with null
// fields.
func TestStatSkipsVanishedDevice(t *testing.T) {
	sys := copyTree(t, "basic", t.TempDir())
	dir := filepath.Join(sys, "devices/virtual/block/etherd!e1.3")
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
	r := execute(t, []string{"aoe", "stat", "--json", "--sysfs", sys}, runOpts{})
	if r.code != 0 || strings.Contains(r.stdout, `"e1.3"`) || strings.Contains(r.stdout, `"state": null`) || r.stderr != "" {
		t.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
}

// TestDiscoverWaitRevalidatesClosewait: a named device that is
// down,closewait gets a revalidate after the discover write, and --wait
// returns once the driver has revived it (the fake driver does on
// revalidate).
func TestDiscoverWaitRevalidatesClosewait(t *testing.T) {
	sys := copyTree(t, "inuse", t.TempDir())
	state := filepath.Join(sys, "devices/virtual/block/etherd!e1.4/state")
	var writes []string
	env := &Env{
		Stdout: &strings.Builder{}, Stderr: &strings.Builder{},
		Getenv: func(string) string { return "" },
		NodeWriter: func(path string, data []byte) error {
			writes = append(writes, filepath.Base(path)+" "+string(data))
			if filepath.Base(path) == "revalidate" && string(data) == "e1.4\n" {
				return os.WriteFile(state, []byte("up\n"), 0o644)
			}
			return nil
		},
	}
	code := Main(t.Context(), []string{"aoe", "discover", "--sysfs", sys, "--devdir", testDevDir, "--wait", "e1.4,e1.1", "--timeout", "30s"}, env)
	if want := []string{"discover \n", "revalidate e1.4\n"}; code != 0 || strings.Join(writes, "|") != strings.Join(want, "|") {
		t.Errorf("exit %d, writes %q, want %q; stderr %s", code, writes, want, env.Stderr)
	}
}
