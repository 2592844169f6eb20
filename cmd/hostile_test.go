package cmd

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/goaoe/aoe/initiator/aoetest"
	"github.com/goaoe/aoe/initiator/wire"
)

// hostileSAN is the fake SAN with misbehaving peers on eth0.
func hostileSAN(t *testing.T, hs ...*aoetest.Hostile) *fakeSAN {
	t.Helper()
	f := newFakeSAN(t)
	for _, h := range hs {
		f.nets["eth0"].ServeHostile(t, h)
	}
	return f
}

// hostileTarget is a well-behaved fake target for a hostile peer to start
// from.
func hostileTarget(shelf uint16, slot uint8, mac byte) *aoetest.Target {
	return &aoetest.Target{Shelf: shelf, Slot: slot, MAC: net.HardwareAddr{2, 0xbd, 0, 0, 0, mac}, BufferCount: 16,
		MTU: 1500, Sectors: 2048, Model: "hostile", Serial: "hostile-1", MaxMasks: 4}
}

func (f *fakeSAN) run(t *testing.T, argv ...string) run {
	t.Helper()
	return execute(t, argv, runOpts{setup: f.setup, env: map[string]string{"sysfs_dir": "/nonexistent"}})
}

// rawControl reports a byte or character that would act on a terminal:
// C0 controls but newline and tab, DEL, C1 controls, bidi and other invisible
// format characters, invalid UTF-8.
func rawControl(s string) (string, bool) {
	for i, r := range s {
		switch {
		case r == '\n', r == '\t':
		case r == utf8.RuneError:
			return s[max(0, i-20):min(len(s), i+20)], true
		case r < 0x20, r == 0x7f, r >= 0x80 && r < 0xa0,
			r >= 0x200b && r <= 0x200f, r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069, r == 0x061c:
			return s[max(0, i-20):min(len(s), i+20)], true
		}
	}
	return "", false
}

// TestHostileFloodProbe: a peer answering the probe with 10,000 addresses
// makes a truncated list, said on stderr, exit 1, within the timeout.
func TestHostileFloodProbe(t *testing.T) {
	f := hostileSAN(t, &aoetest.Hostile{Flood: 10000})
	start := time.Now()
	r := f.run(t, "aoe", "discover", "--probe", "-i", "eth0", "--timeout", "3s")
	if d := time.Since(start); d > 6*time.Second {
		t.Errorf("the probe took %v for --timeout 3s", d)
	}
	rows := strings.Count(r.stdout, "\n") - 1
	if r.code != 1 || !strings.Contains(r.stderr, "incomplete answer") || !strings.Contains(r.stderr, "not complete") || rows > maxReplies {
		t.Errorf("flood: exit %d, %d rows, stderr %.300q", r.code, rows, r.stderr)
	}
	if !strings.Contains(r.stderr, "truncated: more than 4096 answered") && !strings.Contains(r.stderr, "lost before they could be read") {
		t.Errorf("flood: neither truncation nor loss said: %.300q", r.stderr)
	}
	// The same through sancheck and cfg --all.
	for _, argv := range [][]string{
		{"aoe", "sancheck", "-i", "eth0", "--timeout", "3s"},
		{"aoe", "cfg", "--all", "-i", "eth0", "--timeout", "3s"},
	} {
		f := hostileSAN(t, &aoetest.Hostile{Flood: 10000})
		start := time.Now()
		r := f.run(t, argv...)
		if d := time.Since(start); d > 6*time.Second {
			t.Errorf("%s took %v", argv[1], d)
		}
		if r.code != 1 || !strings.Contains(r.stderr, "incomplete answer") {
			t.Errorf("%s flood: exit %d, stderr %.300q", argv[1], r.code, r.stderr)
		}
	}
}

