package initiator

import (
	"errors"
	"fmt"
	"net"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// batchWriter writes many frames to one client's connection at once: one
// sendmmsg(2) for all of them on a packet socket (the socket is bound to
// the interface and the frames carry their Ethernet header, so no address
// is needed), one WriteTo each on any other connection (tests). A frame is
// a header and, for writes, the data, sent from where they are (no copy
// in userspace on a socket).
type batchWriter struct {
	c    *Client
	raw  syscall.RawConn // nil: WriteTo per frame
	iovs []unix.Iovec
	hdrs []unix.Mmsghdr
	buf  []byte // WriteTo's frame
	// write is the function raw.Write runs, made once (a closure made at
	// each send would be allocated at each send: it escapes to the
	// poller). It sends hdrsOut[from:] and leaves its outcome in got and
	// errno.
	write     func(fd uintptr) bool
	hdrsOut   []unix.Mmsghdr
	from, got int
	errno     syscall.Errno
}

func newBatchWriter(c *Client) *batchWriter {
	w := &batchWriter{c: c}
	w.write = w.sendmmsg
	if sc, ok := c.conn.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			w.raw = raw
		}
	}
	return w
}

// outFrame is one frame to write: hdr, then data (may be empty).
type outFrame struct {
	hdr, data []byte
}

// write sends the frames in order and calls failed(i, err) for each one
// that could not be sent (its error wraps ErrSend). It returns how many
// were sent.
func (w *batchWriter) send(frames []outFrame, failed func(i int, err error)) int {
	if w.raw == nil {
		return w.writeEach(frames, failed)
	}
	n := len(frames)
	if cap(w.hdrs) < n {
		w.hdrs = make([]unix.Mmsghdr, n)
		w.iovs = make([]unix.Iovec, 2*n)
	}
	hdrs, iovs := w.hdrs[:n], w.iovs[:2*n]
	for i, f := range frames {
		iovs[2*i].Base = &f.hdr[0]
		iovs[2*i].SetLen(len(f.hdr))
		niov := 1
		if len(f.data) > 0 {
			iovs[2*i+1].Base = &f.data[0]
			iovs[2*i+1].SetLen(len(f.data))
			niov = 2
		}
		hdrs[i] = unix.Mmsghdr{}
		hdrs[i].Hdr.Iov = &iovs[2*i]
		hdrs[i].Hdr.SetIovlen(niov)
	}
	sent := 0
	w.hdrsOut = hdrs
	for i := 0; i < n; {
		w.from, w.got, w.errno = i, 0, 0
		err := w.raw.Write(w.write)
		got, errno := w.got, w.errno
		if err != nil {
			for ; i < n; i++ {
				failed(i, fmt.Errorf("%w on %s: %w", ErrSend, w.c.ifi.Name, err))
			}
			break
		}
		if errno != 0 {
			// sendmmsg fails only for its first message.
			failed(i, fmt.Errorf("%w on %s: %w", ErrSend, w.c.ifi.Name, errors.Join(errSendmmsg, errno)))
			i++
			continue
		}
		i += got
		sent += got
	}
	// Drop the pointers to the frames: they are not ours to keep alive.
	clear(hdrs)
	clear(iovs)
	w.hdrsOut = nil
	w.c.stats.sent.Add(uint64(sent))
	return sent
}

// sendmmsg is the writer's raw.Write function (write).
func (w *batchWriter) sendmmsg(fd uintptr) bool {
	for {
		// RawSyscall6, not Syscall6: the call never blocks
		// (MSG_DONTWAIT on a non-blocking socket: a full send
		// buffer is EAGAIN, and the poller waits). Through
		// Syscall6 the runtime counts it as a blocking call, and
		// when it lasts more than a scheduler tick (sending 16
		// frames can, on a slow CPU) sysmon hands the P to another
		// thread: a thread switch or two per batch, which cost
		// more than the send itself on a virtual CPU.
		hdrs := w.hdrsOut[w.from:]
		r, _, e := unix.RawSyscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&hdrs[0])), uintptr(len(hdrs)), unix.MSG_DONTWAIT, 0, 0)
		switch e {
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false // the socket's send buffer is full: wait
		}
		w.got, w.errno = int(r), e
		return true
	}
}

func (w *batchWriter) writeEach(frames []outFrame, failed func(i int, err error)) int {
	sent := 0
	for i, f := range frames {
		w.buf = append(append(w.buf[:0], f.hdr...), f.data...)
		if _, err := w.c.conn.WriteTo(w.buf, w.c.addr(net.HardwareAddr(f.hdr[0:6]))); err != nil {
			failed(i, fmt.Errorf("%w on %s: %w", ErrSend, w.c.ifi.Name, err))
			continue
		}
		sent++
	}
	w.c.stats.sent.Add(uint64(sent))
	return sent
}
