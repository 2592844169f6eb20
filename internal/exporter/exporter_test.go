package exporter

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/goaoe/aoe/discover"
	"github.com/goaoe/aoe/initiator"
	"github.com/goaoe/aoe/initiator/aoetest"
	"github.com/goaoe/aoe/initiator/wire"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
)

const testdata = "../../sysfs/testdata"

// samples gathers g and returns every sample as `name{l1="v1",...}` →
// value, labels in name order, histograms as _bucket/_sum/_count.
func samples(t testing.TB, g prometheus.Gatherer) map[string]float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var ls []string
			for _, l := range m.GetLabel() {
				ls = append(ls, l.GetName()+"="+`"`+l.GetValue()+`"`)
			}
			key := func(name string, extra ...string) string {
				all := append(append([]string{}, ls...), extra...)
				sort.Strings(all)
				if len(all) == 0 {
					return name
				}
				return name + "{" + strings.Join(all, ",") + "}"
			}
			switch {
			case m.Gauge != nil:
				out[key(mf.GetName())] = m.GetGauge().GetValue()
			case m.Counter != nil:
				out[key(mf.GetName())] = m.GetCounter().GetValue()
			case m.Histogram != nil:
				h := m.GetHistogram()
				out[key(mf.GetName()+"_count")] = float64(h.GetSampleCount())
				out[key(mf.GetName()+"_sum")] = h.GetSampleSum()
				for _, b := range h.GetBucket() {
					out[key(mf.GetName()+"_bucket", `le="`+trimFloat(b.GetUpperBound())+`"`)] = float64(b.GetCumulativeCount())
				}
			}
		}
	}
	return out
}

func trimFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

func want(t *testing.T, got map[string]float64, key string, v float64) {
	t.Helper()
	g, ok := got[key]
	if !ok {
		t.Errorf("%s missing", key)
		return
	}
	if g != v {
		t.Errorf("%s = %v, want %v", key, g, v)
	}
}

func TestCollectorBasic(t *testing.T) {
	got := samples(t, Registry(NewCollector(Options{SysfsRoot: testdata + "/basic"}), false))
	want(t, got, "aoe_driver_loaded", 1)
	want(t, got, `aoe_driver_info{version="85"}`, 1)
	want(t, got, `aoe_interfaces_allowed{interface="*"}`, 1)
	want(t, got, "aoe_interfaces_list_readable", 1)
	want(t, got, "aoe_devices", 4)
	want(t, got, "aoe_devices_truncated", 0)
	want(t, got, `aoe_device_info{device="e1.2",firmware="0x4019",mac="02:ae:00:00:01:02",shelf="1",slot="2"}`, 1)
	want(t, got, `aoe_device_up{device="e1.2"}`, 1)
	want(t, got, `aoe_device_state{device="e1.2",state="up"}`, 1)
	want(t, got, `aoe_device_size_bytes{device="e1.2"}`, 2097152*512)
	want(t, got, `aoe_device_size_bytes{device="e7.0"}`, 204800*512)
	want(t, got, `aoe_device_payload_bytes{device="e2.1"}`, 1024)
	want(t, got, `aoe_device_interfaces{device="e2.1"}`, 2)
	want(t, got, `aoe_device_open{device="e1.2"}`, 0)
	want(t, got, "aoe_scrape_success", 1)
	for k := range got {
		if strings.Contains(k, "sda") {
			t.Errorf("a non-AoE disk leaked: %s", k)
		}
	}
}