// TestHostileFloodOthers: a flood of answers from other addresses does not
// disturb the commands aimed at one target; aoecfg's listing stops at the
// cap and says so.
func TestHostileFloodOthers(t *testing.T) {
	f := hostileSAN(t, &aoetest.Hostile{Flood: 10000})
	for _, argv := range [][]string{
		{"aoe", "ping", "e1.1", "-i", "eth0", "-c", "5", "--interval", "10ms"},
		{"aoeping", "-I", "1", "1", "eth0"},
	} {
		if r := f.run(t, argv...); r.code != 0 {
			t.Errorf("%s: exit %d %.300q", strings.Join(argv, " "), r.code, r.stderr)
		}
	}
	// The flood fills the receive buffer: a path of e1.1 may have been
	// lost with it, which these say (exit 1) rather than edit or show an
	// incomplete set of paths as the whole. Whether the queue overflows
	// while they listen depends on the machine's speed: both are right.
	for _, argv := range [][]string{
		{"aoecfg", "1", "1", "eth0"},
		{"aoe", "mask", "e1.1", "-i", "eth0"},
		{"aoe", "reserve", "e1.1", "-i", "eth0"},
		{"aoe", "cfg", "e1.1", "-i", "eth0"},
	} {
		if r := f.run(t, argv...); r.code != 0 && (r.code != 1 || !strings.Contains(r.stderr, "incomplete answer")) {
			t.Errorf("%s: exit %d %.300q", strings.Join(argv, " "), r.code, r.stderr)
		}
	}
	r := f.run(t, "aoecfg", "-t", "3", "eth0")
	if r.code != 1 || !strings.Contains(r.stderr, "aoecfg: incomplete answer") || strings.Count(r.stdout, "\n") > maxReplies {
		t.Errorf("aoecfg listing: exit %d, %d lines, %.300q", r.code, strings.Count(r.stdout, "\n"), r.stderr)
	}
}

// TestHostileForgedSources: replies from broadcast, zero, multicast or our
// own MAC are no targets, in any command.
func TestHostileForgedSources(t *testing.T) {
	for _, mode := range []aoetest.SourceMode{aoetest.SourceBroadcast, aoetest.SourceZero, aoetest.SourceMulticast, aoetest.SourceRequester} {
		f := hostileSAN(t, &aoetest.Hostile{Target: hostileTarget(5, 5, 9), Source: mode})
		for _, argv := range [][]string{
			{"aoe", "discover", "--probe", "-i", "eth0", "--timeout", "500ms"},
			{"aoe", "cfg", "--all", "-i", "eth0", "--timeout", "500ms"},
			{"aoe", "sancheck", "-i", "eth0", "--timeout", "500ms", "-v"},
			{"aoe-sancheck", "-v"},
		} {
			if r := f.run(t, argv...); strings.Contains(r.stdout, "e5.5") || strings.Contains(r.stdout, "5.5 ") {
				t.Errorf("source mode %d: %s lists the forged e5.5:\n%s", mode, strings.Join(argv, " "), r.stdout)
			}
		}
		if r := f.run(t, "aoe", "ping", "e5.5", "-i", "eth0", "-c", "1", "--timeout", "200ms"); r.code != 1 {
			t.Errorf("source mode %d: ping of the forged e5.5 exit %d: %s", mode, r.code, r.stdout)
		}
	}
}

// TestHostileBroadcastAddresses: replies that claim a broadcast address
// (shelf 65535 or slot 255) are no devices, in sancheck as in discover
// and cfg.
func TestHostileBroadcastAddresses(t *testing.T) {
	f := hostileSAN(t, &aoetest.Hostile{Target: hostileTarget(65535, 255, 7)}, &aoetest.Hostile{Target: hostileTarget(65535, 1, 8)},
		&aoetest.Hostile{Target: hostileTarget(3, 255, 9)})
	for _, argv := range [][]string{
		{"aoe", "sancheck", "-i", "eth0", "-v", "--timeout", "500ms"},
		{"aoe-sancheck", "-v"},
		{"aoe", "discover", "--probe", "-i", "eth0", "--timeout", "500ms"},
		{"aoe", "cfg", "--all", "-i", "eth0", "--timeout", "500ms"},
		{"aoecfg", "-t", "1", "eth0"},
	} {
		r := f.run(t, argv...)
		for _, bad := range []string{"e65535", "e3.255", "65535.", "3.255"} {
			if strings.Contains(r.stdout, bad) {
				t.Errorf("%s lists %s:\n%s", strings.Join(argv, " "), bad, r.stdout)
			}
		}
	}
}

