package cmd

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/goaoe/aoe/initiator"
	"github.com/goaoe/aoe/initiator/aoetest"
	"github.com/goaoe/aoe/initiator/wire"
	"github.com/goaoe/aoe/internal/safetext"
	"github.com/goaoe/aoe/internal/units"
)

// fakeSAN is the environment of the wire commands' golden tests: an
// in-memory network per interface with fake targets, no root needed.
//
//	eth0  MTU 1500  e1.1 (config "rack-3"), e1.2 (port 02:ae:00:00:00:02)
//	eth1  MTU 9000  e1.2 (port 02:ae:00:00:00:03, MTU 1500), e2.1 (jumbo;
//	                odd config)
//	eth2  MTU 9000  e3.1: the far end takes 1500 only
//	eth3  down;  lo  loopback
type fakeSAN struct {
	ifaces []net.Interface
	nets   map[string]*aoetest.Network
	tgts   map[string]*aoetest.Target
}

func hostMAC(n byte) net.HardwareAddr { return net.HardwareAddr{0x52, 0x54, 0, 0, 0, n} }

func newFakeSAN(t *testing.T) *fakeSAN {
	f := &fakeSAN{nets: map[string]*aoetest.Network{}, tgts: map[string]*aoetest.Target{}}
	up := net.FlagUp | net.FlagBroadcast
	f.ifaces = []net.Interface{
		{Index: 1, Name: "lo", MTU: 65536, Flags: net.FlagUp | net.FlagLoopback},
		{Index: 2, Name: "eth0", MTU: 1500, HardwareAddr: hostMAC(1), Flags: up},
		{Index: 3, Name: "eth1", MTU: 9000, HardwareAddr: hostMAC(2), Flags: up},
		{Index: 4, Name: "eth2", MTU: 9000, HardwareAddr: hostMAC(3), Flags: up},
		{Index: 5, Name: "eth3", MTU: 1500, HardwareAddr: hostMAC(4), Flags: net.FlagBroadcast},
	}
	for _, n := range []string{"eth0", "eth1", "eth2", "eth3"} {
		f.nets[n] = &aoetest.Network{}
	}
	f.nets["eth2"].Drop = func(frame []byte, to net.HardwareAddr) bool { return len(frame) > 1514 }
	serve := func(iface, name string, tg *aoetest.Target) {
		f.tgts[name] = tg
		f.nets[iface].Serve(t, tg)
	}
	tg := func(shelf uint16, slot uint8, mac byte, mtu int, serial string) *aoetest.Target {
		return &aoetest.Target{Shelf: shelf, Slot: slot, MAC: net.HardwareAddr{2, 0xae, 0, 0, 0, mac}, BufferCount: 16,
			MTU: mtu, Sectors: 2097152, Model: "Coraid EtherDrive vblade", Serial: serial, MaxMasks: 4}
	}
	e11 := tg(1, 1, 1, 1500, "1.1:fake")
	e11.SetConfig([]byte("rack-3"))
	e11.SMART = true
	serve("eth0", "e1.1", e11)
	serve("eth0", "e1.2a", tg(1, 2, 2, 1500, "1.2:fake"))
	serve("eth1", "e1.2b", tg(1, 2, 3, 1500, "1.2:fake")) // a jumbo link, a target that is not
	e21 := tg(2, 1, 4, 9000, "2.1:fake")
	e21.SetConfig([]byte("ünïcödé config beyond thirty-one bytes\x1b[31m\xff\\"))
	serve("eth1", "e2.1", e21)
	serve("eth2", "e3.1", tg(3, 1, 5, 9000, "3.1:fake"))
	return f
}

