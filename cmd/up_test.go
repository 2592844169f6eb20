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
	if r.code != 0 || !strings.Contains(r.stderr, "AoE boot discovery is off") || len(r.writes) != 0 {
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
	if r.code != ExitFailure || !strings.Contains(r.stderr, `"nosuchif0": no such network interface`) {
		t.Errorf("missing interface: %+v", r)
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
