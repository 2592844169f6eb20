package cmd

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goaoe/aoe/initiator"
	"github.com/goaoe/aoe/initiator/aoetest"
	"github.com/goaoe/aoe/initiator/wire"
	"github.com/goaoe/aoe/internal/ata"
	"github.com/goaoe/aoe/internal/blockio"
)

// dataMAC is the MAC of the data target of dataSAN.
var dataMAC = net.HardwareAddr{2, 0xda, 0, 0, 0, 5}

// dataSectors is the size of dataSAN's disk: 4 MiB.
const dataSectors = 8192

// dataSAN is the fake SAN with e5.5 on eth0: a 4 MiB disk of random
// content that reads and writes go to, without root.
func dataSAN(t *testing.T) (*fakeSAN, *aoetest.Target) {
	t.Helper()
	f := newFakeSAN(t)
	tg := &aoetest.Target{Shelf: 5, Slot: 5, MAC: dataMAC, BufferCount: 16, MTU: 1500, Sectors: dataSectors,
		Model: "data", Serial: "data-1", MaxMasks: 4, Disk: make([]byte, dataSectors*512)}
	rand.Read(tg.Disk)
	f.tgts["e5.5"] = tg
	f.nets["eth0"].Serve(t, tg)
	return f, tg
}

// runStdin runs argv against f with stdin.
func (f *fakeSAN) runStdin(t *testing.T, stdin string, argv ...string) run {
	t.Helper()
	return execute(t, argv, runOpts{setup: f.setup, stdin: stdin, env: map[string]string{"sysfs_dir": "/nonexistent"}})
}

// snapshot is a copy of a fake target's disk.
func snapshot(tg *aoetest.Target) []byte {
	return bytes.Clone(tg.Disk)
}

// maxInt is math.MaxInt64 as a flag value.
var maxInt = fmt.Sprint(int64(math.MaxInt64))

// TestReadRanges: aoe read's offsets and lengths, near the disk's end and
// near MaxInt64: the exit code, the message, and that the output holds
// exactly the bytes asked for, or nothing at all.
func TestReadRanges(t *testing.T) {
	const size = dataSectors * 512
	for _, c := range []struct {
		name     string
		args     []string
		code     int
		msg      string
		from, to int64 // the bytes of the disk the output must be (code 0)
	}{
		{"whole", nil, 0, "", 0, size},
		{"unaligned", []string{"--offset", "1000001", "--length", "7777"}, 0, "", 1000001, 1007778},
		{"to the end", []string{"--offset", "4M"}, 0, "", size, size},
		{"last byte", []string{"--offset", fmt.Sprint(size - 1)}, 0, "", size - 1, size},
		{"zero length", []string{"--offset", "5", "--length", "0"}, 0, "", 5, 5},
		{"exactly to the end", []string{"--offset", "1M", "--length", "3M"}, 0, "", 1 << 20, size},
		{"offset past the end", []string{"--offset", fmt.Sprint(size + 1)}, ExitUsage, "--offset 4194305 is past the end of e5.5 (4194304 bytes)", 0, 0},
		{"offset MaxInt64", []string{"--offset", maxInt}, ExitUsage, "is past the end of e5.5", 0, 0},
		{"length past the end", []string{"--offset", "4194303", "--length", "2"}, ExitUsage, "--length 2 at --offset 4194303 passes the end of e5.5 (4194304 bytes): at most 1 bytes from there", 0, 0},
		{"length MaxInt64 from 1", []string{"--offset", "1", "--length", maxInt}, ExitUsage, "--length 9223372036854775807 at --offset 1 passes the end", 0, 0},
		{"both MaxInt64", []string{"--offset", maxInt, "--length", maxInt}, ExitUsage, "past the end", 0, 0},
		{"length MaxInt64", []string{"--length", maxInt}, ExitUsage, "passes the end", 0, 0},
		{"offset overflows", []string{"--offset", "99999999999G"}, ExitUsage, "--offset: \"99999999999G\": not a size: too large", 0, 0},
		{"length overflows", []string{"--length", "9223372036854775808"}, ExitUsage, "--length: \"9223372036854775808\": not a size", 0, 0},
		{"exa suffix", []string{"--length", "1E"}, ExitUsage, "unknown suffix \"E\"", 0, 0},
		{"negative", []string{"--offset", "-1"}, ExitUsage, "not a size", 0, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			f, tg := dataSAN(t)
			out := filepath.Join(t.TempDir(), "out")
			argv := append([]string{"aoe", "read", "e5.5", "-i", "eth0", "-o", out}, c.args...)
			r := f.run(t, argv...)
			got, ferr := os.ReadFile(out)
			if r.code != c.code || !strings.Contains(r.stderr, c.msg) || r.stdout != "" {
				t.Fatalf("exit %d, want %d; stderr %q, want %q", r.code, c.code, r.stderr, c.msg)
			}
			if c.code != 0 {
				if ferr == nil {
					t.Errorf("the output file was made (%d bytes) for a refused read", len(got))
				}
				return
			}
			if !bytes.Equal(got, tg.Disk[c.from:c.to]) {
				t.Errorf("the output is not bytes %d-%d of the disk (%d bytes)", c.from, c.to, len(got))
			}
			if r.stderr != "" {
				t.Errorf("stderr: %q", r.stderr)
			}
		})
	}
}

