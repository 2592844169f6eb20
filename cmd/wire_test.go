package cmd

import (
	"context"
	"encoding/json"
	"net"
	"os/exec"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/goaoe/aoe/discover"
	"github.com/goaoe/aoe/initiator"
	"github.com/goaoe/aoe/initiator/aoetest"
	"github.com/goaoe/aoe/internal/aoelab"
)

// fakeSAN is an in-memory segment with a client and fake targets.
func fakeSAN(t *testing.T, targets ...*aoetest.Target) *initiator.Client {
	nw := &aoetest.Network{}
	c := nw.Client(t, "eth0", net.HardwareAddr{0x52, 0x54, 0, 0, 0, 1}, 1500)
	for _, tg := range targets {
		nw.Serve(t, tg)
	}
	return c
}

func fakeTarget(shelf uint16, slot uint8, n byte) *aoetest.Target {
	return &aoetest.Target{Shelf: shelf, Slot: slot, MAC: net.HardwareAddr{2, 0xae, 0, 0, 0, n}, BufferCount: 16,
		Sectors: 2048, Model: "Coraid EtherDrive vblade", Serial: "fake"}
}

var fastCollect = discover.Options{Timeout: 10 * time.Second, Quiet: 50 * time.Millisecond, Resend: []time.Duration{20 * time.Millisecond}}

