package initiator

import (
	"encoding/binary"
	"errors"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/goaoe/aoe/initiator/wire"
	"github.com/goaoe/aoe/internal/ata"
)

// recConn records the frames written to it; reads wait until it closes.
type recConn struct {
	mu     sync.Mutex
	frames [][]byte
	closed chan struct{}
	once   sync.Once
}

func newRecConn() *recConn { return &recConn{closed: make(chan struct{})} }

func (r *recConn) ReadFrom([]byte) (int, net.Addr, error) {
	<-r.closed
	return 0, nil, net.ErrClosed
}

func (r *recConn) WriteTo(b []byte, _ net.Addr) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.frames = append(r.frames, append([]byte(nil), b...))
	return len(b), nil
}

func (r *recConn) Close() error {
	r.once.Do(func() { close(r.closed) })
	return nil
}

func (r *recConn) LocalAddr() net.Addr                { return nil }
func (r *recConn) SetDeadline(time.Time) error        { return nil }
func (r *recConn) SetReadDeadline(time.Time) error    { return nil }
func (r *recConn) SetWriteDeadline(t time.Time) error { return nil }

// TestFlushSkipsGivenUpOps: in one pass of the engine, frames are queued,
// then their request fails (the deadline of another of its frames) and a
// freed op is taken by a new request before the flush. The flush must
// neither touch the given-up ops (reset: no send) nor send the reused one
// twice: one frame goes, the new request's.
func TestFlushSkipsGivenUpOps(t *testing.T) {
	conn := newRecConn()
	c := New(Interface{Name: "rec0", MAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, MTU: 1500}, conn, nil)
	defer c.Close()
	d := &Disk{name: "e1.2", shelf: 1, slot: 2, opts: DiskOptions{Deadline: time.Second}}
	d.id.LBA48 = true
	tg := &diskTarget{mac: net.HardwareAddr{2, 0, 0, 0, 0, 2}, window: 16}
	p := &diskPath{tr: c, mac: tg.mac, src: c.Interface().MAC, target: tg, mtu: 1500, maxSectors: 2,
		rtt: rttEstimator{min: time.Millisecond, max: time.Second, initial: 200 * time.Millisecond}}
	d.paths, d.targets = []*diskPath{p}, []*diskTarget{tg}
	e := &engine{d: d, replies: make(chan replyEvent, 16)}
	tx := e.addTx(c, newBatchWriter(c))
	d.eng = e
	now := tick(1)
	start := func(q *request) *op {
		o := e.cut(q, p)
		e.take(o, p)
		o.first = now
		e.send(o, now)
		return o
	}
	q := &request{cmd: ata.WriteSectors, write: true, buf: make([]byte, 4*wire.SectorSize), done: make(chan struct{})}
	start(q)
	start(q)
	e.fail(q, errors.New("deadline"))
	q2 := &request{cmd: ata.ReadSectors, buf: make([]byte, 2*wire.SectorSize), lba: 1000, done: make(chan struct{})}
	o3 := start(q2)
	if n := len(tx.queued); n != 3 {
		t.Fatalf("%d ops queued, want 3 (two given up, one reused)", n)
	}
	e.flush()
	conn.mu.Lock()
	defer conn.mu.Unlock()
	if len(conn.frames) != 1 {
		t.Fatalf("%d frames sent, want 1", len(conn.frames))
	}
	f := conn.frames[0]
	if tag := binary.BigEndian.Uint32(f[20:24]); tag != o3.latest.tag || f[wire.HeaderLen+3] != ata.ReadSectorsExt {
		t.Errorf("sent tag %#x command %#x, want the new read's tag %#x", tag, f[wire.HeaderLen+3], o3.latest.tag)
	}
	if len(tx.queued) != 0 {
		t.Errorf("%d ops still queued", len(tx.queued))
	}
}

