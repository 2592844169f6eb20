package initiator

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// stopped is closed when the client stops reading (closed, or its
// connection failed); Err then says why.
func (c *Client) stopped() <-chan struct{} { return c.done }

// Err returns why the client stopped reading, or nil while it runs.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// countRetransmit counts a retransmission made by a Disk's engine in the
// client's Stats.
func (c *Client) countRetransmit() { c.stats.retransmits.Add(1) }

// setReadBuffer asks for a receive buffer of n bytes on the client's
// socket, so that a window of jumbo replies that arrives while the reader
// waits for the CPU is not dropped: SO_RCVBUFFORCE (root), else SO_RCVBUF
// (capped by net.core.rmem_max). Connections that are not sockets (tests)
// are left alone. It returns the setsockopt error.
func (c *Client) setReadBuffer(n int) error {
	sc, ok := c.conn.(syscall.Conn)
	if !ok {
		return nil
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = raw.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, n)
		if serr != nil {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, n)
		}
	})
	if err != nil {
		return err
	}
	return serr
}

// lentReads are a client's socket reads lent to a Disk's engine
// (borrowReads): while it has them, the engine's goroutine reads the
// replies and hands each to its call (Client.handleFrames: every check
// as in the read loop), and the read loop waits. The engine's own replies
// then reach it with no goroutine switch; others' go to their calls as
// usual.
type lentReads struct {
	c *Client
	r socketReader // the client's reader
	// set is the read deadline last set (unknown after a deadline
	// passed: a wake-up may have changed it).
	set   time.Time
	known bool
}

// borrowReads lends the client's socket reads to the caller, or returns
// nil: the connection is not a socket (tests), another engine has them,
// or the client stopped. The caller gives them back (giveBack) before it
// waits on anything but readReplies, and when release (if not nil) is
// called.
func (c *Client) borrowReads(release func()) replyReader {
	if c.sock == nil {
		return nil // not a socket
	}
	if !c.lend.ask.CompareAndSwap(false, true) {
		return nil
	}
	// Wake the read loop (it sees the ask at its loop's top).
	_ = c.conn.SetReadDeadline(woken)
	select {
	case <-c.lend.give:
		// The reader is the holder's to read or change (fitRing).
		if release != nil {
			c.lend.release.Store(&release)
		}
		return &lentReads{c: c, r: c.reader.(socketReader)}
	case <-c.done:
		c.lend.ask.Store(false)
		return nil
	}
}

// readReplies reads what came on the socket, waiting until a frame comes,
// the deadline passes (zero: none) or wake is called, and hands every
// frame read to its call (replies to the borrower's sends go to its
// replies queue). kicked is checked after the deadline is set and before
// the wait (set: no wait): a wake that comes after the check ends the
// wait. Once the deadline has passed, the frames already queued are read
// whatever ended the wait (else expiring frames whose replies are there
// would be taken for lost). It returns the connection's error other than
// the deadline's.
func (l *lentReads) readReplies(deadline time.Time, kicked *atomic.Bool, sink *replySink) (int, error) {
	c := l.c
	if !l.known || !deadline.Equal(l.set) {
		if err := c.conn.SetReadDeadline(deadline); err != nil {
			return 0, err
		}
		l.set, l.known = deadline, true
	}
	var (
		frames [][]byte
		err    error
	)
	if kicked.Load() {
		if beforeDeadline(deadline, sink) {
			return 0, nil // nothing times out before the next wait
		}
		frames, err = l.take(sink, false) // no wait, but what is there
	} else {
		frames, err = l.take(sink, true)
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		// The timer's deadline or a wake. After the deadline, what
		// came meanwhile is read all the same (a deadline checked
		// before the socket would else hide replies that are there,
		// on a CPU that ran the loop late, and they would be taken
		// for lost); after a wake before it, nothing expires, and
		// the next wait reads what came (a system call saved per
		// post to an idle engine).
		l.known = false
		if kicked.Load() && beforeDeadline(deadline, sink) {
			return 0, nil
		}
		frames, err = l.take(sink, false)
	}
	if err != nil {
		return 0, err
	}
	l.handle(frames, sink)
	return len(frames), nil
}