// setup fills the wire seams of env: interfaces, clients on the fake
// networks, and a clock that stands still (round-trip times of 0).
func (f *fakeSAN) setup(env *Env) {
	env.Interfaces = func() ([]net.Interface, error) { return f.ifaces, nil }
	env.OpenClient = func(name string) (*initiator.Client, error) {
		for _, ifi := range f.ifaces {
			if ifi.Name == name && f.nets[name] != nil {
				c := initiator.New(initiator.Interface{Name: name, MAC: ifi.HardwareAddr, MTU: ifi.MTU}, f.nets[name].Port(ifi.HardwareAddr), &initiator.Config{RTO: 20 * time.Millisecond, MaxRTO: 40 * time.Millisecond})
				return c, nil
			}
		}
		return nil, fmt.Errorf("aoe: interface %s: no such network interface", name)
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	env.Now = func() time.Time { return now }
}

// wireCases run against a fresh fakeSAN each, without root.
var wireCases = []struct {
	name string
	argv []string
}{
	{"probe", []string{"aoe", "discover", "--probe", "--sysfs", "/nonexistent", "--timeout", "2s"}},
	{"probe-json", []string{"aoe", "discover", "--probe", "--sysfs", "/nonexistent", "-i", "eth0", "--json"}},
	{"probe-down", []string{"aoe", "discover", "--probe", "--sysfs", "/nonexistent", "-i", "eth3"}},
	{"probe-bogus", []string{"aoe", "discover", "--probe", "-i", "bogus0"}},
	{"ping", []string{"aoe", "ping", "e1.1", "-i", "eth0", "-c", "2", "--interval", "10ms", "--timeout", "200ms", "--identify"}},
	{"ping-json", []string{"aoe", "ping", "e2.1", "-i", "eth1", "-c", "1", "--timeout", "200ms", "--json"}},
	{"ping-identify-json", []string{"aoe", "ping", "e1.1", "-i", "eth0", "-c", "1", "--timeout", "200ms", "--identify", "--json"}},
	{"mask-json", []string{"aoe", "mask", "e1.2", "-i", "eth0,eth1", "--json"}},
	{"ping-none", []string{"aoe", "ping", "e9.9", "-i", "eth0", "-c", "2", "--interval", "0s", "--timeout", "100ms"}},
	{"ping-bad-name", []string{"aoe", "ping", "e01.2"}},
	{"aoeping", []string{"aoeping", "-v", "-I", "-s", "2", "1", "1", "eth0"}},
	{"aoeping-dump", []string{"aoeping", "-i", "-t", "5", "2", "1", "eth1"}},
	{"aoeping-smart", []string{"aoeping", "-s", "2", "-S", "return_status", "1", "1", "eth0"}},
	{"aoeping-timeout", []string{"aoeping", "-s", "1", "9", "9", "eth0"}},
	{"aoeping-usage", []string{"aoeping", "1", "2"}},
	{"cfg-all", []string{"aoe", "cfg", "--all", "--sysfs", "/nonexistent", "--timeout", "1s"}},
	{"cfg-all-json", []string{"aoe", "cfg", "--all", "-i", "eth1", "--json", "--timeout", "1s"}},
	{"cfg-set-refused", []string{"aoe", "cfg", "e1.1", "-i", "eth0", "-c", "set", "-s", "other"}},
	{"cfg-fset", []string{"aoe", "cfg", "e1.1", "-i", "eth0", "-c", "fset", "-s", "rack-4"}},
	{"cfg-test-mismatch", []string{"aoe", "cfg", "e1.1", "-i", "eth0", "-c", "test", "-s", "nope", "--timeout", "300ms"}},
	{"cfg-set-all", []string{"aoe", "cfg", "--all", "-c", "set", "-s", "x"}},
	{"aoecfg", []string{"aoecfg", "1", "1", "eth0"}},
	{"aoecfg-refused", []string{"aoecfg", "-c", "set", "-s", "x", "1", "1", "eth0"}},
	{"aoecfg-list", []string{"aoecfg", "-t", "1", "eth2"}},
	{"aoecfg-bad-netif", []string{"aoecfg", "1", "2", "9eth"}},
	{"mask", []string{"aoe", "mask", "e1.2", "--sysfs", "/nonexistent", "-i", "eth0,eth1"}},
	{"mask-add", []string{"aoe", "mask", "e1.1", "-i", "eth0", "--add", "self,02:00:00:00:00:0a"}},
	{"mask-lockout", []string{"aoe", "mask", "e1.1", "-i", "eth0", "--add", "02000000000a"}},
	{"mask-bad-mac", []string{"aoe", "mask", "e1.1", "--add", "bogus"}},
	{"mask-unknown", []string{"aoe", "mask", "e4.9", "-i", "eth0", "--timeout", "300ms"}},
	{"reserve-set", []string{"aoe", "reserve", "e1.1", "-i", "eth0", "--set", "self", "--json"}},
	{"reserve-lockout", []string{"aoe", "reserve", "e1.1", "-i", "eth0", "--set", "02:00:00:00:00:0a"}},
	{"reserve-both", []string{"aoe", "reserve", "e1.1", "--set", "self", "--release"}},
	{"sancheck", []string{"aoe", "sancheck", "--sysfs", "/nonexistent", "-v"}},
	{"sancheck-json", []string{"aoe", "sancheck", "--sysfs", "/nonexistent", "-i", "eth2", "--json"}},
	{"aoe-sancheck", []string{"aoe-sancheck"}},
	{"exporter-bad-interface", []string{"aoe", "exporter", "--textfile", "/nonexistent/aoe.prom", "--probe.interval", "10s", "--probe.interface", "nosuch0"}},
}

// TestWireGolden runs the wire commands against the in-memory SAN: whole
// transcripts in testdata/golden/wire, without root.
func TestWireGolden(t *testing.T) {
	for _, c := range wireCases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeSAN(t)
			argv := append([]string(nil), c.argv...)
			// $sysfs_dir: no aoe_iflist, no PCI ids.
			// A UTF-8 locale, as most terminals have (LC_ALL=C: probe-ascii).
			r := execute(t, argv, runOpts{setup: f.setup, env: map[string]string{"sysfs_dir": "/nonexistent", "LANG": "C.UTF-8"}})
			checkGolden(t, "wire/"+c.name, r.transcript(argv, nil))
		})
	}
}

