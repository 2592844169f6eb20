//go:build e2e

// The data path on a real kernel without the aoe driver: `aoe nbd` in the
// qemu guest exports a vblade target, the guest's nbd driver attaches it
// with Debian's nbd-client, and a file system on it works. The benchmark
// sets `aoe read`/`aoe bench`, `aoe nbd` + /dev/nbd0, and the kernel aoe
// driver's /dev/etherd side by side on the same target and links.

package cmd

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/goaoe/aoe/internal/aoelab"
	"github.com/goaoe/aoe/internal/blockio"
)

// blockVM is a guest with the aoe binary, nbd-client and the modules for
// nbd, ext4 and aoe (not loaded), on br0 with one vblade target e1.2; all
// links (the guest's eth0, tap0, br0, vblade's port) have the same MTU.
type blockVM struct {
	lab *aoelab.Lab
	vm  *aoelab.VM
	img string
}

// guestModules are loaded in this order (ext4's dependencies first).
var guestModules = []string{
	"drivers/block/nbd.ko", "lib/crc16.ko", "crypto/crc32c_generic.ko", "fs/mbcache.ko", "fs/jbd2/jbd2.ko", "fs/ext4/ext4.ko",
	"drivers/block/aoe/aoe.ko",
}

func newBlockVM(tb testing.TB, size int64, mtu int, extra map[string]string) *blockVM {
	lab := aoelab.NewLab(tb)
	cache := os.Getenv("AOE_E2E_CACHE")
	if cache == "" {
		cache = "/var/tmp/aoe-e2e-cache"
	}
	k := aoelab.FetchKernel(tb, cache)
	bin, _ := filepath.Abs("../bin/aoe")
	if _, err := os.Stat(bin); err != nil {
		tb.Fatalf("%s is missing: run make first (make e2e does)", bin)
	}
	files := map[string]string{"/usr/local/sbin/aoe": bin}
	for guest, host := range extra {
		files[guest] = host
	}
	addDynamic(tb, files, "/usr/sbin/nbd-client")
	ns := lab.Namespace("san")
	lab.Bridge(ns, "br0")
	lab.Tap(ns, "tap0", "br0")
	img := lab.Image(size)
	f, err := os.OpenFile(img, os.O_WRONLY, 0)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := io.CopyN(f, rand.Reader, size); err != nil {
		tb.Fatal(err)
	}
	f.Close()
	lab.Port(ns, "v1", "br0", net.HardwareAddr{0x02, 0xae, 0, 1, 2, 1})
	// vblade sizes its frames by its interface's MTU when it starts.
	for _, ifname := range []string{"tap0", "v1b", "v1", "br0"} {
		lab.Run("ip", "-n", ns, "link", "set", ifname, "mtu", fmt.Sprint(mtu))
	}
	lab.Vblade(ns, "v1", 1, 2, img)
	vm := lab.BootVM(ns, aoelab.VMConfig{Kernel: k, Modules: guestModules, Files: files, Taps: []string{"tap0"},
		Boot: fmt.Sprintf("ip link set eth0 mtu %d", mtu)})
	b := &blockVM{lab: lab, vm: vm, img: img}
	// The bridge forwards once its ports are up; wait for the target.
	b.must(tb, `for i in $(seq 90); do aoe ping e1.2 -i eth0 -c 1 --timeout 1s >/dev/null 2>&1 && exit 0; done; exit 1`, 3*time.Minute)
	return b
}

// addDynamic adds a dynamically linked program and the libraries ldd
// lists for it.
func addDynamic(tb testing.TB, files map[string]string, prog string) {
	if _, err := os.Stat(prog); err != nil {
		tb.Fatalf("%s is needed (apt-get install nbd-client)", prog)
	}
	files[prog] = prog
	out, err := exec.Command("ldd", prog).Output()
	if err != nil {
		tb.Fatalf("ldd %s: %v", prog, err)
	}
	for _, m := range regexp.MustCompile(`(?m)(/\S+) \(0x`).FindAllStringSubmatch(string(out), -1) {
		files[m[1]] = m[1]
	}
}

func (b *blockVM) must(tb testing.TB, script string, timeout time.Duration) string {
	tb.Helper()
	r := b.vm.Run(script, timeout)
	if r.Status != 0 {
		tb.Fatalf("guest: %s: exit %d\n%s%s", script, r.Status, r.Stdout, r.Stderr)
	}
	return r.Stdout
}

// loadModules loads nbd and ext4 (and aoe when withAoE).
func (b *blockVM) loadModules(tb testing.TB, withAoE bool) {
	for _, m := range guestModules {
		name := filepath.Base(m)
		if name == "aoe.ko" && !withAoE {
			continue
		}
		b.must(tb, "insmod /lib/modules/"+name, time.Minute)
	}
}