// hostileConfig is a config string with everything that acts on a
// terminal, and a newline that would forge an aoecfg line.
const hostileConfig = "ok\x1b[2J\x07\xc2\x9b31m\x9b\r\b\nfake 9.9\n\u202eevil\u2066\u200e\u061c"

// TestHostileEscaping: untrusted bytes never reach the terminal raw, in
// any output mode, and JSON stays valid and exact.
func TestHostileEscaping(t *testing.T) {
	tg := hostileTarget(6, 6, 6)
	tg.SetConfig([]byte(hostileConfig))
	tg.Model = "model\x1b]0;pwned\x07"
	tg.Serial = "ser\u202eial"
	f := hostileSAN(t, &aoetest.Hostile{Target: tg})
	for _, argv := range [][]string{
		{"aoe", "discover", "--probe", "-i", "eth0", "--timeout", "500ms"},
		{"aoe", "discover", "--probe", "-i", "eth0", "--timeout", "500ms", "--json"},
		{"aoe", "cfg", "e6.6", "-i", "eth0"},
		{"aoe", "cfg", "--all", "-i", "eth0", "--timeout", "500ms"},
		{"aoe", "cfg", "--all", "-i", "eth0", "--json", "--timeout", "500ms"},
		{"aoe", "ping", "e6.6", "-i", "eth0", "-c", "1", "--identify"},
		{"aoe", "ping", "e6.6", "-i", "eth0", "-c", "1", "--identify", "--json"},
		{"aoecfg", "6", "6", "eth0"},
		{"aoecfg", "-t", "1", "eth0"},
		{"aoeping", "-I", "6", "6", "eth0"},
		{"aoe", "sancheck", "-i", "eth0", "-v", "--timeout", "500ms"},
		{"aoe", "sancheck", "-i", "eth0", "--json", "--timeout", "500ms"},
	} {
		r := f.run(t, argv...)
		for name, out := range map[string]string{"stdout": r.stdout, "stderr": r.stderr} {
			if ctx, bad := rawControl(out); bad {
				t.Errorf("%s: raw control on %s near %q", strings.Join(argv, " "), name, ctx)
			}
		}
		if strings.Contains(r.stdout, "\nfake 9.9") || strings.Contains(r.stdout, "\n6.6\tfake") {
			t.Errorf("%s: a forged line:\n%s", strings.Join(argv, " "), r.stdout)
		}
		if argv[len(argv)-1] == "--json" || (len(argv) > 3 && argv[len(argv)-3] == "--json") {
			var v any
			if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
				t.Errorf("%s: invalid JSON: %v", strings.Join(argv, " "), err)
			}
		}
	}
	// JSON keeps the exact string.
	r := f.run(t, "aoe", "cfg", "e6.6", "-i", "eth0", "--json")
	var got []cfgAnswer
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || len(got) != 1 || got[0].Config != strings.ToValidUTF8(hostileConfig, "\ufffd") {
		t.Errorf("cfg --json: %v %q", err, r.stdout)
	}
	// Classic aoecfg: printable strings byte for byte, backslash included.
	tg.SetConfig([]byte(`rack\3 ünï`))
	if r := f.run(t, "aoecfg", "6", "6", "eth0"); r.stdout != "rack\\3 ünï\n" {
		t.Errorf("aoecfg printable: %q", r.stdout)
	}
}

