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
	return newBlockVMWith(tb, size, mtu, 1, 1, extra)
}

// newBlockVMWith is newBlockVM with cpus vCPUs and taps NICs (eth0,
// eth1...), all on br0.
func newBlockVMWith(tb testing.TB, size int64, mtu, cpus, taps int, extra map[string]string) *blockVM {
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
	var tapNames []string
	for i := range taps {
		tapNames = append(tapNames, fmt.Sprintf("tap%d", i))
		lab.Tap(ns, tapNames[i], "br0")
	}
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
	for _, ifname := range append(tapNames, "v1b", "v1", "br0") {
		lab.Run("ip", "-n", ns, "link", "set", ifname, "mtu", fmt.Sprint(mtu))
	}
	lab.Vblade(ns, "v1", 1, 2, img)
	boot := ""
	for i := range taps {
		boot += fmt.Sprintf("ip link set eth%d mtu %d\n", i, mtu)
	}
	vm := lab.BootVM(ns, aoelab.VMConfig{Kernel: k, Modules: guestModules, Files: files, Taps: tapNames, Boot: boot, CPUs: cpus})
	b := &blockVM{lab: lab, vm: vm, img: img}
	// The bridge forwards once its ports are up; wait for the target.
	b.must(tb, `for i in $(seq 90); do aoe ping e1.2 -i eth0 -c 1 --timeout 1s >/dev/null 2>&1 && exit 0; done; exit 1`, 3*time.Minute)
	return b
}

