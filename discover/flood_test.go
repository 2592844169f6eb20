package discover_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/goaoe/aoe/discover"
	"github.com/goaoe/aoe/initiator"
	"github.com/goaoe/aoe/initiator/aoetest"
	"github.com/goaoe/aoe/internal/aoelab"
)

// floodLab is a namespace pair: a raw-socket flooder behind t0 answering
// each Query Config with flood replies from new addresses, next to a
// vblade e1.1, and the initiator side i0.
func floodLab(t testing.TB, flood int) (lab *aoelab.Lab, ini string) {
	lab = aoelab.NewLab(t)
	tgt, ini := lab.Namespace("tgt"), lab.Namespace("ini")
	lab.Veth(tgt, "t0", ini, "i0", 1500)
	lab.Vblade(tgt, "t0", 1, 1, lab.Image(1<<20))
	lab.ServeHostile(tgt, "t0", &aoetest.Hostile{Flood: flood})
	return lab, ini
}

// aoeBinary builds cmd/aoe (or takes $AOE_BIN: to measure another build).
func aoeBinary(t testing.TB) string {
	if bin := os.Getenv("AOE_BIN"); bin != "" {
		return bin
	}
	bin := filepath.Join(t.TempDir(), "aoe")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/aoe").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// floodRun is one `aoe discover --probe` against the flooder.
type floodRun struct {
	wall   time.Duration
	maxRSS int64 // KiB, from wait4's rusage
	code   int
	stdout string
	stderr string
}

func runFlooded(t testing.TB, ini, bin string, args ...string) floodRun {
	cmd := exec.Command("ip", append([]string{"netns", "exec", ini, bin, "discover", "--probe", "-i", "i0"}, args...)...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	r := floodRun{wall: time.Since(start), stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	r.code = cmd.ProcessState.ExitCode()
	// ip netns exec execs the command: the rusage is aoe's own.
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		r.maxRSS = ru.Maxrss
	}
	return r
}

// TestProbeRawFlood: a raw-socket flooder answering the probe with
// 100,000 new addresses per broadcast copy, next to a real vblade. The
// probe ends within its timeout plus a margin, keeps at most 4096 paths,
// says that the list is incomplete, exits 1, and lists the real e1.1 when
// it answered before the cap.
func TestProbeRawFlood(t *testing.T) {
	_, ini := floodLab(t, 100000)
	bin := aoeBinary(t)
	r := runFlooded(t, ini, bin, "--timeout", "3s")
	t.Logf("flooded probe: %v wall, max RSS %d KiB, exit %d, stderr %.200q", r.wall, r.maxRSS, r.code, r.stderr)
	if r.code != 1 || !strings.Contains(r.stderr, "incomplete answer") {
		t.Errorf("exit %d, stderr %.300q", r.code, r.stderr)
	}
	if rows := strings.Count(r.stdout, "\n") - 1; rows > maxReplies {
		t.Errorf("%d rows", rows)
	}
	if r.wall > 3*time.Second+2*time.Second {
		t.Errorf("the probe took %v for --timeout 3s", r.wall)
	}
}

// TestProbeInMemoryFlood: the same in memory (no root): Probe itself ends
// at the cap with an IncompleteError.
func TestProbeInMemoryFlood(t *testing.T) {
	var nw aoetest.Network
	nw.ServeHostile(t, &aoetest.Hostile{Flood: 10000})
	c := nw.Client(t, "test0", []byte{0x52, 0x54, 0, 0, 0, 1}, 1500)
	start := time.Now()
	targets, err := discover.Probe(context.Background(), initiator.NewGroup(c), discover.Options{Timeout: 2 * time.Second, MaxPaths: 500})
	var ie *initiator.IncompleteError
	if !errors.As(err, &ie) || len(targets) > 500 {
		t.Fatalf("%d targets, %v", len(targets), err)
	}
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("took %v", d)
	}
	for _, tg := range targets {
		if !tg.Unverified() {
			t.Fatalf("%s: a flood path that answered no IDENTIFY is not unverified", tg.Name())
		}
	}
}

// BenchmarkProbeFlood: `aoe discover --probe --timeout 5s` (the built
// binary, or $AOE_BIN) in a namespace against a raw-socket flooder that
// answers each broadcast copy with 100,000 new addresses. It reports the
// wall time and the peak RSS (wait4's ru_maxrss) per run.
func BenchmarkProbeFlood(b *testing.B) {
	_, ini := floodLab(b, 100000)
	bin := aoeBinary(b)
	var wall time.Duration
	var rss int64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r := runFlooded(b, ini, bin, "--timeout", "5s")
		wall += r.wall
		rss = max(rss, r.maxRSS)
		if i == 0 {
			b.Logf("exit %d, %d lines, stderr %.200q", r.code, strings.Count(r.stdout, "\n"), r.stderr)
		}
	}
	b.ReportMetric(float64(wall.Milliseconds())/float64(b.N), "wall-ms")
	b.ReportMetric(float64(rss)/1024, "peak-rss-MiB")
}

// TestProbeBurstHonest: one burst of 10,000 answers (under the cap of 20,000) to a
// single broadcast copy. Either every path is listed, or the probe says
// that replies were lost: never a shorter list that claims to be whole.
func TestProbeBurstHonest(t *testing.T) {
	for range 3 {
		var nw aoetest.Network
		nw.ServeHostile(t, &aoetest.Hostile{Flood: 10000})
		c := nw.Client(t, "test0", []byte{0x52, 0x54, 0, 0, 0, 1}, 1500)
		targets, err := discover.Probe(context.Background(), initiator.NewGroup(c),
			discover.Options{Timeout: 2 * time.Second, Resend: []time.Duration{}, NoIdentify: true, MaxPaths: 20000})
		var ie *initiator.IncompleteError
		switch {
		case errors.As(err, &ie) && ie.Dropped > 0 && len(targets) < 10000:
			t.Logf("%d listed, %d lost and said", len(targets), ie.Dropped)
		case err == nil && len(targets) == 10000:
		default:
			t.Fatalf("%d listed, error %v", len(targets), err)
		}
	}
}

// maxReplies is initiator.CollectOptions.MaxReplies's default: the most
// answers one broadcast keeps.
const maxReplies = 4096