// TestWireGoldenState checks what the commands did to the fake targets.
func TestWireGoldenState(t *testing.T) {
	f := newFakeSAN(t)
	r := execute(t, []string{"aoe", "mask", "e1.1", "-i", "eth0", "--add", "self"}, runOpts{setup: f.setup})
	if r.code != 0 || len(f.tgts["e1.1"].Masks()) != 1 {
		t.Errorf("mask add (exit %d): %q %v", r.code, r.stderr, f.tgts["e1.1"].Masks())
	}
	r = execute(t, []string{"aoe", "reserve", "e1.1", "-i", "eth0", "--set", "02:00:00:00:00:0a", "--force"}, runOpts{setup: f.setup})
	if r.code != 0 || len(f.tgts["e1.1"].Reserved()) != 1 {
		t.Errorf("reserve (exit %d): %q", r.code, r.stderr)
	}
	r = execute(t, []string{"aoe", "reserve", "e1.1", "-i", "eth0", "--release"}, runOpts{setup: f.setup})
	if r.code != 1 || !strings.Contains(r.stderr, "is reserved by 02:00:00:00:00:0a; --force takes it over") {
		t.Errorf("release of another's (exit %d): %q", r.code, r.stderr)
	}
	// A wire timeout on a path exits 5: the target stops answering mask
	// commands after the discovery.
	f.nets["eth0"].Drop = func(frame []byte, to net.HardwareAddr) bool {
		return frame[19] == byte(wire.CommandMACMask)
	}
	r = execute(t, []string{"aoe", "mask", "e1.1", "-i", "eth0"}, runOpts{setup: f.setup})
	if r.code != ExitTimeout || !strings.Contains(r.stderr, "aoe: no reply") {
		t.Errorf("mask timeout (exit %d): %q", r.code, r.stderr)
	}
}

func TestGetoptMessages(t *testing.T) {
	for argv, want := range map[string]string{
		"aoecfg -x":         "aoecfg: invalid option -- 'x'\n" + "usage: aoecfg [-c cmd] [-s cfgstr] [-t timeout] [shelf slot] [net]\n",
		"aoecfg -c":         "aoecfg: option requires an argument -- 'c'\n" + "usage: aoecfg [-c cmd] [-s cfgstr] [-t timeout] [shelf slot] [net]\n",
		"aoecfg --bogus":    "aoecfg: unknown flag: --bogus\n" + "usage: aoecfg [-c cmd] [-s cfgstr] [-t timeout] [shelf slot] [net]\n",
		"aoeping -vx 1 2 3": "aoeping: invalid option -- 'x'\naoeping Error: unrecognized option: x\n",
	} {
		r := execute(t, strings.Fields(argv), runOpts{})
		if r.code != 1 || !strings.HasPrefix(r.stderr, want) {
			t.Errorf("%s: exit %d, %q, want prefix %q", argv, r.code, r.stderr, want)
		}
	}
}

func TestEscapeBytes(t *testing.T) {
	for in, want := range map[string]string{
		"rack-3":               "rack-3",
		"ünï":                  "ünï",
		"a\tb\x1b[31m":         `a\x09b\x1b[31m`,
		"\xff\xfe":             `\xff\xfe`,
		`back\slash`:           `back\\slash`,
		"\u0085 \u200b":        `\xc2\x85 \xe2\x80\x8b`,
		"é" + "\xc3":           `é\xc3`, // a character cut short
		strings.Repeat("é", 3): "ééé",
	} {
		if got := safetext.Bytes([]byte(in)); got != want {
			t.Errorf("safetext.Bytes(%q) = %q, want %q", in, got, want)
		}
	}
	// The probe table's cell is cut between characters, never inside one.
	cell := configCell([]byte(strings.Repeat("é", 40)), units.Charset{UTF8: true})
	if cell != strings.Repeat("é", 31)+"…" {
		t.Errorf("configCell: %q", cell)
	}
	// Outside UTF-8 locales the ellipsis is ASCII, the cell as wide.
	if cell := configCell([]byte(strings.Repeat("é", 40)), units.Charset{}); cell != strings.Repeat("é", 29)+"..." {
		t.Errorf("configCell, ASCII: %q", cell)
	}
}