// take reads the client's socket (wait: until a frame comes, else what is
// queued now), a socket reader placing the replies sink's engine expects
// there (see placement): sink.placed says which of the frames landed in
// place, until handle.
func (l *lentReads) take(sink *replySink, wait bool) ([][]byte, error) {
	m, _ := l.r.(*mmsgReader)
	if m != nil && sink.expect != nil {
		m.place = sink.expect(l.c)
	}
	var (
		frames [][]byte
		err    error
	)
	if wait {
		frames, err = l.r.read()
	} else {
		frames, err = l.r.poll()
	}
	sink.placed = nil
	if m != nil && len(frames) > 0 {
		sink.placed = m.placed[:len(frames)]
	}
	return frames, err
}

// handle hands the frames take read to their calls, and then forgets
// where their data landed (no pointer into a read's buffer is kept).
func (l *lentReads) handle(frames [][]byte, sink *replySink) {
	l.c.handleFrames(frames, sink)
	clear(sink.placed)
	sink.placed = nil
}

// beforeDeadline reports whether a read deadline (zero: none) is still to
// come, by sink's clock if it has one: a wait that a wake ended then
// leaves the frames to the next read, as nothing expires meanwhile.
func beforeDeadline(deadline time.Time, sink *replySink) bool {
	switch {
	case deadline.IsZero():
		return true
	case sink != nil && sink.now != nil:
		return sink.now().Before(deadline)
	}
	return time.Until(deadline) > 0 // one clock read for a monotonic deadline
}

// wake ends a wait of readReplies (any goroutine).
func (l *lentReads) wake() { _ = l.c.conn.SetReadDeadline(woken) }

// woken is the read deadline a wake sets: long past, on the monotonic
// clock, so that setting it reads the clock once (time.Until), not twice
// as a wall-clock time does (in a guest whose clock source is HPET each
// read is a system call).
var woken = time.Now()

// giveBack returns the reads to the client's read loop.
func (l *lentReads) giveBack() {
	c := l.c
	_ = c.conn.SetReadDeadline(time.Time{})
	c.lend.release.Store(nil)
	c.lend.ask.Store(false)
	c.lend.back <- struct{}{}
}

// A disk with several paths has several clients, each with its own
// socket. Its engine borrows the reads of all of them at once
// (engine.borrow, readSet.join) and waits for the replies itself, as with
// one client: a read loop that kept them would hand each batch of replies
// to the engine's goroutine (a channel operation per reply, a goroutine
// wake-up per batch, and the read loop's own wake-up in the poller). The engine takes what each
// reader holds (a ring's slots with no system call, a socket's queue with
// one recvmmsg(2)) and, only when all of them are empty, waits for any of
// the sockets in one place: an epoll(7) instance that holds them
// (edge-triggered: a frame that comes makes it readable), itself waited
// for in the runtime's poller like a socket, so that its read deadline is
// the engine's timer and a wake (a post, a kick) is a deadline in the
// past, as on one lent socket. The readiness it reports is only a reason
// to look again: every frame is taken by the readers, and handed to its
// call by Client.handleFrames, every check as in the read loop.
//
// (A read loop that handed the engine its replies in batches, one queue
// and one wake per batch, keeps a goroutine switch per batch on each path
// and the read loops' own wake-ups; the engine waiting on every socket
// has none while replies keep coming.)
//
// A ring is looked at for free, a socket only by a system call: the
// engine looks at every ring at each pass, but at a socket only while it
// may hold frames (multiReads.ready): from an event of the instance
// about it until a recvmmsg(2) that takes less than a batch (the queue
// was empty then; a frame that comes after makes a new event). Polling
// every socket at every pass cost a recvmmsg(2) that found nothing on the
// path that was not ready, more than the read loops' hand-off (6566
// against 5910 CPU µs per MiB, BenchmarkVbladeRead, two paths at MTU
// 1500, a loaded 2-CPU machine), so sockets kept the hand-off until
// their readiness was tracked. Tracked, in a 1-vCPU TCG guest (64 MiB
// over two paths, MTU 1500, six rounds alternated): 4.21 s against the
// hand-off's 5.11 (means); in namespaces on 2 CPUs, the same within
// noise (5868-6223 against 5345-6072 CPU µs per MiB, three rounds).