func TestBuildInfo(t *testing.T) {
	got := samples(t, Registry(NewCollector(Options{SysfsRoot: testdata + "/basic", Version: "1.2.3"}), false))
	n := 0
	for k, v := range got {
		if !strings.HasPrefix(k, "aoe_exporter_build_info{") {
			continue
		}
		n++
		for _, l := range []string{`version="1.2.3"`, `goversion="` + runtime.Version() + `"`, `goos="` + runtime.GOOS + `"`, `goarch="` + runtime.GOARCH + `"`, `revision="`} {
			if !strings.Contains(k, l) {
				t.Errorf("%s lacks %s", k, l)
			}
		}
		if v != 1 {
			t.Errorf("%s = %v", k, v)
		}
	}
	if n != 1 {
		t.Errorf("%d aoe_exporter_build_info series", n)
	}
	got = samples(t, Registry(NewCollector(Options{SysfsRoot: testdata + "/basic"}), false))
	if _, ok := got[`aoe_exporter_build_info{goarch="`+runtime.GOARCH+`",goos="`+runtime.GOOS+`",goversion="`+runtime.Version()+`",revision="`+Label(buildRevision())+`",version="unknown"}`]; !ok {
		t.Errorf("no build info with version unknown: %v", got)
	}
}

func TestValidFlags(t *testing.T) {
	for p, ok := range map[string]bool{"/metrics": true, "/": true, "/aoe/metrics": true, "/a-b_c.d~e": true,
		"metrics": false, "": false, "/metrics/": false, "//metrics": false, "/a/./b": false, "/a/../b": false,
		"/a b": false, "/{x}": false, "/a?b": false, "/a#b": false, "/%41": false, "GET /metrics": false, "/é": false} {
		if err := ValidTelemetryPath(p); (err == nil) != ok {
			t.Errorf("ValidTelemetryPath(%q) = %v", p, err)
		}
	}
	for a, ok := range map[string]bool{":10085": true, "127.0.0.1:10085": true, "[::1]:0": true, "vsock://:9100": true, "host.example:65535": true,
		"10085": false, "": false, ":http": false, ":65536": false, "127.0.0.1": false, ":-1": false} {
		if err := ValidListenAddress(a); (err == nil) != ok {
			t.Errorf("ValidListenAddress(%q) = %v", a, err)
		}
	}
	// Serve refuses a bad path (it was a panic in http.ServeMux).
	err := Serve(context.Background(), prometheus.NewRegistry(), ServeOptions{ListenAddresses: []string{"127.0.0.1:0"}, TelemetryPath: "metrics"})
	if err == nil {
		t.Error("Serve took telemetry path \"metrics\"")
	}
}

func TestCollectorInUse(t *testing.T) {
	got := samples(t, Registry(NewCollector(Options{SysfsRoot: testdata + "/inuse", ProcRoot: testdata + "/proc"}), false))
	for dev, v := range map[string]float64{"e1.1": 0, "e1.2": 1, "e1.3": 1, "e1.4": 1, "e1.5": 1} {
		want(t, got, `aoe_device_open{device="`+dev+`"}`, v)
	}
	want(t, got, `aoe_device_up{device="e1.4"}`, 0)
	want(t, got, `aoe_device_state{device="e1.4",state="down,closewait"}`, 1)
}

func TestCollectorNoDriver(t *testing.T) {
	got := samples(t, Registry(NewCollector(Options{SysfsRoot: testdata + "/nomodule"}), false))
	want(t, got, "aoe_driver_loaded", 0)
	if _, ok := got[`aoe_driver_info{version="85"}`]; ok {
		t.Error("driver info without a driver")
	}
	got = samples(t, Registry(NewCollector(Options{SysfsRoot: t.TempDir()}), false))
	want(t, got, "aoe_driver_loaded", 0)
	want(t, got, "aoe_scrape_success", 0)
}

func TestCollectorCap(t *testing.T) {
	got := samples(t, Registry(NewCollector(Options{SysfsRoot: testdata + "/basic", MaxDevices: 2}), false))
	want(t, got, "aoe_devices", 4)
	want(t, got, "aoe_devices_truncated", 2)
	n := 0
	for k := range got {
		if strings.HasPrefix(k, "aoe_device_up{") {
			n++
		}
	}
	if n != 2 {
		t.Errorf("%d devices with series, want 2 (the first by shelf.slot)", n)
	}
	want(t, got, `aoe_device_up{device="e1.3"}`, 1)
}