// TestHostileImpostor: a second path that answers Query Config for e1.2
// but never IDENTIFY is unverified, not ok.
func TestHostileImpostor(t *testing.T) {
	imp := hostileTarget(1, 2, 0x66)
	f := hostileSAN(t, &aoetest.Hostile{Target: imp, NoATA: true})
	r := f.run(t, "aoe", "discover", "--probe", "-i", "eth0", "--timeout", "1s")
	if !lineHas(r.stdout, "e1.2", "unverified") || !strings.Contains(r.stderr, "e1.2 via 02:bd:00:00:00:66 on eth0: unverified") {
		t.Errorf("probe: %s%s", r.stdout, r.stderr)
	}
	r = f.run(t, "aoe", "discover", "--probe", "-i", "eth0", "--timeout", "1s", "--json")
	var targets []probeJSON
	if err := json.Unmarshal([]byte(r.stdout), &targets); err != nil {
		t.Fatal(err)
	}
	for _, tj := range targets {
		if tj.Device == "e1.2" && (!tj.Unverified || len(tj.Paths) != 2) {
			t.Errorf("probe --json e1.2: %+v", tj)
		}
		if tj.Device == "e1.1" && tj.Unverified {
			t.Errorf("probe --json e1.1 unverified: %+v", tj)
		}
	}
	r = f.run(t, "aoe", "sancheck", "-i", "eth0", "--timeout", "1s")
	if !lineHas(r.stdout, "e1.2", "unverified") || !strings.Contains(r.stdout, "answered no IDENTIFY: unverified") {
		t.Errorf("sancheck: %s", r.stdout)
	}
	r = f.run(t, "aoe-sancheck")
	if !strings.Contains(r.stdout, "eth0->02bd00000066 answered no IDENTIFY") {
		t.Errorf("aoe-sancheck: %s", r.stdout)
	}
}

func lineHas(out string, words ...string) bool {
	for _, l := range strings.Split(out, "\n") {
		ok := true
		for _, w := range words {
			ok = ok && strings.Contains(l, w)
		}
		if ok {
			return true
		}
	}
	return false
}