func TestQueryConfig(t *testing.T) {
	a, b := fakeTarget(1, 2, 1), fakeTarget(1, 3, 2)
	b.SetConfig([]byte("rack-3"))
	c := fakeSAN(t, a, b)
	ctx := context.Background()
	q := func(shelf uint16, slot uint8, ccmd initiator.ConfigCommand, s string) []cfgAnswer {
		t.Helper()
		got, err := queryConfig(ctx, []*initiator.Client{c}, shelf, slot, ccmd, []byte(s), fastCollect, nil)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	all := q(initiator.BroadcastShelf, initiator.BroadcastSlot, initiator.ConfigRead, "")
	if len(all) != 2 || all[0].Device != "e1.2" || all[0].Config != "" || all[1].Config != "rack-3" || all[1].Interface != "eth0" {
		t.Errorf("read all: %+v", all)
	}
	if got := q(1, 2, initiator.ConfigSet, "new"); len(got) != 1 || got[0].Error != "" || string(a.Config()) != "new" {
		t.Errorf("set on an empty string: %+v", got)
	}
	got := q(1, 3, initiator.ConfigSet, "other")
	if len(got) != 1 || got[0].code != initiator.ErrConfigStringPresent || got[0].Config != "rack-3" || got[0].Error != "config string present" {
		t.Errorf("set on a set string: %+v", got)
	}
	if got := q(1, 3, initiator.ConfigTest, "rack-3"); len(got) != 1 {
		t.Errorf("test match: %+v", got)
	}
	if got := q(1, 3, initiator.ConfigTest, "rack"); len(got) != 0 {
		t.Errorf("test mismatch answered: %+v", got)
	}
	if got := q(initiator.BroadcastShelf, initiator.BroadcastSlot, initiator.ConfigTestPrefix, "rack"); len(got) != 1 || got[0].Device != "e1.3" {
		t.Errorf("prefix: %+v", got)
	}
	if got := q(1, 3, initiator.ConfigForceSet, ""); len(got) != 1 || len(b.Config()) != 0 {
		t.Errorf("fset: %+v", got)
	}
}

// wireLab is a namespace pair with vblade targets behind veth i0 (and i1).
type wireLab struct {
	*aoelab.Lab
	tgt, ini string
}

func newWireLab(t *testing.T) *wireLab {
	lab := aoelab.NewLab(t)
	w := &wireLab{Lab: lab, tgt: lab.Namespace("tgt"), ini: lab.Namespace("ini")}
	lab.Veth(w.tgt, "t0", w.ini, "i0", 1500)
	return w
}

// aoe runs our command line inside the initiator namespace.
func (w *wireLab) aoe(t *testing.T, argv ...string) run {
	var r run
	w.Do(w.ini, func() { r = execute(t, argv, runOpts{}) })
	return r
}

// tool runs one of aoetools' C tools inside the initiator namespace, found
// in the system directories only (an installed aoe would shadow it from
// /usr/local/sbin) and with argv[0] as typed, which getopt's messages show.
func (w *wireLab) tool(t *testing.T, argv ...string) run {
	cmd := exec.Command("ip", append([]string{"netns", "exec", w.ini, "env", "PATH=/usr/sbin:/usr/bin:/sbin:/bin"}, argv...)...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := run{stdout: stdout.String(), stderr: stderr.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			r.code = 128 + int(ws.Signal()) // as a shell reports it
		}
	} else if err != nil {
		t.Fatal(err)
	}
	return r
}

func sortedLines(s string) string {
	l := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	sort.Strings(l)
	return strings.Join(l, "\n")
}

// TestCfgVblade: aoe cfg and the classic aoecfg against real vblade, and
// aoecfg against aoetools' own aoecfg. aoetools' tools drop frames under 60
// bytes, so their targets get config strings of 28 bytes and more.
func TestCfgVblade(t *testing.T) {
	w := newWireLab(t)
	img := w.Image(1 << 20)
	for slot := 1; slot <= 3; slot++ {
		w.Vblade(w.tgt, "t0", 1, slot, img)
	}
	long := strings.Repeat("x", 28)
	r := w.aoe(t, "aoe", "cfg", "e1.1", "-i", "i0", "-c", "fset", "-s", long+"-one")
	if r.code != 0 || !strings.Contains(r.stdout, "e1.1") || !strings.Contains(r.stdout, long+"-one") {
		t.Fatalf("fset (exit %d): %s%s", r.code, r.stdout, r.stderr)
	}
	w.aoe(t, "aoe", "cfg", "e1.2", "-i", "i0", "-c", "fset", "-s", long+"-two")
	w.aoe(t, "aoe", "cfg", "e1.3", "-i", "i0", "-c", "fset", "-s", long+"-three")

	r = w.aoe(t, "aoe", "cfg", "--all", "-i", "i0", "--json")
	var all []cfgAnswer
	if err := jsonUnmarshal(r.stdout, &all); err != nil || r.code != 0 || len(all) != 3 || all[1].Config != long+"-two" {
		t.Errorf("--all --json (exit %d): %v %s%s", r.code, err, r.stdout, r.stderr)
	}
	r = w.aoe(t, "aoe", "cfg", "e1.2", "-i", "i0", "-c", "set", "-s", "other")
	if r.code != 1 || !strings.Contains(r.stderr, "e1.2 ("+all[1].MAC+") refused: its config string is already \""+long+"-two\"; use -c fset to replace it") {
		t.Errorf("set on a set string (exit %d): %q", r.code, r.stderr)
	}
	if r = w.aoe(t, "aoe", "cfg", "e1.2", "-i", "i0", "-c", "test", "-s", long+"-two"); r.code != 0 {
		t.Errorf("test match (exit %d): %s", r.code, r.stderr)
	}
	r = w.aoe(t, "aoe", "cfg", "e1.2", "-i", "i0", "-c", "test", "-s", "nope", "--timeout", "500ms")
	if r.code != 1 || !strings.Contains(r.stderr, "e1.2 did not answer on i0: its config string does not match \"nope\" (test)") {
		t.Errorf("test mismatch (exit %d): %q", r.code, r.stderr)
	}
	if r = w.aoe(t, "aoe", "cfg", "--all", "-i", "i0", "-c", "prefix", "-s", long+"-t"); r.code != 0 || strings.Count(r.stdout, "\n") != 3 {
		t.Errorf("prefix (exit %d): %s%s", r.code, r.stdout, r.stderr)
	}
	if r = w.aoe(t, "aoe", "cfg", "--all", "-c", "set", "-s", "x"); r.code != ExitUsage {
		t.Errorf("set --all (exit %d): %s", r.code, r.stderr)
	}

	// Classic aoecfg, ours and aoetools', same answers.
	for _, args := range [][]string{
		{"-t", "1", "i0"},
		{"-t", "1", "1", "2", "i0"},
		{"-t", "1", "-c", "test", "-s", long + "-two", "1", "2", "i0"},
		{"-t", "1", "-c", "prefix", "-s", long, "i0"},
		{"-t", "1", "-c", "test", "-s", "nope", "i0"},
		{"-t", "1", "-c", "set", "-s", long + "-again", "1", "3", "i0"},
		{"-t", "1", "-c", "fset", "-s", long + "-forced", "1", "3", "i0"},
		{"-t", "1", "1", "3", "i0"},
		{"-x"},
		{"1", "2", "3", "4"},
		{"1", "2", "9eth"},
	} {
		ours := w.aoe(t, append([]string{"aoecfg"}, args...)...)
		theirs := w.tool(t, append([]string{"aoecfg"}, args...)...) // argv[0] as typed
		if sortedLines(ours.stdout) != sortedLines(theirs.stdout) || ours.stderr != theirs.stderr || ours.code != theirs.code {
			t.Errorf("aoecfg %s:\nours (exit %d): %q %q\naoetools (exit %d): %q %q", strings.Join(args, " "),
				ours.code, ours.stdout, ours.stderr, theirs.code, theirs.stdout, theirs.stderr)
		}
	}
	// A short config string: aoetools' aoecfg hears nothing (the reply is
	// 37 bytes on a veth); ours does.
	w.aoe(t, "aoe", "cfg", "e1.1", "-i", "i0", "-c", "fset", "-s", "short")
	if r := w.aoe(t, "aoecfg", "-t", "1", "1", "1", "i0"); r.stdout != "short\n" {
		t.Errorf("ours, short reply: %q", r.stdout)
	}
	if r := w.tool(t, "aoecfg", "-t", "1", "1", "1", "i0"); r.stdout != "" {
		t.Errorf("aoetools' aoecfg now hears short replies: %q", r.stdout)
	}
}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }

