package initiator

import (
	"errors"
	"fmt"
	"net"
	"os"
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
	c   *Client
	raw syscall.RawConn // nil: WriteTo per frame
	// tx is the client's send socket's (nil: none): tried first, and
	// when its send buffer is full (again set) the rest goes on raw.
	tx    syscall.RawConn
	again bool
	iovs  []unix.Iovec
	hdrs  []unix.Mmsghdr
	buf   []byte // WriteTo's frame
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
			if c.tx != nil {
				if tx, err := c.tx.SyscallConn(); err == nil {
					w.tx = tx
				}
			}
		}
	}
	return w
}

// openSendSocket opens the socket a client's engine sends its batches on:
// a packet socket bound to the interface with protocol 0, so that it
// receives nothing, and blocking, so that os.NewFile leaves it out of the
// runtime's poller (sendmmsg(2) never waits on it: MSG_DONTWAIT).
//
// Why not the client's socket: the runtime's poller watches that one for
// reading and writing (epoll, edge-triggered), and each sent frame freed
// by the driver (sock_wfree: a TX completion, or veth's hand-over) wakes
// the socket's wait queue for writing, so the poller's epoll instance,
// and a thread asleep in epoll_pwait(2) is woken for nothing: it finds
// the socket writable, which no one waits for. Per frame sent. Measured
// (perf, namespace, aoe read of 512 MiB at MTU 1500): 10% of the samples
// were those wake-ups (sock_def_write_space), where the floor, whose
// socket no epoll instance holds, had none; a 2-vCPU guest made 4,100
// system calls per MiB (the floor 11-22). Nothing waits on this socket,
// so a freed frame wakes no one.
func openSendSocket(ifindex int) (*os.File, error) {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Ifindex: ifindex}); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return os.NewFile(uintptr(fd), "aoe-send"), nil
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
		// The rest of hdrs[i] stays zero (made so): the call writes
		// only its Len.
		hdrs[i].Hdr.Iov = &iovs[2*i]
		hdrs[i].Hdr.SetIovlen(niov)
	}
	sent := 0
	w.hdrsOut = hdrs
	for i := 0; i < n; {
		w.from, w.got, w.errno, w.again = i, 0, 0, false
		var err error
		if w.tx != nil {
			err = w.tx.Write(w.write)
			if w.again {
				// Its send buffer is full: the client's socket
				// takes the rest, and its poller waits if need be.
				w.again = false
				err = w.raw.Write(w.write)
			}
		} else {
			err = w.raw.Write(w.write)
		}
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
			w.again = true
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
