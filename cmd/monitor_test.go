package cmd

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

func TestExporterTextfile(t *testing.T) {
	out := filepath.Join(t.TempDir(), "aoe.prom")
	r := execute(t, []string{"aoe", "exporter", "--sysfs", "../sysfs/testdata/basic", "--textfile", out}, runOpts{})
	if r.code != 0 || r.stdout != "" || r.stderr != "" {
		t.Fatalf("%+v", r)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`aoe_device_up{device="e7.0"} 1`, `aoe_driver_info{version="85"} 1`, "aoe_devices 4"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("textfile lacks %q:\n%s", want, b)
		}
	}
	// $sysfs_dir is honoured as by every command.
	r = execute(t, []string{"aoe", "exporter", "--textfile", out}, runOpts{env: map[string]string{"sysfs_dir": "../sysfs/testdata/nomodule"}})
	if b, _ := os.ReadFile(out); r.code != 0 || !strings.Contains(string(b), "aoe_driver_loaded 0") {
		t.Errorf("nomodule: %+v\n%s", r, b)
	}
}

// TestExporterUsage: every bad flag is a usage error (exit 2) with a
// message, never a panic, and nothing is served or probed.
func TestExporterUsage(t *testing.T) {
	for _, args := range [][]string{
		{"--max-devices", "0"}, {"extra"}, {"--bogus"}, {"--probe.max-targets", "0"},
		{"--probe.interval", "-1s"}, {"--probe.interval", "1ns"}, {"--probe.interval", "999ms"}, {"--probe.interval", "2h"},
		{"--probe.interval", "10s", "--probe.timeout", "1ms"}, {"--probe.interval", "10s", "--probe.timeout", "11s"},
		{"--probe.interval", "10s", "--probe.interface", "eth0,"},
		{"--web.telemetry-path", "metrics"}, {"--web.telemetry-path", ""}, {"--web.telemetry-path", "/a b"},
		{"--web.telemetry-path", "/{x}"}, {"--web.telemetry-path", "/metrics/"}, {"--web.telemetry-path", "/a/../b"},
		{"--web.telemetry-path", "/a?b"}, {"--web.telemetry-path", "GET /metrics"},
		{"--web.listen-address", "10085"}, {"--web.listen-address", "localhost:http"}, {"--web.listen-address", ":99999"},
		{"--web.listen-address", ""},
		{"--log.level", "verbose"}, {"--log.format", "xml"},
	} {
		r := execute(t, append([]string{"aoe", "exporter", "--sysfs", "../sysfs/testdata/basic"}, args...), runOpts{})
		if r.code != ExitUsage || r.stderr == "" || strings.Contains(r.stderr, "panic") || strings.Contains(r.stderr, "goroutine") {
			t.Errorf("%v: %+v", args, r)
		}
	}
	r := execute(t, []string{"aoe", "exporter", "--help"}, runOpts{})
	help := strings.Join(strings.Fields(r.stdout), " ") // flag help is wrapped to 80 columns
	for _, floor := range []string{"1s to 1h", "100ms to the interval"} {
		if !strings.Contains(help, floor) {
			t.Errorf("--help does not give the bounds %q:\n%s", floor, r.stdout)
		}
	}
	r = execute(t, []string{"aoe", "events", "--interval", "0s"}, runOpts{})
	if r.code != ExitUsage {
		t.Errorf("events --interval 0s: %+v", r)
	}
}

