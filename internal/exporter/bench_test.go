package exporter

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/goaoe/aoe/sysfs/sysfstest"
)

// makeTree writes a sysfs tree of n AoE devices shaped as the driver's.
func makeTree(b *testing.B, n int) string {
	b.Helper()
	root := filepath.Join(b.TempDir(), "sys")
	if err := sysfstest.WriteTree(root, n); err != nil {
		b.Fatal(err)
	}
	return root
}

// BenchmarkCollect measures one scrape in process: reading sysfs, building
// the metrics and encoding them in the text format.
func BenchmarkCollect(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		root := makeTree(b, n)
		reg := Registry(NewCollector(Options{SysfsRoot: root, ProcRoot: "/proc"}), false)
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			b.ReportAllocs()
			var size int
			for i := 0; i < b.N; i++ {
				size = len(exposition(b, reg))
			}
			b.ReportMetric(float64(size)/1024, "KiB-exposition")
		})
	}
}

// vmHWM returns a process's peak resident memory in KiB.
func vmHWM(pid int) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return -1
}

// BenchmarkExporterScrape runs `aoe exporter` on 1,000 and 10,000 devices
// and scrapes it over HTTP: time per scrape and the exporter's peak RSS.
func BenchmarkExporterScrape(b *testing.B) {
	bin := aoeBinary(b)
	for _, n := range []int{1000, 10000} {
		root := makeTree(b, n)
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			addr := fmt.Sprintf("127.0.0.1:%d", freePort(b))
			cmd := exec.Command(bin, "exporter", "--sysfs", root, "--web.listen-address", addr)
			if err := cmd.Start(); err != nil {
				b.Fatal(err)
			}
			defer func() { cmd.Process.Kill(); cmd.Wait() }()
			url := "http://" + addr + "/metrics"
			scrape := func() int {
				resp, err := http.Get(url)
				if err != nil {
					return -1
				}
				defer resp.Body.Close()
				nb, _ := io.Copy(io.Discard, resp.Body)
				if resp.StatusCode != 200 {
					b.Fatalf("status %d", resp.StatusCode)
				}
				return int(nb)
			}
			for deadline := time.Now().Add(10 * time.Second); scrape() < 0; time.Sleep(20 * time.Millisecond) {
				if time.Now().After(deadline) {
					b.Fatal("the exporter did not start")
				}
			}
			b.ResetTimer()
			var worst time.Duration
			var size int
			for i := 0; i < b.N; i++ {
				start := time.Now()
				size = scrape()
				worst = max(worst, time.Since(start))
			}
			b.StopTimer()
			b.ReportMetric(float64(worst.Microseconds())/1000, "worst-ms")
			b.ReportMetric(float64(vmHWM(cmd.Process.Pid)), "peak-RSS-KiB")
			b.ReportMetric(float64(size)/1024, "KiB-body")
		})
	}
}

// BenchmarkTextfileProcess runs `aoe exporter --textfile` once per
// iteration: wall time of the whole process. (Its peak RSS is not reported:
// a child's ru_maxrss keeps the forking test binary's resident size across
// exec; BenchmarkExporterScrape reads the exporter's own VmHWM instead.)
func BenchmarkTextfileProcess(b *testing.B) {
	bin := aoeBinary(b)
	for _, n := range []int{1000, 10000} {
		root := makeTree(b, n)
		out := filepath.Join(b.TempDir(), "aoe.prom")
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				cmd := exec.Command(bin, "exporter", "--sysfs", root, "--textfile", out)
				if o, err := cmd.CombinedOutput(); err != nil {
					b.Fatalf("%v: %s", err, o)
				}
			}
		})
	}
}