// readSet is the epoll instance an engine waits on for the sockets of
// its clients (registered once each, at their first join; a socket
// closed leaves it by itself). It is the engine goroutine's, closed when
// the engine ends.
type readSet struct {
	ep  *os.File
	fd  int // ep's (ep.Fd would make it blocking)
	raw syscall.RawConn
	in  map[*Client]bool // registered
	evs [8]unix.EpollEvent
	nev int // events in evs, from the last ready
	// ready is the function raw.Read runs (made once, see mmsgReader):
	// it takes the instance's events into evs, true when there were
	// any; readyNow is ready for raw.Control.
	ready    func(fd uintptr) bool
	readyNow func(fd uintptr)
	// set is the read deadline last set on ep (unknown after a
	// deadline passed: a wake may have changed it).
	set   time.Time
	known bool
}

// newReadSet makes an engine's epoll instance, non-blocking, so that the
// runtime's poller waits for it (os.NewFile of a non-blocking fd).
func newReadSet() (*readSet, error) {
	fd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("aoe: epoll: %w", err)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("aoe: epoll: %w", err)
	}
	s := &readSet{ep: os.NewFile(uintptr(fd), "epoll"), fd: fd, in: map[*Client]bool{}}
	if s.raw, err = s.ep.SyscallConn(); err != nil {
		s.ep.Close()
		return nil, err
	}
	s.ready = func(fd uintptr) bool {
		for {
			// Raw, as recvmmsg (see mmsgReader.recvmmsg): it never
			// waits (timeout 0), and a system call the runtime is
			// told of lets sysmon hand the engine's P away while it
			// runs and wake every 20 µs meanwhile (in a 1-vCPU guest,
			// two paths: 3 times the nanosleeps and twice the context
			// switches).
			n, _, e := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, fd, uintptr(unsafe.Pointer(&s.evs[0])), uintptr(len(s.evs)), 0, 0, 0)
			if e == unix.EINTR {
				continue
			}
			s.nev = 0
			if e == 0 {
				s.nev = int(n)
			}
			return n > 0 || e != 0
		}
	}
	s.readyNow = func(fd uintptr) { s.ready(fd) }
	return s, nil
}

// close closes the instance (the engine has ended).
func (s *readSet) close() {
	if s != nil {
		_ = s.ep.Close()
	}
}

// join makes one replyReader of the reads lent by several clients (each
// a *lentReads: borrowReads). On an error, the caller gives them back.
func (s *readSet) join(rs []replyReader) (replyReader, error) {
	n := len(rs)
	m := &multiReads{s: s, ls: make([]*lentReads, n), downs: make([]int, n),
		fds: make([]int32, n), ring: make([]bool, n), ready: make([]bool, n)}
	for i, r := range rs {
		l, ok := r.(*lentReads)
		if !ok {
			return nil, errors.New("aoe: reads of no socket")
		}
		var serr error
		err := l.c.sock.raw.Control(func(fd uintptr) {
			m.fds[i] = int32(fd)
			if !s.in[l.c] {
				ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLERR | unix.EPOLLET, Fd: int32(fd)}
				serr = unix.EpollCtl(s.fd, unix.EPOLL_CTL_ADD, int(fd), &ev)
			}
		})
		if err == nil {
			err = serr
		}
		if err != nil {
			return nil, fmt.Errorf("aoe: epoll %s: %w", l.c.ifi.Name, err)
		}
		s.in[l.c] = true
		m.ls[i] = l
		_, m.ring[i] = l.r.(*ringReader)
		m.ready[i] = true // what came before the join made no event
	}
	wake := m.wake
	for _, l := range m.ls {
		l.c.lend.wake.Store(&wake)
	}
	return m, nil
}

