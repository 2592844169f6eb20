package blockio_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"github.com/goaoe/aoe/internal/aoelab"
)

// BenchmarkInstructionsPerFrame counts the instructions `aoe read` and
// the floor (aoefloor: one thread, raw calls, no retransmission) execute
// per frame read from real vblade in a namespace, at MTU 1500 and 9000,
// under valgrind's callgrind: instructions, not time, so the figure is the
// same on a loaded machine and an idle one (a few percent apart, from
// how the replies happen to batch), where MB/s in a guest under qemu's
// TCG moves by a third from one run to the next. In such a guest the
// user time of a reader goes with its instructions. Each reader runs
// twice, for 64 MiB and 16 MiB; the difference over the frames between
// them leaves out its start (flags, Query Config, IDENTIFY).
//
// Reported: instr/frame of aoe and of the floor, and aoe/floor. The
// binary is $AOE_BIN (make bench), or built. Needs valgrind (apt-get
// install valgrind). GODEBUG=asyncpreemptoff=1 for both: callgrind
// fails on the runtime's preemption signals. GOGC=off for both: a reader
// collects once, near its start (aoe read's chunks pass the first heap
// goal), and that collection's marking, slowed down by callgrind,
// overlaps more or fewer frames from one run to the next, with a write
// barrier on every pointer stored meanwhile: four runs of aoe read at
// MTU 1500 counted 1983-2289 with it, 1893-1957 without. (The heap stays
// bounded: the chunks are recycled.)
func BenchmarkInstructionsPerFrame(b *testing.B) {
	if _, err := exec.LookPath("valgrind"); err != nil {
		b.Fatal("valgrind is needed (apt-get install valgrind)")
	}
	aoe := aoeBinary(b)
	floorBin := goBuild(b, "../aoelab/floor/aoefloor")
	lab := aoelab.NewLab(b)
	tgt, ini := lab.Namespace("tgt"), lab.Namespace("ini")
	img := lab.Image(64 << 20)
	for _, mtu := range []int{1500, 9000} {
		t, i := fmt.Sprintf("t%d", mtu), fmt.Sprintf("i%d", mtu)
		lab.Veth(tgt, t, ini, i, mtu)
		lab.Vblade(tgt, t, 1, 2, img)
		mac := lab.MAC(tgt, t).String()
		per := (mtu - 36) / 512 * 512 // a frame's data: what the MTU carries
		b.Run(fmt.Sprintf("mtu%d", mtu), func(b *testing.B) {
			var engine, fl float64
			for range b.N {
				engine = perFrame(b, ini, per, func(length string) []string {
					return []string{aoe, "read", "e1.2", "-i", i, "-o", "/dev/null", "--length", length}
				})
				fl = perFrame(b, ini, per, func(length string) []string {
					return []string{floorBin, "-i", i, "-target", mac, "-e", "e1.2", "-length", length, "-buffer", "1M"}
				})
			}
			b.ReportMetric(engine, "aoe-instr/frame")
			b.ReportMetric(fl, "floor-instr/frame")
			b.ReportMetric(engine/fl, "aoe/floor")
		})
	}
}

// perFrame runs argv(16M) and argv(64M) under callgrind in namespace ns
// and returns the instructions per frame of per bytes between them.
func perFrame(b *testing.B, ns string, per int, argv func(length string) []string) float64 {
	count := func(length string) int64 {
		args := append([]string{"netns", "exec", ns, "env", "GODEBUG=asyncpreemptoff=1", "GOGC=off",
			"valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"}, argv(length)...)
		out, err := exec.Command("ip", args...).CombinedOutput()
		if err != nil {
			b.Fatalf("%v: %v\n%s", args, err, out)
		}
		m := collected.FindSubmatch(out)
		if m == nil {
			b.Fatalf("no instruction count in callgrind's output:\n%s", out)
		}
		n, _ := strconv.ParseInt(string(m[1]), 10, 64)
		return n
	}
	small, large := count("16M"), count("64M")
	frames := float64((64<<20+per-1)/per - (16<<20+per-1)/per)
	return float64(large-small) / frames
}

// collected is callgrind's total: "==PID== Collected : N".
var collected = regexp.MustCompile(`Collected : (\d+)`)

// goBuild builds the main package at dir (static, as make build) into a
// temporary directory and returns the binary's path.
func goBuild(b *testing.B, dir string) string {
	bin := filepath.Join(b.TempDir(), filepath.Base(dir))
	cmd := exec.Command("go", "build", "-o", bin, dir)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("go build %s: %v\n%s", dir, err, out)
	}
	return bin
}
