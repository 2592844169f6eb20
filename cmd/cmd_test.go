package cmd

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goaoe/aoe/sysfs"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// fixtures is the directory of the sysfs fixture trees.
const fixtures = "../sysfs/testdata"

// nodeWrite is one write to a control node.
type nodeWrite struct {
	path string
	data []byte
}

// run is the result of one command line.
type run struct {
	stdout, stderr string
	code           int
	writes         []nodeWrite
}

// runOpts tune a test run.
type runOpts struct {
	env       map[string]string
	realNodes bool   // verify and write the nodes for real (no recording)
	procRoot  string // procfs root (mount table, open files); default: none
	modinfo   func(string) (string, error)
	stdin     string
	setup     func(*Env) // fills in more of the environment
}

// execute runs argv in process with recorded control-node writes.
func execute(t *testing.T, argv []string, o runOpts) run {
	t.Helper()
	var stdout, stderr bytes.Buffer
	var r run
	env := &Env{
		Stdin:   strings.NewReader(o.stdin),
		Stdout:  &stdout,
		Stderr:  &stderr,
		Getenv:  func(k string) string { return o.env[k] },
		Version: "test",
		Host:    sysfs.Host{Proc: o.procRoot},
		Modinfo: o.modinfo,
	}
	if o.setup != nil {
		o.setup(env)
	}
	if !o.realNodes {
		env.NodeWriter = func(path string, data []byte) error {
			r.writes = append(r.writes, nodeWrite{path, append([]byte(nil), data...)})
			return nil
		}
	}
	r.code = Main(context.Background(), argv, env)
	r.stdout, r.stderr = stdout.String(), stderr.String()
	return r
}

// transcript renders a run for a golden file, with the given paths replaced
// by stable names.
func (r run) transcript(argv []string, replace map[string]string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "$ %s\n", strings.Join(argv, " "))
	fmt.Fprintf(&b, "-- stdout --\n%s", r.stdout)
	fmt.Fprintf(&b, "-- stderr --\n%s", r.stderr)
	fmt.Fprintf(&b, "-- exit %d --\n", r.code)
	for _, w := range r.writes {
		fmt.Fprintf(&b, "-- write %s %q --\n", w.path, w.data)
	}
	s := b.String()
	for from, to := range replace {
		s = strings.ReplaceAll(s, from, to)
	}
	return s
}

// checkGolden compares got with testdata/golden/name.txt, or rewrites it
// with -update.
func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name+".txt")
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run 'go test ./cmd -update' to create it)", err)
	}
	if string(want) != got {
		t.Errorf("output differs from %s (-want +got):\n%s", path, lineDiff(string(want), got))
	}
}

// lineDiff is a small line-by-line diff for failure messages.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for i := 0; i < len(w) || i < len(g); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			fmt.Fprintf(&b, "line %d:\n-%q\n+%q\n", i+1, wl, gl)
		}
	}
	return b.String()
}

// copyTree copies a fixture tree (symlinks kept) into a new directory under
// dir and returns its path.
func copyTree(t *testing.T, tree, dir string) string {
	t.Helper()
	dst := filepath.Join(dir, tree)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("cp", "-a", filepath.Join(fixtures, tree), dst).CombinedOutput()
	if err != nil {
		t.Fatalf("cp: %v: %s", err, out)
	}
	return dst
}

// requireRoot stops a test that needs root. In CI (which runs as root) it
// fails instead, so that nothing is skipped there unnoticed.
func requireRoot(t *testing.T, why string) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("needs root (%s), and CI must run as root", why)
	}
	t.Skipf("needs root: %s", why)
}
