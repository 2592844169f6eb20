package discover_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/goaoe/aoe/internal/aoelab"
)

// BenchmarkProbe64Vblade: 64 vblade targets in a namespace. Each iteration
// runs `aoe discover --probe` and aoetools' aoe-sancheck (which waits a
// fixed 5 s of silence) side by side, checks that each listed all 64, and
// reports both wall times and the ratio.
func BenchmarkProbe64Vblade(b *testing.B) {
	if _, err := os.Stat("/usr/sbin/aoe-sancheck"); err != nil {
		b.Fatal("aoe-sancheck is needed: apt-get install aoetools")
	}
	lab := aoelab.NewLab(b)
	tgt, ini := lab.Namespace("tgt"), lab.Namespace("ini")
	lab.Veth(tgt, "t0", ini, "i0", 1500)
	img := lab.Image(1 << 20)
	for i := range 64 {
		lab.Vblade(tgt, "t0", 1+i/16, i%16, img)
	}
	bin := os.Getenv("AOE_BIN")
	if bin == "" {
		bin = filepath.Join(b.TempDir(), "aoe")
		if out, err := exec.Command("go", "build", "-o", bin, "../cmd/aoe").CombinedOutput(); err != nil {
			b.Fatalf("go build: %v\n%s", err, out)
		}
	}
	var ours, theirs time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		out, err := exec.Command("ip", "netns", "exec", ini, bin, "discover", "--probe", "-i", "i0", "--json").Output()
		ours += time.Since(start)
		if err != nil {
			b.Fatalf("aoe discover --probe: %v", err)
		}
		var targets []struct {
			Device string  `json:"device"`
			Bytes  *uint64 `json:"bytes"`
		}
		if err := json.Unmarshal(out, &targets); err != nil || len(targets) != 64 {
			b.Fatalf("aoe discover --probe listed %d targets (%v)", len(targets), err)
		}
		for _, t := range targets {
			if t.Bytes == nil || *t.Bytes != 1<<20 {
				b.Fatalf("%s: size %v", t.Device, t.Bytes)
			}
		}

		start = time.Now()
		out, err = exec.Command("ip", "netns", "exec", ini, "/usr/sbin/aoe-sancheck").Output()
		theirs += time.Since(start)
		if err != nil {
			b.Fatalf("aoe-sancheck: %v", err)
		}
		devices := 0
		for _, l := range strings.Split(string(out), "\n") {
			if strings.HasPrefix(l, "e") && strings.Contains(l, "\ti0") {
				devices++
			}
		}
		if devices != 64 {
			b.Fatalf("aoe-sancheck listed %d devices:\n%s", devices, out)
		}
	}
	n := float64(b.N)
	b.ReportMetric(float64(ours.Milliseconds())/n, "aoe-probe-ms")
	b.ReportMetric(float64(theirs.Milliseconds())/n, "aoe-sancheck-ms")
	b.ReportMetric(float64(theirs)/float64(ours), "speedup")
}
