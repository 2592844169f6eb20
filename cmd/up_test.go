package cmd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestUpCheckAndErrors(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "aoe.conf")
	none := filepath.Join(dir, "none")
	write := func(s string) {
		if err := os.WriteFile(conf, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	argv := func(extra ...string) []string {
		return append([]string{"aoe", "up", "--config", conf, "--legacy-config", none, "--fstab", none}, extra...)
	}
	write("# nothing\n")
	r := execute(t, argv("--check"), runOpts{})
	if r.code != 0 || !strings.Contains(r.stdout, "boot discovery: off") {
		t.Errorf("off: %+v", r)
	}
	r = execute(t, argv(), runOpts{})
	if r.code != 0 || !strings.Contains(r.stderr, "AoE boot discovery is off (set AOE_BOOT=yes and AOE_INTERFACES in "+conf+")") || len(r.writes) != 0 {
		t.Errorf("off, up: %+v", r)
	}
	write("AOE_BOOT=yes\nAOE_INTERFACES=eth0,eth1\nAOE_WAIT=e1.2p1\n")
	r = execute(t, argv("--check"), runOpts{})
	if r.code != 0 || !strings.Contains(r.stdout, "interfaces: eth0 eth1\nwait for: e1.2p1\ntimeout: 1m0s\n") {
		t.Errorf("on: %+v", r)
	}
	write("AOE_BOOT=yes\nAOE_INTERFACS=eth0\n")
	r = execute(t, argv(), runOpts{})
	if r.code != ExitUsage || !strings.Contains(r.stderr, conf+":2: AOE_INTERFACS: unknown key") {
		t.Errorf("bad key: %+v", r)
	}
	write("AOE_BOOT=yes\nAOE_INTERFACES=nosuchif0\n")
	r = execute(t, append(argv(), "--sysfs", filepath.Join(fixtures, "basic")), runOpts{})
	if r.code != ExitFailure || !strings.Contains(r.stderr, `"nosuchif0": no such network interface (AOE_INTERFACES in `+conf+")") {
		t.Errorf("missing interface: %+v", r)
	}
	// From aoetools' file: its key and its name.
	legacy := filepath.Join(dir, "aoetools")
	if err := os.WriteFile(legacy, []byte("INTERFACES=nosuchif0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	write("# nothing\n")
	r = execute(t, []string{"aoe", "up", "--config", conf, "--legacy-config", legacy, "--fstab", none, "--sysfs", filepath.Join(fixtures, "basic")}, runOpts{})
	if r.code != ExitFailure || !strings.Contains(r.stderr, `"nosuchif0": no such network interface (INTERFACES in `+legacy+")") {
		t.Errorf("missing interface, aoetools: %+v", r)
	}
}

func TestDownNoDriver(t *testing.T) {
	r := execute(t, []string{"aoe", "down", "--sysfs", filepath.Join(fixtures, "nomodule")}, runOpts{})
	if r.code != 0 || r.stdout != "" || len(r.writes) != 0 {
		t.Errorf("%+v", r)
	}
	r = execute(t, []string{"aoe", "down", "--sysfs", filepath.Join(fixtures, "basic")}, runOpts{})
	if r.code != 0 || len(r.writes) != 1 || string(r.writes[0].data) != "all" {
		t.Errorf("%+v", r)
	}
}

// TestUpPrint: --print KEY prints the effective, normalized value for
// scripts (the initramfs hook), nothing else; 1 naming file and line for an
// invalid file, 2 for an unknown key.
func TestUpPrint(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "aoe.conf")
	legacy := filepath.Join(dir, "aoetools")
	fstab := filepath.Join(dir, "fstab")
	write := func(path, s string) {
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	printKey := func(key string, extra ...string) run {
		return execute(t, append([]string{"aoe", "up", "--config", conf, "--legacy-config", legacy, "--fstab", fstab, "--print", key}, extra...), runOpts{})
	}
	write(fstab, "/dev/etherd/e1.2p1 /srv ext4 defaults 0 2\n")
	write(legacy, "INTERFACES='eth1'\nAOEMOUNTS=/srv\n")
	write(conf, "AOE_BOOT=On\nexport AOE_INTERFACES='eth0,eth1'\nAOE_WAIT=\"e7.0\"\nAOE_TIMEOUT=1m30s\nAOE_INITRAMFS=YES\n")
	for key, want := range map[string]string{
		"AOE_BOOT": "yes", "AOE_INTERFACES": "eth0 eth1", "AOE_WAIT": "e7.0 e1.2p1", "AOE_TIMEOUT": "90",
		"AOE_FSTAB": "yes", "AOE_INITRAMFS": "yes",
	} {
		// The fstab entry lacks _netdev: the note is not printed.
		if r := printKey(key); r.code != 0 || r.stdout != want+"\n" || r.stderr != "" || len(r.writes) != 0 {
			t.Errorf("%s: %+v, want %q", key, r, want)
		}
	}
	if r := printKey("AOE_TIMEOUT", "--timeout", "2500ms"); r.code != 0 || r.stdout != "3\n" {
		t.Errorf("--timeout: %+v", r)
	}
	// aoe.conf without AOE_BOOT: aoetools' file gives the interfaces and
	// AOEMOUNTS; aoe.conf's AOE_INITRAMFS stays.
	write(conf, "AOE_INITRAMFS=yes\n")
	for key, want := range map[string]string{"AOE_BOOT": "yes", "AOE_INTERFACES": "eth1", "AOE_WAIT": "e1.2p1", "AOE_INITRAMFS": "yes", "AOE_TIMEOUT": "60"} {
		if r := printKey(key); r.code != 0 || r.stdout != want+"\n" || r.stderr != "" {
			t.Errorf("legacy %s: %+v, want %q", key, r, want)
		}
	}
	write(legacy, "INTERFACES=''\n")
	if r := printKey("AOE_INTERFACES"); r.code != 0 || r.stdout != "all\n" {
		t.Errorf("legacy all: %+v", r)
	}
	// Nothing configured: the defaults.
	write(conf, "# nothing\n")
	write(legacy, "INTERFACES='none'\n")
	for key, want := range map[string]string{"AOE_BOOT": "no", "AOE_INTERFACES": "", "AOE_WAIT": "", "AOE_INITRAMFS": "no", "AOE_FSTAB": "yes"} {
		if r := printKey(key); r.code != 0 || r.stdout != want+"\n" || r.stderr != "" {
			t.Errorf("default %s: %+v, want %q", key, r, want)
		}
	}
	// An unknown key is the caller's mistake: 2, before the file is read.
	write(conf, "AOE_BOOT=maybe\n")
	for _, key := range []string{"AOE_BOGUS", "aoe_boot", ""} {
		r := printKey(key)
		if r.code != ExitUsage || r.stdout != "" || !strings.Contains(r.stderr, "aoe up: --print: ") || !strings.Contains(r.stderr, "unknown key (known: AOE_BOOT, AOE_INTERFACES, AOE_WAIT, AOE_TIMEOUT, AOE_FSTAB, AOE_INITRAMFS)") {
			t.Errorf("%q: %+v", key, r)
		}
	}
	// An invalid file: 1, naming file, line and key.
	for _, c := range []struct{ conf, want string }{
		{"AOE_BOOT=maybe\n", conf + `:1: AOE_BOOT: want yes or no, got "maybe"`},
		{"\nAOE_INITRAMFS=yesplease\n", conf + `:2: AOE_INITRAMFS: want yes or no, got "yesplease"`},
		{"AOE_TIMEOUT=18446744074\n", conf + `:1: AOE_TIMEOUT: "18446744074" seconds is too long`},
		{"AOE_INTERFACES=\"eth0\x00eth1\"\n", conf + `:1: AOE_INTERFACES: NUL byte in value`},
	} {
		write(conf, c.conf)
		r := printKey("AOE_INITRAMFS")
		if r.code != ExitFailure || r.stdout != "" || !strings.HasPrefix(r.stderr, "aoe up: "+c.want) || strings.Contains(r.stderr, "--help") {
			t.Errorf("%q: %+v, want %q", c.conf, r, c.want)
		}
	}
	write(conf, "# nothing\n")
	write(legacy, "INTERFACES='eth0\x00eth1'\n")
	if r := printKey("AOE_INTERFACES"); r.code != ExitFailure || !strings.Contains(r.stderr, legacy+":1: INTERFACES: NUL byte in value") {
		t.Errorf("legacy NUL: %+v", r)
	}
	if r := printKey("AOE_BOOT", "--check"); r.code != ExitUsage || !strings.Contains(r.stderr, "--print and --check cannot be combined") {
		t.Errorf("--check: %+v", r)
	}
}

// TestUpNotesNameFilesRead: the AOEMOUNTS note names the fstab given with
// --fstab.
func TestUpNotesNameFilesRead(t *testing.T) {
	dir := t.TempDir()
	conf, legacy, fstab := filepath.Join(dir, "aoe.conf"), filepath.Join(dir, "aoetools"), filepath.Join(dir, "fstab.test")
	for p, s := range map[string]string{conf: "", legacy: "INTERFACES=eth0\nAOEMOUNTS='/gone'\n", fstab: "# empty\n"} {
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r := execute(t, []string{"aoe", "up", "--config", conf, "--legacy-config", legacy, "--fstab", fstab, "--check"}, runOpts{})
	if r.code != 0 || !strings.Contains(r.stderr, `AOEMOUNTS: "/gone" is not in `+fstab+";") || strings.Contains(r.stderr, "/etc/fstab") {
		t.Errorf("%+v", r)
	}
}

// TestUpTimeoutFlag: --timeout out of 1s..1h is a usage error, as is one
// that does not parse; never a panic or a wrapped value.
func TestUpTimeoutFlag(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "aoe.conf")
	if err := os.WriteFile(conf, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"0", "-1s", "1ns", "999ms", "61m", "2562048h", "9223372036854775807ns0", "soon"} {
		r := execute(t, []string{"aoe", "up", "--config", conf, "--legacy-config", "", "--fstab", "", "--check", "--timeout", v}, runOpts{})
		if r.code != ExitUsage || r.stdout != "" || !strings.Contains(r.stderr, "timeout") {
			t.Errorf("--timeout %s: %+v", v, r)
		}
	}
	r := execute(t, []string{"aoe", "up", "--config", conf, "--legacy-config", "", "--fstab", "", "--print", "AOE_TIMEOUT", "--timeout", "1h"}, runOpts{})
	if r.code != 0 || r.stdout != "3600\n" {
		t.Errorf("--timeout 1h: %+v", r)
	}
}
