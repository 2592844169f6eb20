package nbd

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// serveOn serves s on a new Unix socket until the test ends and returns
// the socket's path.
func serveOn(t testing.TB, s *Server) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "nbd.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, l) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return path
}

// connect dials path, checks the server's greeting and sends the client
// flags; the connection is closed when the test ends.
func connect(t testing.TB, path string) *client {
	t.Helper()
	a, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	c := &client{t: t, c: a}
	var hello [18]byte
	c.read(hello[:])
	if binary.BigEndian.Uint64(hello[0:]) != magicNBD {
		t.Fatalf("hello %x", hello)
	}
	c.write(binary.BigEndian.AppendUint32(nil, flagFixedNewstyle|flagNoZeroes))
	return c
}

// waitFor polls cond until it holds; the time limit only keeps a broken
// server from hanging the test.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for start := time.Now(); !cond(); time.Sleep(time.Millisecond) {
		if time.Since(start) > 30*time.Second {
			t.Fatalf("still waiting for %s", what)
		}
	}
}

// gateDisk is a memDisk whose writes wait until gate is closed.
type gateDisk struct {
	*memDisk
	gate chan struct{}
}

func (g *gateDisk) WriteAt(p []byte, off int64) (int, error) {
	<-g.gate
	return g.memDisk.WriteAt(p, off)
}

// requestBytes encodes a request, with data for a write.
func requestBytes(typ uint16, cookie, off uint64, length uint32, data []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, magicRequest)
	b = binary.BigEndian.AppendUint16(b, 0)
	b = binary.BigEndian.AppendUint16(b, typ)
	b = binary.BigEndian.AppendUint64(b, cookie)
	b = binary.BigEndian.AppendUint64(b, off)
	b = binary.BigEndian.AppendUint32(b, length)
	return append(b, data...)
}

// heapPeak samples the heap in use until stop is called, which returns the
// most seen.
func heapPeak() (stop func() uint64) {
	var peak atomic.Uint64
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-done:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	return func() uint64 { close(done); <-finished; return peak.Load() }
}

// TestBudgetHostileWriters: two clients pipeline 4 MiB writes and read no
// reply while the backend is stuck. The server takes requests from each
// until its share (half the budget) is spent and then stops reading its
// socket; a well-behaved client waits its turn and is served when the
// backend moves.
func TestBudgetHostileWriters(t *testing.T) {
	const (
		limit = 16 << 20
		size  = 32 << 20
		chunk = 4 << 20
		n     = 16 // writes per hostile client: 64 MiB each
	)
	runtime.GC()
	peakHeap := heapPeak()
	g := &gateDisk{memDisk: newMem(size), gate: make(chan struct{})}
	s := &Server{Exports: []*Export{{Name: "d", Size: size, Backend: g}}, MaxInflightBytes: limit, Logger: logTo(t.Logf)}
	path := serveOn(t, s)

	data := bytes.Repeat([]byte{0xa5}, chunk)
	var writers sync.WaitGroup
	hostile := make([]*client, 2)
	for i := range hostile {
		c := connect(t, path)
		c.goExport("d")
		hostile[i] = c
		writers.Add(1)
		go func() {
			defer writers.Done()
			for k := range uint64(n) {
				// Blocks once the server stops reading.
				if _, err := c.c.Write(requestBytes(cmdWrite, k, (k%2)*chunk, chunk, nil)); err != nil {
					return
				}
				if _, err := c.c.Write(data); err != nil {
					return
				}
			}
		}()
	}
	waitFor(t, "the budget to be spent", func() bool {
		used, _, _ := s.InflightBytes()
		return used == limit
	})

	// A well-behaved client: one write, then a read of it.
	good := connect(t, path)
	good.goExport("d")
	mine := bytes.Repeat([]byte{0x3c}, 1<<20)
	result := make(chan string, 1)
	go func() {
		var h [16]byte
		got := make([]byte, 1<<20)
		for _, req := range [][]byte{requestBytes(cmdWrite, 1, 16<<20, 1<<20, mine), requestBytes(cmdRead, 2, 16<<20, 1<<20, nil)} {
			good.c.Write(req)
			if _, err := io.ReadFull(good.c, h[:]); err != nil {
				result <- err.Error()
				return
			}
			if e, cookie := binary.BigEndian.Uint32(h[4:]), binary.BigEndian.Uint64(h[8:]); e != 0 || cookie != binary.BigEndian.Uint64(req[8:]) {
				result <- fmt.Sprintf("reply %d to %d", e, cookie)
				return
			}
		}
		if _, err := io.ReadFull(good.c, got); err != nil || !bytes.Equal(got, mine) {
			result <- fmt.Sprintf("read back: %v", err)
			return
		}
		result <- ""
	}()
	waitFor(t, "the good client to wait", func() bool { return s.BudgetWaiters() == 1 })

	close(g.gate)
	writers.Wait()
	if r := <-result; r != "" {
		t.Errorf("well-behaved client: %s", r)
	}
	// Now the hostile clients read their replies: all there, all good.
	for i, c := range hostile {
		for range n {
			if e, _ := c.simple(); e != 0 {
				t.Errorf("hostile client %d: reply error %d", i, e)
			}
		}
	}
	waitFor(t, "the budget to be given back", func() bool { used, _, _ := s.InflightBytes(); return used == 0 })
	_, peak, _ := s.InflightBytes()
	if peak > limit {
		t.Errorf("%d bytes in flight at once, over the budget of %d", peak, limit)
	}
	t.Logf("2 clients × %d pipelined 4 MiB writes (128 MiB sent), budget %d MiB: peak in flight %d MiB, peak heap in use %d MiB",
		n, limit>>20, peak>>20, peakHeap()>>20)
}

