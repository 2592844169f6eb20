package initiator

import (
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"syscall"
	"time"

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
// replies and hands each to its call (Client.handle: every check as in the
// read loop), and the read loop waits. The engine's own replies then reach
// it with no goroutine switch; others' go to their calls as usual.
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
		if beforeDeadline(deadline) {
			return 0, nil // nothing times out before the next wait
		}
		frames, err = l.r.poll() // no wait, but what is there
	} else {
		frames, err = l.r.read()
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
		if kicked.Load() && beforeDeadline(deadline) {
			return 0, nil
		}
		frames, err = l.r.poll()
	}
	if err != nil {
		return 0, err
	}
	c.sink = sink
	for _, b := range frames {
		c.handle(b)
	}
	c.sink = nil
	return len(frames), nil
}

// beforeDeadline reports whether a read deadline (zero: none) is still to
// come: a wait that a wake ended then leaves the frames to the next read,
// as nothing expires meanwhile.
func beforeDeadline(deadline time.Time) bool {
	return deadline.IsZero() || time.Until(deadline) > 0 // one clock read for a monotonic deadline
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
// socket. Its engine borrows the reads of all of them at once (joinReads)
// and waits for the replies itself, as with one client: a read loop that
// kept them would hand each batch of replies to the engine's goroutine
// (a channel operation per reply, a goroutine wake-up per batch, and the
// read loop's own wake-up in the poller). The engine takes what each
// reader holds (a ring's slots with no system call, a socket's queue with
// one recvmmsg(2)) and, only when all of them are empty, waits for any of
// the sockets in one place: an epoll(7) instance that holds them
// (edge-triggered: a frame that comes makes it readable), itself waited
// for in the runtime's poller like a socket, so that its read deadline is
// the engine's timer and a wake (a post, a kick) is a deadline in the
// past, as on one lent socket. The readiness it reports is only a reason
// to look again: every frame is taken by the readers, and handed to its
// call by Client.handle, every check as in the read loop.
//
// (A read loop that handed the engine its replies in batches, one queue
// and one wake per batch, keeps a goroutine switch per batch on each path
// and the read loops' own wake-ups; the engine waiting on every socket
// has none while replies keep coming.)
//
// Only clients that read rings are joined (readsRing): a ring is looked
// at for free, a socket only by a system call, and the engine looks at
// every reader at each pass, so that sockets cost a recvmmsg(2) that
// finds nothing on the path that was not ready. Measured side by side
// (BenchmarkVbladeRead, two paths, 8 rounds alternating with the read
// loops' hand-off, medians, a loaded 2-CPU machine): rings at MTU 9000
// 887 against 1030 CPU µs per MiB (552 against 539 MB/s), at 1500 5544
// against 5666 (98 against 88 MB/s); sockets at 1500 6566 against 5910
// µs per MiB, so sockets keep the hand-off.

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
	// ready is the function raw.Read runs (made once, see mmsgReader):
	// it takes the instance's events, true when there were any.
	ready func(fd uintptr) bool
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
			n, err := unix.EpollWait(int(fd), s.evs[:], 0)
			if err == unix.EINTR {
				continue
			}
			return n > 0 || err != nil
		}
	}
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
	m := &multiReads{s: s, ls: make([]*lentReads, len(rs)), downs: make([]int, len(rs))}
	for i, r := range rs {
		l, ok := r.(*lentReads)
		if !ok {
			return nil, errors.New("aoe: reads of no socket")
		}
		if !s.in[l.c] {
			var serr error
			err := l.c.sock.raw.Control(func(fd uintptr) {
				ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLERR | unix.EPOLLET, Fd: int32(fd)}
				serr = unix.EpollCtl(s.fd, unix.EPOLL_CTL_ADD, int(fd), &ev)
			})
			if err == nil {
				err = serr
			}
			if err != nil {
				return nil, fmt.Errorf("aoe: epoll %s: %w", l.c.ifi.Name, err)
			}
			s.in[l.c] = true
		}
		m.ls[i] = l
	}
	wake := m.wake
	for _, l := range m.ls {
		l.c.lend.wake.Store(&wake)
	}
	return m, nil
}

// readsRing reports whether tr is a client reading its socket through a
// receive ring: an engine joins the reads of several clients only then
// (see readSet).
func readsRing(tr transport) bool {
	c, ok := tr.(*Client)
	return ok && c.receiveKind() == receiveRing
}

// multiReads are the reads of several clients lent to one engine (see
// readSet).
type multiReads struct {
	s     *readSet
	ls    []*lentReads
	downs []int // ENETDOWN in a row, per client (see Client.readLoop)
}

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
	if n, err := m.take(sink); n > 0 || err != nil || kicked.Load() {
		return n, err
	}
	// Nothing there: wait. A frame that came after take made the
	// instance readable (edge-triggered), and ready sees it.
	if err := s.raw.Read(s.ready); err != nil {
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			return 0, err
		}
		s.known = false // the timer's deadline, or a wake's
		if kicked.Load() && beforeDeadline(deadline) {
			return 0, nil // a wake: as lentReads.readReplies
		}
	}
	return m.take(sink)
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
		frames, err := l.r.poll()
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
		l.c.sink = sink
		for _, b := range frames {
			l.c.handle(b)
		}
		l.c.sink = nil
		n += len(frames)
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