// TestIssueTurns: two requests at once are handed out in turns of
// turnBytes, not a frame each in turn: the first of two 96 KiB reads goes
// out whole before the second's frames, and of two 256 KiB reads each
// takes turnBytes of the window in turn.
func TestIssueTurns(t *testing.T) {
	conn := newRecConn()
	c := New(Interface{Name: "rec0", MAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, MTU: 1500}, conn, nil)
	defer c.Close()
	const window = 1024
	d := &Disk{name: "e1.2", shelf: 1, slot: 2, sectors: 1 << 20, opts: DiskOptions{Deadline: time.Second, Now: time.Now}}
	d.id.LBA48 = true
	tg := &diskTarget{mac: net.HardwareAddr{2, 0, 0, 0, 0, 2}, window: window}
	p := &diskPath{tr: c, mac: tg.mac, src: c.Interface().MAC, target: tg, mtu: 1500, maxSectors: 2, cwnd: window,
		rtt: rttEstimator{min: time.Millisecond, max: time.Second, initial: 200 * time.Millisecond}}
	d.paths, d.targets = []*diskPath{p}, []*diskTarget{tg}
	e := &engine{d: d, replies: make(chan replyEvent, 16)}
	tx := e.addTx(c, newBatchWriter(c))
	d.eng = e
	const frame = 2 * wire.SectorSize
	for _, tc := range []struct {
		size int
		want []int // how many frames of each request in a row
	}{
		{96 << 10, []int{96 << 10 / frame, 96 << 10 / frame}},
		{256 << 10, []int{turnBytes / frame, turnBytes / frame, turnBytes / frame, turnBytes / frame}},
	} {
		q1 := &request{cmd: ata.ReadSectors, buf: make([]byte, tc.size), done: make(chan struct{})}
		q2 := &request{cmd: ata.ReadSectors, buf: make([]byte, tc.size), lba: 1 << 10, done: make(chan struct{})}
		now := d.now()
		e.add(q1, now)
		e.add(q2, now)
		e.issue(now)
		var runs []int
		var last *request
		for _, o := range tx.queued {
			if o.req != last {
				runs = append(runs, 0)
				last = o.req
			}
			runs[len(runs)-1]++
		}
		if !slices.Equal(runs, tc.want) {
			t.Errorf("two %d KiB reads: frames in a row %v, want %v", tc.size>>10, runs, tc.want)
		}
		for _, o := range tx.queued {
			o.path.tr.forget(o.latest.tag)
		}
		tx.queued = tx.queued[:0]
		p.out, tg.out = 0, 0
		e.active, e.inflight, e.rr = nil, nil, 0
	}
}

// wakeCounter is a replyReader lent to an engine that counts its wakes.
type wakeCounter struct{ wakes int }

func (w *wakeCounter) readReplies(time.Time, *atomic.Bool, *replySink) (int, error) { return 0, nil }
func (w *wakeCounter) wake()                                                        { w.wakes++ }
func (w *wakeCounter) giveBack()                                                    {}

// TestPostWakesOnlyWithRoom: a request posted while the loop waits on lent
// reads wakes it when a path has room for a frame, not while every window
// is full (the next reply ends that wait, and the request could not go
// before it); a cancellation always does.
func TestPostWakesOnlyWithRoom(t *testing.T) {
	conn := newRecConn()
	c := New(Interface{Name: "rec0", MAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, MTU: 1500}, conn, nil)
	defer c.Close()
	d := &Disk{name: "e1.2", shelf: 1, slot: 2, sectors: 1 << 20, opts: DiskOptions{Deadline: time.Second}}
	d.id.LBA48 = true
	tg := &diskTarget{mac: net.HardwareAddr{2, 0, 0, 0, 0, 2}, window: 16}
	p := &diskPath{tr: c, mac: tg.mac, src: c.Interface().MAC, target: tg, mtu: 1500, maxSectors: 2, cwnd: 2,
		rtt: rttEstimator{min: time.Millisecond, max: time.Second, initial: 200 * time.Millisecond}}
	d.paths, d.targets = []*diskPath{p}, []*diskTarget{tg}
	e := &engine{d: d, replies: make(chan replyEvent, 16)}
	e.addTx(c, newBatchWriter(c))
	d.eng = e
	w := &wakeCounter{}
	var r replyReader = w
	e.lent.Store(&r)
	// post as the loop's wait sees it: full set from the windows, and
	// the posts taken after (attention cleared, as takePosts does).
	posted := func(cancel bool) int {
		before := w.wakes
		e.full.Store(e.windowsFull())
		e.post(post{q: &request{cmd: ata.ReadSectors, buf: make([]byte, 2*wire.SectorSize)}, cancel: cancel})
		e.full.Store(false)
		e.attention.Store(false)
		return w.wakes - before
	}
	if n := posted(false); n != 1 {
		t.Errorf("nothing out: %d wakes, want 1", n)
	}
	q := &request{cmd: ata.ReadSectors, buf: make([]byte, 4*wire.SectorSize), done: make(chan struct{})}
	for range 2 {
		o := e.cut(q, p)
		e.take(o, p)
		e.send(o, tick(1))
	}
	if !e.windowsFull() {
		t.Fatalf("window %d with %d out: not full", p.cwnd, p.out)
	}
	if n := posted(false); n != 0 {
		t.Errorf("window full: %d wakes, want 0", n)
	}
	if n := posted(true); n != 1 {
		t.Errorf("window full, a cancellation: %d wakes, want 1", n)
	}
	p.dead = true // a bound IDENTIFY could go
	if n := posted(false); n != 1 {
		t.Errorf("the only path dead, its target with room: %d wakes, want 1", n)
	}
}