// TestHostileCapacity: an IDENTIFY claim beyond LBA48 is said as claimed,
// flagged invalid, never a wrapped byte count.
func TestHostileCapacity(t *testing.T) {
	for _, sectors := range []uint64{1 << 56, 1<<64 - 1} {
		tg := hostileTarget(8, 8, 8)
		tg.Sectors = sectors
		f := hostileSAN(t, &aoetest.Hostile{Target: tg})
		r := f.run(t, "aoe", "discover", "--probe", "-i", "eth0", "--timeout", "500ms", "--json")
		var targets []probeJSON
		if err := json.Unmarshal([]byte(r.stdout), &targets); err != nil {
			t.Fatal(err)
		}
		for _, tj := range targets {
			if tj.Device == "e8.8" && (tj.Bytes != nil || !tj.CapacityInvalid || tj.Sectors == nil || *tj.Sectors != sectors) {
				t.Errorf("%d sectors: %+v", sectors, tj)
			}
		}
		r = f.run(t, "aoe", "discover", "--probe", "-i", "eth0", "--timeout", "500ms")
		if !lineHas(r.stdout, "e8.8", "INVALID") || !strings.Contains(r.stderr, "invalid capacity") {
			t.Errorf("%d sectors: %s%s", sectors, r.stdout, r.stderr)
		}
		r = f.run(t, "aoe", "ping", "e8.8", "-i", "eth0", "-c", "1", "--identify", "--json")
		var sum struct {
			Identify []struct {
				Sectors         uint64  `json:"sectors"`
				Bytes           *uint64 `json:"bytes"`
				CapacityInvalid bool    `json:"capacity_invalid"`
			} `json:"identify"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &sum); err != nil || len(sum.Identify) != 1 || sum.Identify[0].Sectors != sectors || sum.Identify[0].Bytes != nil || !sum.Identify[0].CapacityInvalid {
			t.Errorf("ping %d sectors: %v %s", sectors, err, r.stdout)
		}
	}
}

// TestHostileACLErrors: a list that could not be read is never shown as
// an empty one.
func TestHostileACLErrors(t *testing.T) {
	f := hostileSAN(t, &aoetest.Hostile{Target: hostileTarget(4, 4, 4), ErrorCode: 3})
	for _, argv := range [][]string{
		{"aoe", "mask", "e4.4", "-i", "eth0"},
		{"aoe", "reserve", "e4.4", "-i", "eth0"},
	} {
		r := f.run(t, argv...)
		if r.code == 0 || strings.Contains(r.stdout, "empty") || !strings.Contains(r.stdout, "unknown (not read") {
			t.Errorf("%s: exit %d %q %q", argv[1], r.code, r.stdout, r.stderr)
		}
		r = f.run(t, append(argv, "--json")...)
		var paths []aclPath
		if err := json.Unmarshal([]byte(r.stdout), &paths); err != nil || len(paths) != 1 || paths[0].List != nil || paths[0].Error == nil {
			t.Errorf("%s --json: %v %s", argv[1], err, r.stdout)
		}
	}
	// A target that does not answer the list command at all: no list.
	f = hostileSAN(t)
	f.nets["eth0"].Drop = func(frame []byte, to net.HardwareAddr) bool {
		return frame[19] == byte(wire.CommandMACMask) || frame[19] == byte(wire.CommandReserve)
	}
	for _, what := range []string{"mask", "reserve"} {
		r := f.run(t, "aoe", what, "e1.1", "-i", "eth0")
		if r.code != ExitTimeout || strings.Contains(r.stdout, "empty") {
			t.Errorf("%s no reply: exit %d %q", what, r.code, r.stdout)
		}
	}
}

// TestHostilePingErrors: replies with the error flag are no answers.
func TestHostilePingErrors(t *testing.T) {
	f := hostileSAN(t, &aoetest.Hostile{Target: hostileTarget(4, 4, 4), ErrorCode: 3})
	r := f.run(t, "aoe", "ping", "e4.4", "-i", "eth0", "-c", "2", "--interval", "10ms", "--timeout", "200ms")
	if r.code != 1 || !strings.Contains(r.stdout, "0 answered (2 answered only with errors), 100% loss") || !strings.Contains(r.stderr, "only with errors") {
		t.Errorf("ping: exit %d %s%s", r.code, r.stdout, r.stderr)
	}
	r = f.run(t, "aoeping", "4", "4", "eth0")
	if r.code != 1 {
		t.Errorf("aoeping: exit %d %s%s", r.code, r.stdout, r.stderr)
	}
}

// TestHostileSlowTarget: a target that answers 800 ms late is listed when
// the user gives a timeout. Without one, a search that found targets is
// quiet (--help says a slower target may be missing); sancheck -v says it
// on stderr.
func TestHostileSlowTarget(t *testing.T) {
	f := hostileSAN(t, &aoetest.Hostile{Target: hostileTarget(7, 7, 7), Delay: 800 * time.Millisecond})
	for _, argv := range [][]string{
		{"aoe", "discover", "--probe", "-i", "eth0", "--timeout", "2s"},
		{"aoe", "cfg", "--all", "-i", "eth0", "--timeout", "2s"},
		{"aoe", "sancheck", "-i", "eth0", "--timeout", "3s"},
	} {
		if r := f.run(t, argv...); !strings.Contains(r.stdout, "e7.7") {
			t.Errorf("%s: the slow e7.7 is missing: %s%s", strings.Join(argv, " "), r.stdout, r.stderr)
		}
	}
	for _, argv := range [][]string{
		{"aoe", "discover", "--probe", "-i", "eth0"},
		{"aoe", "cfg", "--all", "-i", "eth0"},
		{"aoe", "sancheck", "-i", "eth0"},
	} {
		r := f.run(t, argv...)
		if r.code != 0 || r.stderr != "" {
			t.Errorf("%s: exit %d, stderr %q: a search that found targets is quiet", strings.Join(argv, " "), r.code, r.stderr)
		}
	}
	if r := f.run(t, "aoe", "sancheck", "-v", "-i", "eth0"); !strings.Contains(r.stdout, "e7.7") && !strings.Contains(r.stderr, "a slower target may be missing") {
		t.Errorf("sancheck -v: missed e7.7 without a word: %s%s", r.stdout, r.stderr)
	}
	r := f.run(t, "aoe", "cfg", "e9.9", "-i", "eth0")
	if strings.Contains(r.stderr, "within 2s") || !strings.Contains(r.stderr, "--timeout 2s waits that long") {
		t.Errorf("cfg of a missing target: %q", r.stderr)
	}
}

// TestHostileInterrupt: Ctrl-C during aoe ping prints the statistics and
// exits 130; aoeping says it was interrupted.
func TestHostileInterrupt(t *testing.T) {
	f := newFakeSAN(t)
	for _, c := range []struct {
		argv []string
		out  string
	}{
		{[]string{"aoe", "ping", "e1.1", "-i", "eth0", "-c", "100", "--interval", "50ms"}, "AoE ping statistics"},
		{[]string{"aoeping", "9", "9", "eth0"}, "interrupted"},
		{[]string{"aoe", "discover", "--probe", "-i", "eth0", "--timeout", "5s"}, ""},
		{[]string{"aoe", "cfg", "--all", "-i", "eth0", "--timeout", "5s"}, ""},
		{[]string{"aoe", "sancheck", "-i", "eth0", "--timeout", "5s"}, ""},
	} {
		var stdout, stderr bytes.Buffer
		env := &Env{Stdout: &stdout, Stderr: &stderr, Stdin: strings.NewReader(""), Getenv: func(string) string { return "" }, Version: "test"}
		f.setup(env)
		ctx, cancel := context.WithCancel(context.Background()) // Ctrl-C, as cmd/aoe's signal.NotifyContext
		time.AfterFunc(300*time.Millisecond, cancel)
		code := Main(ctx, c.argv, env)
		if c.out == "" { // an interrupted search prints no list, which would look complete
			if code != ExitCanceled || stdout.Len() > 0 {
				t.Errorf("%s: exit %d %q %q", strings.Join(c.argv[:2], " "), code, stdout.String(), stderr.String())
			}
			continue
		}
		if code != ExitCanceled || !strings.Contains(stdout.String()+stderr.String(), c.out) || strings.Contains(stderr.String(), "context canceled") || strings.Contains(stderr.String(), "after 0 s") {
			t.Errorf("%s: exit %d %q %q", c.argv[0], code, stdout.String(), stderr.String())
		}
	}
}

// TestHostileUsage: flag values that mean nothing are usage errors, before
// the network.
func TestHostileUsage(t *testing.T) {
	f := newFakeSAN(t)
	for _, argv := range [][]string{
		{"aoe", "discover", "--probe", "--timeout", "-1s"},
		{"aoe", "discover", "--probe", "--timeout", "0s"},
		{"aoe", "sancheck", "--timeout", "0"},
		{"aoe", "cfg", "--all", "--timeout", "-1s"},
		{"aoe", "cfg", "e1.1", "-c", "read", "-s", "x"},
		{"aoe", "mask", "e1.1", "--add", ""},
		{"aoe", "mask", "e1.1", "--add", "02:00:00:00:00"},
		{"aoe", "mask", "e1.1", "--del", "self,zz"},
		{"aoe", "reserve", "e1.1", "--set", ""},
		{"aoe", "sancheck", "-i", "lo"},
		{"aoe", "discover", "--probe", "-i", "lo"},
		{"aoe", "cfg", "--all", "-i", "lo"},
		{"aoe", "ping", "e1.1", "-i", "lo"},
	} {
		r := f.run(t, argv...)
		if r.code != ExitUsage || r.stdout != "" {
			t.Errorf("%s: exit %d %q %q", strings.Join(argv, " "), r.code, r.stdout, r.stderr)
		}
	}
	for _, e := range []string{"e1.1"} {
		if n := f.tgts[e].Requests[wire.CommandMACMask]; n != 0 {
			t.Errorf("%s got %d mask requests from usage errors", e, n)
		}
	}
	r := f.run(t, "aoeping", "1", "65536", "eth0")
	if r.code != 1 || !strings.Contains(r.stderr, "slot 0-255") {
		t.Errorf("aoeping range: %q", r.stderr)
	}
}

// maxReplies is initiator.CollectOptions.MaxReplies's default: the most
// answers one broadcast keeps.
const maxReplies = 4096
