package cmd

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/goaoe/aoe/initiator/aoetest"
	"github.com/goaoe/aoe/internal/ata"
)

// hostileData is the fake SAN with e5.5 served on eth0 by a hostile peer
// made from a 4 MiB data target of random content (see dataSAN).
func hostileData(t *testing.T, mk func(tg *aoetest.Target) *aoetest.Hostile) (*fakeSAN, *aoetest.Target) {
	t.Helper()
	f := newFakeSAN(t)
	tg := &aoetest.Target{Shelf: 5, Slot: 5, MAC: dataMAC, BufferCount: 16, MTU: 1500, Sectors: dataSectors,
		Model: "data", Serial: "data-1", MaxMasks: 4, Disk: make([]byte, dataSectors*512)}
	for i := range tg.Disk {
		tg.Disk[i] = byte(i*7 + i/512)
	}
	f.tgts["e5.5"] = tg
	f.nets["eth0"].ServeHostile(t, mk(tg))
	return f, tg
}

// noWrongByte fails unless the file at out is a prefix of want (or
// absent).
func noWrongByte(t *testing.T, out string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(out)
	if err != nil {
		return
	}
	if len(got) > len(want) || !bytes.Equal(got, want[:len(got)]) {
		t.Errorf("the output holds %d bytes that are not the disk's", len(got))
	}
}

// TestHostileReadWrite: disks that answer wrong (another LBA, half the
// data, sectors remaining, error bits) fail read and write with exit 1 and
// a message saying what was wrong, and not a wrong byte reaches the
// output; disks that lose, duplicate, reorder or hold replies are read
// exactly.
func TestHostileReadWrite(t *testing.T) {
	for _, c := range []struct {
		name string
		h    func(tg *aoetest.Target) *aoetest.Hostile
		code int    // of read and write (0: both succeed, exactly)
		msg  string // in both's stderr
	}{
		{"wrong LBA", func(tg *aoetest.Target) *aoetest.Hostile { return &aoetest.Hostile{Target: tg, WrongLBA: 8} }, ExitFailure, "wrong LBA"},
		{"short", func(tg *aoetest.Target) *aoetest.Hostile { return &aoetest.Hostile{Target: tg, Short: true} }, ExitFailure, "short"},
		{"remaining", func(tg *aoetest.Target) *aoetest.Hostile { return &aoetest.Hostile{Target: tg, Remaining: 1} }, ExitFailure, "sectors remaining"},
		{"ERR bit", func(tg *aoetest.Target) *aoetest.Hostile {
			return &aoetest.Hostile{Target: tg, Status: ata.StatusErr}
		}, ExitFailure, "e5.5"},
		{"DF bit", func(tg *aoetest.Target) *aoetest.Hostile {
			return &aoetest.Hostile{Target: tg, Status: ata.StatusDF}
		}, ExitFailure, "e5.5"},
		{"BSY bit", func(tg *aoetest.Target) *aoetest.Hostile {
			return &aoetest.Hostile{Target: tg, Status: ata.StatusBSY}
		}, ExitFailure, "e5.5"},
		{"DRQ bit", func(tg *aoetest.Target) *aoetest.Hostile {
			return &aoetest.Hostile{Target: tg, Status: ata.StatusDRQ}
		}, ExitFailure, "e5.5"},
		{"lossy", func(tg *aoetest.Target) *aoetest.Hostile {
			return &aoetest.Hostile{Target: tg, Seed: 1, DropRate: 0.05, DupRate: 0.05, ReorderRate: 0.2}
		}, 0, ""},
		{"lying buffer count", func(tg *aoetest.Target) *aoetest.Hostile {
			return &aoetest.Hostile{Target: tg, Hold: 4, Delay: time.Millisecond}
		}, 0, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			f, tg := hostileData(t, c.h)
			want := bytes.Clone(tg.Disk)
			out := filepath.Join(t.TempDir(), "out")
			r := f.run(t, "aoe", "read", "e5.5", "-i", "eth0", "-o", out, "--deadline", "3s")
			if r.code != c.code || !strings.Contains(r.stderr, c.msg) {
				t.Errorf("read: exit %d, want %d; %q", r.code, c.code, r.stderr)
			}
			t.Logf("read: exit %d: %s", r.code, r.stderr)
			noWrongByte(t, out, want)
			if got, _ := os.ReadFile(out); c.code == 0 && !bytes.Equal(got, want) {
				t.Errorf("read: %d bytes, not the disk", len(got))
			}
			in := bytes.Repeat([]byte("never a wrong byte "), 5000)
			r = f.runStdin(t, string(in), "aoe", "write", "e5.5", "-i", "eth0", "--offset", "3333", "--deadline", "3s")
			if r.code != c.code || !strings.Contains(r.stderr, c.msg) {
				t.Errorf("write: exit %d, want %d; %q", r.code, c.code, r.stderr)
			}
			t.Logf("write: exit %d: %s", r.code, r.stderr)
			if c.code == 0 && !bytes.Equal(tg.Read(3333, len(in)), in) {
				t.Error("write: the disk does not hold the input")
			}
		})
	}
}