// syncWriter is an io.Writer safe for a command writing while the test reads.
type syncWriter struct {
	mu sync.Mutex
	b  strings.Builder
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// startMain runs argv in process until the returned cancel is called, and
// returns its exit code then.
func startMain(t *testing.T, argv []string) (stdout, stderr *syncWriter, stop func() int) {
	t.Helper()
	stdout, stderr = &syncWriter{}, &syncWriter{}
	env := &Env{Stdin: strings.NewReader(""), Stdout: stdout, Stderr: stderr,
		Getenv: func(string) string { return "" }, Version: "test"}
	ctx, cancel := context.WithCancel(context.Background())
	code := make(chan int, 1)
	go func() { code <- Main(ctx, argv, env) }()
	return stdout, stderr, func() int {
		cancel()
		select {
		case c := <-code:
			return c
		case <-time.After(10 * time.Second):
			t.Fatalf("%v did not end on cancel", argv)
			return -1
		}
	}
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// get fetches url until it answers (the server starts in the background).
func get(t *testing.T, url, user, pass string) (int, string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		req, _ := http.NewRequest("GET", url, nil)
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			return resp.StatusCode, string(b)
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: %v", url, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestExporterServe(t *testing.T) {
	addr := freeAddr(t)
	_, stderr, stop := startMain(t, []string{"aoe", "exporter", "--sysfs", "../sysfs/testdata/basic",
		"--web.listen-address", addr, "--web.telemetry-path", "/aoe-metrics", "--log.format", "json"})
	code, body := get(t, "http://"+addr+"/aoe-metrics", "", "")
	if code != 200 || !strings.Contains(body, `aoe_device_size_bytes{device="e1.3"} 1.073741824e+10`) || !strings.Contains(body, "go_goroutines") ||
		!strings.Contains(body, `aoe_exporter_build_info{goarch="`) || !strings.Contains(body, `version="test"} 1`) || !strings.Contains(body, "aoe_scrape_success 1") {
		t.Errorf("metrics: %d\n%s", code, body)
	}
	code, body = get(t, "http://"+addr+"/", "", "")
	if code != 200 || !strings.Contains(body, `href="/aoe-metrics"`) {
		t.Errorf("landing page: %d %s", code, body)
	}
	// Every link of the landing page answers.
	links := regexp.MustCompile(`href="([^"]*)"`).FindAllStringSubmatch(body, -1)
	if len(links) == 0 {
		t.Errorf("no link on the landing page:\n%s", body)
	}
	for _, l := range links {
		u, err := url.Parse("http://" + addr + "/")
		if err == nil {
			u, err = u.Parse(l[1])
		}
		if err != nil || u.Host != addr {
			t.Errorf("landing page links %q, not a page of the exporter", l[1])
			continue
		}
		if code, _ := get(t, u.String(), "", ""); code != 200 {
			t.Errorf("landing page link %q: %d", l[1], code)
		}
	}
	if code, _ := get(t, "http://"+addr+"/debug/pprof/heap", "", ""); code != http.StatusNotFound {
		t.Errorf("/debug/pprof/heap: %d", code)
	}
	if c := stop(); c != 0 {
		t.Errorf("exit %d: %s", c, stderr)
	}
	// --log.format json: every line is a JSON object, with a level.
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	for _, line := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil || m["level"] == nil {
			t.Errorf("not a JSON log line: %q", line)
		}
	}
	if !strings.Contains(stderr.String(), `"msg":"Listening on"`) {
		t.Errorf("log: %s", stderr)
	}
}

// TestExporterLogLevel: --log.level warn keeps the informational start
// messages out.
func TestExporterLogLevel(t *testing.T) {
	addr := freeAddr(t)
	_, stderr, stop := startMain(t, []string{"aoe", "exporter", "--sysfs", "../sysfs/testdata/basic",
		"--web.listen-address", addr, "--log.level", "warn"})
	if code, _ := get(t, "http://"+addr+"/metrics", "", ""); code != 200 {
		t.Errorf("metrics: %d", code)
	}
	if c := stop(); c != 0 || stderr.String() != "" {
		t.Errorf("exit %d, log at warn: %q", c, stderr)
	}
}

// TestExporterBasicAuth: --web.config.file takes exporter-toolkit's format.
func TestExporterBasicAuth(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(t.TempDir(), "web.yml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf("basic_auth_users:\n  prom: %s\n", hash)), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	_, stderr, stop := startMain(t, []string{"aoe", "exporter", "--sysfs", "../sysfs/testdata/basic",
		"--web.listen-address", addr, "--web.config.file", cfg})
	if code, _ := get(t, "http://"+addr+"/metrics", "", ""); code != http.StatusUnauthorized {
		t.Errorf("without credentials: %d", code)
	}
	if code, body := get(t, "http://"+addr+"/metrics", "prom", "s3cret"); code != 200 || !strings.Contains(body, "aoe_driver_loaded 1") {
		t.Errorf("with credentials: %d", code)
	}
	if c := stop(); c != 0 {
		t.Errorf("exit %d: %s", c, stderr)
	}
	// A broken configuration file is an error at start.
	if err := os.WriteFile(cfg, []byte("basic_auth_users: [\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := execute(t, []string{"aoe", "exporter", "--sysfs", "../sysfs/testdata/basic", "--web.listen-address", freeAddr(t), "--web.config.file", cfg}, runOpts{})
	if r.code != ExitFailure || r.stderr == "" {
		t.Errorf("broken web config: %+v", r)
	}
}

func TestEventsCommand(t *testing.T) {
	root := filepath.Join(t.TempDir(), "sys")
	copyTreeTo(t, "../sysfs/testdata/basic", root)
	stdout, stderr, stop := startMain(t, []string{"aoe", "events", "--json", "--initial", "--interval", "20ms",
		"--sysfs", root, "--devdir", t.TempDir()})
	waitFor := func(s string) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for !strings.Contains(stdout.String(), s) {
			if time.Now().After(deadline) {
				t.Fatalf("no %s in:\n%s\nstderr: %s", s, stdout, stderr)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitFor(`"event":"present","device":"e7.0","old":null,"new":"up"`)
	dev := filepath.Join(root, "devices/virtual/block/etherd!e7.0")
	if err := os.WriteFile(filepath.Join(dev, "state"), []byte("down,closewait\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(`"event":"state","device":"e7.0","old":"up","new":"down,closewait"`)
	if c := stop(); c != ExitCanceled { // interrupted, as every command
		t.Errorf("exit %d: %s", c, stderr)
	}
	for _, line := range strings.Split(strings.TrimSuffix(stdout.String(), "\n"), "\n") {
		if !json.Valid([]byte(line)) {
			t.Errorf("not JSON: %q", line)
		}
	}
	if stderr.String() != "" {
		t.Errorf("stderr: %s", stderr)
	}
}

func copyTreeTo(t *testing.T, src, dst string) {
	t.Helper()
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
}
