package cmd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCompletion(t *testing.T) {
	s := filepath.Join(fixtures, "basic")
	cases := []struct {
		argv []string
		want string
	}{
		{[]string{"aoe", "__complete", "--sysfs", s, "stat", ""}, "e1.2\ne1.3\ne2.1\ne7.0\n:4\n"},
		{[]string{"aoe", "__complete", "--sysfs", s, "flush", "e1.2", "e"}, "e1.3\ne2.1\ne7.0\n:4\n"},
		{[]string{"aoe", "__complete", "--sysfs", s, "ping", "e7"}, "e7.0\n:4\n"},
		{[]string{"aoe", "__complete", "--sysfs", s, "interfaces", ""}, "eth0\neth1\n:4\n"},
		{[]string{"aoe", "__complete", "--sysfs", s, "discover", "--probe", "-i", "eth0,"}, "eth0,eth1\n:4\n"},
		{[]string{"aoe", "__complete", "--sysfs", s, "version", ""}, ":4\n"},
		{[]string{"aoe-revalidate", "__complete", "--sysfs", s, "e2"}, "e2.1\n:4\n"},
		{[]string{"aoe-interfaces", "__complete", "--sysfs", s, "eth1"}, "eth1\n:4\n"},
		{[]string{"aoeping", "__complete", "--sysfs", s, ""}, "1\n2\n7\n:36\n"},
		{[]string{"aoeping", "__complete", "--sysfs", s, "1", ""}, "2\n3\n:36\n"},
		{[]string{"aoeping", "__complete", "--sysfs", s, "1", "2", ""}, "eth0\neth1\n:4\n"},
		{[]string{"aoe", "__complete", "--sysfs", s, "read", "e1"}, "e1.2\ne1.3\n:4\n"},
		{[]string{"aoe", "__complete", "--sysfs", s, "write", "e1.2", ""}, ":4\n"},
		{[]string{"aoe", "__complete", "--sysfs", s, "nbd", "e7"}, "e7.0\n:4\n"},
		{[]string{"aoe", "__complete", "--sysfs", s, "bench", ""}, "e1.2\ne1.3\ne2.1\ne7.0\n:4\n"},
		{[]string{"aoe", "__complete", "--sysfs", s, "discover", "--wait", "e1.2,e"}, "e1.2,e1.3\ne1.2,e2.1\ne1.2,e7.0\n:4\n"},
		{[]string{"aoe", "__complete", "--sysfs", s, "exporter", "--probe.interface", "eth"}, "eth0\neth1\n:4\n"},
	}
	for _, c := range cases {
		r := execute(t, c.argv, runOpts{})
		if r.code != 0 || r.stdout != c.want {
			t.Errorf("%s: got %q (exit %d, %s), want %q", strings.Join(c.argv, " "), r.stdout, r.code, r.stderr, c.want)
		}
	}
}

func TestFilterCandidatesEscapes(t *testing.T) {
	got := filterCandidates([]string{"eth0", "bad\x1bname", "sp ace", "e1.2"}, []string{"e1.2"}, "")
	if strings.Join(got, ",") != "eth0" {
		t.Errorf("%q", got)
	}
}

// TestCompletionInterfacesUp: interfaces that are down (no IFF_UP in
// SYSFS/class/net/NAME/flags) are not offered; AoE cannot use them.
func TestCompletionInterfacesUp(t *testing.T) {
	s := t.TempDir()
	if err := os.Mkdir(filepath.Join(s, "block"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, flags := range map[string]string{"eth0": "0x1003", "eth1": "0x1002", "eth2": "0x1"} {
		dir := filepath.Join(s, "class", "net", name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "flags"), []byte(flags+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, argv := range [][]string{
		{"aoe", "__complete", "--sysfs", s, "interfaces", ""},
		{"aoe-interfaces", "__complete", "--sysfs", s, ""},
		{"aoe", "__complete", "--sysfs", s, "read", "e1.2", "-i", ""},
	} {
		r := execute(t, argv, runOpts{})
		if want := "eth0\neth2\n:4\n"; r.code != 0 || r.stdout != want {
			t.Errorf("%s: got %q (exit %d, %s), want %q", strings.Join(argv, " "), r.stdout, r.code, r.stderr, want)
		}
	}
}