// TestWriteRanges: aoe write's offsets and inputs near the end and near
// MaxInt64: the exit code, the message, and what the disk holds after (the
// input where it fits, the rest untouched).
func TestWriteRanges(t *testing.T) {
	const size = dataSectors * 512
	dir := t.TempDir()
	file := func(n int) string {
		p := filepath.Join(dir, fmt.Sprint(n))
		b := make([]byte, n)
		rand.Read(b)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, c := range []struct {
		name    string
		stdin   int    // bytes of random stdin
		input   string // --input file instead
		args    []string
		code    int
		msg     string
		at      int64 // where the input lands
		written int64 // how much of it (-1: all)
	}{
		{"stdin unaligned", 3<<20 + 77, "", []string{"--offset", "1000001"}, 0, "", 1000001, -1},
		{"file to the end", 0, file(1 << 20), []string{"--offset", "3M"}, 0, "", 3 << 20, -1},
		{"file past the end", 0, file(1<<20 + 1), []string{"--offset", "3M"}, ExitUsage, "e5.5 is 4194304 bytes: the 1048577 bytes of", 0, 0},
		{"offset past the end", 5, "", []string{"--offset", fmt.Sprint(size + 1)}, ExitUsage, "--offset 4194305 is past the end of e5.5 (4194304 bytes)", 0, 0},
		{"offset MaxInt64", 5, "", []string{"--offset", maxInt}, ExitUsage, "is past the end of e5.5", 0, 0},
		{"file at MaxInt64", 0, file(10), []string{"--offset", maxInt}, ExitUsage, "is past the end of e5.5", 0, 0},
		{"file from the last byte", 0, file(10), []string{"--offset", fmt.Sprint(size - 1)}, ExitUsage, "do not fit", 0, 0},
		// Stdin has no size: what fits is written (and flushed), the
		// rest refused, exit 2 as for a file.
		{"stdin past the end", 10<<20 + 3, "", []string{"--offset", "1M"}, ExitUsage, "e5.5 is 4194304 bytes: the input does not fit at --offset 1048576; the 3145728 bytes up to the end were written, the rest of the input was not", 1 << 20, 3 << 20},
		{"stdin at the end", 1, "", []string{"--offset", "4M"}, ExitUsage, "the 0 bytes up to the end were written", 0, 0},
		{"empty stdin at the end", 0, "", []string{"--offset", "4M"}, 0, "", size, -1},
		{"offset overflows", 5, "", []string{"--offset", "99999999999G"}, ExitUsage, "not a size: too large", 0, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			f, tg := dataSAN(t)
			before := snapshot(tg)
			in := make([]byte, c.stdin)
			rand.Read(in)
			argv := append([]string{"aoe", "write", "e5.5", "-i", "eth0"}, c.args...)
			if c.input != "" {
				argv = append(argv, "--input", c.input)
				in, _ = os.ReadFile(c.input)
			}
			r := f.runStdin(t, string(in), argv...)
			if r.code != c.code || !strings.Contains(r.stderr, c.msg) || r.stdout != "" {
				t.Fatalf("exit %d, want %d; stderr %q, want %q", r.code, c.code, r.stderr, c.msg)
			}
			want := before
			n := c.written
			if n < 0 {
				n = int64(len(in))
			}
			want = append(append(bytes.Clone(before[:c.at]), in[:n]...), before[c.at+n:]...)
			if !bytes.Equal(tg.Disk, want) {
				t.Errorf("the disk does not hold %d bytes of the input at %d and the rest as before", n, c.at)
			}
		})
	}
}

