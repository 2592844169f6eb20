package initiator

import (
	"errors"
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
// waits on anything but readReplies.
func (c *Client) borrowReads() replyReader {
	if c.sock == nil {
		return nil // not a socket
	}
	if !c.lend.ask.CompareAndSwap(false, true) {
		return nil
	}
	// Wake the read loop (it sees the ask at its loop's top).
	_ = c.conn.SetReadDeadline(time.Unix(1, 0))
	select {
	case <-c.lend.give:
		// The reader is the holder's to read or change (fitRing).
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
func (l *lentReads) readReplies(deadline time.Time, kicked *atomic.Bool) (int, error) {
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
		if deadline.IsZero() || time.Now().Before(deadline) {
			return 0, nil // nothing times out before the next wait
		}
		frames, err = l.r.poll() // no wait, but what is there
	} else {
		frames, err = l.r.read()
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		// The timer's deadline or a wake: what came meanwhile is
		// read all the same (a deadline checked before the socket
		// would else hide replies that are there, on a CPU that ran
		// the loop late, and they would be taken for lost).
		l.known = false
		frames, err = l.r.poll()
	}
	if err != nil {
		return 0, err
	}
	for _, b := range frames {
		c.handle(b)
	}
	return len(frames), nil
}

// wake ends a wait of readReplies (any goroutine).
func (l *lentReads) wake() { _ = l.c.conn.SetReadDeadline(time.Unix(1, 0)) }

// giveBack returns the reads to the client's read loop.
func (l *lentReads) giveBack() {
	c := l.c
	_ = c.conn.SetReadDeadline(time.Time{})
	c.lend.ask.Store(false)
	c.lend.back <- struct{}{}
}
