package doctor

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestGatherDriver reads a sysfs fixture and a /dev with by-* links.
func TestGatherDriver(t *testing.T) {
	dev := t.TempDir()
	etherd := filepath.Join(dev, "etherd")
	for _, d := range []string{etherd, filepath.Join(dev, "disk", "by-uuid"), filepath.Join(dev, "disk", "by-label")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for link, target := range map[string]string{
		"disk/by-uuid/0f3c":  "../../etherd/e1.2p1",
		"disk/by-label/data": "../../etherd/e1.2",
		"disk/by-label/sda":  "../../sda",
	} {
		if err := os.Symlink(target, filepath.Join(dev, link)); err != nil {
			t.Fatal(err)
		}
	}
	v := GatherDriver("../../sysfs/testdata/basic", etherd)
	if !v.Seen || !v.Loaded || v.Version != "85" || !v.IfListKnown || len(v.Devices) != 4 {
		t.Fatalf("%+v", v)
	}
	d := v.Devices[0]
	if d.Name != "e1.2" || d.State != "up" || d.MAC != "02:ae:00:00:01:02" || d.NodeOK || d.Dev != "152:32" ||
		strings.Join(d.Partitions, " ") != "e1.2p1 e1.2p2" || strings.Join(d.Names, ";") != "by-label/data;by-uuid/0f3c -> e1.2p1" {
		t.Errorf("%+v", d)
	}
	if v := GatherDriver("../../sysfs/testdata/nomodule", etherd); !v.Seen || v.Loaded {
		t.Errorf("nomodule: %+v", v)
	}
	if v := GatherDriver("/nonexistent", etherd); v.Seen || v.Missing == "" {
		t.Errorf("no sysfs: %+v", v)
	}
}

func TestGatherLinks(t *testing.T) {
	sys := t.TempDir()
	dir := filepath.Join(sys, "class", "net", "eth0.10")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "uevent"), []byte("DEVTYPE=vlan\nINTERFACE=eth0.10\n"), 0o644)
	os.Symlink("../br0", filepath.Join(dir, "master"))
	ls := GatherLinks([]net.Interface{
		{Name: "eth0.10", MTU: 1500, HardwareAddr: net.HardwareAddr{2, 0, 0, 0, 0, 1}, Flags: net.FlagUp | net.FlagRunning},
		{Name: "lo", MTU: 65536, Flags: net.FlagUp | net.FlagLoopback},
	}, sys)
	if l := ls[0]; !l.VLAN || l.Master != "br0" || !l.Up || !l.Carrier || l.MAC != "02:00:00:00:00:01" {
		t.Errorf("%+v", l)
	}
	if l := ls[1]; !l.Loopback || l.Carrier || l.VLAN || l.Master != "" {
		t.Errorf("%+v", l)
	}
}
