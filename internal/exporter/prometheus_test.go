package exporter

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/goaoe/aoe/internal/aoelab"
	"golang.org/x/sys/unix"
)

var (
	binOnce sync.Once
	binDir  string
	binPath string
	binErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// aoeBinary builds the aoe command once for the package's tests.
func aoeBinary(t testing.TB) string {
	t.Helper()
	binOnce.Do(func() {
		if binDir, binErr = os.MkdirTemp("", "aoe-exporter-test-"); binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "aoe")
		out, err := exec.Command("go", "build", "-o", binPath, "github.com/goaoe/aoe/cmd/aoe").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// freePort returns a TCP port free on 127.0.0.1 at the time of the call.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// promArgs writes a Prometheus configuration scraping target every second
// (and evaluating the rule files every second) and returns the arguments
// to run Prometheus on it, listening on listen.
func promArgs(t testing.TB, target, listen string, ruleFiles ...string) []string {
	t.Helper()
	bin := tool(t, "prometheus", "prometheus")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "prometheus.yml")
	conf := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: aoe
    static_configs:
      - targets: ['%s']
`, target)
	if len(ruleFiles) > 0 {
		conf += "rule_files:\n"
		for _, f := range ruleFiles {
			conf += fmt.Sprintf("  - '%s'\n", f)
		}
	}
	if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	return []string{bin, "--config.file=" + cfg, "--storage.tsdb.path=" + filepath.Join(dir, "data"),
		"--web.listen-address=" + listen, "--log.level=warn"}
}

// startProcess runs argv, killed by PID at cleanup.
func startProcess(t testing.TB, argv ...string) *aoelab.SyncBuffer {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	out := &aoelab.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("%s output:\n%s", filepath.Base(argv[0]), out.String())
		}
	})
	return out
}

// promClient queries a Prometheus server's HTTP API.
type promClient struct {
	base string
	http *http.Client
}

type promSample struct {
	Metric map[string]string
	Value  float64
}

// query runs an instant query.
func (p promClient) query(q string) ([]promSample, error) {
	resp, err := p.http.Get(p.base + "/api/v1/query?query=" + url.QueryEscape(q))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var r struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []struct {
				Metric map[string]string `json:"metric"`
				Value  [2]any            `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("%s: %v", body, err)
	}
	if r.Status != "success" {
		return nil, fmt.Errorf("query %s: %s", q, r.Error)
	}
	var out []promSample
	for _, s := range r.Data.Result {
		str, _ := s.Value[1].(string)
		v, err := strconv.ParseFloat(str, 64)
		if err != nil {
			return nil, err
		}
		out = append(out, promSample{s.Metric, v})
	}
	return out, nil
}

// promAlert is an alert as /api/v1/alerts gives it.
type promAlert struct {
	Labels map[string]string `json:"labels"`
	State  string            `json:"state"`
}

// alerts returns the server's pending and firing alerts.
func (p promClient) alerts() ([]promAlert, error) {
	resp, err := p.http.Get(p.base + "/api/v1/alerts")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var r struct {
		Status string `json:"status"`
		Data   struct {
			Alerts []promAlert `json:"alerts"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &r); err != nil || r.Status != "success" {
		return nil, fmt.Errorf("alerts: %v: %s", err, body)
	}
	return r.Data.Alerts, nil
}

// firing reports whether alerts hold a firing alert named name whose labels
// include labels.
func firing(alerts []promAlert, name string, labels map[string]string) bool {
	for _, a := range alerts {
		if a.State != "firing" || a.Labels["alertname"] != name {
			continue
		}
		match := true
		for k, v := range labels {
			match = match && a.Labels[k] == v
		}
		if match {
			return true
		}
	}
	return false
}

// waitAlert waits until the alert name with labels is firing (want true) or
// no longer firing (want false).
func (p promClient) waitAlert(t *testing.T, name string, labels map[string]string, want bool, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last []promAlert
	var err error
	for time.Now().Before(deadline) {
		last, err = p.alerts()
		if err == nil && firing(last, name, labels) == want {
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("alert %s%v firing=%v not reached within %v: %+v (%v)", name, labels, want, timeout, last, err)
}

// fastRules copies dist/monitoring/aoe-alerts.yml with every `for` cut to
// 2s, for a test that cannot wait minutes; the expressions are the rules'.
func fastRules(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(distDir, "monitoring", "aoe-alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	fast := regexp.MustCompile(`(?m)^(\s+for:) \d+m$`).ReplaceAllString(string(b), "$1 2s")
	if fast == string(b) {
		t.Fatal("no `for` in aoe-alerts.yml")
	}
	path := filepath.Join(t.TempDir(), "aoe-alerts.yml")
	if err := os.WriteFile(path, []byte(fast), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// waitValue waits until query q returns exactly one sample of value v.
func (p promClient) waitValue(t *testing.T, q string, v float64, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last []promSample
	var err error
	for time.Now().Before(deadline) {
		last, err = p.query(q)
		if err == nil && len(last) == 1 && last[0].Value == v {
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("%s: got %+v (%v), want one sample of %v within %v", q, last, err, v, timeout)
}

func copyTree(t *testing.T, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "sys")
	if out, err := exec.Command("cp", "-a", src, dst).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v: %s", err, out)
	}
	return dst
}

// TestPrometheusScrapesFixture runs a real Prometheus server scraping `aoe
// exporter` over a fixture sysfs tree, and checks what Prometheus stored;
// then changes the tree and sees the change in the next scrapes.
func TestPrometheusScrapesFixture(t *testing.T) {
	root := copyTree(t, testdata+"/basic")
	bin := aoeBinary(t)
	exporterAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	startProcess(t, bin, "exporter", "--sysfs", root, "--web.listen-address", exporterAddr)
	promAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	startProcess(t, promArgs(t, exporterAddr, promAddr)...)
	p := promClient{base: "http://" + promAddr, http: &http.Client{Timeout: 5 * time.Second}}

	p.waitValue(t, `up{job="aoe"}`, 1, 60*time.Second)
	p.waitValue(t, `aoe_device_size_bytes{device="e1.3"}`, 20971520*512, 10*time.Second)
	p.waitValue(t, `aoe_device_up{device="e1.2"}`, 1, 10*time.Second)
	p.waitValue(t, `aoe_driver_info{version="85"}`, 1, 10*time.Second)
	p.waitValue(t, `count(aoe_device_info)`, 4, 10*time.Second)
	p.waitValue(t, `aoe_device_interfaces{device="e2.1"}`, 2, 10*time.Second)

	// The target of e1.2 goes away: the driver downs it (size 0).
	dev := filepath.Join(root, "devices/virtual/block/etherd!e1.2")
	writeFile(t, filepath.Join(dev, "state"), "down\n")
	writeFile(t, filepath.Join(dev, "size"), "0\n")
	p.waitValue(t, `aoe_device_up{device="e1.2"}`, 0, 10*time.Second)
	p.waitValue(t, `aoe_device_size_bytes{device="e1.2"}`, 0, 10*time.Second)
	p.waitValue(t, `aoe_device_state{device="e1.2",state="down"}`, 1, 10*time.Second)
	// Flushed: its series go stale.
	if err := os.Remove(filepath.Join(root, "block/etherd!e1.2")); err != nil {
		t.Fatal(err)
	}
	p.waitValue(t, `count(aoe_device_info)`, 3, 10*time.Second)
}

// nsHTTPClient returns an HTTP client whose connections are made inside the
// network namespace ns.
func nsHTTPClient(ns string) *http.Client {
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		type result struct {
			c   net.Conn
			err error
		}
		ch := make(chan result, 1)
		go func() {
			// The thread is left locked: it ends with the goroutine, never
			// to run another goroutine in the wrong namespace.
			runtime.LockOSThread()
			f, err := os.Open(filepath.Join("/run/netns", ns))
			if err != nil {
				ch <- result{nil, err}
				return
			}
			defer f.Close()
			if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
				ch <- result{nil, err}
				return
			}
			c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			ch <- result{c, err}
		}()
		r := <-ch
		return r.c, r.err
	}
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DialContext: dial, DisableKeepAlives: true}}
}