// hostileReader connects to path and pipelines 4 MiB reads, reading no
// reply.
func hostileReader(t *testing.T, path string) *client {
	c := connect(t, path)
	c.goExport("d")
	go func() {
		for k := range uint64(64) {
			if _, err := c.c.Write(requestBytes(cmdRead, k, (k%28)<<20, 4<<20, nil)); err != nil {
				return
			}
		}
	}()
	return c
}

// TestBudgetShare: a client that pipelines reads and reads no reply holds
// its share, half the budget, and no more: a well-behaved client is
// served meanwhile.
func TestBudgetShare(t *testing.T) {
	const limit = 16 << 20
	m := newMem(32 << 20)
	s := &Server{Exports: []*Export{{Name: "d", Size: 32 << 20, Backend: m}}, MaxInflightBytes: limit, ReplyTimeout: time.Hour}
	path := serveOn(t, s)
	bad := hostileReader(t, path)
	waitFor(t, "the share to be spent", func() bool { used, _, _ := s.InflightBytes(); return used == limit/2 })

	good := connect(t, path)
	good.goExport("d")
	for k := range uint64(8) {
		good.request(cmdRead, 0, k, k<<20, 4<<20, nil)
		if e, cookie := good.simple(); e != 0 || cookie != k {
			t.Fatalf("read: error %d cookie %d", e, cookie)
		}
		got := make([]byte, 4<<20)
		good.read(got)
		if !bytes.Equal(got, m.b[k<<20:k<<20+4<<20]) {
			t.Fatal("read differs")
		}
	}
	// The server gives a read's share back once its write returns,
	// which may be just after the client has the last byte.
	waitFor(t, "the good client's shares to be given back", func() bool { used, _, _ := s.InflightBytes(); return used <= limit/2 })
	if used, peak, _ := s.InflightBytes(); used != limit/2 || peak > limit {
		t.Errorf("in flight %d (want the stuck share, %d), at most %d", used, limit/2, peak)
	}
	bad.c.Close()
	waitFor(t, "the budget to be given back", func() bool { used, _, _ := s.InflightBytes(); return used == 0 })
}