// TestBenchSpan: --span below a block, past the disk, overflowing: usage
// errors that name the flag (the old message blamed the disk's size); a
// disk smaller than a block is a failure.
func TestBenchSpan(t *testing.T) {
	for _, c := range []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"span 1000", []string{"--span", "1000"}, ExitUsage, "--span 1000 is smaller than a block: it must be at least 1048576 bytes"},
		{"span 0", []string{"--span", "0"}, ExitUsage, "--span 0 is smaller than a block"},
		{"span past the disk", []string{"--span", "5M"}, ExitUsage, "--span 5M (5242880 bytes) is more than e5.5 has (4194304 bytes)"},
		{"span MaxInt64", []string{"--span", maxInt}, ExitUsage, "is more than e5.5 has"},
		{"span overflows", []string{"--span", "99999999999G"}, ExitUsage, "--span: \"99999999999G\": not a size: too large"},
		{"target and file", []string{"--file", "--target", "02:da:00:00:00:05"}, ExitUsage, "--target does not go with --file"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f, _ := dataSAN(t)
			r := f.run(t, append([]string{"aoe", "bench", "e5.5", "-i", "eth0", "--duration", "10ms"}, c.args...)...)
			if r.code != c.code || !strings.Contains(r.stderr, c.msg) || r.stdout != "" {
				t.Errorf("exit %d, want %d; stderr %q, want %q", r.code, c.code, r.stderr, c.msg)
			}
		})
	}
	// A disk smaller than a block: the message says so, exit 1.
	f := newFakeSAN(t)
	small := &aoetest.Target{Shelf: 6, Slot: 6, MAC: net.HardwareAddr{2, 0xda, 0, 0, 0, 6}, BufferCount: 16, MTU: 1500, Sectors: 100, Model: "small", Serial: "s"}
	f.nets["eth0"].Serve(t, small)
	r := f.run(t, "aoe", "bench", "e6.6", "-i", "eth0", "--duration", "10ms")
	if r.code != ExitFailure || !strings.Contains(r.stderr, "e6.6 is 51200 bytes, smaller than a block: bench needs at least 1048576 bytes") {
		t.Errorf("small disk: exit %d %q", r.code, r.stderr)
	}
}

// TestBenchWritePreserves: bench --write leaves the disk as it was, over
// a span and over the whole (small) disk.
func TestBenchWritePreserves(t *testing.T) {
	for _, args := range [][]string{{"--span", "1M"}, nil} {
		f, tg := dataSAN(t)
		before := snapshot(tg)
		r := f.run(t, append([]string{"aoe", "bench", "e5.5", "-i", "eth0", "--duration", "50ms", "--write", "--json"}, args...)...)
		if r.code != 0 || !strings.Contains(r.stdout, `"rand-write"`) {
			t.Fatalf("%v: exit %d %s%s", args, r.code, r.stdout, r.stderr)
		}
		if !bytes.Equal(tg.Disk, before) {
			t.Errorf("%v: bench --write changed the disk", args)
		}
		if n := tg.Requests[wire.CommandATA]; n == 0 {
			t.Errorf("%v: no ATA requests", args)
		}
	}
}

