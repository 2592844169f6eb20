package cmd

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The package's maintainer scripts (dist/debian) run with dash on a fake
// root: their absolute paths under /var, /sys, /etc, /run and /usr are put
// under a temporary directory, and dpkg-query is a stub.

type maintRoot struct {
	t         *testing.T
	root, bin string
}

func newMaintRoot(t *testing.T) *maintRoot {
	if _, err := exec.LookPath("dash"); err != nil {
		t.Fatal("dash not found")
	}
	return &maintRoot{t: t, root: t.TempDir(), bin: t.TempDir()}
}

func (m *maintRoot) path(p string) string { return filepath.Join(m.root, p) }

// stub makes command name print out and exit with code.
func (m *maintRoot) stub(name, out string, code int) {
	m.t.Helper()
	s := "#!/bin/sh\nprintf '%s' '" + out + "'\nexit " + string(rune('0'+code)) + "\n"
	if err := os.WriteFile(filepath.Join(m.bin, name), []byte(s), 0o755); err != nil {
		m.t.Fatal(err)
	}
}

var maintPaths = regexp.MustCompile(`(^|[\s"'=])/(var|sys|etc|run|usr)/`)

// run runs dist/debian/script with args, its paths under the fake root.
func (m *maintRoot) run(script string, args ...string) {
	m.t.Helper()
	b, err := os.ReadFile("../dist/debian/" + script)
	if err != nil {
		m.t.Fatal(err)
	}
	s := maintPaths.ReplaceAllString(string(b), "${1}"+m.root+"/${2}/")
	f := filepath.Join(m.t.TempDir(), script)
	if err := os.WriteFile(f, []byte(s), 0o755); err != nil {
		m.t.Fatal(err)
	}
	cmd := exec.Command("dash", append([]string{f}, args...)...)
	cmd.Env = []string{"PATH=" + m.bin + ":/usr/bin:/bin"}
	if out, err := cmd.CombinedOutput(); err != nil {
		m.t.Fatalf("%s %s: %v\n%s", script, strings.Join(args, " "), err, out)
	}
}

func (m *maintRoot) exists(p string) bool {
	_, err := os.Lstat(m.path(p))
	return err == nil
}

// TestDistMaintMigrationMarker: the marker preinst leaves for postinst
// (aoetools was in use) must not outlive the install that wrote it: left
// by an install that failed (postrm abort-install), a later install with
// no aoetools would turn AoE on at boot on every interface.
func TestDistMaintMigrationMarker(t *testing.T) {
	const marker = "var/lib/goaoe/aoetools-in-use"
	m := newMaintRoot(t)
	m.stub("dpkg-query", "installed", 0)
	m.run("preinst", "install")
	if !m.exists(marker) {
		t.Fatal("preinst install with aoetools installed wrote no marker")
	}
	// The unpack fails: dpkg runs postrm abort-install.
	m.run("postrm", "abort-install")
	if m.exists(marker) || m.exists("var/lib/goaoe") {
		t.Error("postrm abort-install left the migration marker")
	}

	// A marker left stale (by an older package, a crash) and an install
	// with aoetools purged: no migration.
	m = newMaintRoot(t)
	if err := os.MkdirAll(m.path("var/lib/goaoe"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(m.path(marker), []byte("aoetools: installed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	m.stub("dpkg-query", "not-installed", 0)
	m.run("preinst", "install")
	if m.exists(marker) {
		t.Error("preinst install without aoetools kept a stale marker: postinst would migrate")
	}
}
