package initiator

import (
	"syscall"

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