// TestBlockioTarget: --target keeps one MAC's paths; a MAC that did not
// answer is named with those that did; a bad MAC is a usage error.
func TestBlockioTarget(t *testing.T) {
	f, tg := dataSAN(t)
	out := filepath.Join(t.TempDir(), "out")
	r := f.run(t, "aoe", "read", "e5.5", "-i", "eth0,eth1", "--target", "02:da:00:00:00:05", "-o", out, "--length", "64K")
	got, _ := os.ReadFile(out)
	if r.code != 0 || !bytes.Equal(got, tg.Disk[:64<<10]) {
		t.Errorf("--target the right MAC: exit %d %q", r.code, r.stderr)
	}
	for _, cmd := range [][]string{{"read"}, {"write"}, {"bench", "--duration", "10ms"}} {
		r = f.runStdin(t, "x", append(append([]string{"aoe"}, cmd...), "e1.2", "-i", "eth0,eth1", "--target", "02:ae:00:00:00:09")...)
		if r.code != ExitFailure || !strings.Contains(r.stderr, "e1.2: the target did not answer from 02:ae:00:00:00:09 on eth0, eth1; it answered from 02:ae:00:00:00:02, 02:ae:00:00:00:03") {
			t.Errorf("%s --target absent: exit %d %q", cmd[0], r.code, r.stderr)
		}
		for _, bad := range []string{"bogus", "self", "ff:ff:ff:ff:ff:ff", "01:00:5e:00:00:01"} {
			r = f.runStdin(t, "x", append(append([]string{"aoe"}, cmd...), "e1.2", "--target", bad)...)
			if r.code != ExitUsage || !strings.Contains(r.stderr, "--target") {
				t.Errorf("%s --target %s: exit %d %q", cmd[0], bad, r.code, r.stderr)
			}
		}
	}
}

// TestBlockioDeadline: a target that stops answering ATA commands after
// the open: the read fails after --deadline with exit 5, and the output
// holds only bytes read before, none wrong; the write exits 5 too.
func TestBlockioDeadline(t *testing.T) {
	f, tg := dataSAN(t)
	f.nets["eth0"].Drop = func(frame []byte, to net.HardwareAddr) bool {
		// Byte 19: the AoE command; 27: the ATA command. The IDENTIFY
		// of the open goes through, reads and writes are lost.
		return bytes.Equal(frame[:6], dataMAC) && len(frame) > 27 && frame[19] == byte(wire.CommandATA) && frame[27] != ata.Identify
	}
	out := filepath.Join(t.TempDir(), "out")
	r := f.run(t, "aoe", "read", "e5.5", "-i", "eth0", "-o", out, "--deadline", "300ms")
	got, _ := os.ReadFile(out)
	if r.code != ExitTimeout || !strings.Contains(r.stderr, "deadline") || !bytes.Equal(got, tg.Disk[:len(got)]) {
		t.Errorf("read: exit %d, %d bytes %q", r.code, len(got), r.stderr)
	}
	r = f.runStdin(t, "data", "aoe", "write", "e5.5", "-i", "eth0", "--deadline", "300ms")
	if r.code != ExitTimeout || !strings.Contains(r.stderr, "deadline") {
		t.Errorf("write: exit %d %q", r.code, r.stderr)
	}
	r = f.run(t, "aoe", "bench", "e5.5", "-i", "eth0", "--deadline", "300ms", "--duration", "10ms")
	if r.code != ExitTimeout || !strings.Contains(r.stderr, "deadline") || r.stdout != "" {
		t.Errorf("bench: exit %d %q", r.code, r.stderr)
	}
}