// TestHostileImpostorData: two disks answering for e5.5 (an impostor with
// another serial and inverted content): read, write and bench refuse with
// exit 1, naming both MACs, what differs, and --target; neither disk is
// written; --target reads the chosen disk's bytes.
func TestHostileImpostorData(t *testing.T) {
	impMAC := net.HardwareAddr{2, 0xda, 0, 0, 0, 0x15}
	setup := func(t *testing.T) (*fakeSAN, *aoetest.Target, *aoetest.Target) {
		f, tg := dataSAN(t)
		imp := tg.Impostor(impMAC)
		f.nets["eth0"].Serve(t, imp)
		return f, tg, imp
	}
	for _, argv := range [][]string{
		{"read", "-o", "OUT"},
		{"write", "--offset", "5"},
		{"bench", "--write", "--duration", "10ms"},
	} {
		t.Run(argv[0], func(t *testing.T) {
			f, tg, imp := setup(t)
			a, b := bytes.Clone(tg.Disk), bytes.Clone(imp.Disk)
			out := filepath.Join(t.TempDir(), "out")
			args := append([]string{"aoe", argv[0], "e5.5", "-i", "eth0"}, argv[1:]...)
			for i := range args {
				if args[i] == "OUT" {
					args[i] = out
				}
			}
			r := f.runStdin(t, "impostor", args...)
			want := `e5.5: different disks answer for this address, their data is not mixed: serial "data-1" vs "data-1-x" (02:da:00:00:00:05 on eth0, 02:da:00:00:00:15 on eth0); the MACs that answered: 02:da:00:00:00:05, 02:da:00:00:00:15; choose one with --target MAC`
			if r.code != ExitFailure || !strings.Contains(r.stderr, want) || r.stdout != "" {
				t.Errorf("exit %d %q", r.code, r.stderr)
			}
			t.Logf("exit %d: %s", r.code, r.stderr)
			if _, err := os.Stat(out); err == nil {
				t.Error("the output file was made")
			}
			if !bytes.Equal(tg.Disk, a) || !bytes.Equal(imp.Disk, b) {
				t.Error("a disk was written")
			}
		})
	}
	f, tg, imp := setup(t)
	for _, d := range []*aoetest.Target{tg, imp} {
		out := filepath.Join(t.TempDir(), "out")
		r := f.run(t, "aoe", "read", "e5.5", "-i", "eth0", "--target", d.MAC.String(), "-o", out, "--length", "1M")
		got, _ := os.ReadFile(out)
		if r.code != 0 || !bytes.Equal(got, d.Disk[:1<<20]) {
			t.Errorf("--target %s: exit %d %q", d.MAC, r.code, r.stderr)
		}
	}
	r := f.runStdin(t, "chosen", "aoe", "write", "e5.5", "-i", "eth0", "--target", impMAC.String())
	if r.code != 0 || string(imp.Read(0, 6)) != "chosen" || string(tg.Read(0, 6)) == "chosen" {
		t.Errorf("write --target: exit %d %q", r.code, r.stderr)
	}
	before := bytes.Clone(tg.Disk)
	r = f.run(t, "aoe", "bench", "e5.5", "-i", "eth0", "--target", tg.MAC.String(), "--write", "--duration", "20ms")
	if r.code != 0 || !bytes.Equal(tg.Disk, before) {
		t.Errorf("bench --write --target: exit %d %q", r.code, r.stderr)
	}
}