// TestPrometheusProbesVblade runs the exporter with probing and Prometheus
// inside a network namespace, against real vblade targets in another: a
// target answering, a target stopped, and two disks claiming one address.
func TestPrometheusProbesVblade(t *testing.T) {
	lab := aoelab.NewLab(t)
	promBin := promArgs(t, "127.0.0.1:10085", "127.0.0.1:9090")
	bin := aoeBinary(t)
	host := lab.Namespace("host")
	san := lab.Namespace("san")
	lab.Veth(host, "eth0", san, "s0", 1500)
	lab.Veth(host, "eth1", san, "s1", 1500)
	e11 := lab.Vblade(san, "s0", 1, 1, lab.Image(64<<20))
	lab.Vblade(san, "s1", 1, 2, lab.Image(16<<20))
	lab.Vblade(san, "s0", 5, 5, lab.Image(32<<20)) // two different disks claim e5.5
	lab.Vblade(san, "s1", 5, 5, lab.Image(48<<20))

	lab.Start(host, bin, "exporter", "--sysfs", testdata+"/basic", "--web.listen-address", "127.0.0.1:10085",
		"--probe.interval", "1s", "--probe.timeout", "700ms", "--probe.interface", "eth0,eth1")
	lab.Start(host, promBin...)
	p := promClient{base: "http://127.0.0.1:9090", http: nsHTTPClient(host)}

	p.waitValue(t, `up{job="aoe"}`, 1, 60*time.Second)
	p.waitValue(t, `aoe_target_up{device="e1.1",interface="eth0"}`, 1, 20*time.Second)
	p.waitValue(t, `aoe_target_up{device="e1.2",interface="eth1"}`, 1, 10*time.Second)
	p.waitValue(t, `aoe_target_buffers{device="e1.1"}`, 16, 10*time.Second)
	p.waitValue(t, `aoe_target_conflict{device="e5.5"}`, 1, 10*time.Second)
	p.waitValue(t, `aoe_target_conflict{device="e1.1"}`, 0, 10*time.Second)
	p.waitValue(t, `count(aoe_target_up{device="e5.5"} == 1)`, 2, 10*time.Second)
	p.waitValue(t, `aoe_device_size_bytes{device="e1.2"}`, 2097152*512, 10*time.Second) // the fixture's
	p.waitValue(t, `aoe_probe_truncated`, 0, 10*time.Second)
	p.waitValue(t, `aoe_target_rtt_seconds_count{device="e1.1"} > bool 0`, 1, 10*time.Second)
	rtt, err := p.query(`aoe_target_rtt_seconds_sum{device="e1.1"} / aoe_target_rtt_seconds_count{device="e1.1"}`)
	if err != nil || len(rtt) != 1 || rtt[0].Value <= 0 || rtt[0].Value > 0.5 {
		t.Errorf("mean RTT of e1.1: %+v %v", rtt, err)
	} else {
		t.Logf("mean RTT of e1.1 over veth: %.0fµs", rtt[0].Value*1e6)
	}

	// Stop e1.1's vblade: the next probes no longer find it.
	e11.Process.Kill()
	e11.Wait()
	start := time.Now()
	p.waitValue(t, `aoe_target_up{device="e1.1",interface="eth0"}`, 0, 15*time.Second)
	t.Logf("aoe_target_up of the stopped target went to 0 in Prometheus after %v", time.Since(start).Round(100*time.Millisecond))
	p.waitValue(t, `aoe_target_up{device="e1.2",interface="eth1"}`, 1, 5*time.Second)
}

