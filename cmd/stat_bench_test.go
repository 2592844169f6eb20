package cmd

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/goaoe/aoe/sysfs/sysfstest"
	"golang.org/x/sys/unix"
)

// makeBenchTree writes a sysfs tree of n AoE devices, shaped as the
// driver's, under a directory without a letter p (so that aoetools' aoe-stat
// sees it too).
func makeBenchTree(b *testing.B, n int) string {
	b.Helper()
	root := filepath.Join(pFreeDir(b), "sys")
	if err := sysfstest.WriteTree(root, n); err != nil {
		b.Fatal(err)
	}
	return root
}

// aoeBinary returns the aoe binary to benchmark: $AOE_BIN (make bench), or
// one built now.
func aoeBinary(b *testing.B) string {
	if p := os.Getenv("AOE_BIN"); p != "" {
		return p
	}
	bin := filepath.Join(b.TempDir(), "aoe")
	out, err := exec.Command("go", "build", "-o", bin, "./aoe").CombinedOutput()
	if err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// timeProcess runs a command to completion with its output discarded and
// returns its wall time and peak resident memory in KiB (the largest of the
// process and the children it waited for).
func timeProcess(b *testing.B, argv0, path string, env []string, args ...string) (time.Duration, int64) {
	cmd := exec.Command(path, args...)
	cmd.Args[0] = argv0
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	start := time.Now()
	if err := cmd.Run(); err != nil {
		b.Fatalf("%s: %v", argv0, err)
	}
	elapsed := time.Since(start)
	return elapsed, cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss
}

// BenchmarkAoeStatVsAoetools1000 runs our aoe-stat and aoetools' on the same
// 1,000-device tree in each iteration, side by side, and reports both wall
// times, both peak memories and the ratios.
func BenchmarkAoeStatVsAoetools1000(b *testing.B) {
	requireAoetools(b)
	root := makeBenchTree(b, 1000)
	bin := aoeBinary(b)
	env := []string{"LC_ALL=C", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "sysfs_dir=" + root}
	var ours, theirs time.Duration
	var oursRSS, theirsRSS int64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d, rss := timeProcess(b, "aoe-stat", bin, env)
		ours += d
		oursRSS = max(oursRSS, rss)
		d, rss = timeProcess(b, "aoe-stat", aoetoolsStat, env)
		theirs += d
		theirsRSS = max(theirsRSS, rss)
	}
	n := float64(b.N)
	b.ReportMetric(float64(ours.Milliseconds())/n, "ours-ms")
	b.ReportMetric(float64(theirs.Milliseconds())/n, "aoetools-ms")
	b.ReportMetric(float64(theirs)/float64(ours), "speedup")
	b.ReportMetric(float64(oursRSS), "ours-peak-KiB")
	b.ReportMetric(float64(theirsRSS), "aoetools-peak-KiB")
}

// BenchmarkAoeStatProcess runs our aoe-stat binary on 1,000 and 10,000
// devices: wall time and peak memory of the whole process.
func BenchmarkAoeStatProcess(b *testing.B) {
	bin := aoeBinary(b)
	for _, n := range []int{1000, 10000} {
		root := makeBenchTree(b, n)
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			env := []string{"sysfs_dir=" + root}
			var peak int64
			for i := 0; i < b.N; i++ {
				_, rss := timeProcess(b, "aoe-stat", bin, env)
				peak = max(peak, rss)
			}
			b.ReportMetric(float64(peak), "peak-KiB")
		})
		b.Run(fmt.Sprint(n, "-modern-json"), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				timeProcess(b, "aoe", bin, nil, "stat", "--json", "--sysfs", root)
			}
		})
	}
}

// BenchmarkClassicStatInProcess measures the listing and formatting alone.
func BenchmarkClassicStatInProcess(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		root := makeBenchTree(b, n)
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				r := execute(&testing.T{}, []string{"aoe-stat", "--sysfs", root}, runOpts{})
				if r.code != 0 {
					b.Fatalf("exit %d: %s", r.code, r.stderr)
				}
			}
		})
	}
}

// floorRead is the least a listing can do: list root/block and open, read
// and close the seven attributes of each AoE device, sequentially, with
// plain system calls. It returns the bytes read.
func floorRead(b *testing.B, root string) int {
	attrs := []string{"state", "mac", "netif", "firmware-version", "payload", "size", "dev"}
	dir := root + "/block"
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		b.Fatal(err)
	}
	var names []string
	dbuf := make([]byte, 32*1024)
	for {
		n, err := unix.Getdents(fd, dbuf)
		if err != nil {
			b.Fatal(err)
		}
		if n == 0 {
			break
		}
		_, _, names = unix.ParseDirent(dbuf[:n], -1, names)
	}
	unix.Close(fd)
	buf := make([]byte, 4096)
	total := 0
	for _, name := range names {
		if !strings.HasPrefix(name, "etherd!") {
			continue
		}
		for _, a := range attrs {
			fd, err := unix.Open(dir+"/"+name+"/"+a, unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				continue
			}
			n, _ := unix.Read(fd, buf)
			total += n
			unix.Close(fd)
		}
	}
	return total
}

// BenchmarkStatFloor compares `aoe stat` (in process: listing, reading and
// the table, output discarded) with floorRead on the same tree, alternating
// the two in each iteration, and reports the ratio of their times.
func BenchmarkStatFloor(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		root := makeBenchTree(b, n)
		for _, args := range [][]string{{"stat"}, {"stat", "--json"}} {
			b.Run(fmt.Sprint(n, "-", strings.Join(args, "-")), func(b *testing.B) {
				argv := append([]string{"aoe"}, args...)
				argv = append(argv, "--sysfs", root)
				env := &Env{Stdout: io.Discard, Stderr: io.Discard, Getenv: func(string) string { return "" }}
				var ours, floor time.Duration
				for i := 0; i < b.N; i++ {
					start := time.Now()
					if code := Main(context.Background(), argv, env); code != 0 {
						b.Fatalf("%v: exit %d", argv, code)
					}
					ours += time.Since(start)
					start = time.Now()
					if floorRead(b, root) == 0 {
						b.Fatal("floor read nothing")
					}
					floor += time.Since(start)
				}
				b.ReportMetric(float64(ours.Microseconds())/float64(b.N), "ours-µs")
				b.ReportMetric(float64(floor.Microseconds())/float64(b.N), "floor-µs")
				b.ReportMetric(float64(ours)/float64(floor), "x-floor")
			})
		}
	}
}