// TestHostileCapacityData: IDENTIFY claims past the addressing mode (2^28+1
// without LBA48; 2^48+1, 2^55, 2^64-1 with it) on a 4 MiB disk: read,
// write and bench say the clamp once, use the addressable size, print no
// negative or wrapped size, refuse ranges past it (2) and fail (1) where
// the real disk ends, with no wrong byte in the output.
func TestHostileCapacityData(t *testing.T) {
	for _, c := range []struct {
		claim  uint64
		noLBA  bool
		notice string
		size   int64 // the addressable bytes
	}{
		{1<<28 + 1, true, "e5.5 claims 268435457 sectors; without LBA48 only 268435456 are addressable: using 128 GiB", 1 << 37},
		{1<<48 + 1, false, "e5.5 claims 281474976710657 sectors; with LBA48 only 281474976710656 are addressable: using 128 PiB", 1 << 57},
		{1 << 55, false, "e5.5 claims 36028797018963968 sectors; with LBA48 only 281474976710656 are addressable: using 128 PiB", 1 << 57},
		{1<<64 - 1, false, "e5.5 claims 18446744073709551615 sectors; with LBA48 only 281474976710656 are addressable: using 128 PiB", 1 << 57},
	} {
		t.Run(fmt.Sprint(c.claim), func(t *testing.T) {
			f, tg := hostileData(t, func(tg *aoetest.Target) *aoetest.Hostile {
				tg.IdentifySectors, tg.NoLBA48 = c.claim, c.noLBA
				return &aoetest.Hostile{Target: tg}
			})
			out := filepath.Join(t.TempDir(), "out")
			for _, x := range []struct {
				args  []string
				stdin string
				code  int
				msg   string
				want  []byte // the output (read, code 0)
			}{
				{[]string{"read", "--length", "64K", "-o", out}, "", 0, "", tg.Disk[:64<<10]},
				{[]string{"read", "--offset", fmt.Sprint(c.size), "-o", out}, "", 0, "", nil},
				{[]string{"read", "--offset", fmt.Sprint(c.size + 1), "-o", out}, "", ExitUsage, fmt.Sprintf("--offset %d is past the end of e5.5 (%d bytes)", c.size+1, c.size), nil},
				{[]string{"read", "--offset", "1", "--length", maxInt, "-o", out}, "", ExitUsage, fmt.Sprintf("passes the end of e5.5 (%d bytes)", c.size), nil},
				{[]string{"read", "--offset", "8M", "--length", "4K", "-o", out}, "", ExitFailure, "e5.5", nil},
				{[]string{"read", "-o", out, "--deadline", "2s"}, "", ExitFailure, "e5.5", nil},
				{[]string{"write", "--offset", fmt.Sprint(c.size + 1)}, "xy", ExitUsage, fmt.Sprintf("--offset %d is past the end of e5.5 (%d bytes)", c.size+1, c.size), nil},
				{[]string{"write", "--offset", maxInt}, "xy", ExitUsage, fmt.Sprintf("is past the end of e5.5 (%d bytes)", c.size), nil},
				// Within the claim, past the real disk: the disk fails.
				{[]string{"write", "--offset", fmt.Sprint(c.size - 1)}, "xy", ExitFailure, "address out of range", nil},
				{[]string{"write", "--offset", "8M"}, "beyond the real disk", ExitFailure, "address out of range", nil},
				{[]string{"bench", "--span", "4M", "--duration", "10ms"}, "", 0, "", nil},
				{[]string{"bench", "--span", fmt.Sprint(c.size + 1), "--duration", "10ms"}, "", ExitUsage, fmt.Sprintf("is more than e5.5 has (%d bytes)", c.size), nil},
			} {
				os.Remove(out)
				r := f.runStdin(t, x.stdin, append([]string{"aoe", x.args[0], "e5.5", "-i", "eth0"}, x.args[1:]...)...)
				name := strings.Join(x.args, " ")
				if r.code != x.code || !strings.Contains(r.stderr, x.msg) {
					t.Errorf("%s: exit %d, want %d; %q", name, r.code, x.code, r.stderr)
				}
				if strings.Count(r.stderr, c.notice) != 1 {
					t.Errorf("%s: the clamp is not said once: %q", name, r.stderr)
				}
				if strings.Contains(r.stderr+r.stdout, "-512") || strings.Contains(r.stderr, "(-") {
					t.Errorf("%s: a negative size: %q", name, r.stderr)
				}
				if x.args[0] == "read" {
					noWrongByte(t, out, tg.Disk)
					if got, _ := os.ReadFile(out); x.code == 0 && !bytes.Equal(got, x.want) {
						t.Errorf("%s: %d bytes, not the disk's", name, len(got))
					}
				}
			}
		})
	}
}