// startNBD starts `aoe nbd` in the guest and attaches /dev/nbd0.
func (b *blockVM) startNBD(tb testing.TB) {
	b.must(tb, `aoe nbd e1.2 -i eth0 --socket /run/e1.2.nbd >/tmp/nbd.log 2>&1 &
for i in $(seq 100); do grep -q serving /tmp/nbd.log && exit 0; sleep 0.2; done
cat /tmp/nbd.log; exit 1`, 2*time.Minute)
	b.must(tb, "nbd-client -N e1.2 -unix /run/e1.2.nbd /dev/nbd0 -b 4096", 2*time.Minute)
}

func (b *blockVM) stopNBD(tb testing.TB) {
	b.must(tb, "nbd-client -d /dev/nbd0; kill $(pidof aoe); sleep 1; cat /tmp/nbd.log", 2*time.Minute)
}

func fileSHA(tb testing.TB, path string, n int64) string {
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	io.CopyN(h, f, n)
	return hex.EncodeToString(h.Sum(nil))
}

// TestE2ENBD: without the aoe driver, the guest reads the target through
// `aoe nbd` and /dev/nbd0, makes an ext2 file system on it, writes a file,
// and reads it back after a reattach.
func TestE2ENBD(t *testing.T) {
	b := newBlockVM(t, 64<<20, 1500, nil)
	b.loadModules(t, false)
	if r := b.vm.Run("test -e /sys/module/aoe", time.Minute); r.Status == 0 {
		t.Fatal("the aoe module is loaded")
	}
	b.startNBD(t)
	got := strings.Fields(b.must(t, "dd if=/dev/nbd0 bs=1M count=16 2>/dev/null | sha256sum", 5*time.Minute))
	if want := fileSHA(t, b.img, 16<<20); len(got) == 0 || got[0] != want {
		t.Fatalf("/dev/nbd0 reads %v, the image %s", got, want)
	}
	out := b.must(t, `set -e
mke2fs -q -b 4096 /dev/nbd0 >/dev/null
mount -t ext2 /dev/nbd0 /mnt
dd if=/dev/urandom of=/mnt/data bs=1k count=3000 2>/dev/null
mkdir /mnt/dir && echo hello > /mnt/dir/greeting
sha256sum /mnt/data > /tmp/sum
umount /mnt
nbd-client -d /dev/nbd0
nbd-client -N e1.2 -unix /run/e1.2.nbd /dev/nbd0 -b 4096
mount -t ext2 -o ro /dev/nbd0 /mnt
sha256sum -c /tmp/sum
cat /mnt/dir/greeting
umount /mnt
test ! -e /sys/module/aoe && echo "no aoe driver"`, 10*time.Minute)
	if !strings.Contains(out, "/mnt/data: OK") || !strings.Contains(out, "hello") || !strings.Contains(out, "no aoe driver") {
		t.Errorf("guest file system:\n%s", out)
	}
	b.stopNBD(t)
	// The ext2 superblock magic (0xEF53 at byte 1080) is in vblade's image.
	f, _ := os.Open(b.img)
	defer f.Close()
	magic := make([]byte, 2)
	f.ReadAt(magic, 1080)
	if magic[0] != 0x53 || magic[1] != 0xef {
		t.Errorf("no ext2 superblock in the image: %x", magic)
	}
}

// BenchmarkE2EBlockIO compares, in the guest, on one vblade target over one
// e1000 link: aoe read, aoe bench (userspace AoE), /dev/nbd0 from aoe nbd,
// and the kernel aoe driver's /dev/etherd/e1.2; once with 1500-byte frames
// (2 sectors each) and once with jumbo frames (MTU 9000: 17 sectors), each
// in its own VM. Run it with
//
//	make bench-vm
//
// It reports MB/s and IOPS as metrics and logs the tables.
func BenchmarkE2EBlockIO(b *testing.B) {
	for _, mtu := range []int{1500, 9000} {
		b.Run(fmt.Sprintf("mtu%d", mtu), func(b *testing.B) { benchBlockIO(b, mtu) })
	}
}

