package cmd

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The initramfs-tools hook (dist/initramfs-tools/hooks/aoe) run as a shell
// script on a fake root (AOE_HOOK_ROOT): the real aoe binary reads the
// configuration (aoe up --print), a fake hook-functions records what would
// be added, a fake findmnt tells where / is.

const hookScript = "../dist/initramfs-tools/hooks/aoe"

// hookFunctions stands for /usr/share/initramfs-tools/hook-functions: each
// call is a line of $HOOK_LOG.
const hookFunctions = `copy_exec() { echo "copy_exec $*" >> "$HOOK_LOG"; }
manual_add_modules() { echo "manual_add_modules $*" >> "$HOOK_LOG"; }
auto_add_modules() { echo "auto_add_modules $*" >> "$HOOK_LOG"; }
`

type hookRoot struct {
	t         *testing.T
	root, bin string
}

// newHookRoot makes a fake root with aoe in /usr/sbin, an empty fstab, eth0
// (driver e1000) in /sys, and a bin directory of fake commands.
func newHookRoot(t *testing.T, aoeBin string) *hookRoot {
	h := &hookRoot{t: t, root: t.TempDir(), bin: t.TempDir()}
	h.write("usr/share/initramfs-tools/hook-functions", hookFunctions, 0o644)
	h.write("etc/fstab", "# empty\n", 0o644)
	h.write("proc/cmdline", "BOOT_IMAGE=/vmlinuz root=/dev/sda1 ro quiet\n", 0o644)
	if err := os.MkdirAll(h.path("usr/sbin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(aoeBin, h.path("usr/sbin/aoe")); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(h.path("sys/module/e1000"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(h.path("sys/class/net/eth0/device/driver"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(h.path("sys/module/e1000"), h.path("sys/class/net/eth0/device/driver/module")); err != nil {
		t.Fatal(err)
	}
	h.findmnt("/dev/sda1")
	if err := os.WriteFile(filepath.Join(h.bin, "ip"), []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return h
}

func (h *hookRoot) path(p string) string { return filepath.Join(h.root, p) }

func (h *hookRoot) write(p, content string, mode os.FileMode) {
	h.t.Helper()
	if err := os.MkdirAll(filepath.Dir(h.path(p)), 0o755); err != nil {
		h.t.Fatal(err)
	}
	if err := os.WriteFile(h.path(p), []byte(content), mode); err != nil {
		h.t.Fatal(err)
	}
}

// findmnt makes `findmnt -n -o SOURCE /` print source.
func (h *hookRoot) findmnt(source string) {
	h.t.Helper()
	if err := os.WriteFile(filepath.Join(h.bin, "findmnt"), []byte("#!/bin/sh\necho '"+source+"'\n"), 0o755); err != nil {
		h.t.Fatal(err)
	}
}

// run runs the hook with shell and returns its exit code, stderr, and the
// hook-functions calls it made.
func (h *hookRoot) run(shell []string) (code int, stderr string, calls []string) {
	h.t.Helper()
	log := filepath.Join(h.root, "hook.log")
	os.Remove(log)
	cmd := exec.Command(shell[0], append(shell[1:], hookScript)...)
	cmd.Env = []string{"AOE_HOOK_ROOT=" + h.root, "HOOK_LOG=" + log, "PATH=" + h.bin + ":/usr/bin:/bin", "DESTDIR=" + h.path("initramfs")}
	var errb strings.Builder
	cmd.Stderr = &errb
	out, err := cmd.Output()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		h.t.Fatal(err)
	}
	if len(out) != 0 {
		h.t.Errorf("stdout %q", out)
	}
	b, _ := os.ReadFile(log)
	if s := strings.TrimSpace(string(b)); s != "" {
		calls = strings.Split(s, "\n")
	}
	return code, errb.String(), calls
}

// hookShells are the shells the hook is run with: update-initramfs runs it
// with the host's /bin/sh, dash on Debian, bash on some systems.
func hookShells(t *testing.T) [][]string {
	var shells [][]string
	for _, s := range [][]string{{"dash"}, {"bash", "--posix"}} {
		if p, err := exec.LookPath(s[0]); err == nil {
			shells = append(shells, append([]string{p}, s[1:]...))
		}
	}
	if len(shells) == 0 {
		t.Fatal("no shell found (dash or bash)")
	}
	return shells
}

func TestInitramfsHook(t *testing.T) {
	aoeBin := filepath.Join(t.TempDir(), "aoe")
	if out, err := exec.Command("go", "build", "-o", aoeBin, "./aoe").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	added := func(drivers string) []string {
		return []string{"copy_exec ROOT/usr/sbin/aoe /usr/sbin", "copy_exec BIN/ip /bin", "manual_add_modules aoe", drivers}
	}
	cases := []struct {
		name     string
		conf     *string // nil: no aoe.conf
		legacy   string  // /etc/default/aoetools when not empty
		root     string  // findmnt's answer for /
		cmdline  string
		code     int
		calls    []string
		stderrIn []string // for a failure
	}{
		{name: "absent", code: 0},
		{name: "commented", conf: ptr("# AOE_INITRAMFS=yes\n"), code: 0},
		{name: "no", conf: ptr("AOE_INITRAMFS=no\n"), code: 0},
		{name: "YES", conf: ptr("AOE_INITRAMFS=YES\n"), calls: added("auto_add_modules net")},
		{name: "On", conf: ptr("AOE_INITRAMFS=On\n"), calls: added("auto_add_modules net")},
		{name: "export", conf: ptr("export AOE_INITRAMFS=yes\n"), calls: added("auto_add_modules net")},
		{name: "quoted", conf: ptr("  AOE_INITRAMFS='true'   # root on AoE soon\n"), calls: added("auto_add_modules net")},
		{name: "interfaces", conf: ptr("AOE_INITRAMFS=yes\nAOE_BOOT=yes\nAOE_INTERFACES=\"eth0\"\n"), calls: added("manual_add_modules e1000")},
		{name: "all", conf: ptr("AOE_INITRAMFS=1\nAOE_BOOT=yes\nAOE_INTERFACES=all\n"), calls: added("auto_add_modules net")},
		// aoetools' file next to an aoe.conf without AOE_BOOT: its
		// INTERFACES='none' must not hide AOE_INITRAMFS; a list names
		// the drivers.
		{name: "legacy-none", conf: ptr("AOE_INITRAMFS=yes\n"), legacy: "INTERFACES='none'\n", calls: added("auto_add_modules net")},
		{name: "legacy-eth0", conf: ptr("AOE_INITRAMFS=yes\n"), legacy: "INTERFACES='eth0'\n", calls: added("manual_add_modules e1000")},
		{name: "root-on-aoe", root: "/dev/etherd/e1.2p1", calls: added("auto_add_modules net")},
		{name: "cmdline", cmdline: "root=/dev/etherd/e1.2p1 aoe=eth0:e1.2p1", calls: added("manual_add_modules e1000")},
		// Invalid: on a machine that boots from AoE (/ on AoE, aoe= on
		// the kernel command line) the hook fails loudly, naming file and
		// line, and adds nothing; elsewhere it leaves AoE out with a
		// warning that names them, so that a typo does not stop kernel
		// upgrades where AoE is not needed to boot.
		{name: "yesplease", conf: ptr("AOE_INITRAMFS=yesplease\n"), code: 0,
			stderrIn: []string{`ROOT/etc/aoe/aoe.conf:1: AOE_INITRAMFS: want yes or no, got "yesplease"`, "W: aoe: the AoE configuration is invalid"}},
		{name: "yesplease-root", conf: ptr("\nAOE_INITRAMFS=yesplease\n"), root: "/dev/etherd/e1.2p1", code: 1,
			stderrIn: []string{`ROOT/etc/aoe/aoe.conf:2: AOE_INITRAMFS: want yes or no, got "yesplease"`, "E: aoe: cannot use the AoE configuration"}},
		{name: "yesplease-cmdline", conf: ptr("AOE_INITRAMFS=yesplease\n"), cmdline: "root=/dev/etherd/e1.2p1 aoe=eth0:e1.2p1", code: 1,
			stderrIn: []string{`ROOT/etc/aoe/aoe.conf:1: AOE_INITRAMFS: want yes or no, got "yesplease"`, "E: aoe: cannot use the AoE configuration"}},
		{name: "nul", conf: ptr("AOE_INITRAMFS=yes\nAOE_INTERFACES=\"eth0\x00eth1\"\n"), code: 0,
			stderrIn: []string{`ROOT/etc/aoe/aoe.conf:2: AOE_INTERFACES: NUL byte in value`, "W: aoe:"}},
		{name: "nul-root", conf: ptr("AOE_INITRAMFS=yes\nAOE_INTERFACES=\"eth0\x00eth1\"\n"), root: "/dev/etherd/e1.2p1", code: 1,
			stderrIn: []string{`ROOT/etc/aoe/aoe.conf:2: AOE_INTERFACES: NUL byte in value`, "E: aoe:"}},
		{name: "overflow", conf: ptr("AOE_TIMEOUT=18446744074\n"), code: 0,
			stderrIn: []string{`ROOT/etc/aoe/aoe.conf:1: AOE_TIMEOUT: "18446744074" seconds is too long`, "W: aoe:"}},
		{name: "legacy-bad", legacy: "INTERFACES=\"$IFACES\"\n", code: 0,
			stderrIn: []string{`ROOT/etc/default/aoetools:1: INTERFACES: '$' in double quotes`, "W: aoe:"}},
	}
	for _, shell := range hookShells(t) {
		for _, c := range cases {
			h := newHookRoot(t, aoeBin)
			if c.conf != nil {
				h.write("etc/aoe/aoe.conf", *c.conf, 0o644)
			}
			if c.legacy != "" {
				h.write("etc/default/aoetools", c.legacy, 0o644)
			}
			if c.root != "" {
				h.findmnt(c.root)
			}
			if c.cmdline != "" {
				h.write("proc/cmdline", c.cmdline+"\n", 0o644)
			}
			code, stderr, calls := h.run(shell)
			stderr = strings.ReplaceAll(stderr, h.root, "ROOT")
			paths := strings.NewReplacer(h.root, "ROOT", h.bin, "BIN")
			for i := range calls {
				calls[i] = paths.Replace(calls[i])
			}
			name := filepath.Base(shell[0]) + "/" + c.name
			if code != c.code || strings.Join(calls, "\n") != strings.Join(c.calls, "\n") {
				t.Errorf("%s: exit %d, calls:\n%s\nwant exit %d, calls:\n%s\nstderr: %s", name, code, strings.Join(calls, "\n"), c.code, strings.Join(c.calls, "\n"), stderr)
			}
			if c.code == 0 && len(c.stderrIn) == 0 && stderr != "" {
				t.Errorf("%s: stderr %q", name, stderr)
			}
			for _, w := range c.stderrIn {
				if !strings.Contains(stderr, w) {
					t.Errorf("%s: stderr %q lacks %q", name, stderr, w)
				}
			}
		}
	}
	// prereqs, as initramfs-tools asks first: nothing else is run.
	out, err := exec.Command("sh", hookScript, "prereqs").Output()
	if err != nil || string(out) != "\n" {
		t.Errorf("prereqs: %q %v", out, err)
	}
}

func ptr(s string) *string { return &s }