// TestHostileBench: bench shows each path's window and bad replies, in the
// table and in the JSON (docs/json.md: every field present, durations in
// _seconds); a disk that answers
// with another LBA fails it with exit 1.
func TestHostileBench(t *testing.T) {
	f, _ := dataSAN(t)
	r := f.run(t, "aoe", "bench", "e5.5", "-i", "eth0", "--duration", "20ms")
	if r.code != 0 || !lineHas(r.stdout, "TEST", "RETRANS", "BAD") || !strings.Contains(r.stdout, "eth0>02:da:00:00:00:05 (mtu 1500, 2 sect, window ") {
		t.Errorf("table: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = f.run(t, "aoe", "bench", "e5.5", "-i", "eth0", "--duration", "20ms", "--json")
	var res []map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil || len(res) != 3 {
		t.Fatalf("json: %v %s", err, r.stdout)
	}
	for _, x := range res {
		for _, k := range []string{"test", "block_size_bytes", "queue_depth", "ops", "bytes", "elapsed_seconds", "mb_per_s", "iops", "latency_p50_seconds", "latency_p99_seconds", "latency_max_seconds", "paths"} {
			if _, ok := x[k]; !ok {
				t.Errorf("json: no %q in %v", k, x)
			}
		}
		p := x["paths"].([]any)[0].(map[string]any)
		for _, k := range []string{"interface", "mac", "mtu", "sectors_per_frame", "frames", "bytes", "retransmits", "srtt_seconds", "rto_seconds", "dead", "mb_per_s", "window", "congestion_window", "bad_replies", "last_bad_reply", "mismatch"} {
			if _, ok := p[k]; !ok {
				t.Errorf("json path: no %q in %v", k, p)
			}
		}
		for _, k := range []string{"seconds", "p50_ms", "p99_ms", "max_ms", "block_size"} {
			if _, ok := x[k]; ok {
				t.Errorf("json: old field %q in %v", k, x)
			}
		}
		for _, k := range []string{"srtt_ns", "rto_ns"} {
			if _, ok := p[k]; ok {
				t.Errorf("json path: old field %q in %v", k, p)
			}
		}
		if s, ok := x["latency_p99_seconds"].(float64); !ok || s <= 0 || s > 60 {
			t.Errorf("latency_p99_seconds %v: want seconds", x["latency_p99_seconds"])
		}
		if s, ok := p["rto_seconds"].(float64); !ok || s <= 0 || s > 60 {
			t.Errorf("rto_seconds %v: want seconds", p["rto_seconds"])
		}
	}
	f, _ = hostileData(t, func(tg *aoetest.Target) *aoetest.Hostile { return &aoetest.Hostile{Target: tg, WrongLBA: 8} })
	r = f.run(t, "aoe", "bench", "e5.5", "-i", "eth0", "--duration", "20ms", "--deadline", "3s")
	if r.code != ExitFailure || !strings.Contains(r.stderr, "wrong LBA") || r.stdout != "" {
		t.Errorf("wrong LBA: exit %d %q %q", r.code, r.stdout, r.stderr)
	}
}