// addDynamic adds a dynamically linked program and the libraries ldd
// lists for it.
func addDynamic(tb testing.TB, files map[string]string, prog string) {
	if _, err := os.Stat(prog); err != nil {
		tb.Fatalf("%s is needed (apt-get install %s)", prog, filepath.Base(prog)) // Debian names the packages so: nbd-client, fio, strace
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
func (b *blockVM) startNBD(tb testing.TB) { b.startNBDWith(tb, "eth0", 1) }

// startNBDWith starts `aoe nbd` on ifaces and attaches /dev/nbd0 with
// conns connections (nbd-client -C).
func (b *blockVM) startNBDWith(tb testing.TB, ifaces string, conns int) {
	b.must(tb, `aoe nbd e1.2 -i `+ifaces+` --socket /run/e1.2.nbd >/tmp/nbd.log 2>&1 &
for i in $(seq 100); do grep -q serving /tmp/nbd.log && exit 0; sleep 0.2; done
cat /tmp/nbd.log; exit 1`, 2*time.Minute)
	b.must(tb, fmt.Sprintf("nbd-client -N e1.2 -unix /run/e1.2.nbd /dev/nbd0 -b 4096 -C %d", conns), 2*time.Minute)
}

func (b *blockVM) stopNBD(tb testing.TB) {
	b.must(tb, "nbd-client -d /dev/nbd0; kill $(pidof aoe); sleep 1; cat /tmp/nbd.log", 2*time.Minute)
}

// vmCeilingName names the NBD ceiling: the nbd driver and qemu-nbd
// serving a file in RAM (startCeiling), with no network and no AoE
// behind it.
const vmCeilingName = "nbd.ko + qemu-nbd, a file in RAM (no network)"

// startCeiling attaches /dev/nbd1 to qemu-nbd serving 64 MiB of random
// bytes from a tmpfs: what any NBD server can reach in the guest, since
// it has nothing to do but copy from memory. fio's IOPS through
// /dev/nbd0 against it is what `aoe nbd` costs; against the aoe driver,
// what the nbd driver and its socket cost.
func (b *blockVM) startCeiling(tb testing.TB) {
	b.must(tb, `mkdir -p /mnt/ram && mount -t tmpfs -o size=80m none /mnt/ram &&
dd if=/dev/urandom of=/mnt/ram/img bs=1M count=64 2>/dev/null &&
/usr/bin/qemu-nbd -k /run/ram.nbd -x ram -f raw /mnt/ram/img >/tmp/qemu-nbd.log 2>&1 &
for i in $(seq 100); do [ -S /run/ram.nbd ] && exit 0; sleep 0.2; done
cat /tmp/qemu-nbd.log; exit 1`, 2*time.Minute)
	b.must(tb, "nbd-client -N ram -unix /run/ram.nbd /dev/nbd1 -b 4096", 2*time.Minute)
}

func (b *blockVM) stopCeiling(tb testing.TB) {
	b.must(tb, "nbd-client -d /dev/nbd1; kill $(pidof qemu-nbd) 2>/dev/null; sleep 1; umount /mnt/ram", 2*time.Minute)
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

// BenchmarkE2EBlockIO compares, in the guest, on one vblade target over
// e1000 links: the kernel aoe driver's /dev/etherd/e1.2, the floors (the
// least a userspace reader can do: socket, TPACKET_V2 and TPACKET_V3
// rings), aoe read (one and two paths), aoe bench, and aoe nbd + /dev/nbd0
// (one connection and one path; two connections and two paths); fio's
// random 4 KiB reads (libaio, O_DIRECT, queue depth 1 and 32) on both block
// devices and on the NBD ceiling (startCeiling); the system calls, context
// switches and RSS of each; with 1500-byte frames (2 sectors each) and
// jumbo frames (MTU 9000: 17 sectors), with 1 and 2 vCPUs, each in its own
// VM. Run it with
//
//	make bench-vm
//
// It reports MB/s and IOPS as metrics, logs the tables, and writes each
// VM's results as JSON to $AOE_BENCH_VM_OUT (default ../bin/bench-vm), from
// which internal/aoelab/benchchart makes docs/performance.md and its chart.
func BenchmarkE2EBlockIO(b *testing.B) {
	for _, cpus := range []int{1, 2} {
		for _, mtu := range []int{1500, 9000} {
			b.Run(fmt.Sprintf("mtu%d-cpu%d", mtu, cpus), func(b *testing.B) { benchBlockIO(b, mtu, cpus) })
		}
	}
}

// vmRun is one measured command in the guest: a sequential read of
// vmReadMiB, under busybox time -v, with /proc/stat's context switches
// around it.
type vmRun struct {
	Name       string  `json:"name"`
	Group      string  `json:"group"` // kernel, floor, engine, nbd
	MBps       float64 `json:"mb_per_s"`
	Seconds    float64 `json:"seconds"`
	MaxRSSKiB  int64   `json:"max_rss_kib"`      // of the command (aoe nbd: the server's VmHWM)
	CtxProc    int64   `json:"ctx_switches"`     // of the command, voluntary and involuntary
	CtxSystem  int64   `json:"ctx_switches_sys"` // of the whole guest
	Syscalls   int64   `json:"syscalls"`         // strace -c -f over vmStraceMiB (0: not measured)
	StraceMiB  int     `json:"strace_mib"`
	Output     string  `json:"output,omitempty"`
	Failed     string  `json:"failed,omitempty"`
	SyscallSrc string  `json:"syscall_source,omitempty"` // strace, or the floor's own count
}

// vmFio is one fio job's result.
type vmFio struct {
	Device string  `json:"device"`
	Name   string  `json:"name"`
	Group  string  `json:"group"` // kernel, nbd, ceiling (startCeiling)
	QD     int     `json:"queue_depth"`
	IOPS   float64 `json:"iops"`
}

// vmResults is what one VM measured.
type vmResults struct {
	MTU     int       `json:"mtu"`
	CPUs    int       `json:"cpus"`
	ReadMiB int       `json:"read_mib"`
	Runs    []vmRun   `json:"runs"`
	Fio     []vmFio   `json:"fio"`
	Bench   []vmBench `json:"bench"`
	Startup string    `json:"startup"`
	// RoundMiB and Rounds: the userspace readers again, vmRounds times
	// one after another, vmRoundMiB each: a ratio of their medians is not
	// one reader's luck with the host's load against another's (a single
	// run moves by a tenth or more). Reversed: every other round runs
	// them in reverse order (A, B ... Z, then Z ... A, then A ... Z), so
	// a load that drifts through a round favours no place in the order.
	RoundMiB int       `json:"round_mib"`
	Rounds   []vmRound `json:"rounds"`
	Reversed bool      `json:"rounds_reversed"`
}

// vmRound is one reader's MB/s in each round (0: failed).
type vmRound struct {
	Name  string    `json:"name"`
	Group string    `json:"group"`
	MBps  []float64 `json:"mb_per_s"`
}

// vmBench is aoe bench's results on one device.
type vmBench struct {
	Name    string                `json:"name"`
	Results []blockio.BenchResult `json:"results"`
}

const (
	vmReadMiB   = 128
	vmStraceMiB = 16
	vmRounds    = 3
	vmRoundMiB  = 32 // at MTU 1500; 3 times that with jumbo frames
	// vmHung is how long a sequential read of vmReadMiB may take (the
	// slowest, the floors under TCG at MTU 1500, take about a minute).
	vmHung = 10 * time.Minute
)

func benchBlockIO(b *testing.B, mtu, cpus int) {
	const size = 256 << 20
	dur := "3s"
	// The floor: the least a userspace reader can do (internal/aoelab/floor).
	floorBin := filepath.Join(b.TempDir(), "aoefloor")
	build := exec.Command("go", "build", "-o", floorBin, "../internal/aoelab/floor/aoefloor")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("go build aoefloor: %v\n%s", err, out)
	}
	// The C floor (static): what the Go floor is held to.
	cfloorBin := aoelab.BuildCFloor(b, b.TempDir())
	extra := map[string]string{"/usr/local/sbin/aoefloor": floorBin, "/usr/local/sbin/cfloor": cfloorBin}
	addDynamic(b, extra, "/usr/bin/fio")
	addDynamic(b, extra, "/usr/bin/strace")
	addDynamic(b, extra, "/usr/bin/qemu-nbd")
	v := newBlockVMWith(b, size, mtu, cpus, 2, extra)
	v.loadModules(b, false)
	res := vmResults{MTU: mtu, CPUs: cpus, ReadMiB: vmReadMiB}
	bench := func(name, args string) {
		var r []blockio.BenchResult
		out := v.must(b, "aoe bench "+args+" --duration "+dur+" --json", 10*time.Minute)
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			b.Fatalf("aoe bench %s: %v\n%s", args, err, out)
		}
		res.Bench = append(res.Bench, vmBench{name, r})
	}
	// measure reads vmReadMiB with command (and, with strace set,
	// vmStraceMiB more under strace -c -f with straceCommand).
	measure := func(name, group, command, straceCommand string) *vmRun {
		r := vmRun{Name: name, Group: group}
		// A read that does not end in vmHung is recorded as hung and
		// left behind (a guest with 2 vCPUs under TCG has hung in the
		// kernel driver's dd, in D state: the VM's other figures are
		// kept, not lost with a failed benchmark).
		out := v.vm.Run(`a=$(awk '/^ctxt/{print $2}' /proc/stat)
time -v -o /tmp/time sh -c '`+command+`' >/tmp/out 2>&1 &
pid=$! s=0
while kill -0 $pid 2>/dev/null && [ $s -lt `+fmt.Sprint(int(vmHung.Seconds()))+` ]; do sleep 1; s=$((s+1)); done
if kill -0 $pid 2>/dev/null; then echo "HUNG: did not end within `+vmHung.String()+`"; exit 124; fi
wait $pid; rc=$?
z=$(awk '/^ctxt/{print $2}' /proc/stat)
cat /tmp/out; cat /tmp/time; echo "CTXT $((z-a))"; exit $rc`, vmHung+5*time.Minute)
		text := out.Stdout + out.Stderr
		if out.Status != 0 {
			r.Failed = strings.TrimSpace(text)
			if group == "engine" || group == "nbd" {
				b.Errorf("%s: %s", name, r.Failed) // ours: the run fails, the other figures stand
			} else {
				// The kernel's or the floor's (no retransmission):
				// recorded on the page.
				b.Logf("%s failed: %s", name, r.Failed)
			}
		}
		r.Seconds = wallSeconds(text)
		if r.Seconds > 0 {
			r.MBps = vmReadMiB * 1.048576 / r.Seconds
		}
		// busybox time (1.35) takes ru_maxrss, already in KiB, for
		// pages: what it prints is 4 times too much (4 KiB pages).
		r.MaxRSSKiB = field(text, `Maximum resident set size \(kbytes\): (\d+)`) / 4
		r.CtxProc = field(text, `Voluntary context switches: (\d+)`) + field(text, `Involuntary context switches: (\d+)`)
		r.CtxSystem = field(text, `CTXT (\d+)`)
		if m := regexp.MustCompile(`(?m)^(socket|ring-v2|ring-v3|c-socket): .*$`).FindString(text); m != "" {
			r.Output = m
		}
		if straceCommand != "" && r.Failed == "" {
			st := v.vm.Run("/usr/bin/strace -c -f -o /tmp/strace "+straceCommand+" >/dev/null 2>&1; cat /tmp/strace", 15*time.Minute)
			if m := regexp.MustCompile(`(?m)^\s*100\.00\s+\S+\s+\S+\s+(\d+)`).FindStringSubmatch(st.Stdout); m != nil {
				fmt.Sscan(m[1], &r.Syscalls)
				r.StraceMiB, r.SyscallSrc = vmStraceMiB, "strace -c -f"
			}
		}
		res.Runs = append(res.Runs, r)
		return &res.Runs[len(res.Runs)-1]
	}
	fio := func(device, name, group string) {
		for _, qd := range []int{1, 32} {
			run := v.vm.Run(fmt.Sprintf("/usr/bin/fio --name=r --filename=%s --ioengine=libaio --direct=1 --rw=randread --bs=4k --iodepth=%d --runtime=%s --time_based --output-format=json", device, qd, dur), 10*time.Minute)
			out := run.Stdout
			iops, err := aoelab.FioReadIOPS([]byte(out))
			if err != nil {
				// Recorded (0 IOPS), not fatal: the other figures stand.
				b.Errorf("fio on %s, queue depth %d: exit %d, %v\n%s%s", device, qd, run.Status, err, out, run.Stderr)
				res.Fio = append(res.Fio, vmFio{Device: device, Name: name, Group: group, QD: qd})
				continue
			}
			res.Fio = append(res.Fio, vmFio{Device: device, Name: name, Group: group, QD: qd, IOPS: iops})
		}
	}
	mib := fmt.Sprint(vmReadMiB)
	smib := fmt.Sprint(vmStraceMiB)
	// What aoe read spends before data moves (start, finding the
	// target's paths), which the figures include.
	res.Startup = strings.Join(strings.Fields(v.must(b, "time -p aoe read e1.2 -i eth0 --length 1M -o /dev/null 2>&1 | tail -3", 5*time.Minute)), " ")
	// The default receive path (the socket) and the receive ring, side
	// by side.
	measure("aoe read (1 path)", "engine", vmReadCmd("-i eth0", mib), vmReadCmd("-i eth0", smib))
	measure("aoe read (1 path, --receive ring)", "engine", vmReadCmd("-i eth0 --receive ring", mib), vmReadCmd("-i eth0 --receive ring", smib))
	measure("aoe read (2 paths)", "engine", vmReadCmd("-i eth0,eth1", mib), "")
	measure("aoe read (2 paths, --receive ring)", "engine", vmReadCmd("-i eth0,eth1 --receive ring", mib), "")
	for _, tr := range vmFloors {
		// The floor counts its own system calls (it makes no others
		// while it reads); it does not retransmit, so a lost frame
		// ends it (recorded, not fatal). It copies the data round a
		// 4 MiB buffer, as aoe read -o /dev/null keeps none of it.
		// The C floor likewise.
		r := measure("floor "+tr, "floor", vmFloorCmd(tr, mib), "")
		if m := regexp.MustCompile(`([0-9.]+) system calls per MiB`).FindStringSubmatch(r.Output); m != nil {
			var per float64
			fmt.Sscan(m[1], &per)
			r.Syscalls, r.StraceMiB, r.SyscallSrc = int64(per*vmStraceMiB+0.5), vmStraceMiB, "the floor's count"
		}
	}
	bench("aoe bench (userspace)", "e1.2 -i eth0")
	// aoe nbd: one path and one connection; two paths and two.
	for _, nc := range []int{1, 2} {
		ifaces := map[int]string{1: "eth0", 2: "eth0,eth1"}[nc]
		name := fmt.Sprintf("aoe nbd + /dev/nbd0 (%d path%s, nbd-client -C %d)", nc, map[bool]string{true: "s"}[nc > 1], nc)
		v.startNBDWith(b, ifaces, nc)
		r := measure(name, "nbd", vmNBDCmd(mib), "")
		r.MaxRSSKiB = field(v.must(b, "cat /proc/$(pidof aoe)/status", time.Minute), `VmHWM:\s+(\d+) kB`)
		fio("/dev/nbd0", name, "nbd")
		if nc == 1 {
			bench(name, "--file /dev/nbd0")
		}
		v.stopNBD(b)
	}
	v.startCeiling(b)
	fio("/dev/nbd1", vmCeilingName, "ceiling")
	v.stopCeiling(b)
	// The alternated rounds (see vmResults.Rounds), before the aoe
	// driver is loaded (it would see the replies too).
	res.RoundMiB = vmRoundMiB
	if mtu > 1500 {
		res.RoundMiB = 3 * vmRoundMiB // a read of a second or more
	}
	rmib := fmt.Sprint(res.RoundMiB)
	type rounder struct{ name, group, command string }
	readers := []rounder{
		{"aoe read (1 path)", "engine", vmReadCmd("-i eth0", rmib)},
		{"aoe read (2 paths)", "engine", vmReadCmd("-i eth0,eth1", rmib)},
	}
	for _, tr := range vmFloors {
		readers = append(readers, rounder{"floor " + tr, "floor", vmFloorCmd(tr, rmib)})
	}
	readers = append(readers, rounder{"aoe nbd + /dev/nbd0 (1 path, nbd-client -C 1)", "nbd", vmNBDCmd(rmib)},
		// The driver, loaded for its round only (loaded, it sees the
		// others' replies too): its single run above is one draw of
		// the host's load, its rounds' median is not.
		rounder{"kernel aoe /dev/etherd/e1.2", "kernel", vmKernelCmd(rmib)})
	res.Rounds = make([]vmRound, len(readers))
	for i, r := range readers {
		res.Rounds[i] = vmRound{Name: r.name, Group: r.group}
	}
	res.Reversed = true
	for round := range vmRounds {
		for k := range readers {
			i := k
			if round%2 == 1 {
				i = len(readers) - 1 - k
			}
			r := readers[i]
			switch r.group {
			case "nbd":
				v.startNBDWith(b, "eth0", 1)
			case "kernel":
				v.must(b, vmLoadAoE, 3*time.Minute)
			}
			// The guest's uptime, in hundredths of a second, around
			// the read: a failed read (a floor's lost frame) is 0.
			out := v.vm.Run(`a=$(cut -d' ' -f1 /proc/uptime); `+r.command+` >/dev/null 2>&1; rc=$?; z=$(cut -d' ' -f1 /proc/uptime)
[ $rc = 0 ] && echo "ROUND $a $z"`, vmHung)
			var a, z, mbps float64
			if m := regexp.MustCompile(`ROUND ([0-9.]+) ([0-9.]+)`).FindStringSubmatch(out.Stdout); m != nil {
				fmt.Sscan(m[1], &a)
				fmt.Sscan(m[2], &z)
				if z > a {
					mbps = float64(res.RoundMiB) * 1.048576 / (z - a)
				}
			} else if r.group == "engine" || r.group == "nbd" {
				b.Errorf("round of %s: exit %d\n%s%s", r.name, out.Status, out.Stdout, out.Stderr)
			}
			res.Rounds[i].MBps = append(res.Rounds[i].MBps, mbps)
			switch r.group {
			case "nbd":
				v.stopNBD(b)
			case "kernel":
				if out := v.vm.Run("rmmod aoe", time.Minute); out.Status != 0 {
					// A dd hung in D state holds it: the other
					// readers' rounds go on beside the driver.
					b.Logf("rmmod aoe: exit %d: %s%s", out.Status, out.Stdout, out.Stderr)
				}
			}
		}
	}
	v.must(b, vmLoadAoE, 3*time.Minute)
	if k := measure("kernel aoe /dev/etherd/e1.2", "kernel", vmKernelCmd(mib), vmKernelCmd(smib)); k.Failed == "" {
		fio("/dev/etherd/e1.2", "kernel aoe /dev/etherd/e1.2", "kernel")
		bench("kernel aoe /dev/etherd/e1.2", "--file /dev/etherd/e1.2")
		v.must(b, "rmmod aoe", time.Minute)
	}

	report := formatVMResults(res)
	for _, r := range res.Runs {
		metric := strings.NewReplacer(" ", "", "/", "", "(", "", ")", "", "+", "", ",", "").Replace(r.Name)
		b.ReportMetric(r.MBps, "MB/s-"+metric)
	}
	outDir := os.Getenv("AOE_BENCH_VM_OUT")
	if outDir == "" {
		outDir = "../bin/bench-vm"
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		b.Fatal(err)
	}
	js, _ := json.MarshalIndent(res, "", "  ")
	if err := os.WriteFile(filepath.Join(outDir, fmt.Sprintf("mtu%d-cpu%d.json", mtu, cpus)), append(js, '\n'), 0o644); err != nil {
		b.Fatal(err)
	}
	b.Logf("same vblade target, e1000 links (MTU %d), qemu TCG guest (%d vCPU), %s per test:\n%s", mtu, cpus, dur, report)
}

// vmFloors are the floor's transports (aoefloor -transport), and c-socket:
// the C floor (cfloor), on a socket.
var vmFloors = []string{"socket", "ring-v2", "ring-v3", "c-socket"}

// vmLoadAoE loads the aoe driver on eth0, unless a round's rmmod failed
// and left it loaded, and waits for its e1.2.
const vmLoadAoE = "{ test -d /sys/module/aoe || insmod /lib/modules/aoe.ko aoe_iflist=eth0; } && aoe discover --wait e1.2 --timeout 90s >/dev/null"

// vmReadCmd, vmFloorCmd, vmNBDCmd and vmKernelCmd are the guest's
// commands that read mib MiB sequentially: aoe read with args, the floor
// over transport tr, dd from /dev/nbd0, dd from the driver's device.
func vmReadCmd(args, mib string) string {
	return "aoe read e1.2 " + args + " --length " + mib + "M -o /dev/null"
}

func vmFloorCmd(tr, mib string) string {
	args := "-i eth0 -target 02:ae:00:01:02:01 -e e1.2 -length " + mib + "M -buffer 4M"
	if tr == "c-socket" {
		return "cfloor " + args
	}
	return "aoefloor " + args + " -transport " + tr
}

func vmKernelCmd(mib string) string {
	return "dd if=/dev/etherd/e1.2 of=/dev/null bs=1M count=" + mib + " iflag=direct"
}

func vmNBDCmd(mib string) string {
	return "dd if=/dev/nbd0 of=/dev/null bs=1M count=" + mib + " iflag=direct"
}

// formatVMResults is the log's table of one VM's results.
func formatVMResults(res vmResults) string {
	var w strings.Builder
	var kernel float64
	for _, r := range res.Runs {
		if r.Group == "kernel" {
			kernel = r.MBps
		}
	}
	fmt.Fprintf(&w, "%-52s %8s %8s %9s %9s %9s %11s\n", "SEQUENTIAL "+fmt.Sprint(res.ReadMiB)+" MiB", "MB/s", "vs kern", "RSS KiB", "ctx/MiB", "sysctx/MiB", "syscalls/MiB")
	for _, r := range res.Runs {
		ratio, sc := 0.0, 0.0
		if kernel > 0 {
			ratio = r.MBps / kernel
		}
		if r.StraceMiB > 0 {
			sc = float64(r.Syscalls) / float64(r.StraceMiB)
		}
		fmt.Fprintf(&w, "%-52s %8.2f %7.2fx %9d %9.1f %9.1f %11.1f\n", r.Name, r.MBps, ratio, r.MaxRSSKiB,
			float64(r.CtxProc)/float64(res.ReadMiB), float64(r.CtxSystem)/float64(res.ReadMiB), sc)
		if r.Failed != "" {
			fmt.Fprintf(&w, "    failed: %s\n", strings.Join(strings.Fields(r.Failed), " "))
		}
	}
	fmt.Fprintf(&w, "%-52s %s\n", fmt.Sprintf("ROUNDS OF %d MiB, ALTERNATED", res.RoundMiB), "MB/s in each round")
	for _, r := range res.Rounds {
		fmt.Fprintf(&w, "%-52s %.2f\n", r.Name, r.MBps)
	}
	fmt.Fprintf(&w, "%-52s %6s %10s\n", "FIO RANDOM 4 KiB (libaio, O_DIRECT)", "QD", "IOPS")
	for _, f := range res.Fio {
		fmt.Fprintf(&w, "%-52s %6d %10.0f\n", f.Name, f.QD, f.IOPS)
	}
	fmt.Fprintf(&w, "%-30s %-12s %-6s %10s %10s %10s\n", "AOE BENCH", "TEST", "QD", "MB/s", "IOPS", "P99ms")
	for _, bn := range res.Bench {
		for _, x := range bn.Results {
			fmt.Fprintf(&w, "%-30s %-12s %-6d %10.1f %10.0f %10.2f\n", bn.Name, x.Test, x.QueueDepth, x.MBps, x.IOPS, p99ms(x))
		}
	}
	fmt.Fprintf(&w, "aoe read of 1 MiB (start-up, path discovery): %s\n", res.Startup)
	return w.String()
}

// wallSeconds is busybox time -v's elapsed wall clock time ("0m 13.42s",
// or "1:02:03" past an hour); 0 when absent.
func wallSeconds(text string) float64 {
	m := regexp.MustCompile(`Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\d+)m ([0-9.]+)s`).FindStringSubmatch(text)
	if m == nil {
		return 0
	}
	var mins, secs float64
	fmt.Sscan(m[1], &mins)
	fmt.Sscan(m[2], &secs)
	return mins*60 + secs
}

// field is the integer re's first group matches in text (0: none).
func field(text, re string) int64 {
	m := regexp.MustCompile(re).FindStringSubmatch(text)
	if m == nil {
		return 0
	}
	var n int64
	fmt.Sscan(m[1], &n)
	return n
}

// p99ms is a test's p99 latency in milliseconds (0: no I/O completed).
func p99ms(r blockio.BenchResult) float64 {
	if r.LatencyP99Seconds == nil {
		return 0
	}
	return *r.LatencyP99Seconds * 1e3
}