func TestPingRound(t *testing.T) {
	a := fakeTarget(1, 2, 1)
	b := fakeTarget(1, 2, 2) // a second path to e1.2
	c := fakeSAN(t, a, b, fakeTarget(1, 3, 3))
	ctx := context.Background()
	replies, err := pingRound(ctx, []*initiator.Client{c}, 1, 2, 1, 500*time.Millisecond, nil)
	if err != nil || len(replies) != 2 || replies[0].Seq != 1 || replies[0].Interface != "eth0" || replies[0].RTTms <= 0 {
		t.Fatalf("%+v %v", replies, err)
	}
	known := map[string]bool{}
	for _, r := range replies {
		known[r.Interface+"/"+r.MAC] = true
	}
	start := time.Now()
	replies, _ = pingRound(ctx, []*initiator.Client{c}, 1, 2, 2, time.Minute, known)
	if len(replies) != 2 || time.Since(start) > 30*time.Second {
		t.Errorf("with every path known the round should end on the last reply: %+v", replies)
	}
	replies, _ = pingRound(ctx, []*initiator.Client{c}, 9, 9, 3, 100*time.Millisecond, nil)
	if len(replies) != 0 {
		t.Errorf("e9.9 answered: %+v", replies)
	}
	id := identifyOne(ctx, c, 1, 2, a.MAC, "e1.2")
	if id.Error != "" || id.Sectors != 2048 || id.Model != "Coraid EtherDrive vblade" || !id.LBA48 || id.SMART || len(id.Data) != 512 {
		t.Errorf("identify: %+v", id)
	}
}

