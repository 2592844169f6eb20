package blockio_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/goaoe/aoe/initiator"
	"github.com/goaoe/aoe/internal/aoelab"
	"github.com/goaoe/aoe/internal/aoelab/floor"
	"github.com/goaoe/aoe/internal/blockio"
)

// BenchmarkVbladeRead reads 64 MiB from real vblade in a namespace into
// one buffer, over a 1500-byte path (2 sectors per frame), a jumbo path
// (17 sectors), and two of each (multipath), with the clients reading
// their sockets each way (engine-socket: recvmmsg; engine-ring: a
// TPACKET_V2 receive ring; see initiator.Config.Receive), one after the
// other for each case; and, side by side on the
// same links, the floors (package floor: one thread a path, raw calls, no
// retransmission, the least a userspace reader can do) with each of their
// transports: the socket (recvmmsg + poll), a TPACKET_V2 ring and a
// TPACKET_V3 ring of small blocks. It reports MB/s (and the floors' system
// calls per MiB) and the CPU time the reader's process spent per MiB
// (user and system, every thread: less sensitive to a loaded machine than
// MB/s, vblade's own not counted); vblade and the reader share the CPUs. Each run's bytes are
// checked against the image, outside the timing.
func BenchmarkVbladeRead(b *testing.B) {
	lab := aoelab.NewLab(b)
	tgt, ini := lab.Namespace("tgt"), lab.Namespace("ini")
	lab.Veth(tgt, "t0", ini, "i0", 1500)
	lab.Veth(tgt, "t1", ini, "i1", 9000)
	lab.Veth(tgt, "t2", ini, "i2", 9000)
	lab.Veth(tgt, "t3", ini, "i3", 1500)
	const size = 64 << 20
	img := randomImage(b, lab, size)
	want, err := os.ReadFile(img)
	if err != nil {
		b.Fatal(err)
	}
	for _, t := range []string{"t0", "t1", "t2", "t3"} {
		lab.Vblade(tgt, t, 1, 2, img)
	}
	buf := make([]byte, size)
	report := func(b *testing.B, elapsed time.Duration, got []byte) {
		if !bytes.Equal(got, want) {
			b.Fatal("read differs from the image")
		}
		b.ReportMetric(float64(size)*float64(b.N)/elapsed.Seconds()/1e6, "MB/s")
	}
	for _, tc := range []struct {
		name   string
		ifaces []string
	}{{"mtu1500", []string{"i0"}}, {"mtu1500x2", []string{"i0", "i3"}}, {"mtu9000", []string{"i1"}}, {"mtu9000x2", []string{"i1", "i2"}}} {
		for _, recv := range receives {
			b.Run("engine-"+recv+"-"+tc.name, func(b *testing.B) {
				d := open(b, lab, ini, recv, 1, 2, initiator.DiskOptions{}, tc.ifaces...)
				engineRead(b, d, buf, size, report)
			})
		}
	}
	// Random 4 KiB reads, 32 at once (aoe bench's rand-read, NBD's
	// load): a request per frame or two, where the engine's cost per
	// request (a submit, a wake-up) counts more than its cost per frame.
	for _, tc := range []struct {
		name   string
		ifaces []string
	}{{"rand4k-qd32-mtu1500", []string{"i0"}}, {"rand4k-qd32-mtu9000", []string{"i1"}}} {
		b.Run(tc.name, func(b *testing.B) {
			d := open(b, lab, ini, "auto", 1, 2, initiator.DiskOptions{}, tc.ifaces...)
			const qd, each = 32, 128 // reads per op: qd*each
			var elapsed, cpu time.Duration
			for range b.N {
				start, cpu0 := time.Now(), cpuTime(b)
				var wg sync.WaitGroup
				errs := make([]error, qd)
				for g := range qd {
					wg.Go(func() {
						p := make([]byte, 4096)
						rng := rand.New(rand.NewPCG(uint64(g), 1))
						for range each {
							off := rng.Int64N(size/4096) * 4096
							if _, err := d.ReadAt(p, off); err != nil {
								errs[g] = err
								return
							}
							if !bytes.Equal(p, want[off:off+4096]) {
								errs[g] = fmt.Errorf("4 KiB at %d differ from the image", off)
								return
							}
						}
					})
				}
				wg.Wait()
				elapsed += time.Since(start)
				cpu += cpuTime(b) - cpu0
				for _, err := range errs {
					if err != nil {
						b.Fatal(err)
					}
				}
			}
			reads := float64(b.N * qd * each)
			b.ReportMetric(reads/elapsed.Seconds(), "IOPS")
			b.ReportMetric(float64(cpu.Microseconds())/reads, "cpu-µs/read")
			reportWindows(b, d.PathStats())
		})
	}
	// The floors: one reader thread a path, each path reading its share
	// of the image at once (two paths: two threads, half each).
	for _, tr := range []floor.Transport{floor.Socket, floor.RingV2, floor.RingV3} {
		for _, tc := range []struct {
			name     string
			tgt, ini []string
		}{{"mtu1500", []string{"t0"}, []string{"i0"}}, {"mtu1500x2", []string{"t0", "t3"}, []string{"i0", "i3"}},
			{"mtu9000", []string{"t1"}, []string{"i1"}}, {"mtu9000x2", []string{"t1", "t2"}, []string{"i1", "i2"}}} {
			b.Run("floor-"+tr.String()+"-"+tc.name, func(b *testing.B) {
				b.SetBytes(size)
				share := int64(size / len(tc.ini))
				var (
					elapsed, cpu time.Duration
					syscalls     int
					last         []floor.Result
				)
				for range b.N {
					results := make([]floor.Result, len(tc.ini))
					errs := make([]error, len(tc.ini))
					var wg sync.WaitGroup
					cpu0 := cpuTime(b)
					for i := range tc.ini {
						wg.Go(func() {
							var got []byte
							lab.Do(ini, func() {
								got, results[i], errs[i] = floor.Read(floor.Options{Interface: tc.ini[i], Target: lab.MAC(tgt, tc.tgt[i]),
									Shelf: 1, Slot: 2, Offset: int64(i) * share, Length: share, Transport: tr})
							})
							if errs[i] == nil {
								copy(buf[int64(i)*share:], got)
							}
						})
					}
					wg.Wait()
					cpu += cpuTime(b) - cpu0
					// The slowest thread's time (each starts its clock
					// after its set-up).
					var slowest time.Duration
					for i, err := range errs {
						if err != nil {
							b.Fatal(err)
						}
						slowest = max(slowest, results[i].Elapsed)
						syscalls += results[i].Syscalls()
					}
					elapsed += slowest
					report(b, elapsed, buf)
					clear(buf)
					last = results
				}
				b.ReportMetric(float64(syscalls)/float64(b.N)/(size>>20), "syscalls/MiB")
				reportCPU(b, cpu, size)
				for _, r := range last {
					b.Log(r)
				}
			})
		}
	}
}

// engineRead is one engine case of BenchmarkVbladeRead: b.N reads of
// the whole disk d into buf.
func engineRead(b *testing.B, d *blockio.Target, buf []byte, size int, report func(*testing.B, time.Duration, []byte)) {
	b.SetBytes(int64(size))
	var elapsed, cpu time.Duration
	for range b.N {
		clear(buf)
		start, cpu0 := time.Now(), cpuTime(b)
		if _, err := d.ReadAt(buf, 0); err != nil {
			b.Fatal(err)
		}
		elapsed += time.Since(start)
		cpu += cpuTime(b) - cpu0
		report(b, elapsed, buf)
	}
	reportCPU(b, cpu, size)
	var retrans uint64
	for _, p := range d.PathStats() {
		retrans += p.Retransmits
	}
	b.ReportMetric(float64(retrans)/float64(b.N), "retransmits/op")
	b.Logf("%+v", d.PathStats())
	reportWindows(b, d.PathStats())
}

// cpuTime is the CPU time (user and system) the process has used.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU reports the process's CPU time per MiB read over b.N reads of
// size bytes.
func reportCPU(b *testing.B, cpu time.Duration, size int) {
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N)/float64(size>>20), "cpu-µs/MiB")
}