// TestBlockioExitCodes: the data commands' rule, through diskError and
// exitCode: outside the disk 2, a failing disk, a bad reply or a conflict
// 1, the deadline (wrapped however deep) 5.
func TestBlockioExitCodes(t *testing.T) {
	conflict := &initiator.ConflictError{Device: "e1.2", Answers: []initiator.PathIdentity{
		{Interface: "eth0", MAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}}, {Interface: "eth1", MAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}}}, Other: 1, Differs: []string{`serial "a" vs "b"`}}
	for _, c := range []struct {
		err  error
		code int
		msg  string
	}{
		{fmt.Errorf("after 5 bytes: %w", blockio.CheckRange(10, 5, 6)), ExitUsage, "outside the disk"},
		{fmt.Errorf("after 0 bytes: %w", &initiator.ReplyError{Device: "e1.2", Interface: "eth0", MAC: dataMAC, Command: ata.ReadSectorsExt, Kind: "wrong LBA", Want: 8, Got: 16, Count: 3}), ExitFailure, "wrong LBA: asked 8, echoed 16"},
		{fmt.Errorf("after 0 bytes: %w", &wire.ATAError{}), ExitFailure, ""},
		{conflict, ExitFailure, `e1.2: different disks answer for this address, their data is not mixed: serial "a" vs "b" (02:00:00:00:00:01 on eth0, 02:00:00:00:00:02 on eth1); the MACs that answered: 02:00:00:00:00:01, 02:00:00:00:00:02; choose one with --target MAC`},
		{fmt.Errorf("after 9 bytes: %w", fmt.Errorf("e1.2: %w", initiator.ErrDeadline)), ExitTimeout, "before the deadline"},
		{fmt.Errorf("x: %w", initiator.ErrTimeout), ExitTimeout, "no reply"},
	} {
		err := diskError(c.err)
		if got := exitCode(err); got != c.code || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%v: exit %d, want %d; %q", c.err, got, c.code, err)
		}
		if got := exitCode(c.err); got != c.code && !errors.Is(c.err, blockio.ErrOutOfRange) && !errors.As(c.err, new(*initiator.ConflictError)) {
			t.Errorf("%v unmapped: exit %d, want %d", c.err, got, c.code)
		}
	}
	if !errors.As(diskError(conflict), new(*initiator.ConflictError)) {
		t.Error("the conflict message lost the ConflictError")
	}
}

// TestProgressStderr: read's progress follows Env.StderrTerminal: on a
// terminal an in-place "\r" line without being asked; elsewhere nothing
// unless --progress, then plain lines (for a log file), never "\r".
func TestProgressStderr(t *testing.T) {
	f, _ := dataSAN(t)
	for _, c := range []struct {
		terminal, flag bool
		want           string // "": no progress at all
	}{
		{false, false, ""},
		{false, true, "read e5.5: "},
		{true, false, "\rread e5.5: "},
		{true, true, "\rread e5.5: "},
	} {
		argv := []string{"aoe", "read", "e5.5", "-i", "eth0", "-o", filepath.Join(t.TempDir(), "out")}
		if c.flag {
			argv = append(argv, "--progress")
		}
		r := execute(t, argv, runOpts{env: map[string]string{"sysfs_dir": "/nonexistent"}, setup: func(env *Env) {
			f.setup(env)
			env.StderrTerminal = func() bool { return c.terminal }
		}})
		switch {
		case r.code != 0:
			t.Errorf("%+v: exit %d %q", c, r.code, r.stderr)
		case c.want == "" && r.stderr != "":
			t.Errorf("%+v: progress %q, want none", c, r.stderr)
		case c.want != "" && (!strings.HasPrefix(r.stderr, c.want) || !strings.HasSuffix(r.stderr, "\n") || !strings.Contains(r.stderr, "(100%)")):
			t.Errorf("%+v: progress %q, want %q... (100%%)", c, r.stderr, c.want)
		case !c.terminal && strings.Contains(r.stderr, "\r"):
			t.Errorf("%+v: \\r off a terminal: %q", c, r.stderr)
		}
	}
}

// TestDataProcs: the data commands call Env.DataProcs before they open
// the disk (DefaultEnv's runs them on one Go processor), the others never.
func TestDataProcs(t *testing.T) {
	f, _ := dataSAN(t)
	out := filepath.Join(t.TempDir(), "out")
	for _, c := range []struct {
		argv []string
		want int
	}{
		{[]string{"aoe", "read", "e5.5", "-i", "eth0", "--length", "4096", "-o", out}, 1},
		{[]string{"aoe", "bench", "e5.5", "-i", "eth0", "--duration", "50ms"}, 1},
		{[]string{"aoe", "discover", "--probe", "-i", "eth0"}, 0},
	} {
		calls := 0
		setup := func(env *Env) {
			f.setup(env)
			env.DataProcs = func() { calls++ }
		}
		r := execute(t, c.argv, runOpts{setup: setup, env: map[string]string{"sysfs_dir": "/nonexistent"}})
		if r.code != 0 || calls != c.want {
			t.Errorf("%v: exit %d, DataProcs called %d times, want %d; stderr %s", c.argv, r.code, calls, c.want, r.stderr)
		}
	}
}
