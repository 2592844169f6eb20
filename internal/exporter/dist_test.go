package exporter

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

const distDir = "../../dist"

func TestAlertRules(t *testing.T) {
	promtool := tool(t, "promtool", "prometheus")
	dir := filepath.Join(distDir, "monitoring")
	for _, args := range [][]string{{"check", "rules", "aoe-alerts.yml"}, {"test", "rules", "aoe-alerts.test.yml"}} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "SUCCESS") {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// TestEveryAlertTested: each alert of aoe-alerts.yml has a promtool test
// case in aoe-alerts.test.yml where it fires.
func TestEveryAlertTested(t *testing.T) {
	rules, err := os.ReadFile(filepath.Join(distDir, "monitoring", "aoe-alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	tests, err := os.ReadFile(filepath.Join(distDir, "monitoring", "aoe-alerts.test.yml"))
	if err != nil {
		t.Fatal(err)
	}
	firing := map[string]bool{}
	var current string
	for _, line := range strings.Split(string(tests), "\n") {
		line = strings.TrimSpace(line)
		if name, ok := strings.CutPrefix(line, "alertname: "); ok {
			current = name
		}
		if strings.HasPrefix(line, "- exp_labels:") {
			firing[current] = true
		}
	}
	n := 0
	for _, line := range strings.Split(string(rules), "\n") {
		if name, ok := strings.CutPrefix(strings.TrimSpace(line), "- alert: "); ok {
			n++
			if !firing[name] {
				t.Errorf("alert %s has no test case where it fires", name)
			}
		}
	}
	if n < 12 {
		t.Errorf("%d alerts in aoe-alerts.yml", n)
	}
}

// TestRulesUseExportedMetrics: every aoe_ metric the rules query exists in
// the exporter's output.
func TestRulesUseExportedMetrics(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(distDir, "monitoring", "aoe-alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var exprs []string
	for _, line := range strings.Split(string(b), "\n") {
		if _, expr, ok := strings.Cut(line, "expr:"); ok {
			exprs = append(exprs, expr)
		}
	}
	checkMetricNames(t, "aoe-alerts.yml", strings.Join(exprs, "\n"))
}

var metricRef = regexp.MustCompile(`\baoe_[a-z_]+`)

// checkMetricNames fails for each aoe_ metric named in text that the
// exporter (with a prober's results) does not serve.
func checkMetricNames(t *testing.T, what, text string) {
	t.Helper()
	served := map[string]bool{}
	for k := range samples(t, Registry(NewCollector(Options{SysfsRoot: testdata + "/basic", Prober: fakeProber(t)}), false)) {
		name, _, _ := strings.Cut(k, "{")
		served[name] = true
	}
	refs := map[string]bool{}
	for _, m := range metricRef.FindAllString(text, -1) {
		refs[m] = true
	}
	if len(refs) == 0 {
		t.Fatalf("%s names no aoe_ metric", what)
	}
	var missing []string
	for m := range refs {
		if !served[m] {
			missing = append(missing, m)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("%s queries metrics the exporter does not serve: %v", what, missing)
	}
}

func TestDashboard(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(distDir, "monitoring", "aoe-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title  string `json:"title"`
		UID    string `json:"uid"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Query any `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("aoe-dashboard.json: %v", err)
	}
	if dash.Title == "" || dash.UID == "" || len(dash.Panels) == 0 {
		t.Fatalf("dashboard without title, uid or panels: %+v", dash)
	}
	var exprs []string
	for _, p := range dash.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			exprs = append(exprs, tg.Expr)
		}
	}
	for _, v := range dash.Templating.List {
		if s, ok := v.Query.(string); ok {
			exprs = append(exprs, s)
		}
	}
	checkMetricNames(t, "aoe-dashboard.json", strings.Join(exprs, "\n"))
}

// TestSystemdUnits runs systemd-analyze verify on the units, with the
// binary path pointed at a file that exists here.
func TestSystemdUnits(t *testing.T) {
	analyze := tool(t, "systemd-analyze", "systemd")
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	units, _ := filepath.Glob(filepath.Join(distDir, "systemd", "aoe-exporter*"))
	have := map[string]bool{}
	for _, u := range units {
		have[filepath.Base(u)] = true
	}
	for _, name := range []string{"aoe-exporter.service", "aoe-exporter-textfile.service", "aoe-exporter-textfile.timer"} {
		if !have[name] {
			t.Fatalf("%s missing from %v", name, units)
		}
	}
	var args []string
	for _, u := range units {
		b, err := os.ReadFile(u)
		if err != nil {
			t.Fatal(err)
		}
		text := string(b)
		if !strings.Contains(text, "ExecStart=/usr/sbin/aoe ") && strings.HasSuffix(u, ".service") {
			t.Errorf("%s: ExecStart is not /usr/sbin/aoe", u)
		}
		dst := filepath.Join(dir, filepath.Base(u))
		if err := os.WriteFile(dst, []byte(strings.ReplaceAll(text, "/usr/sbin/aoe ", self+" ")), 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args, dst)
	}
	out, err := exec.Command(analyze, append([]string{"verify", "--man=no"}, args...)...).CombinedOutput()
	if err != nil || len(out) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	b, _ := os.ReadFile(filepath.Join(distDir, "systemd", "aoe-exporter.service"))
	for _, line := range []string{"DynamicUser=yes", "CapabilityBoundingSet=\n", "AmbientCapabilities=\n", "ProtectSystem=strict", "NoNewPrivileges=yes"} {
		if !strings.Contains(string(b), "\n"+line) {
			t.Errorf("aoe-exporter.service lacks %q", line)
		}
	}
}