// TestPingVblade: aoe ping against real vblade, and our aoeping against
// aoetools' aoeping on the same target (config string of 28 bytes, so that
// vblade's replies reach 60 bytes and aoetools' aoeping hears them).
func TestPingVblade(t *testing.T) {
	w := newWireLab(t)
	w.Vblade(w.tgt, "t0", 1, 2, w.Image(3<<40))       // 3 TiB: beyond LBA28
	w.Vblade(w.tgt, "t0", 1, 4, w.Image(1<<20), "-r") // read-only
	long := strings.Repeat("y", 28)
	if r := w.aoe(t, "aoe", "cfg", "e1.2", "-i", "i0", "-c", "fset", "-s", long); r.code != 0 {
		t.Fatalf("fset: %s", r.stderr)
	}
	r := w.aoe(t, "aoe", "ping", "e1.2", "-i", "i0", "-c", "3", "--interval", "100ms", "--identify")
	lines := strings.Split(r.stdout, "\n")
	if r.code != 0 || lines[0] != "AOE PING e1.2 on i0" || !strings.HasPrefix(lines[1], "reply from e1.2 (") || !strings.Contains(lines[3], "seq=3 time=") ||
		lines[4] != "--- e1.2 AoE ping statistics ---" || lines[5] != "3 requests sent, 3 answered, 0% loss, 3 replies from 1 paths" ||
		!strings.HasPrefix(lines[6], "rtt min/avg/max = ") || !strings.Contains(r.stdout, "capacity:  6442450944 sectors (3.30 TB); LBA28 268435455, LBA48 6442450944") ||
		!strings.Contains(r.stdout, "supports:  LBA48 yes, FLUSH CACHE yes, SMART no") || !strings.Contains(r.stdout, "model:     Coraid EtherDrive vblade") {
		t.Errorf("aoe ping (exit %d):\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = w.aoe(t, "aoe", "ping", "e1.4", "-i", "i0", "-c", "1", "--identify")
	if r.code != 0 || !strings.Contains(r.stdout, "capacity:  2048 sectors (1.05 MB)") {
		t.Errorf("read-only target (exit %d):\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = w.aoe(t, "aoe", "ping", "e1.2", "-i", "i0", "-c", "1", "--json", "--identify", "--hex")
	var sum pingSummary
	if err := jsonUnmarshal(r.stdout, &sum); err != nil || sum.Answered != 1 || len(sum.Identify) != 1 || sum.Identify[0].Sectors != 6442450944 {
		t.Errorf("--json (exit %d): %v %s", r.code, err, r.stdout)
	}
	r = w.aoe(t, "aoe", "ping", "e9.9", "-i", "i0", "-c", "2", "--interval", "10ms", "--timeout", "200ms")
	if r.code != 1 || !strings.Contains(r.stdout, "no reply from e9.9: seq=2") || !strings.Contains(r.stdout, "2 requests sent, 0 answered, 100% loss") ||
		r.stderr != "aoe ping: no reply from e9.9 on i0 (2 requests)\n" {
		t.Errorf("no reply (exit %d): %s%s", r.code, r.stdout, r.stderr)
	}

	for _, args := range [][]string{
		{"-s", "2", "1", "2", "i0"},
		{"-v", "-s", "2", "1", "2", "i0"},
		{"-v", "-t", "5", "-s", "2", "1", "2", "i0"},
		{"-i", "-s", "2", "1", "2", "i0"},
		{"-I", "-s", "2", "1", "2", "i0"},
		{"-S", "return_status", "-s", "2", "1", "2", "i0"},
		{"-h"},
		{"1", "2"},
		{"-s", "0", "1", "2", "i0"},
	} {
		ours := w.aoe(t, append([]string{"aoeping"}, args...)...)
		theirs := w.tool(t, append([]string{"aoeping"}, args...)...)
		if ours.stdout != theirs.stdout || ours.stderr != theirs.stderr || ours.code != theirs.code {
			t.Errorf("aoeping %s:\nours (exit %d): %q %q\naoetools (exit %d): %q %q", strings.Join(args, " "),
				ours.code, ours.stdout, ours.stderr, theirs.code, theirs.stdout, theirs.stderr)
		}
	}
	// A timeout: aoetools dies by SIGALRM (exit 142, no message); ours says so.
	ours, theirs := w.aoe(t, "aoeping", "-s", "1", "9", "9", "i0"), w.tool(t, "aoeping", "-s", "1", "9", "9", "i0")
	if theirs.code != 142 || ours.code != 1 || ours.stderr != "aoeping: timeout: no answer from e9.9 on i0 after 1 s\n" {
		t.Errorf("timeout: ours %+v, aoetools %+v", ours, theirs)
	}
}
