package cmd

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestInitramfsHookRootWithoutAoeArg: / on AoE as aoetools booted it, with
// no aoe= on the kernel command line (its initramfs loaded the driver and
// discovered at every boot). The hook leaves the local-top script what to
// bring up, /conf/aoe-root (IFACES:DEVICES), so that the system still
// boots once goaoe replaced aoetools; nothing for a root not on AoE.
func TestInitramfsHookRootWithoutAoeArg(t *testing.T) {
	aoeBin := filepath.Join(t.TempDir(), "aoe")
	if out, err := exec.Command("go", "build", "-o", aoeBin, "./aoe").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for _, c := range []struct {
		name, root, conf, want string
		slaves                 []string // under / (254:0) when set
	}{
		{"aoetools", "/dev/etherd/e1.2p1", "", "all:e1.2p1", nil},
		{"migrated", "/dev/etherd/e1.2p1", "AOE_BOOT=yes\nAOE_INTERFACES=all\n", "all:e1.2p1", nil},
		{"interfaces", "/dev/etherd/e1.2", "AOE_BOOT=yes\nAOE_INTERFACES=\"eth0 eth1\"\n", "eth0,eth1:e1.2", nil},
		{"not-aoe", "/dev/sda1", "AOE_INITRAMFS=yes\n", "", nil},
		// / on LVM over md over two AoE partitions.
		{"lvm-md", "/dev/mapper/vg-root", "", "all:e1.2p1,e1.3p1", []string{"md0/slaves/etherd!e1.3p1", "md0/slaves/etherd!e1.2p1"}},
		{"lvm-local", "/dev/mapper/vg-root", "", "", []string{"sda2"}},
	} {
		for _, shell := range hookShells(t) {
			h := newHookRoot(t, aoeBin)
			h.findmnt(c.root)
			if c.slaves != nil {
				fm := "#!/bin/sh\ncase \"$*\" in *MAJ:MIN*) echo 254:0 ;; *) echo '" + c.root + "' ;; esac\n"
				if err := os.WriteFile(filepath.Join(h.bin, "findmnt"), []byte(fm), 0o755); err != nil {
					t.Fatal(err)
				}
				for _, s := range c.slaves {
					if err := os.MkdirAll(h.path("sys/dev/block/254:0/slaves/"+s), 0o755); err != nil {
						t.Fatal(err)
					}
				}
			}
			if c.conf != "" {
				h.write("etc/aoe/aoe.conf", c.conf, 0o644)
			}
			name := filepath.Base(shell[0]) + "/" + c.name
			if code, stderr, _ := h.run(shell); code != 0 {
				t.Fatalf("%s: exit %d: %s", name, code, stderr)
			}
			b, err := os.ReadFile(h.path("initramfs/conf/aoe-root"))
			if got := strings.TrimSpace(string(b)); got != c.want || (c.want == "") != (err != nil) {
				t.Errorf("%s: /conf/aoe-root = %q (%v), want %q", name, got, err, c.want)
			}
		}
	}
}

// TestHookLocalTop runs the initramfs-tools local-top script on a fake
// root (its absolute paths moved under it; ip and aoe are stubs that log).
func TestHookLocalTop(t *testing.T) {
	const functions = `wait_for_udev() { :; }
log_begin_msg() { :; }
log_end_msg() { :; }
log_warning_msg() { echo "warning $*" >> "$LOG"; }
log_failure_msg() { echo "failure $*" >> "$LOG"; }
`
	run := func(cmdline, aoeRoot string) string {
		t.Helper()
		root, bin := t.TempDir(), t.TempDir()
		w := func(p, s string, mode os.FileMode) {
			t.Helper()
			if err := os.MkdirAll(filepath.Dir(filepath.Join(root, p)), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(root, p), []byte(s), mode); err != nil {
				t.Fatal(err)
			}
		}
		w("proc/cmdline", cmdline+"\n", 0o644)
		w("scripts/functions", functions, 0o644)
		w("sys/class/net/lo/x", "", 0o644)
		w("sys/class/net/eth0/x", "", 0o644)
		w("sys/class/net/eth1/x", "", 0o644)
		if aoeRoot != "" {
			w("conf/aoe-root", aoeRoot+"\n", 0o644)
		}
		os.MkdirAll(filepath.Join(root, "run"), 0o755)
		w("usr/sbin/aoe", "#!/bin/sh\necho \"aoe $*\" >> \"$LOG\"\nsed 's/^/conf /' \"$3\" >> \"$LOG\"\n", 0o755)
		os.WriteFile(filepath.Join(bin, "ip"), []byte("#!/bin/sh\necho \"ip $*\" >> \"$LOG\"\n"), 0o755)
		b, err := os.ReadFile("../dist/initramfs-tools/scripts/local-top/aoe")
		if err != nil {
			t.Fatal(err)
		}
		s := regexp.MustCompile(`(^|[\s"'=<])/(proc|scripts|conf|run|usr|sys)/`).ReplaceAllString(string(b), "${1}"+root+"/${2}/")
		script := filepath.Join(root, "local-top")
		os.WriteFile(script, []byte(s), 0o755)
		log := filepath.Join(root, "log")
		cmd := exec.Command("dash", script)
		cmd.Env = []string{"PATH=" + bin + ":/usr/bin:/bin", "LOG=" + log}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("local-top: %v\n%s", err, out)
		}
		got, _ := os.ReadFile(log)
		return strings.ReplaceAll(string(got), root, "ROOT")
	}
	// Not on AoE: nothing at all.
	if got := run("root=/dev/sda1 ro", ""); got != "" {
		t.Errorf("no aoe=, no /conf/aoe-root: %q", got)
	}
	// aoetools' way: every interface but lo up, the driver on all.
	got := run("root=/dev/etherd/e1.2p1 ro", "all:e1.2p1")
	for _, want := range []string{"ip link set dev eth0 up\n", "ip link set dev eth1 up\n", "aoe up --config ROOT/run/aoe-initramfs.conf", "conf AOE_INTERFACES=all\n", "conf AOE_WAIT=e1.2p1\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("/conf/aoe-root all:e1.2p1: log lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, " lo ") || strings.Contains(got, "warning") || strings.Contains(got, "failure") {
		t.Errorf("/conf/aoe-root all:e1.2p1:\n%s", got)
	}
	// aoe= wins over /conf/aoe-root.
	got = run("root=/dev/etherd/e1.2p1 aoe=eth1:e1.2p1:30", "all:e1.2p1")
	if !strings.Contains(got, "conf AOE_INTERFACES=eth1\n") || strings.Contains(got, "eth0") {
		t.Errorf("aoe= and /conf/aoe-root:\n%s", got)
	}
}
