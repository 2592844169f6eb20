package initiator

import (
	"bytes"
	"fmt"
	"syscall"

	"github.com/goaoe/aoe/initiator/wire"
	"golang.org/x/sys/unix"
)

// Exchange is one request on the wire, sent once, whose reply is awaited
// on Reply. It is the primitive of pipelined I/O (see Disk): the caller
// keeps many exchanges outstanding, times them, and retransmits under a
// fresh tag, so that a late reply to an earlier copy can never be taken for
// the answer to a later one.
type Exchange struct {
	c   *Client
	tag uint32
	// Reply receives the one reply that matches the request: same tag,
	// from the destination MAC, for the same shelf, slot and command.
	Reply <-chan *wire.Frame
}

// Start registers req under a fresh tag and sends it once to its
// Destination, a target's MAC. It does not wait and does not retransmit; it
// ignores the target's window (the caller keeps its own). Call Cancel when
// the exchange is over, answered or not.
//
// It fails with ErrClosed (or the read loop's error) when the client is
// closed, with an error wrapping ErrSend when the frame cannot be written.
func (c *Client) Start(req *wire.Frame) (*Exchange, error) {
	return c.StartTo(req, make(chan *wire.Frame, 1))
}

// StartTo is Start with the reply delivered on ch, which several exchanges
// (of several clients) may share: the reply's Tag and Source tell which
// exchange it answers. A reply that finds ch full is dropped (counted
// unmatched); give ch room for one reply per exchange.
func (c *Client) StartTo(req *wire.Frame, ch chan *wire.Frame) (*Exchange, error) {
	if len(req.Destination) != 6 || bytes.Equal(req.Destination, wire.BroadcastMAC) {
		return nil, fmt.Errorf("aoe: Start needs a target's MAC, not %v", req.Destination)
	}
	cl := &call{shelf: req.Shelf, slot: req.Slot, command: req.Command, src: req.Destination, ch: ch, once: true}
	tag, err := c.register(cl, 0)
	if err != nil {
		return nil, err
	}
	if err := c.send(req, tag); err != nil {
		c.unregister(tag)
		return nil, err
	}
	return &Exchange{c: c, tag: tag, Reply: ch}, nil
}

// Cancel forgets the exchange: a reply that comes later is counted as
// unmatched and dropped.
func (x *Exchange) Cancel() { x.c.unregister(x.tag) }

// Tag returns the tag the request went out with.
func (x *Exchange) Tag() uint32 { return x.tag }

// Done is closed when the client stops reading (closed, or its connection
// failed); Err then says why.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err returns why the client stopped reading, or nil while it runs.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// CountRetransmit counts a retransmission made by a caller of Start in the
// client's Stats.
func (c *Client) CountRetransmit() { c.stats.retransmits.Add(1) }

// SetReadBuffer asks for a receive buffer of n bytes on the client's
// socket, so that a window of jumbo replies that arrives while the reader
// waits for the CPU is not dropped: SO_RCVBUFFORCE (root), else SO_RCVBUF
// (capped by net.core.rmem_max). Connections that are not sockets (tests)
// are left alone. It returns the setsockopt error.
func (c *Client) SetReadBuffer(n int) error {
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
