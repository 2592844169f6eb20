package nbd

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkRead4K measures one 4 KiB NBD read at a time over a Unix socket
// from a memory backend: the server's own cost per request.
func BenchmarkRead4K(b *testing.B) {
	m := newMem(16 << 20)
	sock := filepath.Join(b.TempDir(), "s")
	l, err := net.Listen("unix", sock)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := &Server{Exports: []*Export{{Name: "m", Size: 16 << 20, Backend: m}}}
	go s.Serve(ctx, l)
	conn, err := net.Dial("unix", sock)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	c := &client{t: b, c: conn}
	var hello [18]byte
	c.read(hello[:])
	c.write([]byte{0, 0, 0, 3})
	c.goExport("m")
	buf := make([]byte, 4096)
	b.SetBytes(4096)
	b.ResetTimer()
	for i := range b.N {
		c.request(cmdRead, 0, uint64(i), uint64(i%4000)*4096, 4096, nil)
		if e, _ := c.simple(); e != 0 {
			b.Fatal(e)
		}
		c.read(buf)
	}
}

// nullDisk reads zeroes and drops writes; writes wait for gate.
type nullDisk struct{ gate chan struct{} }

func (d *nullDisk) ReadAt(p []byte, off int64) (int, error) { clear(p); return len(p), nil }
func (d *nullDisk) WriteAt(p []byte, off int64) (int, error) {
	<-d.gate
	return len(p), nil
}
func (d *nullDisk) Sync() error { return nil }

// BenchmarkHostilePipelining: two clients each pipeline 32 writes of
// 32 MiB (the default maximum block) and read no reply, while the backend
// is stuck; when both have stopped making progress the backend moves on.
// It reports the server's peak heap and the process's peak RSS (run it
// alone, -benchtime=1x): with the default budget they stay near 128 MiB,
// where without one the server held every request it had read.
func BenchmarkHostilePipelining(b *testing.B) {
	for range b.N {
		runtime.GC()
		peakHeap := heapPeak()
		d := &nullDisk{gate: make(chan struct{})}
		s := &Server{Exports: []*Export{{Name: "d", Size: 1 << 40, Backend: d}}}
		path := serveOn(b, s)
		data := make([]byte, 32<<20)
		var sent atomic.Int64
		var writers sync.WaitGroup
		var cs []*client
		for range 2 {
			c := connect(b, path)
			c.goExport("d")
			cs = append(cs, c)
			writers.Add(1)
			go func() {
				defer writers.Done()
				for k := range uint64(32) {
					if _, err := c.c.Write(requestBytes(cmdWrite, k, k<<25, 32<<20, nil)); err != nil {
						return
					}
					if _, err := c.c.Write(data); err != nil {
						return
					}
					sent.Add(32 << 20)
				}
			}()
		}
		// Both clients stalled: no progress for 500 ms.
		for last := int64(-1); sent.Load() != last; {
			last = sent.Load()
			time.Sleep(500 * time.Millisecond)
		}
		stalled := sent.Load()
		close(d.gate)
		writers.Wait()
		for _, c := range cs {
			for range 32 {
				if e, _ := c.simple(); e != 0 {
					b.Fatalf("write: error %d", e)
				}
			}
			c.c.Close()
		}
		heap := peakHeap()
		b.ReportMetric(float64(stalled>>20), "MiB-sent-before-stall")
		b.ReportMetric(float64(heap>>20), "MiB-peak-heap")
		b.ReportMetric(float64(peakRSS()>>20), "MiB-peak-RSS")
	}
}

// peakRSS is the process's peak resident set (VmHWM), 0 if unknown.
func peakRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			var kb int64
			fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), &kb)
			return kb << 10
		}
	}
	return 0
}
