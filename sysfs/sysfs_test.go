package sysfs

import (
	"errors"
	"os"
	"reflect"
	"testing"
)

func TestParseInterfaceList(t *testing.T) {
	tests := map[string][]string{
		"":                   {},
		"\n":                 {},
		"eth0\n":             {"eth0"},
		"eth0 eth1\n":        {"eth0", "eth1"},
		"eth0,eth1":          {"eth0", "eth1"},
		" eth0 ,\teth1\v\f,": {"eth0", "eth1"},
		"eth0\x00eth1":       {"eth0"},
	}
	for in, want := range tests {
		got := ParseInterfaceList(in)
		if len(got) == 0 && len(want) == 0 {
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("ParseInterfaceList(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestFormatMAC(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"02ae00000102", "02:ae:00:00:01:02", true},
		{"02AE0000010A", "02:ae:00:00:01:0a", true},
		{"none", "", false},
		{"", "", false},
		{"02ae0000010", "02ae0000010", true},
		{"02ae0000010g", "02ae0000010g", true},
	}
	for _, tt := range tests {
		got, ok := FormatMAC(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("FormatMAC(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestNewFSNotMounted(t *testing.T) {
	_, err := NewFS(t.TempDir())
	if !errors.Is(err, ErrNotMounted) {
		t.Fatalf("NewFS(empty dir) = %v, want ErrNotMounted", err)
	}
}

func TestDevicesBasic(t *testing.T) {
	fs, err := NewFS("testdata/basic")
	if err != nil {
		t.Fatal(err)
	}
	if !fs.ModuleLoaded() {
		t.Error("ModuleLoaded() = false")
	}
	if v, err := fs.ModuleVersion(); err != nil || v != "85" {
		t.Errorf("ModuleVersion() = %q, %v", v, err)
	}
	devs, skipped, err := fs.Devices()
	if err != nil || len(skipped) != 0 {
		t.Fatal(err, skipped)
	}
	var names []string
	for _, d := range devs {
		names = append(names, d.Name)
	}
	// Entries are symlinks: a DirEntry.IsDir filter would drop them all.
	if want := []string{"e1.2", "e1.3", "e2.1", "e7.0"}; !reflect.DeepEqual(names, want) {
		t.Fatalf("devices %q, want %q", names, want)
	}
	d := devs[0]
	if *d.State != "up" || *d.MAC != "02ae00000102" || *d.Firmware != "0x4019" || *d.Dev != "152:32" {
		t.Errorf("e1.2 attributes: %+v", d)
	}
	if n, ok := d.Sectors(); !ok || n != 2097152 {
		t.Errorf("Sectors() = %d, %v", n, ok)
	}
	if n, ok := d.Bytes(); !ok || n != 1073741824 {
		t.Errorf("Bytes() = %d, %v", n, ok)
	}
	if len(d.Partitions) != 2 || d.Partitions[0].Name != "e1.2p1" || *d.Partitions[1].Dev != "152:34" {
		t.Errorf("partitions %+v", d.Partitions)
	}
	if got := devs[2].NetIfs(); !reflect.DeepEqual(got, []string{"eth0", "eth1"}) {
		t.Errorf("e2.1 NetIfs() = %q", got)
	}
	if !d.Up() || d.Open() {
		t.Errorf("e1.2 Up()=%v Open()=%v", d.Up(), d.Open())
	}
	if _, err := fs.Device("e9.9"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Device(e9.9) = %v, want ErrNotExist", err)
	}
	if !fs.NetInterfaceExists("eth1") || fs.NetInterfaceExists("bogus0") || fs.NetInterfaceExists("../net") {
		t.Error("NetInterfaceExists")
	}
}

func TestDevicesMissingAttributes(t *testing.T) {
	fs, err := NewFS("testdata/bugs")
	if err != nil {
		t.Fatal(err)
	}
	d, err := fs.Device("e1.2")
	if err != nil {
		t.Fatal(err)
	}
	if d.Payload != nil {
		t.Errorf("payload = %q, want nil", *d.Payload)
	}
	if _, ok := d.PayloadBytes(); ok {
		t.Error("PayloadBytes ok for a missing file")
	}
}

func TestDevicesInUse(t *testing.T) {
	fs, err := NewFS("testdata/inuse")
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string][]string{"e1.1": nil, "e1.3": {"dm-0"}, "e1.5": {"md0"}} {
		d, err := fs.Device(name)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(d.Holders, want) {
			t.Errorf("%s holders %q, want %q", name, d.Holders, want)
		}
	}
	d, _ := fs.Device("e1.4")
	if !d.Open() || d.Up() {
		t.Errorf("e1.4 (down,closewait) Open()=%v Up()=%v", d.Open(), d.Up())
	}
	d, _ = fs.Device("e1.2")
	if got := d.DevNumbers(); !reflect.DeepEqual(got, []string{"152:16", "152:17"}) {
		t.Errorf("DevNumbers() = %q", got)
	}
}

func TestInterfaceList(t *testing.T) {
	fs, _ := NewFS("testdata/mixed")
	got, err := fs.InterfaceList()
	if err != nil || !reflect.DeepEqual(got, []string{"eth0", "eth1"}) {
		t.Errorf("InterfaceList() = %q, %v", got, err)
	}
	fs, _ = NewFS("testdata/nomodule")
	if _, err := fs.InterfaceList(); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("InterfaceList() without the module = %v", err)
	}
}