// TestReplyTimeout: a client that leaves its replies unread for
// ReplyTimeout is dropped, and what its reads held comes back.
func TestReplyTimeout(t *testing.T) {
	const limit = 16 << 20
	var mu sync.Mutex
	var logs []string
	// A second: a loaded machine (-race, two cores) can leave the good
	// client below unscheduled for a few hundred milliseconds.
	s := &Server{Exports: []*Export{{Name: "d", Size: 32 << 20, Backend: newMem(32 << 20)}}, MaxInflightBytes: limit, ReplyTimeout: time.Second,
		Logger: logTo(func(f string, a ...any) {
			mu.Lock()
			logs = append(logs, fmt.Sprintf(f, a...))
			mu.Unlock()
		})}
	path := serveOn(t, s)
	bad := hostileReader(t, path)
	waitFor(t, "the share to be spent", func() bool { used, _, _ := s.InflightBytes(); return used == limit/2 })
	waitFor(t, "the client to be dropped", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(logs) > 0
	})
	// Dropped: after what the socket held, EOF (or a reset: the server
	// dropped requests it had not read).
	if _, err := io.Copy(io.Discard, bad.c); err != nil && !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("hostile reader: %v", err)
	}
	waitFor(t, "the budget to be given back", func() bool { used, _, _ := s.InflightBytes(); return used == 0 })
	mu.Lock()
	if len(logs) != 1 || !strings.Contains(logs[0], ErrReplyTimeout.Error()) {
		t.Errorf("logs %q", logs)
	}
	mu.Unlock()
	// A client that reads its replies, however large, is not dropped.
	c := connect(t, path)
	c.goExport("d")
	c.request(cmdRead, 0, 1, 0, 8<<20, nil)
	if e, _ := c.simple(); e != 0 {
		t.Fatalf("read: %d", e)
	}
	c.read(make([]byte, 8<<20))
}

// TestBudgetBlockSize: the advertised maximum block size is at most half
// the budget, and a request over it is refused as the protocol says.
func TestBudgetBlockSize(t *testing.T) {
	const limit = 2 << 20
	m := newMem(4 << 20)
	s := &Server{Exports: []*Export{{Name: "d", Size: 4 << 20, Backend: m}}, MaxInflightBytes: limit}
	c := dial(t, s)
	c.option(optInfo, infoData("d"))
	for {
		typ, data := c.optReply(optInfo)
		if typ == repAck {
			break
		}
		if binary.BigEndian.Uint16(data) == infoBlockSize {
			if lo, pref, hi := binary.BigEndian.Uint32(data[2:]), binary.BigEndian.Uint32(data[6:]), binary.BigEndian.Uint32(data[10:]); lo != 512 || pref != 4096 || hi != limit/2 {
				t.Errorf("block sizes %d %d %d, want 512 4096 %d", lo, pref, hi, limit/2)
			}
		}
	}
	c.goExport("d")
	for _, tc := range []struct {
		typ  uint16
		n    uint32
		want uint32
	}{
		{cmdWrite, limit / 2, 0},
		{cmdRead, limit / 2, 0},
		{cmdWrite, limit/2 + 1, errInval},
		{cmdRead, limit/2 + 1, errOverflow},
		{cmdWrite, 1, 0}, // the connection goes on
	} {
		var data []byte
		if tc.typ == cmdWrite {
			data = make([]byte, tc.n)
		}
		c.request(tc.typ, 0, 3, 0, tc.n, data)
		e, _ := c.simple()
		if e != tc.want {
			t.Errorf("%d of %d bytes: error %d, want %d", tc.typ, tc.n, e, tc.want)
		}
		if e == 0 && tc.typ == cmdRead {
			c.read(make([]byte, tc.n))
		}
	}
	if _, peak, _ := s.InflightBytes(); peak != limit/2 {
		t.Errorf("peak in flight %d, want %d", peak, limit/2)
	}
}

