package cmd

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// termRun runs argv with stdout a terminal of width columns (0: not a
// terminal) and the given environment; the transcript says so.
func termRun(t *testing.T, argv []string, width int, env map[string]string, setup func(*Env)) (run, string) {
	t.Helper()
	r := execute(t, argv, runOpts{env: env, setup: func(e *Env) {
		if setup != nil {
			setup(e)
		}
		e.TermWidth = func() int { return width }
	}})
	label := fmt.Sprintf("[stdout: a terminal of %d columns]", width)
	if width == 0 {
		label = "[stdout: not a terminal]"
	}
	if c := env["COLUMNS"]; c != "" {
		label = "COLUMNS=" + c + " " + label
	}
	return r, r.transcript(append([]string{label}, argv...), nil)
}

// maxLineWidth is the widest line of s.
func maxLineWidth(s string) int {
	w := 0
	for _, l := range strings.Split(s, "\n") {
		w = max(w, cellWidth(l))
	}
	return w
}

// TestTableFitsTerminal: on a terminal, tables leave out columns until
// they fit and say which; not on a terminal, they never change, whatever
// $COLUMNS says.
func TestTableFitsTerminal(t *testing.T) {
	basic := fixtures + "/basic"
	for _, c := range []struct {
		golden string
		argv   []string
		width  int
		env    map[string]string
	}{
		{"stat/wide-80", []string{"aoe", "stat", "--sysfs", basic, "--wide"}, 80, nil},
		{"stat/wide-60", []string{"aoe", "stat", "--sysfs", basic, "--wide"}, 60, nil},
		{"stat/narrow-30", []string{"aoe", "stat", "--sysfs", basic}, 30, nil},
		{"stat/narrow-10", []string{"aoe", "stat", "--sysfs", basic}, 10, nil}, // DEVICE and STATE stay
		{"stat/wide-columns", []string{"aoe", "stat", "--sysfs", basic, "--wide"}, 200, map[string]string{"COLUMNS": "50"}},
		{"stat/wide-pipe", []string{"aoe", "stat", "--sysfs", basic, "--wide"}, 0, map[string]string{"COLUMNS": "50"}},
	} {
		r, tr := termRun(t, c.argv, c.width, c.env, nil)
		checkGolden(t, c.golden, tr)
		if r.code != 0 {
			t.Errorf("%s: exit %d", c.golden, r.code)
		}
	}
	// Wide enough: as not on a terminal, byte for byte.
	pipe, _ := termRun(t, []string{"aoe", "stat", "--sysfs", basic, "--wide"}, 0, nil, nil)
	wide, _ := termRun(t, []string{"aoe", "stat", "--sysfs", basic, "--wide"}, 200, nil, nil)
	if pipe.stdout != wide.stdout || strings.Contains(pipe.stdout, "hidden") {
		t.Errorf("a wide terminal changed the table:\n%s\nvs\n%s", wide.stdout, pipe.stdout)
	}
	for _, w := range []int{40, 50, 60, 70, 80, 90} {
		r, _ := termRun(t, []string{"aoe", "stat", "--sysfs", basic, "--wide"}, w, nil, nil)
		table, _, _ := strings.Cut(r.stdout, "\n(")
		if got := maxLineWidth(table); got > w {
			t.Errorf("width %d: a line of %d columns:\n%s", w, got, r.stdout)
		}
	}
}

// TestWireTablesFitTerminal: the wire commands' tables fit the terminal
// as stat's do.
func TestWireTablesFitTerminal(t *testing.T) {
	env := map[string]string{"sysfs_dir": "/nonexistent", "LANG": "C.UTF-8"}
	for _, c := range []struct {
		golden string
		argv   []string
		width  int
	}{
		{"wire/probe-narrow", []string{"aoe", "discover", "--probe", "--timeout", "1s"}, 60},
		{"wire/sancheck-narrow", []string{"aoe", "sancheck", "-v", "--timeout", "1s"}, 40},
		{"wire/cfg-all-narrow", []string{"aoe", "cfg", "--all", "--timeout", "1s"}, 40},
	} {
		f := newFakeSAN(t)
		_, tr := termRun(t, c.argv, c.width, env, f.setup)
		checkGolden(t, c.golden, tr)
	}
}

// TestStdoutTermWidth: the real seam reads a terminal's width, and gives
// 0 for a pipe.
func TestStdoutTermWidth(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if got := stdoutTermWidth(int(w.Fd()))(); got != 0 {
		t.Errorf("pipe: width %d, want 0", got)
	}
	ptmx, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("no pseudo-terminal: %v", err)
	}
	defer ptmx.Close()
	if err := unix.IoctlSetPointerInt(int(ptmx.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetUint32(int(ptmx.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	pts, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer pts.Close()
	if err := unix.IoctlSetWinsize(int(pts.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 24, Col: 57}); err != nil {
		t.Fatal(err)
	}
	if got := stdoutTermWidth(int(pts.Fd()))(); got != 57 {
		t.Errorf("terminal: width %d, want 57", got)
	}
}

// TestTableRenderEdges: the tablewriter renderer gives the bytes of the
// one-pass renderer it replaced on the edges the goldens do not reach: a
// header without rows, empty cells (first and last column, first and last
// row), wide characters, and columns left out.
func TestTableRenderEdges(t *testing.T) {
	cols := []column{{header: "NAME"}, {header: "SIZE", right: true, drop: 1}, {header: "NOTE", drop: 2}}
	for _, c := range []struct {
		rows  [][]string
		width int
		want  string
	}{
		{nil, 0, "NAME  SIZE  NOTE\n"},
		{nil, 8, "NAME\n(SIZE, NOTE hidden to fit 8 columns: widen the terminal, or use --json)\n"},
		{[][]string{{"", "1", ""}, {"b", "", "x"}, {"日本語", "22", ""}}, 0,
			"NAME    SIZE  NOTE\n           1\nb             x\n日本語    22\n"},
		{[][]string{{"", "1", ""}, {"b", "", "x"}, {"日本語", "22", ""}}, 8,
			"NAME\n\nb\n日本語\n(SIZE, NOTE hidden to fit 8 columns: widen the terminal, or use --json)\n"},
		{[][]string{{"a", "1", "last"}, {"b", "333", ""}}, 0, "NAME  SIZE  NOTE\na        1  last\nb      333\n"},
		{[][]string{{"a", "1", "last"}, {"b", "333", ""}}, 8, "NAME\na\nb\n(SIZE, NOTE hidden to fit 8 columns: widen the terminal, or use --json)\n"},
	} {
		var b strings.Builder
		if err := (table{cols: cols, rows: c.rows}).render(&b, c.width); err != nil {
			t.Fatal(err)
		}
		if b.String() != c.want {
			t.Errorf("rows %q, width %d:\ngot  %q\nwant %q", c.rows, c.width, b.String(), c.want)
		}
	}
}
