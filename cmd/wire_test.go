package cmd

import (
	"encoding/json"
	"os/exec"
	"sort"
	"strings"
	"syscall"
	"testing"

	"github.com/goaoe/aoe/internal/aoelab"
)

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
	if err := jsonUnmarshal(r.stdout, &sum); err != nil || sum.Answered != 1 || len(sum.Identify) != 1 || sum.Identify[0].Sectors == nil || *sum.Identify[0].Sectors != 6442450944 {
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
