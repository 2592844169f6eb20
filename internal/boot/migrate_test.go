package boot

import (
	"reflect"
	"strings"
	"testing"
)

// debianDefault (config_test.go) is /etc/default/aoetools as Debian ships it.

func TestMigrateAoetoolsUnderSystemd(t *testing.T) {
	conf := "# /etc/aoe/aoe.conf as shipped: all commented\n#AOE_BOOT=yes\n"
	m, err := MigrateAoetools([]byte(conf), []byte(debianDefault), []byte("/dev/etherd/e1.2p1 /srv ext4 _netdev 0 0\n"), true, "2026-12-06")
	if err != nil || !m.Needed || m.Interfaces != "all" || len(m.Wait) != 0 {
		t.Fatalf("%+v %v", m, err)
	}
	// The result turns boot on, on every interface, and fstab is waited for.
	cfg, set, err := Parse(DefaultConfigPath, []byte(conf+m.Append))
	if err != nil || !set || !cfg.Boot || !cfg.AllInterfaces || !cfg.Fstab {
		t.Fatalf("migrated aoe.conf: %+v set=%v %v\n%s", cfg, set, err, m.Append)
	}
	if len(m.Messages) != 1 || !strings.Contains(m.Messages[0], "aoetools loaded the aoe driver at every boot on every interface") || !strings.Contains(m.Messages[0], "AOE_BOOT=yes, AOE_INTERFACES=all") {
		t.Errorf("messages: %q", m.Messages)
	}
	if !strings.Contains(m.Append, "(2026-12-06)") {
		t.Errorf("append:\n%s", m.Append)
	}
}

func TestMigrateAoetoolsSettings(t *testing.T) {
	legacy := "INTERFACES=\"eth1 eth2\"\nAOEMOUNTS='/srv /nfs /gone'\nLVMGROUPS=vg0\n"
	fstab := "/dev/etherd/e1.2p1 /srv ext4 noauto 0 0\nhost:/x /nfs nfs _netdev 0 0\n"
	// Under systemd aoetools did not apply INTERFACES: all, with a note.
	m, err := MigrateAoetools(nil, []byte(legacy), []byte(fstab), true, "d")
	if err != nil || m.Interfaces != "all" || !reflect.DeepEqual(m.Wait, []string{"e1.2p1"}) {
		t.Fatalf("%+v %v", m, err)
	}
	all := strings.Join(m.Messages, "\n")
	for _, want := range []string{`INTERFACES="eth1 eth2", which aoetools did not apply under systemd`, "LVMGROUPS not carried over", "AOE_WAIT=e1.2p1 (AOEMOUNTS)"} {
		if !strings.Contains(all, want) {
			t.Errorf("messages lack %q:\n%s", want, all)
		}
	}
	cfg, _, err := Parse(DefaultConfigPath, []byte(m.Append))
	if err != nil || !reflect.DeepEqual(cfg.Wait, []string{"e1.2p1"}) {
		t.Errorf("%+v %v\n%s", cfg, err, m.Append)
	}
	// Without systemd its init script restricted the driver to them.
	m, _ = MigrateAoetools(nil, []byte(legacy), []byte(fstab), false, "d")
	cfg, _, err = Parse(DefaultConfigPath, []byte(m.Append))
	if err != nil || !reflect.DeepEqual(cfg.Interfaces, []string{"eth1", "eth2"}) {
		t.Errorf("sysvinit: %+v %v\n%s", cfg, err, m.Append)
	}
}

// TestMigrateAoetoolsKeepsConfigured: an aoe.conf that sets AOE_BOOT is the
// administrator's decision; a bad one is not touched.
func TestMigrateAoetoolsKeepsConfigured(t *testing.T) {
	m, err := MigrateAoetools([]byte("AOE_BOOT=no\n"), []byte(debianDefault), nil, true, "d")
	if err != nil || m.Needed || m.Append != "" || len(m.Messages) != 1 {
		t.Errorf("%+v %v", m, err)
	}
	if _, err = MigrateAoetools([]byte("AOE_BOOT=maybe\n"), nil, nil, true, "d"); err == nil {
		t.Error("a bad aoe.conf was accepted")
	}
	// No /etc/default/aoetools at all: aoetools still loaded the driver.
	if m, err = MigrateAoetools(nil, nil, nil, true, "d"); err != nil || !m.Needed || m.Interfaces != "all" {
		t.Errorf("%+v %v", m, err)
	}
}

// TestMigrateAoetoolsKeysAlreadySet: an aoe.conf left by a removed (not
// purged) goaoe may set AOE_INTERFACES or AOE_WAIT without AOE_BOOT (while
// AOE_BOOT is unset, aoetools' file decides). The migration must not set
// them a second time: a repeated key is an error, and aoe up (and the
// initramfs hook) would fail on the file it wrote.
func TestMigrateAoetoolsKeysAlreadySet(t *testing.T) {
	conf := "AOE_INTERFACES=eth1\nAOE_WAIT=e9.9\nAOE_TIMEOUT=90\n"
	fstab := "/dev/etherd/e1.2p1 /srv ext4 _netdev 0 0\n"
	m, err := MigrateAoetools([]byte(conf), []byte("AOEMOUNTS=/srv\n"), []byte(fstab), true, "d")
	if err != nil || !m.Needed {
		t.Fatalf("%+v %v", m, err)
	}
	cfg, set, err := Parse(DefaultConfigPath, []byte(conf+m.Append))
	if err != nil || !set || !cfg.Boot {
		t.Fatalf("migrated aoe.conf does not parse: %+v %v\n%s", cfg, err, conf+m.Append)
	}
	if !reflect.DeepEqual(cfg.Interfaces, []string{"eth1"}) || !reflect.DeepEqual(cfg.Wait, []string{"e9.9"}) {
		t.Errorf("the administrator's values were not kept: %+v", cfg)
	}
	all := strings.Join(m.Messages, "\n")
	for _, want := range []string{"AOE_INTERFACES", "AOE_WAIT", "already set"} {
		if !strings.Contains(all, want) {
			t.Errorf("messages lack %q:\n%s", want, all)
		}
	}
}