// TestCollectorUntrusted: hostile attribute values end up escaped in labels
// and the exposition stays valid.
func TestCollectorUntrusted(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "devices/virtual/block/etherd!e3.3")
	mustMkdir(t, dir)
	mustMkdir(t, filepath.Join(root, "block"))
	mustMkdir(t, filepath.Join(root, "module/aoe/parameters"))
	writeFile(t, filepath.Join(root, "module/aoe/version"), "85\x1b[2J\xff\n")
	writeFile(t, filepath.Join(root, "module/aoe/parameters/aoe_iflist"), "eth0 bad\x07if eth0,eth0\n")
	for k, v := range map[string]string{"state": "up\x1b]0;pwned\x07", "mac": "\xff\xfe", "firmware-version": "0x\"4019\\", "size": "8", "payload": "1024", "netif": "eth0"} {
		writeFile(t, filepath.Join(dir, k), v+"\n")
	}
	if err := os.Symlink("../devices/virtual/block/etherd!e3.3", filepath.Join(root, "block/etherd!e3.3")); err != nil {
		t.Fatal(err)
	}
	reg := Registry(NewCollector(Options{SysfsRoot: root}), false)
	got := samples(t, reg)
	want(t, got, `aoe_driver_info{version="85\x1b[2J\xff"}`, 1)
	want(t, got, `aoe_interfaces_allowed{interface="bad\x07if"}`, 1)
	want(t, got, `aoe_device_state{device="e3.3",state="up\x1b]0;pwned\x07"}`, 1)
	want(t, got, `aoe_device_info{device="e3.3",firmware="0x"4019\\",mac="\xff\xfe",shelf="3",slot="3"}`, 1)
	text := exposition(t, reg)
	if strings.ContainsAny(text, "\x1b\x07") || strings.IndexByte(text, 0xff) >= 0 {
		t.Errorf("raw control bytes in the exposition:\n%q", text)
	}
	promtoolCheckMetrics(t, text)
}

func mustMkdir(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestLabel(t *testing.T) {
	for in, out := range map[string]string{
		"eth0": "eth0", "a\x1bb": `a\x1bb`, "\xff": `\xff`, `a\b`: `a\\b`, "é": "é", "\u0085": `\xc2\x85`,
		strings.Repeat("x", 300): strings.Repeat("x", 128),
	} {
		if got := Label(in); got != out {
			t.Errorf("Label(%q) = %q, want %q", in, got, out)
		}
	}
}

// exposition renders reg in the text format.
func exposition(t testing.TB, g prometheus.Gatherer) string {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	enc := expfmt.NewEncoder(&b, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			t.Fatal(err)
		}
	}
	return b.String()
}

// tool returns the path of an installed tool, or skips the test (fails in
// CI, which installs it).
func tool(t testing.TB, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is needed in CI (apt-get install %s)", name, pkg)
		}
		t.Skipf("%s is not installed (apt-get install %s)", name, pkg)
	}
	return p
}

func promtoolCheckMetrics(t *testing.T, text string) {
	t.Helper()
	cmd := exec.Command(tool(t, "promtool", "prometheus"), "check", "metrics")
	cmd.Stdin = strings.NewReader(text)
	if out, err := cmd.CombinedOutput(); err != nil || len(out) > 0 {
		t.Errorf("promtool check metrics: %v\n%s\non:\n%s", err, out, text)
	}
}

