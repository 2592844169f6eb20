package blockio_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/goaoe/aoe/internal/aoelab"
)

// BenchmarkVbladeMemory runs the aoe binary ($AOE_BIN, as make bench
// sets it, else built here) against real vblade in a namespace: `aoe read`
// of a 64 MiB disk to /dev/null, and `aoe nbd` serving it while nbdcopy
// reads it all (one connection, 16 requests of 256 KiB in flight), each
// over one path (MTU 1500) and two (1500 twice); ns/op is a command's
// whole run, its start and the Query Config wait included. It reports the
// process's peak resident set and the Go heap's largest live size at the
// start of a garbage collection, the most over the runs.
//
// Which and why: the resident set is wait4's ru_maxrss of the aoe process,
// the kernel's high-water mark (VmHWM) at its exit (`ip netns exec` execs
// aoe in place; what ip held before would count only if larger): all the
// process holds (Go heap, stacks, runtime, socket buffers mapped in, the
// binary's pages), measured by the kernel, with nothing of the
// benchmark's process in it, whose own VmHWM would count the image and
// buffers of the other benchmarks. The heap figure, from GODEBUG=gctrace=1
// (A in "A->B->C MB"), tells the Go heap (what the engine and the copy
// allocate) from the fixed rest.
func BenchmarkVbladeMemory(b *testing.B) {
	bin := aoeBinary(b)
	lab := aoelab.NewLab(b)
	tgt, ini := lab.Namespace("tgt"), lab.Namespace("ini")
	lab.Veth(tgt, "t0", ini, "i0", 1500)
	lab.Veth(tgt, "t3", ini, "i3", 1500)
	const size = 64 << 20
	img := randomImage(b, lab, size)
	for _, t := range []string{"t0", "t3"} {
		lab.Vblade(tgt, t, 1, 2, img)
	}
	for _, tc := range []struct{ name, ifaces string }{{"1path", "i0"}, {"2paths", "i0,i3"}} {
		b.Run("read-"+tc.name, func(b *testing.B) {
			var peak memUse
			for range b.N {
				cmd := exec.Command("ip", "netns", "exec", ini, bin, "read", "e1.2", "-i", tc.ifaces, "-o", "/dev/null", "--sysfs", "/nonexistent")
				var stderr strings.Builder
				cmd.Stderr = &stderr
				cmd.Env = append(os.Environ(), "GODEBUG=gctrace=1")
				if err := cmd.Run(); err != nil {
					b.Fatalf("aoe read: %v\n%s", err, stderr.String())
				}
				peak = peak.max(processMem(cmd, stderr.String()))
			}
			peak.report(b)
		})
		b.Run("nbd-"+tc.name, func(b *testing.B) {
			var peak memUse
			for i := range b.N {
				sock := filepath.Join(b.TempDir(), fmt.Sprintf("nbd%d.sock", i))
				cmd := exec.Command("ip", "netns", "exec", ini, bin, "nbd", "e1.2", "-i", tc.ifaces, "--socket", sock, "--sysfs", "/nonexistent")
				var stderr aoelab.SyncBuffer
				cmd.Stderr = &stderr
				cmd.Env = append(os.Environ(), "GODEBUG=gctrace=1")
				if err := cmd.Start(); err != nil {
					b.Fatal(err)
				}
				for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
					if _, err := os.Stat(sock); err == nil {
						break
					}
					if time.Now().After(deadline) {
						cmd.Process.Kill()
						cmd.Wait()
						b.Fatalf("aoe nbd did not create its socket: %s", stderr.String())
					}
				}
				out, err := exec.Command("nbdcopy", "--connections=1", "--requests=16", "nbd+unix:///e1.2?socket="+sock, "null:").CombinedOutput()
				cmd.Process.Signal(syscall.SIGTERM)
				werr := cmd.Wait()
				if err != nil {
					b.Fatalf("nbdcopy: %v\n%s", err, out)
				}
				if code := cmd.ProcessState.ExitCode(); werr != nil && code != 143 && code != 0 {
					b.Fatalf("aoe nbd: %v\n%s", werr, stderr.String())
				}
				peak = peak.max(processMem(cmd, stderr.String()))
			}
			peak.report(b)
		})
	}
}

// memUse is a process's peak resident set and largest live heap, bytes.
type memUse struct{ rss, heap int64 }

func (m memUse) max(o memUse) memUse { return memUse{max(m.rss, o.rss), max(m.heap, o.heap)} }

func (m memUse) report(b *testing.B) {
	b.ReportMetric(float64(m.rss)/(1<<20), "MiB-peak-RSS")
	b.ReportMetric(float64(m.heap)/(1<<20), "MiB-peak-heap")
}

var gcLine = regexp.MustCompile(`(\d+)->\d+->\d+ MB`)

// processMem is the peak RSS of cmd, exited, and the largest heap its
// gctrace lines (in stderr) show at a collection's start.
func processMem(cmd *exec.Cmd, stderr string) memUse {
	var m memUse
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		m.rss = ru.Maxrss << 10 // KiB on Linux
	}
	for _, g := range gcLine.FindAllStringSubmatch(stderr, -1) {
		if n, err := strconv.ParseInt(g[1], 10, 64); err == nil {
			m.heap = max(m.heap, n<<20)
		}
	}
	return m
}

// aoeBinary is $AOE_BIN (make bench), else cmd/aoe built into a
// temporary directory.
func aoeBinary(b *testing.B) string {
	if bin := os.Getenv("AOE_BIN"); bin != "" {
		return bin
	}
	return goBuild(b, "../../cmd/aoe")
}