// TestBudgetWaitEndsWithServer: a connection waiting for budget leaves
// when the server's context ends.
func TestBudgetWaitEndsWithServer(t *testing.T) {
	b := newBudget(10)
	if err := b.acquire(context.Background(), 8); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- b.acquire(ctx, 5) }()
	waiters := func() int {
		b.mu.Lock()
		defer b.mu.Unlock()
		return len(b.waiters)
	}
	waitFor(t, "the first waiter", func() bool { return waiters() == 1 })
	// A small request that would fit waits behind: first come, first
	// served.
	small := make(chan error)
	go func() { small <- b.acquire(context.Background(), 2) }()
	waitFor(t, "the second waiter", func() bool { return waiters() == 2 })
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("acquire: %v", err)
	}
	if err := <-small; err != nil {
		t.Errorf("small acquire: %v", err)
	}
	b.release(8)
	b.release(2)
	if used, peak := b.stats(); used != 0 || peak > 10 {
		t.Errorf("used %d peak %d", used, peak)
	}
}

// TestMaxConns: a connection beyond MaxConns is closed at once, with a
// log line; when one leaves, the next is served.
func TestMaxConns(t *testing.T) {
	var mu sync.Mutex
	var logs []string
	s := &Server{Exports: []*Export{{Name: "d", Size: 4096, Backend: newMem(4096)}}, MaxConns: 3, Logger: logTo(func(f string, a ...any) {
		mu.Lock()
		logs = append(logs, fmt.Sprintf(f, a...))
		mu.Unlock()
	})}
	path := serveOn(t, s)
	var cs []*client
	for range 3 {
		cs = append(cs, connect(t, path))
	}
	cs[0].goExport("d")
	for range 3 {
		extra, err := net.Dial("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		if n, err := io.ReadFull(extra, make([]byte, 18)); err == nil || n != 0 {
			t.Errorf("connection over the limit: read %d bytes, %v", n, err)
		}
		extra.Close()
	}
	mu.Lock()
	if len(logs) != 1 || !strings.Contains(logs[0], "refused: 3 connections are served, the limit") {
		t.Errorf("logs %q, want one line about the refusal", logs)
	}
	mu.Unlock()
	cs[0].request(cmdDisc, 0, 1, 0, 0, nil)
	waitFor(t, "the connection to end", func() bool { return s.Conns() == 2 })
	c := connect(t, path)
	c.goExport("d")
	c.request(cmdRead, 0, 1, 0, 512, nil)
	if e, _ := c.simple(); e != 0 {
		t.Errorf("read: %d", e)
	}
}

// TestIdleConnections: 1000 clients in transmission, idle past the
// handshake timeout, are all kept and served when the limit allows them;
// the 1001st is refused.
func TestIdleConnections(t *testing.T) {
	const n = 1000
	s := &Server{Exports: []*Export{{Name: "d", Size: 1 << 20, Backend: newMem(1 << 20)}}, MaxConns: n, HandshakeTimeout: 100 * time.Millisecond}
	path := serveOn(t, s)
	cs := make([]*client, n)
	for i := range cs {
		cs[i] = connect(t, path)
		cs[i].goExport("d")
	}
	extra, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	if k, err := extra.Read(make([]byte, 18)); err == nil {
		t.Errorf("connection %d: read %d bytes", n+1, k)
	}
	extra.Close()
	time.Sleep(300 * time.Millisecond) // idle well past the handshake timeout
	if got := s.Conns(); got != n {
		t.Errorf("%d connections served, want %d", got, n)
	}
	for i, c := range cs {
		c.request(cmdRead, 0, uint64(i), uint64(i)*512, 512, nil)
		if e, cookie := c.simple(); e != 0 || cookie != uint64(i) {
			t.Fatalf("connection %d: error %d cookie %d", i, e, cookie)
		}
		c.read(make([]byte, 512))
	}
}