// fakeProber returns a prober whose latest probe found e1.2 on two paths,
// e9.9 claimed by two disks, with RTTs.
func fakeProber(t testing.TB) *Prober {
	n := &aoetest.Network{}
	c := n.Client(t, "eth0", net.HardwareAddr{2, 0, 0, 0, 0, 1}, 1500)
	p, err := NewProber(ProberOptions{Group: initiator.NewGroup(c), Interval: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	targets, rtts := fakeTargets()
	now := time.Now()
	p.record(&probeResult{targets: targets, rtts: rtts, start: now.Add(-20 * time.Millisecond), end: now})
	return p
}

func fakeTargets() ([]discover.Target, map[pathID]time.Duration) {
	mac := func(b byte) net.HardwareAddr { return net.HardwareAddr{2, 0xae, 0, 0, 0, b} }
	idA := &wire.Identity{Serial: "A", Model: "vblade"}
	idB := &wire.Identity{Serial: "B", Model: "vblade"}
	targets := []discover.Target{
		{Shelf: 1, Slot: 2, Paths: []discover.Path{{MAC: mac(1), Interface: "eth0", BufferCount: 16, Identity: idA}, {MAC: mac(1), Interface: "eth1", BufferCount: 16, Identity: idA}}},
		{Shelf: 9, Slot: 9, Conflict: true, Paths: []discover.Path{{MAC: mac(2), Interface: "eth0", BufferCount: 8, Identity: idA}, {MAC: mac(3), Interface: "eth0", BufferCount: 8, Identity: idB}}},
	}
	rtts := map[pathID]time.Duration{
		{"e1.2", mac(1).String(), "eth0"}: 300 * time.Microsecond,
		{"e1.2", mac(1).String(), "eth1"}: 2 * time.Millisecond,
		{"e9.9", mac(2).String(), "eth0"}: 400 * time.Microsecond,
	}
	return targets, rtts
}

func TestProberRecord(t *testing.T) {
	p := fakeProber(t)
	reg := Registry(NewCollector(Options{SysfsRoot: testdata + "/basic", Prober: p}), false)
	got := samples(t, reg)
	want(t, got, `aoe_target_up{device="e1.2",interface="eth0",mac="02:ae:00:00:00:01"}`, 1)
	want(t, got, `aoe_target_up{device="e1.2",interface="eth1",mac="02:ae:00:00:00:01"}`, 1)
	want(t, got, `aoe_target_buffers{device="e9.9",interface="eth0",mac="02:ae:00:00:00:02"}`, 8)
	want(t, got, `aoe_target_conflict{device="e9.9"}`, 1)
	want(t, got, `aoe_target_conflict{device="e1.2"}`, 0)
	want(t, got, `aoe_target_rtt_seconds_count{device="e1.2",interface="eth1",mac="02:ae:00:00:00:01"}`, 1)
	want(t, got, `aoe_target_rtt_seconds_bucket{device="e1.2",interface="eth1",le="0.0025",mac="02:ae:00:00:00:01"}`, 1)
	want(t, got, `aoe_target_rtt_seconds_bucket{device="e1.2",interface="eth1",le="0.001",mac="02:ae:00:00:00:01"}`, 0)
	want(t, got, "aoe_probes_total", 1)
	want(t, got, "aoe_probe_truncated", 0)
	if d := got["aoe_probe_duration_seconds"]; d < 0.019 || d > 0.021 {
		t.Errorf("probe duration %v", d)
	}
	promtoolCheckMetrics(t, exposition(t, reg))

	want(t, got, "aoe_probe_success", 1)
	want(t, got, "aoe_probe_failures_total", 0)
	want(t, got, `aoe_probe_interface_up{interface="eth0"}`, 1)
	firstSuccess := got["aoe_probe_last_success_timestamp_seconds"]
	if firstSuccess == 0 {
		t.Error("no aoe_probe_last_success_timestamp_seconds after a successful probe")
	}

	// The next probe: e1.2's eth1 path is gone, e9.9 no longer in conflict.
	targets, _ := fakeTargets()
	targets[0].Paths = targets[0].Paths[:1]
	targets[1].Conflict = false
	now := time.Now().Add(time.Minute)
	p.record(&probeResult{targets: targets, start: now, end: now})
	got = samples(t, reg)
	want(t, got, `aoe_target_up{device="e1.2",interface="eth1",mac="02:ae:00:00:00:01"}`, 0)
	want(t, got, `aoe_target_up{device="e1.2",interface="eth0",mac="02:ae:00:00:00:01"}`, 1)
	want(t, got, `aoe_target_conflict{device="e9.9"}`, 0)
	want(t, got, `aoe_probe_incomplete`, 0)
	want(t, got, "aoe_probe_last_success_timestamp_seconds", float64(now.UnixNano())/1e9)

	// An incomplete answer (a flood) that misses e1.2: not confirmed, so
	// not up; the probe is no success.
	later := now.Add(time.Minute)
	p.record(&probeResult{targets: targets[1:], start: later, end: later, incomplete: &initiator.IncompleteError{Dropped: 3}})
	got = samples(t, reg)
	want(t, got, `aoe_target_up{device="e1.2",interface="eth0",mac="02:ae:00:00:00:01"}`, 0)
	want(t, got, `aoe_target_up{device="e9.9",interface="eth0",mac="02:ae:00:00:00:02"}`, 1)
	want(t, got, `aoe_probe_incomplete`, 1)
	want(t, got, "aoe_probe_success", 0)
	want(t, got, "aoe_probe_failures_total", 0)
	want(t, got, "aoe_probe_last_success_timestamp_seconds", float64(now.UnixNano())/1e9)

	// A probe that fails as a whole confirms nothing: every path is down,
	// the failure counted, the last success unchanged.
	p.record(&probeResult{start: later, end: later, err: errors.New("send: network is down")})
	got = samples(t, reg)
	for k, v := range got {
		if strings.HasPrefix(k, "aoe_target_up{") && v != 0 {
			t.Errorf("%s = %v after a failed probe", k, v)
		}
	}
	want(t, got, "aoe_probe_success", 0)
	want(t, got, "aoe_probe_incomplete", 0)
	want(t, got, "aoe_probe_failures_total", 1)
	want(t, got, `aoe_probe_interface_up{interface="eth0"}`, 0)
	want(t, got, "aoe_probe_last_success_timestamp_seconds", float64(now.UnixNano())/1e9)
	promtoolCheckMetrics(t, exposition(t, reg))

	// Paths silent for longer than ForgetAfter go away, with their RTTs.
	p.record(&probeResult{start: now.Add(2 * time.Hour), end: now.Add(2 * time.Hour)})
	got = samples(t, reg)
	for k := range got {
		if strings.HasPrefix(k, "aoe_target_") {
			t.Errorf("forgotten path still has %s", k)
		}
	}
}

func TestProberCap(t *testing.T) {
	p := fakeProber(t)
	p.opts.MaxTargets = 1
	p.paths = map[pathID]*pathState{}
	targets, _ := fakeTargets()
	now := time.Now()
	p.record(&probeResult{targets: targets, start: now, end: now})
	got := samples(t, Registry(NewCollector(Options{SysfsRoot: testdata + "/basic", Prober: p}), false))
	want(t, got, "aoe_probe_truncated", 1)
	if _, ok := got[`aoe_target_conflict{device="e9.9"}`]; ok {
		t.Error("a target over the cap has series")
	}
}

// TestProberProbe probes fake targets on an in-memory segment reached
// through two interfaces, then with one of them down.
func TestProberProbe(t *testing.T) {
	n := &aoetest.Network{}
	c0 := n.Client(t, "eth0", net.HardwareAddr{2, 0, 0, 0, 0, 1}, 1500)
	c1 := n.Client(t, "eth1", net.HardwareAddr{2, 0, 0, 0, 0, 2}, 1500)
	tg := &aoetest.Target{Shelf: 4, Slot: 2, MAC: net.HardwareAddr{2, 0xae, 0, 0, 4, 2}, BufferCount: 16, MTU: 1500, Sectors: 1 << 20, Model: "m", Serial: "s"}
	n.Serve(t, tg)
	var mu sync.Mutex
	down := map[string]error{}
	var logs syncBuffer
	p, err := NewProber(ProberOptions{Group: initiator.NewGroup(c0, c1), Interval: time.Minute, Timeout: 2 * time.Second,
		Logger:    slog.New(slog.NewTextHandler(&logs, nil)),
		LinkState: func(name string) error { mu.Lock(); defer mu.Unlock(); return down[name] }})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.ProbeOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	reg := Registry(NewCollector(Options{SysfsRoot: testdata + "/basic", Prober: p}), false)
	got := samples(t, reg)
	for _, ifc := range []string{"eth0", "eth1"} {
		path := `{device="e4.2",interface="` + ifc + `",mac="02:ae:00:00:04:02"}`
		want(t, got, `aoe_target_up`+path, 1)
		want(t, got, `aoe_target_buffers`+path, 16)
		want(t, got, `aoe_target_rtt_seconds_count`+path, 1)
		want(t, got, `aoe_probe_retransmits_total{interface="`+ifc+`"}`, 0)
		for _, reason := range []string{"malformed", "forged", "bad_ata"} {
			want(t, got, `aoe_probe_bad_replies_total{interface="`+ifc+`",reason="`+reason+`"}`, 0)
		}
		want(t, got, `aoe_probe_interface_up{interface="`+ifc+`"}`, 1)
	}
	want(t, got, `aoe_target_conflict{device="e4.2"}`, 0)
	want(t, got, "aoe_probe_success", 1)

	// eth1 goes down: the probe does not send there, its path is not
	// confirmed; eth0's still is. The failure is counted and logged once.
	mu.Lock()
	down["eth1"] = errors.New("interface down")
	mu.Unlock()
	for range 2 {
		if err := p.ProbeOnce(context.Background()); err == nil || !strings.Contains(err.Error(), "eth1 (interface down)") {
			t.Errorf("probe with eth1 down: %v", err)
		}
	}
	got = samples(t, reg)
	want(t, got, `aoe_target_up{device="e4.2",interface="eth0",mac="02:ae:00:00:04:02"}`, 1)
	want(t, got, `aoe_target_up{device="e4.2",interface="eth1",mac="02:ae:00:00:04:02"}`, 0)
	want(t, got, `aoe_probe_interface_up{interface="eth0"}`, 1)
	want(t, got, `aoe_probe_interface_up{interface="eth1"}`, 0)
	want(t, got, "aoe_probe_success", 0)
	want(t, got, "aoe_probe_failures_total", 2)
	want(t, got, "aoe_probes_total", 3)
	if n := strings.Count(logs.String(), `msg="AoE probe failing"`); n != 1 || !strings.Contains(logs.String(), "eth1 (interface down)") {
		t.Errorf("%d failure messages, want 1:\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), `msg="AoE target path no longer confirmed" device=e4.2 mac=02:ae:00:00:04:02 interface=eth1`) {
		t.Errorf("the lost path is not logged:\n%s", logs.String())
	}

	// Both down: nothing is sent, nothing confirmed.
	mu.Lock()
	down["eth0"] = errors.New("no carrier")
	mu.Unlock()
	if err := p.ProbeOnce(context.Background()); err == nil {
		t.Error("no error with every interface down")
	}
	got = samples(t, reg)
	want(t, got, `aoe_target_up{device="e4.2",interface="eth0",mac="02:ae:00:00:04:02"}`, 0)
	want(t, got, "aoe_probe_failures_total", 3)

	// Back up, and the target silent: the probe succeeds and finds it down.
	mu.Lock()
	clear(down)
	mu.Unlock()
	tg.Silent = true
	if err := p.ProbeOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	got = samples(t, reg)
	want(t, got, `aoe_target_up{device="e4.2",interface="eth0",mac="02:ae:00:00:04:02"}`, 0)
	want(t, got, "aoe_probe_success", 1)
	want(t, got, "aoe_probes_total", 5)
	if !strings.Contains(logs.String(), `msg="AoE probe succeeds again"`) {
		t.Errorf("recovery not logged:\n%s", logs.String())
	}
}

// TestProberLogRate: a failure that lasts is logged when it starts, every
// LogEvery while it lasts, again when what fails changes, and when it ends.
func TestProberLogRate(t *testing.T) {
	p := fakeProber(t)
	var logs syncBuffer
	p.log = slog.New(slog.NewTextHandler(&logs, nil))
	start := time.Now()
	down := map[string]error{"eth0": errors.New("interface down")}
	for i := range 60 { // an hour of probes a minute apart
		at := start.Add(time.Duration(i) * time.Minute)
		p.record(&probeResult{start: at, end: at, down: down})
	}
	text := logs.String()
	if n := strings.Count(text, `msg="AoE probe failing"`); n != 1 {
		t.Errorf("%d start messages, want 1:\n%s", n, text)
	}
	if n := strings.Count(text, `msg="AoE probe still failing"`); n != 5 { // at 10, 20 ... 50 minutes
		t.Errorf("%d reminders, want 5:\n%s", n, text)
	}
	at := start.Add(time.Hour)
	p.record(&probeResult{start: at, end: at, err: errors.New("send: no buffer space")})
	p.record(&probeResult{start: at, end: at})
	text = logs.String()
	if n := strings.Count(text, `msg="AoE probe failing"`); n != 2 {
		t.Errorf("a new kind of failure: %d start messages, want 2:\n%s", n, text)
	}
	if !strings.Contains(text, `msg="AoE probe succeeds again"`) {
		t.Errorf("no recovery message:\n%s", text)
	}
}

// TestProberLogPaths: paths lost or back are logged one by one up to
// maxPathLogs, the rest summed up; paths found for the first time are not
// logged at info level.
func TestProberLogPaths(t *testing.T) {
	p := fakeProber(t)
	p.paths = map[pathID]*pathState{}
	var logs syncBuffer
	p.log = slog.New(slog.NewTextHandler(&logs, nil))
	var targets []discover.Target
	for slot := range uint8(15) {
		targets = append(targets, discover.Target{Shelf: 3, Slot: slot, Paths: []discover.Path{{MAC: net.HardwareAddr{2, 0xae, 0, 0, 3, slot}, Interface: "eth0"}}})
	}
	now := time.Now()
	p.record(&probeResult{targets: targets, start: now, end: now})
	if logs.String() != "" {
		t.Errorf("new paths logged at info level:\n%s", logs.String())
	}
	p.record(&probeResult{start: now, end: now, down: map[string]error{"eth0": errors.New("interface down")}})
	p.record(&probeResult{targets: targets, start: now, end: now})
	text := logs.String()
	for msg, n := range map[string]int{`msg="AoE target path no longer confirmed"`: maxPathLogs, `msg="AoE target path answers again"`: maxPathLogs,
		`msg="AoE target paths changed state" more=5`: 2} {
		if got := strings.Count(text, msg); got != n {
			t.Errorf("%d times %s, want %d:\n%s", got, msg, n, text)
		}
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent writes and reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestWriteTextfile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "aoe.prom")
	writeFile(t, path, "old\n")
	if err := WriteTextfile(path, Registry(NewCollector(Options{SysfsRoot: testdata + "/basic"}), false)); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o644 {
		t.Fatalf("%v %v", fi, err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("left behind: %v", entries)
	}
	b, _ := os.ReadFile(path)
	if !strings.Contains(string(b), `aoe_device_size_bytes{device="e1.2"} 1.073741824e+09`) || strings.Contains(string(b), "go_goroutines") {
		t.Errorf("textfile:\n%s", b)
	}
	promtoolCheckMetrics(t, string(b))
	// A directory that cannot be written: error, nothing changed.
	if err := WriteTextfile(filepath.Join(dir, "missing", "aoe.prom"), prometheus.NewRegistry()); err == nil {
		t.Error("no error for a missing directory")
	}
}
