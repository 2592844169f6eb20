package nbd

import (
	"errors"
	"fmt"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// engineDisk stands for the AoE engine behind aoe nbd: a ReadAt is posted
// to one goroutine (the engine's loop), which fills the buffer and wakes
// the caller, as initiator.Disk does (a post, then a wait on the
// request's done channel): the hand-offs the engine imposes, nothing
// else. It counts the reads under way at once (max: the most seen).
//
// When hold > 0, the first hold reads wait in the loop until all of them
// are there: a connection that serves its requests one at a time never gets
// there (stop ends the wait, and fails the reads from then on).
type engineDisk struct {
	inbox chan *engineReq
	hold  int
	quit  chan struct{}
	stop  func()

	mu       sync.Mutex
	now, max int
	held     []*engineReq
}

type engineReq struct {
	p    []byte
	done chan struct{}
}

func newEngineDisk(hold int) *engineDisk {
	d := &engineDisk{inbox: make(chan *engineReq, 64), hold: hold, quit: make(chan struct{})}
	d.stop = sync.OnceFunc(func() { close(d.quit) })
	go d.loop()
	return d
}

func (d *engineDisk) loop() {
	hold := d.hold // the first hold reads wait for each other
	for {
		select {
		case q := <-d.inbox:
			for i := range q.p {
				q.p[i] = byte(i)
			}
			if hold <= 0 {
				close(q.done)
				continue
			}
			d.held = append(d.held, q)
			if len(d.held) == hold {
				for _, h := range d.held {
					close(h.done)
				}
				d.held, hold = nil, 0
			}
		case <-d.quit:
			for _, h := range d.held {
				close(h.done)
			}
			return
		}
	}
}

func (d *engineDisk) ReadAt(p []byte, off int64) (int, error) {
	d.mu.Lock()
	d.now++
	d.max = max(d.max, d.now)
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		d.now--
		d.mu.Unlock()
	}()
	q := &engineReq{p: p, done: make(chan struct{})}
	select {
	case d.inbox <- q:
	case <-d.quit:
		return 0, errStopped
	}
	select {
	case <-q.done:
		return len(p), nil
	case <-d.quit:
		return 0, errStopped
	}
}

var errStopped = errors.New("engineDisk stopped")

func (d *engineDisk) WriteAt(p []byte, off int64) (int, error) { return len(p), nil }
func (d *engineDisk) Sync() error                              { return nil }

func (d *engineDisk) most() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.max
}

// TestReadsOverlap: 32 reads sent at once on one connection are all under
// way in the backend at once (the backend holds each until all 32 are
// there), and each is answered with its data.
func TestReadsOverlap(t *testing.T) {
	const n = 32
	d := newEngineDisk(n)
	t.Cleanup(d.stop)
	// Only so that a server that serves one request at a time fails
	// the test instead of hanging it.
	failsafe := time.AfterFunc(time.Minute, d.stop)
	defer failsafe.Stop()
	s := &Server{Exports: []*Export{{Name: "d", Size: 1 << 30, Backend: d}}, Workers: n}
	c := connect(t, serveOn(t, s))
	c.goExport("d")
	var reqs []byte
	for i := range uint64(n) {
		reqs = append(reqs, requestBytes(cmdRead, i, i<<20, 4096, nil)...)
	}
	c.write(reqs)
	seen := make(map[uint64]bool)
	buf := make([]byte, 4096)
	for range n {
		e, cookie := c.simple()
		if e != 0 {
			t.Fatalf("read %d: error %d", cookie, e)
		}
		c.read(buf)
		for i, x := range buf {
			if x != byte(i) {
				t.Fatalf("read %d: byte %d is %d", cookie, i, x)
			}
		}
		seen[cookie] = true
	}
	if len(seen) != n {
		t.Errorf("%d distinct replies, want %d", len(seen), n)
	}
	if m := d.most(); m != n {
		t.Errorf("%d reads under way at once, want %d", m, n)
	}
}

// BenchmarkReadQD: 4 KiB reads on one connection over a Unix socket, qd
// of them in flight, from engineDisk (the engine's own hand-offs, no
// network). Per request it reports, beside ns/op and allocs/op (the test
// client's and engineDisk's included), the process's CPU time (user and
// system, client and server: less sensitive to a loaded machine than
// ns/op), the goroutines created, the scheduler's goroutine wake-ups
// (runnable to running: /sched/latencies, which the runtime samples one in
// 8: the count times 8), the process's thread context switches
// (getrusage), and the most reads the backend had under way at once.
func BenchmarkReadQD(b *testing.B) {
	for _, qd := range []int{1, 32} {
		b.Run(fmt.Sprintf("qd%d", qd), func(b *testing.B) {
			d := newEngineDisk(0)
			b.Cleanup(d.stop)
			s := &Server{Exports: []*Export{{Name: "d", Size: 1 << 30, Backend: d}}}
			c := connect(b, serveOn(b, s))
			c.goExport("d")
			var sent atomic.Uint64
			next := func() []byte {
				i := sent.Add(1)
				return requestBytes(cmdRead, i, (i%4096)<<12, 4096, nil)
			}
			buf := make([]byte, 4096)
			b.SetBytes(4096)
			b.ReportAllocs()
			m0 := schedSample()
			b.ResetTimer()
			var reqs []byte
			for range min(qd, b.N) {
				reqs = append(reqs, next()...)
			}
			c.write(reqs)
			for i := range b.N {
				if e, _ := c.simple(); e != 0 {
					b.Fatal(e)
				}
				c.read(buf)
				if i+qd < b.N {
					c.write(next())
				}
			}
			b.StopTimer()
			m1 := schedSample()
			n := float64(b.N)
			b.ReportMetric(float64(m1.created-m0.created)/n, "goroutines/op")
			b.ReportMetric(float64(m1.wakeups-m0.wakeups)/n, "wakeups/op")
			b.ReportMetric(float64(m1.ctxsw-m0.ctxsw)/n, "ctxsw/op")
			b.ReportMetric(float64(m1.cpuNs-m0.cpuNs)/n, "cpu-ns/op")
			b.ReportMetric(float64(d.most()), "max-inflight")
		})
	}
}

type schedCounts struct{ created, wakeups, ctxsw, cpuNs uint64 }

func schedSample() schedCounts {
	s := []metrics.Sample{{Name: "/sched/goroutines-created:goroutines"}, {Name: "/sched/latencies:seconds"}}
	metrics.Read(s)
	var c schedCounts
	if s[0].Value.Kind() == metrics.KindUint64 {
		c.created = s[0].Value.Uint64()
	}
	if s[1].Value.Kind() == metrics.KindFloat64Histogram {
		for _, n := range s[1].Value.Float64Histogram().Counts {
			c.wakeups += n * 8
		}
	}
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		c.ctxsw = uint64(ru.Nvcsw + ru.Nivcsw)
		c.cpuNs = uint64(ru.Utime.Nano() + ru.Stime.Nano())
	}
	return c
}