// TestHandshakeTimeout: a client that stalls before choosing an export is
// dropped; one that is done in time is not.
func TestHandshakeTimeout(t *testing.T) {
	s := &Server{Exports: []*Export{{Name: "d", Size: 4096, Backend: newMem(4096)}}, HandshakeTimeout: 100 * time.Millisecond}
	for _, stall := range []struct {
		name string
		send []byte
	}{
		{"after the greeting", nil},
		{"in the client flags", []byte{0, 0}},
		{"in an option", append([]byte{0, 0, 0, 3}, binary.BigEndian.AppendUint64(nil, magicIHaveOpt)...)},
	} {
		t.Run(stall.name, func(t *testing.T) {
			a, b := net.Pipe()
			defer a.Close()
			done := make(chan error, 1)
			go func() { done <- s.ServeConn(context.Background(), b) }()
			if _, err := io.ReadFull(a, make([]byte, 18)); err != nil {
				t.Fatal(err)
			}
			if len(stall.send) > 0 {
				a.Write(stall.send)
			}
			if err := <-done; !errors.Is(err, ErrHandshakeTimeout) {
				t.Errorf("ServeConn: %v, want %v", err, ErrHandshakeTimeout)
			}
			if _, err := a.Read(make([]byte, 1)); err == nil {
				t.Error("connection still open")
			}
		})
	}
	// Over a socket, through Serve: the connection is closed and counted
	// out.
	path := serveOn(t, s)
	c := connect(t, path)
	if _, err := c.c.Read(make([]byte, 1)); err == nil {
		t.Error("stalled client not dropped")
	}
	waitFor(t, "the connection to be counted out", func() bool { return s.Conns() == 0 })
	// A client in transmission stays.
	c = connect(t, path)
	c.goExport("d")
	time.Sleep(200 * time.Millisecond)
	c.request(cmdRead, 0, 1, 0, 512, nil)
	if e, _ := c.simple(); e != 0 {
		t.Errorf("read after the timeout: %d", e)
	}
}

// flakyListener fails Accept with errs, one a call, then accepts.
type flakyListener struct {
	net.Listener
	mu   sync.Mutex
	errs []error
}

func (l *flakyListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	if len(l.errs) > 0 {
		err := l.errs[0]
		l.errs = l.errs[1:]
		l.mu.Unlock()
		return nil, err
	}
	l.mu.Unlock()
	return l.Listener.Accept()
}

// TestAcceptErrors: temporary accept errors (out of descriptors, an
// aborted connection) are logged and retried; the export goes on. Any
// other error ends Serve.
func TestAcceptErrors(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nbd.sock")
	ul, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	accErr := func(errno syscall.Errno) error {
		return &net.OpError{Op: "accept", Net: "unix", Err: os.NewSyscallError("accept4", errno)}
	}
	fatal := errors.New("listener broken")
	l := &flakyListener{Listener: ul, errs: []error{accErr(syscall.EMFILE), accErr(syscall.EMFILE), accErr(syscall.ENFILE), accErr(syscall.ECONNABORTED), accErr(syscall.EMFILE)}}
	var mu sync.Mutex
	var logs []string
	s := &Server{Exports: []*Export{{Name: "d", Size: 4096, Backend: newMem(4096)}}, Logger: logTo(func(f string, a ...any) {
		mu.Lock()
		logs = append(logs, fmt.Sprintf(f, a...))
		mu.Unlock()
	})}
	done := make(chan error, 1)
	go func() { done <- s.Serve(context.Background(), l) }()
	c := connect(t, path)
	c.goExport("d")
	c.request(cmdRead, 0, 1, 0, 512, nil)
	if e, _ := c.simple(); e != 0 {
		t.Errorf("read: %d", e)
	}
	mu.Lock()
	want := []string{"too many open files; retrying in 5ms", "too many open files; retrying in 10ms", "too many open files in system; retrying in 20ms", "software caused connection abort; retrying in 40ms", "too many open files; retrying in 80ms"}
	if len(logs) != len(want) {
		t.Errorf("logs %q", logs)
	}
	for i := range min(len(logs), len(want)) {
		if !strings.Contains(logs[i], want[i]) {
			t.Errorf("log %q, want %q", logs[i], want[i])
		}
	}
	mu.Unlock()
	// A broken listener ends Serve with its error.
	c.c.Close()
	l.mu.Lock()
	l.errs = []error{fatal}
	l.mu.Unlock()
	// Wakes the Accept under the failing one; not waiting for the hello,
	// which a listener that failed first never sends.
	if wake, err := net.Dial("unix", path); err == nil {
		wake.Close()
	}
	if err := <-done; !errors.Is(err, fatal) {
		t.Errorf("Serve: %v, want %v", err, fatal)
	}
	ul.Close()
}