func benchBlockIO(b *testing.B, mtu int) {
	const size = 256 << 20
	dur := "3s"
	// The floor: the least a userspace reader can do (internal/aoelab/floor).
	floorBin := filepath.Join(b.TempDir(), "aoefloor")
	build := exec.Command("go", "build", "-o", floorBin, "../internal/aoelab/floor/aoefloor")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("go build aoefloor: %v\n%s", err, out)
	}
	v := newBlockVM(b, size, mtu, map[string]string{"/usr/local/sbin/aoefloor": floorBin})
	v.loadModules(b, false)
	type row struct {
		name    string
		seqDD   string
		results []blockio.BenchResult
	}
	var rows []row
	bench := func(args string) []blockio.BenchResult {
		var res []blockio.BenchResult
		out := v.must(b, "aoe bench "+args+" --duration "+dur+" --json", 10*time.Minute)
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			b.Fatalf("aoe bench %s: %v\n%s", args, err, out)
		}
		return res
	}
	// timed runs a guest command under time -p and gives the MB/s of
	// moving 128 MiB.
	timed := func(command string) string {
		out := v.must(b, "time -p "+command+" 2>&1 | tail -3", 10*time.Minute)
		m := regexp.MustCompile(`real ([0-9.]+)`).FindStringSubmatch(out)
		if m == nil {
			return strings.Join(strings.Fields(out), " ")
		}
		var secs float64
		fmt.Sscan(m[1], &secs)
		return fmt.Sprintf("128 MiB in %.1fs = %.2f MB/s (%s)", secs, 128*1.048576/secs, strings.Join(strings.Fields(out), " "))
	}
	var startup, floorOut string
	for i := 0; i < b.N; i++ {
		rows = nil
		// What aoe read spends before data moves (start, finding the
		// target's paths), which the 128 MiB figure includes.
		startup = strings.Join(strings.Fields(v.must(b, "time -p aoe read e1.2 -i eth0 --length 1M -o /dev/null 2>&1 | tail -3", 5*time.Minute)), " ")
		read := timed("aoe read e1.2 -i eth0 --length 128M -o /dev/null")
		// Not fatal: the floor does not retransmit, a lost frame ends it.
		r := v.vm.Run("aoefloor -i eth0 -target 02:ae:00:01:02:01 -e e1.2 -length 128M", 10*time.Minute)
		floorOut = strings.TrimSpace(r.Stdout + r.Stderr)
		rows = append(rows, row{"aoe read/bench (userspace)", read, bench("e1.2 -i eth0")})
		v.startNBD(b)
		rows = append(rows, row{"aoe nbd + /dev/nbd0", timed("dd if=/dev/nbd0 of=/dev/null bs=1M count=128 iflag=direct"), bench("--file /dev/nbd0")})
		v.stopNBD(b)
		v.must(b, "insmod /lib/modules/aoe.ko && aoe discover --wait e1.2 --timeout 90s", 3*time.Minute)
		rows = append(rows, row{"kernel aoe /dev/etherd/e1.2", timed("dd if=/dev/etherd/e1.2 of=/dev/null bs=1M count=128 iflag=direct"), bench("--file /dev/etherd/e1.2")})
		v.must(b, "rmmod aoe", time.Minute)
	}
	kernel := rows[len(rows)-1].results
	var report strings.Builder
	fmt.Fprintf(&report, "%-30s %-12s %-6s %10s %10s %10s %10s\n", "PATH", "TEST", "QD", "MB/s", "IOPS", "P99ms", "vs kernel")
	for _, r := range rows {
		for i, x := range r.results {
			ratio := 0.0
			if kernel[i].MBps > 0 {
				ratio = x.MBps / kernel[i].MBps
			}
			fmt.Fprintf(&report, "%-30s %-12s %-6d %10.1f %10.0f %10.2f %9.2fx\n", r.name, x.Test, x.QueueDepth, x.MBps, x.IOPS, p99ms(x), ratio)
			metric := strings.NewReplacer(" ", "", "/", "", "(", "", ")", "", "+", "").Replace(r.name)
			b.ReportMetric(x.MBps, fmt.Sprintf("MB/s-%s-%s-qd%d", metric, x.Test, x.QueueDepth))
		}
		fmt.Fprintf(&report, "%-30s sequential 1 MiB reads: %s\n", r.name, r.seqDD)
		for _, x := range r.results {
			for _, p := range x.Paths {
				if p.SendCalls > 0 && p.Wakeups > 0 {
					fmt.Fprintf(&report, "%-30s %s qd%d on %s: %.1f frames per send call, %.1f replies per wake-up, %d retransmits\n",
						r.name, x.Test, x.QueueDepth, p.Interface, float64(p.Frames)/float64(p.SendCalls), float64(p.Frames)/float64(p.Wakeups), p.Retransmits)
				}
			}
		}
	}
	fmt.Fprintf(&report, "aoe read of 1 MiB (start-up, path discovery): %s\n", startup)
	fmt.Fprintf(&report, "floor (one thread, raw calls, no retransmission), 128 MiB: %s\n", floorOut)
	b.Logf("same vblade target, one e1000 link (MTU %d), qemu TCG guest (1 vCPU), %s per test:\n%s", mtu, dur, report.String())
}

// p99ms is a test's p99 latency in milliseconds (0: no I/O completed).
func p99ms(r blockio.BenchResult) float64 {
	if r.LatencyP99Seconds == nil {
		return 0
	}
	return *r.LatencyP99Seconds * 1e3
}