// multiReads are the reads of several clients lent to one engine (see
// readSet).
type multiReads struct {
	s     *readSet
	ls    []*lentReads
	downs []int   // ENETDOWN in a row, per client (see Client.readLoop)
	fds   []int32 // each client's socket, as the instance's events name it
	ring  []bool  // the client reads a ring: looked at at every pass
	// ready: the client's socket may hold frames (see readSet); a ring's
	// is not used.
	ready []bool
	// busy counts the takes in a row that found frames without a look
	// at the instance's events: a socket that keeps handing a full
	// batch must not keep the others' frames waiting until they expire.
	busy int
}

// staleTakes is how many takes in a row may find frames before the
// instance's events are read again for the sockets that are not ready.
const staleTakes = 4

// readReplies is lentReads.readReplies over every client: what their
// readers hold now is handed out; when none holds a frame, it waits until
// one comes on any of them, the deadline passes or wake is called (kicked
// set: no wait), and then takes what came.
func (m *multiReads) readReplies(deadline time.Time, kicked *atomic.Bool, sink *replySink) (int, error) {
	s := m.s
	if !s.known || !deadline.Equal(s.set) {
		if err := s.ep.SetReadDeadline(deadline); err != nil {
			return 0, err
		}
		s.set, s.known = deadline, true
	}
	if m.busy >= staleTakes {
		m.events()
	}
	if n, err := m.take(sink); n > 0 || err != nil || kicked.Load() {
		return n, err
	}
	// Nothing there: wait. A frame that came after take made the
	// instance readable (edge-triggered), and ready sees it.
	s.nev = 0
	if err := s.raw.Read(s.ready); err != nil {
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			return 0, err
		}
		s.known = false // the timer's deadline, or a wake's
		if kicked.Load() && beforeDeadline(deadline, sink) {
			return 0, nil // a wake: as lentReads.readReplies
		}
		// The deadline passed: every socket is looked at, as a
		// lent socket is read after its deadline (lentReads).
		for i := range m.ready {
			m.ready[i] = true
		}
	}
	m.mark()
	return m.take(sink)
}

// events reads the instance's events now, without waiting, and marks the
// sockets they name ready, if some socket is not.
func (m *multiReads) events() {
	m.busy = 0
	if !slices.Contains(m.ready, false) {
		return
	}
	m.s.nev = 0
	_ = m.s.raw.Control(m.s.readyNow)
	m.mark()
}

// mark marks ready the sockets named by the events the instance gave
// last (readSet.ready).
func (m *multiReads) mark() {
	m.busy = 0
	for _, ev := range m.s.evs[:m.s.nev] {
		for i, fd := range m.fds {
			if fd == ev.Fd {
				m.ready[i] = true
			}
		}
	}
	m.s.nev = 0
}

// take hands out what every reader holds now, without waiting; a client
// closed (Close) ends the lending with its error. The replies to sink's
// engine go to sink.
func (m *multiReads) take(sink *replySink) (int, error) {
	n := 0
	for i, l := range m.ls {
		if l.c.closing.Load() {
			return n, errClientClosed
		}
		if !m.ring[i] && !m.ready[i] {
			continue // nothing came since its queue was emptied
		}
		frames, err := l.take(sink, false)
		if !m.ring[i] && len(frames) < recvBatch {
			m.ready[i] = false // empty now: the next frame makes an event
		}
		if errors.Is(err, syscall.ENETDOWN) && m.downs[i] < maxDowns {
			// As the read loop: the link went down, and the socket
			// reads again when it is back.
			m.downs[i]++
			continue
		}
		if err != nil {
			return n, err
		}
		if len(frames) > 0 {
			m.downs[i] = 0
		}
		l.handle(frames, sink)
		n += len(frames)
	}
	if n > 0 {
		m.busy++
	}
	return n, nil
}

// wake ends a wait of readReplies (any goroutine: a post, a kick, a
// client's Close).
func (m *multiReads) wake() { _ = m.s.ep.SetReadDeadline(woken) }

// giveBack returns every client's reads to its read loop.
func (m *multiReads) giveBack() {
	for _, l := range m.ls {
		l.c.lend.wake.Store(nil)
		l.giveBack()
	}
}
