package classic

import (
	"os/exec"
	"strings"
	"testing"
)

// lines are classic aoe-stat lines and odd strings to match patterns on.
var breLines = []string{
	"      e1.2         1.073GB       eth0 1024  up            ",
	"     e1.10         1.073GB  eth0,eth1 8704  up            ",
	"      e2.3         0.000GB       none 1024  down,closewait",
	"e65534.254     10995.116GB       eth0 1024  up            ",
	"      e1.2         1.073GB       eth0 (NA)  up            ",
	"a+b?c(d)e{2}f|g*h^i$j[k]l\\m",
	"aab", "ab", "b", "",
}

var brePatterns = []string{
	".", "e1.2", "1.2", "e1\\.2", "^ *e1", "up *$", "up$", "e1\\.1\\>", "\\<e1",
	"e1\\.\\(1\\|2\\)", "e1\\.1\\{1,2\\}", "a\\{2\\}", "[[:space:]]e7", "[[:digit:]]\\+GB",
	"e1.1*", "*e1", "^*", "a+b", "a\\+b", "c(d)", "e{2}", "f|g", "\\(a\\)*b",
	"[^ ]*GB", "[]k]", "[a-c]", "\\[k\\]", "[\\]", "\\$j", "i$j", "^i", "h^i",
	"(NA)", "down,closewait", "\\bup\\b", "\\w\\+,\\w\\+", "a\\?b", "x*", "\\.",
}

// TestBREMatchesGrep checks CompileBRE against GNU grep (what aoetools'
// aoe-stat runs) on every pattern and line.
func TestBREMatchesGrep(t *testing.T) {
	if _, err := exec.LookPath("grep"); err != nil {
		t.Fatal("grep is needed to check the regular expressions against it")
	}
	for _, p := range brePatterns {
		re, err := CompileBRE(p)
		if err != nil {
			t.Errorf("CompileBRE(%q): %v", p, err)
			continue
		}
		cmd := exec.Command("grep", "-n", "--", p)
		cmd.Env = []string{"LC_ALL=C"}
		cmd.Stdin = strings.NewReader(strings.Join(breLines, "\n") + "\n")
		out, _ := cmd.Output()
		want := map[int]bool{}
		for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			if n, _, ok := strings.Cut(l, ":"); ok {
				var i int
				for _, c := range n {
					i = i*10 + int(c-'0')
				}
				want[i-1] = true
			}
		}
		for i, l := range breLines {
			if got := re.MatchString(l); got != want[i] {
				t.Errorf("pattern %q (Go %q) on %q: match %v, grep %v", p, re.String(), l, got, want[i])
			}
		}
	}
}

func TestBREErrors(t *testing.T) {
	for _, p := range []string{`e1\(`, `[abc`, `\1`, `x\`, `[[:alpha:]`} {
		if _, err := CompileBRE(p); err == nil {
			t.Errorf("CompileBRE(%q) succeeded", p)
		}
	}
}
