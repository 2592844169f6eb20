package blockio_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/goaoe/aoe/initiator"
	"github.com/goaoe/aoe/internal/aoelab"
	"github.com/goaoe/aoe/internal/nbd"
)

// BenchmarkNBDVblade: nbdcopy reads a 64 MiB disk of real vblade (one
// path, MTU 9000) through the NBD server in this process, on one
// connection, 16 requests in flight, of 4 KiB (the server's and the
// engine's cost per request counts) and of 256 KiB. It reports MB/s and
// this process's CPU time (server and engine; nbdcopy's own not counted)
// per request; and, alternated, the engine reading the whole disk itself
// against nbdcopy reading it through the server (nbd/read); and random
// 4 KiB reads one at a time against fio's NBD engine through the server
// and through qemu-nbd (rand4k-qd1).
func BenchmarkNBDVblade(b *testing.B) {
	if _, err := exec.LookPath("nbdcopy"); err != nil {
		b.Fatal("nbdcopy is needed (apt-get install libnbd-bin)")
	}
	lab := aoelab.NewLab(b)
	tgt, ini := lab.Namespace("tgt"), lab.Namespace("ini")
	lab.Veth(tgt, "t1", ini, "i1", 9000)
	const size = 64 << 20
	img := randomImage(b, lab, size)
	lab.Vblade(tgt, "t1", 1, 2, img)
	d := open(b, lab, ini, "auto", 1, 2, initiator.DiskOptions{}, "i1")
	sock := filepath.Join(b.TempDir(), "nbd.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	srv := &nbd.Server{Exports: []*nbd.Export{{Name: "e1.2", Size: size, Backend: d, ReadOnly: true}}}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, l) }()
	b.Cleanup(func() {
		cancel()
		<-done
	})
	uri := "nbd+unix:///e1.2?socket=" + sock
	// Sequential, side by side: the engine reading the disk itself
	// (aoe read's path) and nbdcopy reading it through the server (16
	// requests at once, of 128 KiB as the kernel's nbd driver cuts
	// them, and of 1 MiB), alternated. nbdcopy's own CPU counts here:
	// it shares the machine with vblade and the server. (In make
	// bench-vm's guests /dev/nbd0 also pays two copies in the kernel,
	// the socket's and the nbd driver's: see docs/performance-analysis.md.)
	for _, reqSize := range []int{128 << 10, 1 << 20} {
		b.Run(fmt.Sprintf("seq-nbd-vs-read-req%dk", reqSize>>10), func(b *testing.B) {
			buf := make([]byte, size)
			var read, viaNBD time.Duration
			for range b.N {
				start := time.Now()
				if _, err := d.ReadAt(buf, 0); err != nil {
					b.Fatal(err)
				}
				read += time.Since(start)
				start = time.Now()
				out, err := exec.Command("nbdcopy", "--connections=1", "--requests=16", fmt.Sprintf("--request-size=%d", reqSize), uri, "null:").CombinedOutput()
				if err != nil {
					b.Fatalf("nbdcopy: %v\n%s", err, out)
				}
				viaNBD += time.Since(start)
			}
			mbs := func(d time.Duration) float64 { return float64(size) * float64(b.N) / d.Seconds() / 1e6 }
			b.ReportMetric(mbs(read), "read-MB/s")
			b.ReportMetric(mbs(viaNBD), "nbd-MB/s")
			b.ReportMetric(read.Seconds()/viaNBD.Seconds(), "nbd/read")
		})
	}
	for _, reqSize := range []int{4 << 10, 256 << 10} {
		b.Run(fmt.Sprintf("req%dk-qd16", reqSize>>10), func(b *testing.B) {
			b.SetBytes(size)
			var elapsed, cpu time.Duration
			for range b.N {
				start, cpu0 := time.Now(), cpuTime(b)
				out, err := exec.Command("nbdcopy", "--connections=1", "--requests=16", fmt.Sprintf("--request-size=%d", reqSize), uri, "null:").CombinedOutput()
				if err != nil {
					b.Fatalf("nbdcopy: %v\n%s", err, out)
				}
				elapsed += time.Since(start)
				cpu += cpuTime(b) - cpu0
			}
			reqs := float64(b.N) * size / float64(reqSize)
			b.ReportMetric(float64(size)*float64(b.N)/elapsed.Seconds()/1e6, "MB/s")
			b.ReportMetric(float64(cpu.Nanoseconds())/1e3/reqs, "cpu-µs/request")
		})
	}
	// Random 4 KiB reads one at a time, alternated: the engine reading
	// the disk itself, fio's NBD engine (libnbd) reading it through the
	// server, and fio reading through qemu-nbd serving the same image
	// (the page cache holds it): the NBD ceiling, with no AoE behind it.
	// nbd/read is what the server and an NBD client add to each
	// request; nbd/ceiling, how near the server comes to one that only
	// copies from memory.
	b.Run("rand4k-qd1", func(b *testing.B) {
		qsock := aoelab.QemuNBD(b, img, "e1.2")
		const dur = 2 * time.Second
		buf := make([]byte, 4096)
		rng := rand.New(rand.NewPCG(1, 2))
		var read, viaNBD, ceiling float64
		for range b.N {
			n := 0
			for start := time.Now(); time.Since(start) < dur; n++ {
				if _, err := d.ReadAt(buf, rng.Int64N(size/4096)*4096); err != nil {
					b.Fatal(err)
				}
			}
			read += float64(n) / dur.Seconds()
			viaNBD += fioNBD(b, uri, dur)
			ceiling += fioNBD(b, "nbd+unix:///e1.2?socket="+qsock, dur)
		}
		b.ReportMetric(read/float64(b.N), "read-IOPS")
		b.ReportMetric(viaNBD/float64(b.N), "nbd-IOPS")
		b.ReportMetric(ceiling/float64(b.N), "ceiling-IOPS")
		b.ReportMetric(viaNBD/read, "nbd/read")
		b.ReportMetric(viaNBD/ceiling, "nbd/ceiling")
	})
}

// fioNBD runs fio's NBD engine (libnbd) on uri for dur: random 4 KiB
// reads, one at a time, and returns its IOPS.
func fioNBD(b *testing.B, uri string, dur time.Duration) float64 {
	out, err := exec.Command("fio", "--name=r", "--ioengine=nbd", "--uri="+uri, "--rw=randread", "--bs=4k", "--iodepth=1",
		fmt.Sprintf("--runtime=%dms", dur.Milliseconds()), "--time_based", "--output-format=json").Output()
	if err != nil {
		b.Fatalf("fio (apt-get install fio: its NBD engine): %v\n%s", err, out)
	}
	iops, err := aoelab.FioReadIOPS(out)
	if err != nil {
		b.Fatalf("fio's output: %v\n%s", err, out)
	}
	return iops
}
