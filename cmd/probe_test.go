package cmd

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goaoe/aoe/internal/aoelab"
)

// TestProbeCLI runs `aoe discover --probe` inside a namespace against real
// vblade targets: table, JSON, a conflict warning, interface choice, and
// the message and exit status when nothing answers.
func TestProbeCLI(t *testing.T) {
	lab := aoelab.NewLab(t)
	tgt, ini := lab.Namespace("tgt"), lab.Namespace("ini")
	lab.Veth(tgt, "t0", ini, "i0", 1500)
	lab.Veth(tgt, "t1", ini, "i1", 1500)
	lab.Veth(tgt, "t2", ini, "i2", 1500)
	img := lab.Image(1 << 30)
	lab.Vblade(tgt, "t0", 1, 2, img)
	lab.Vblade(tgt, "t1", 1, 2, img) // multipath
	lab.Vblade(tgt, "t1", 7, 0, lab.Image(100<<20))
	lab.Vblade(tgt, "t0", 9, 9, lab.Image(1<<20)) // conflict
	lab.Vblade(tgt, "t1", 9, 9, lab.Image(2<<20))
	probe := func(args ...string) run {
		var r run
		lab.Do(ini, func() {
			r = execute(t, append([]string{"aoe", "discover", "--probe", "--sysfs", "/nonexistent"}, args...), runOpts{})
		})
		return r
	}

	r := probe("-i", "i0,i1")
	lines := strings.Split(r.stdout, "\n")
	if r.code != 0 || len(lines) != 5 ||
		!strings.HasPrefix(lines[0], "DEVICE  ") ||
		!strings.Contains(lines[1], "e1.2") || !strings.Contains(lines[1], "1.07 GB") || !strings.Contains(lines[1], "i0,i1") ||
		!strings.Contains(lines[2], "e7.0") || !strings.Contains(lines[3], "CONFLICT") {
		t.Errorf("table (exit %d):\n%s%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stderr, "e9.9 is claimed by different disks") {
		t.Errorf("no conflict warning: %q", r.stderr)
	}

	r = probe("-i", "i1", "--json")
	var got []struct {
		Device   string `json:"device"`
		Paths    []struct{ MAC, Interface string }
		Buffers  int    `json:"buffers"`
		Bytes    uint64 `json:"bytes"`
		Payload  int    `json:"payload_bytes"`
		Conflict bool   `json:"conflict"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || r.code != 0 {
		t.Fatalf("json (exit %d): %v\n%s", r.code, err, r.stdout)
	}
	if len(got) != 3 || got[0].Device != "e1.2" || got[0].Bytes != 1<<30 || got[0].Buffers != 16 || got[0].Payload != 1024 ||
		len(got[0].Paths) != 1 || got[0].Paths[0].Interface != "i1" || got[2].Conflict {
		t.Errorf("json: %+v", got)
	}

	// Every up Ethernet interface by default: i0, i1 and the empty i2.
	r = probe()
	if r.code != 0 || strings.Count(r.stdout, "\n") != 4 {
		t.Errorf("default interfaces (exit %d):\n%s%s", r.code, r.stdout, r.stderr)
	}

	// The driver's aoe_iflist when set: here "i1", so e7.0 but not e9.9's t0 path.
	sys := copyTree(t, "basic", t.TempDir())
	if err := os.WriteFile(filepath.Join(sys, "module/aoe/parameters/aoe_iflist"), []byte("i1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	lab.Do(ini, func() {
		r = execute(t, []string{"aoe", "discover", "--probe", "--sysfs", sys, "--json"}, runOpts{})
	})
	if r.code != 0 || strings.Contains(r.stdout, `"i0"`) || !strings.Contains(r.stdout, `"interface": "i1"`) || !strings.Contains(r.stdout, `"e7.0"`) {
		t.Errorf("aoe_iflist i1 (exit %d):\n%s%s", r.code, r.stdout, r.stderr)
	}

	r = probe("-i", "i2")
	if r.code != 1 || r.stdout != "" || !strings.HasPrefix(r.stderr, "aoe discover: no AoE target answered on i2 (waited ") {
		t.Errorf("nothing (exit %d): %q %q", r.code, r.stdout, r.stderr)
	}
	r = probe("-i", "bogus9")
	if r.code != 2 || !strings.Contains(r.stderr, "bogus9: no such network interface") {
		t.Errorf("bad interface (exit %d): %q", r.code, r.stderr)
	}
	lab.Run("ip", "-n", ini, "link", "set", "i2", "down")
	r = probe("-i", "i2,i0")
	if r.code != 0 || !strings.Contains(r.stderr, "i2 is down; skipped") {
		t.Errorf("down interface (exit %d): %q", r.code, r.stderr)
	}
}

func TestProbeUsage(t *testing.T) {
	r := execute(t, []string{"aoe", "discover", "--probe", "--wait", "e1.2"}, runOpts{})
	if r.code != 2 || !strings.Contains(r.stderr, "--probe and --wait exclude each other") {
		t.Errorf("%d %q", r.code, r.stderr)
	}
	r = execute(t, []string{"aoe", "discover", "--json"}, runOpts{})
	if r.code != 2 || !strings.Contains(r.stderr, "-i and --json go with --probe") {
		t.Errorf("%d %q", r.code, r.stderr)
	}
}

// TestProbeWithoutCapNetRaw runs the real binary without CAP_NET_RAW: one
// line saying what is needed, exit 4.
func TestProbeWithoutCapNetRaw(t *testing.T) {
	lab := aoelab.NewLab(t)
	ini := lab.Namespace("ini")
	lab.Veth(ini, "i0", lab.Namespace("tgt"), "t0", 1500)
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Fatal("setpriv (util-linux) is needed")
	}
	bin := filepath.Join(t.TempDir(), "aoe")
	if out, err := exec.Command("go", "build", "-o", bin, "./aoe").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cmd := exec.Command("ip", "netns", "exec", ini, "setpriv", "--bounding-set=-net_raw", "--inh-caps=-net_raw", bin, "discover", "--probe", "-i", "i0")
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != ExitPermission {
		t.Fatalf("exit %v, want %d; stderr %q", err, ExitPermission, stderr.String())
	}
	want := "aoe discover: sending raw AoE frames needs root or the CAP_NET_RAW capability (setcap cap_net_raw+ep on the aoe binary)\n"
	if stderr.String() != want || stdout.String() != "" {
		t.Errorf("stderr %q, want %q", stderr.String(), want)
	}
}