// TestPrometheusAlertsInterfaceDown brings the probing interface down under
// a scraping Prometheus server loaded with the shipped alert rules (their
// `for` cut to seconds), inside network namespaces, and sees the exporter
// stop claiming the targets behind it: AoETargetPathDown and
// AoEProbeFailing fire, the other interface's paths stay up, the failure is
// logged once; with the interface back up, the alerts resolve.
func TestPrometheusAlertsInterfaceDown(t *testing.T) {
	lab := aoelab.NewLab(t)
	promBin := promArgs(t, "127.0.0.1:10085", "127.0.0.1:9090", fastRules(t))
	bin := aoeBinary(t)
	host := lab.Namespace("host")
	san := lab.Namespace("san")
	lab.Veth(host, "eth0", san, "s0", 1500)
	lab.Veth(host, "eth1", san, "s1", 1500)
	lab.Vblade(san, "s0", 1, 1, lab.Image(16<<20))
	lab.Vblade(san, "s1", 1, 2, lab.Image(16<<20))

	_, exporterLog := lab.Start(host, bin, "exporter", "--sysfs", testdata+"/basic", "--web.listen-address", "127.0.0.1:10085",
		"--probe.interval", "1s", "--probe.timeout", "500ms", "--probe.interface", "eth0,eth1")
	_, promLog := lab.Start(host, promBin...)
	p := promClient{base: "http://127.0.0.1:9090", http: nsHTTPClient(host)}
	defer func() {
		if t.Failed() {
			t.Logf("exporter log:\n%s\nprometheus log:\n%s", exporterLog, promLog)
		}
	}()

	p.waitValue(t, `up{job="aoe"}`, 1, 60*time.Second)
	p.waitValue(t, `aoe_target_up{device="e1.1",interface="eth0"}`, 1, 20*time.Second)
	p.waitValue(t, `aoe_target_up{device="e1.2",interface="eth1"}`, 1, 10*time.Second)
	p.waitValue(t, `aoe_probe_success`, 1, 10*time.Second)
	if a, err := p.alerts(); err != nil || firing(a, "AoETargetPathDown", nil) || firing(a, "AoEProbeFailing", nil) {
		t.Fatalf("alerts before the interface goes down: %+v %v", a, err)
	}

	lab.Run("ip", "-n", host, "link", "set", "eth0", "down")
	start := time.Now()
	p.waitAlert(t, "AoETargetPathDown", map[string]string{"device": "e1.1", "interface": "eth0"}, true, 30*time.Second)
	p.waitAlert(t, "AoEProbeFailing", map[string]string{"job": "aoe"}, true, 30*time.Second)
	t.Logf("AoETargetPathDown and AoEProbeFailing fired %v after eth0 went down", time.Since(start).Round(100*time.Millisecond))
	p.waitValue(t, `aoe_probe_interface_up{interface="eth0"}`, 0, 5*time.Second)
	p.waitValue(t, `aoe_probe_interface_up{interface="eth1"}`, 1, 5*time.Second)
	p.waitValue(t, `aoe_target_up{device="e1.2",interface="eth1"}`, 1, 5*time.Second)
	if a, _ := p.alerts(); firing(a, "AoETargetPathDown", map[string]string{"device": "e1.2"}) {
		t.Errorf("e1.2, reached through eth1, reported down: %+v", a)
	}
	time.Sleep(3 * time.Second) // more failing probes: logged once, not every second
	log := exporterLog.String()
	if n := strings.Count(log, `msg="AoE probe failing"`); n != 1 || !strings.Contains(log, "eth0 (interface down)") {
		t.Errorf("%d failure messages, want 1, naming eth0", n)
	}

	lab.Run("ip", "-n", host, "link", "set", "eth0", "up")
	lab.WaitUp(host, "eth0")
	p.waitValue(t, `aoe_target_up{device="e1.1",interface="eth0"}`, 1, 20*time.Second)
	p.waitValue(t, `aoe_probe_success`, 1, 10*time.Second)
	p.waitAlert(t, "AoEProbeFailing", nil, false, 30*time.Second)
	p.waitAlert(t, "AoETargetPathDown", nil, false, 30*time.Second)
	if !strings.Contains(exporterLog.String(), `msg="AoE probe succeeds again"`) {
		t.Error("recovery not logged")
	}
}

// TestExporterSystemdSocket starts the exporter as systemd would for a
// socket unit: the listening socket as fd 3, LISTEN_PID and LISTEN_FDS set.
func TestExporterSystemdSocket(t *testing.T) {
	bin := aoeBinary(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f, err := l.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	cmd := exec.Command("sh", "-c", `LISTEN_PID=$$ LISTEN_FDS=1; export LISTEN_PID LISTEN_FDS; exec "$0" "$@"`,
		bin, "exporter", "--sysfs", testdata+"/basic", "--web.systemd-socket")
	cmd.ExtraFiles = []*os.File{f}
	out := &aoelab.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	l.Close() // the exporter holds the socket now
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("exporter output:\n%s", out)
		}
	})
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "aoe_driver_loaded 1") {
		t.Errorf("metrics over the systemd socket: %d\n%s", resp.StatusCode, body)
	}
	if !strings.Contains(out.String(), "systemd activated listeners") {
		t.Errorf("log: %s", out)
	}
}
