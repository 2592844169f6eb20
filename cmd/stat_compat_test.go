package cmd

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// aoetoolsStat is Debian's aoetools 36 aoe-stat.
const aoetoolsStat = "/usr/sbin/aoe-stat"

// pFreeDir returns a new directory whose path has no letter "p": aoetools'
// aoe-stat drops every device whose sysfs path has one (its partition
// filter is "grep -v p"), and temporary directories live in /tmp.
func pFreeDir(t testing.TB) string {
	for _, base := range []string{"/dev/shm", "/run", "/var/lib"} {
		if fi, err := os.Stat(base); err != nil || !fi.IsDir() {
			continue
		}
		dir, err := os.MkdirTemp(base, "aoe-test-")
		if err != nil || strings.ContainsRune(dir, 'p') {
			continue
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		return dir
	}
	t.Fatal("no directory without a letter p in its path to run aoetools' aoe-stat in")
	return ""
}

func requireAoetools(t testing.TB) {
	if _, err := os.Stat(aoetoolsStat); err != nil {
		t.Fatalf("%s is needed to compare with aoetools 36: install it with 'apt-get install aoetools' (%v)", aoetoolsStat, err)
	}
}

// runAoetoolsStat runs aoetools' aoe-stat on a sysfs tree with LC_ALL=C.
func runAoetoolsStat(t testing.TB, sys string, args ...string) (string, string, int) {
	cmd := exec.Command(aoetoolsStat, args...)
	cmd.Env = []string{"LC_ALL=C", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "sysfs_dir=" + sys}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return stdout.String(), stderr.String(), code
}

// compatRegexes are aoe-stat arguments tried on every tree.
var compatRegexes = [][]string{
	nil, {"e1.2"}, {"1.2"}, {"e7"}, {"eth1"}, {"e9.9"}, {"down"}, {"down,closewait"},
	{`e1\.1\>`}, {`e1\.\(1\|2\)`}, {"[[:space:]]e7"}, {"e1.1*"}, {`^e`}, {`GB.*eth`},
	{`x\{0,1\}e2`}, {"(NA)"}, {"kickme"}, {"8704"},
}

// knownDifferences are the aoetools 36 bugs our classic output fixes, per
// tree; a case listed here must differ from aoetools, the rest must not.
var knownDifferences = map[string]string{
	"bugs": "a device without payload shifts its row, and 2^48-1 sectors overflow into a negative size",
}

// TestClassicStatMatchesAoetools runs aoetools' aoe-stat and ours on the
// same fixture trees and compares stdout, stderr and exit status byte for
// byte.
func TestClassicStatMatchesAoetools(t *testing.T) {
	requireAoetools(t)
	dir := pFreeDir(t)
	trees := []string{"basic", "mixed", "legacy", "siblings", "inuse", "nodevs", "nomodule", "bugs"}
	for _, tree := range trees {
		sys := copyTree(t, tree, dir)
		for _, args := range compatRegexes {
			name := tree + "/" + strings.Join(args, " ")
			wantOut, wantErr, wantCode := runAoetoolsStat(t, sys, args...)
			r := execute(t, append([]string{"aoe-stat", "--devdir", testDevDir}, args...), runOpts{env: map[string]string{"sysfs_dir": sys}})
			same := r.stdout == wantOut && r.stderr == wantErr && r.code == wantCode
			if why, known := knownDifferences[tree]; known {
				if same && len(args) == 0 {
					t.Errorf("%s: expected aoetools to differ (%s), but it printed the same", name, why)
				}
				continue
			}
			if !same {
				t.Errorf("%s: differs from aoetools\naoetools (exit %d):\n%s%s\nours (exit %d):\n%s%s",
					name, wantCode, wantOut, wantErr, r.code, r.stdout, r.stderr)
			}
		}
	}
	// A missing sysfs.
	wantOut, wantErr, wantCode := runAoetoolsStat(t, filepath.Join(dir, "nonexistent"))
	r := execute(t, []string{"aoe-stat"}, runOpts{env: map[string]string{"sysfs_dir": filepath.Join(dir, "nonexistent")}})
	if r.stdout != wantOut || r.stderr != wantErr || r.code != wantCode {
		t.Errorf("no sysfs: aoetools %q %q %d, ours %q %q %d", wantOut, wantErr, wantCode, r.stdout, r.stderr, r.code)
	}
}

// TestClassicStatBugsShown shows the aoetools bugs that the "bugs" tree
// triggers, so that the fixed output in the golden files is a fix.
func TestClassicStatBugsShown(t *testing.T) {
	requireAoetools(t)
	sys := copyTree(t, "bugs", pFreeDir(t))
	out, _, _ := runAoetoolsStat(t, sys)
	if !strings.Contains(out, "      e1.2         1.073GB       eth0 up                  \n") {
		t.Errorf("aoetools no longer shifts a row without payload:\n%s", out)
	}
	if !strings.Contains(out, "-3458764.513GB") {
		t.Errorf("aoetools no longer overflows 2^48-1 sectors:\n%s", out)
	}
	// A regular expression with a blank is split into grep arguments.
	basic := copyTree(t, "basic", pFreeDir(t))
	_, stderr, code := runAoetoolsStat(t, basic, "GB *eth1")
	if code != 2 || !strings.Contains(stderr, "grep: *eth1: No such file or directory") {
		t.Errorf("aoetools with a blank in the regex: exit %d, %q", code, stderr)
	}
	r := execute(t, []string{"aoe-stat", "GB *eth1"}, runOpts{env: map[string]string{"sysfs_dir": basic}})
	if r.code != 0 || !strings.HasPrefix(r.stdout, "      e7.0 ") || strings.Count(r.stdout, "\n") != 1 {
		t.Errorf("ours with a blank in the regex: exit %d, %q", r.code, r.stdout)
	}
}

// TestClassicStatLetterP: aoetools shows nothing when the sysfs path has a
// "p" in it; we show the devices.
func TestClassicStatLetterP(t *testing.T) {
	sys := copyTree(t, "basic", filepath.Join(t.TempDir(), "tmp", "sysfs-copy"))
	if !strings.ContainsRune(sys, 'p') {
		t.Fatalf("path %s has no p", sys)
	}
	want := execute(t, []string{"aoe-stat", "--sysfs", filepath.Join(fixtures, "basic")}, runOpts{})
	got := execute(t, []string{"aoe-stat", "--sysfs", sys}, runOpts{})
	if got.stdout != want.stdout || got.code != 0 || !strings.Contains(got.stdout, "e7.0") {
		t.Errorf("under %s: %q (exit %d), want %q", sys, got.stdout, got.code, want.stdout)
	}
	if _, err := os.Stat(aoetoolsStat); err == nil {
		out, _, code := runAoetoolsStat(t, sys)
		if out != "" || code != 1 {
			t.Errorf("aoetools under a p path printed %q (exit %d); the documented bug is gone?", out, code)
		}
	}
}

// TestClassicStatWrongMinor points device nodes at a block device whose
// minor number is right for one device and wrong for another, and checks
// the warning, as aoetools prints it. The nodes are symlinks to a block
// node of this machine (stat follows them), so no root is needed.
func TestClassicStatWrongMinor(t *testing.T) {
	node, minor := anyBlockNode(t)
	sys := copyTree(t, "basic", t.TempDir())
	// e1.2's sysfs dev is made to match the node; e1.3's to differ from it.
	setDev := func(dev string, min uint32) {
		p := filepath.Join(sys, "devices/virtual/block/etherd!"+dev+"/dev")
		if err := os.WriteFile(p, []byte(fmt.Sprintf("152:%d\n", min)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	setDev("e1.2", minor)
	setDev("e1.3", minor+1)
	devdir := t.TempDir()
	for _, name := range []string{"e1.2", "e1.3"} {
		if err := os.Symlink(node, filepath.Join(devdir, name)); err != nil {
			t.Fatal(err)
		}
	}
	r := execute(t, []string{"aoe-stat", "--sysfs", sys, "--devdir", devdir}, runOpts{})
	want := "aoe-stat Warning: device node " + devdir + "/e1.3 has wrong minor device number\n"
	if r.stderr != want || r.code != 0 || strings.Count(r.stdout, "\n") != 4 {
		t.Errorf("stderr %q (exit %d), want %q", r.stderr, r.code, want)
	}
	r = execute(t, []string{"aoe", "stat", "--sysfs", sys, "--devdir", devdir}, runOpts{})
	if !strings.Contains(r.stderr, fmt.Sprintf("%s/e1.3 has minor %d but the driver says %d", devdir, minor, minor+1)) || r.code != 0 {
		t.Errorf("aoe stat: stderr %q (exit %d)", r.stderr, r.code)
	}
}

// anyBlockNode returns a block device node of this machine and its minor
// number: one found in /dev (stat needs no privilege), or one made with
// mknod as root.
func anyBlockNode(t *testing.T) (string, uint32) {
	t.Helper()
	var found string
	filepath.WalkDir("/dev", func(p string, e fs.DirEntry, err error) error {
		if err != nil || found != "" {
			return filepath.SkipDir
		}
		if e.Type()&fs.ModeDevice != 0 && e.Type()&fs.ModeCharDevice == 0 {
			found = p
		}
		return nil
	})
	if found == "" {
		requireRoot(t, "no block device node in /dev: mknod of one")
		found = filepath.Join(t.TempDir(), "blk")
		if err := unix.Mknod(found, unix.S_IFBLK|0o600, int(unix.Mkdev(7, 200))); err != nil {
			t.Fatal(err)
		}
	}
	var st unix.Stat_t
	if err := unix.Stat(found, &st); err != nil {
		t.Fatal(err)
	}
	return found, unix.Minor(uint64(st.Rdev))
}

// TestDiscoverWaitAppears: --wait returns once a device that was missing
// shows up in sysfs as up, and asks for discovery again meanwhile.
func TestDiscoverWaitAppears(t *testing.T) {
	sys := copyTree(t, "basic", t.TempDir())
	done := make(chan run)
	go func() {
		done <- execute(t, []string{"aoe", "discover", "--sysfs", sys, "--devdir", testDevDir, "--wait", "e1.2,e9.9", "--timeout", "60s"}, runOpts{})
	}()
	time.Sleep(300 * time.Millisecond)
	dev := filepath.Join(sys, "devices/virtual/block/etherd!e9.9")
	if err := os.MkdirAll(dev, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dev, "state"), []byte("down\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../devices/virtual/block/etherd!e9.9", filepath.Join(sys, "block/etherd!e9.9")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	select {
	case r := <-done:
		t.Fatalf("returned while e9.9 was down: %+v", r)
	default:
	}
	if err := os.WriteFile(filepath.Join(dev, "state"), []byte("up\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.code != 0 || r.stderr != "" || len(r.writes) < 1 || string(r.writes[0].data) != "\n" {
		t.Errorf("exit %d, stderr %q, writes %q", r.code, r.stderr, r.writes)
	}
}
