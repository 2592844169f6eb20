package nbd

import (
	"io"
	"net"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// sock is the connection under the buffered reader and the replies: on a
// socket (syscall.Conn) it reads with read(2) and writes a reply's header
// and data with one writev(2), both as raw, non-blocking system calls;
// on anything else (net.Pipe in tests) it uses Read and Write.
//
// Why raw: the runtime counts an ordinary system call as one that may
// block, and with one P (a one-CPU machine) any call that outlasts a
// scheduler tick has its P handed to another thread, which is woken to
// poll the network: two thread switches, often more, per request. On the
// one-vCPU test guest a 4 KiB read through /dev/nbd0 took 17 context
// switches. A socket here is non-blocking (EAGAIN returns to the poller),
// so these calls never block and need not give up the P.
//
// A reply that cannot be written for stallTimeout (the client does not
// read, and the socket's buffer is full) closes the connection: the
// timer is armed only while a write waits, so it costs nothing when the
// client keeps up.
type sock struct {
	conn io.ReadWriteCloser
	raw  syscall.RawConn // nil: not a socket
	net  string          // "unix", "tcp"
	iov  [2]unix.Iovec

	// The raw calls, made once (a closure made per call would be an
	// allocation per request): rbuf is what Read reads into, niov the
	// iovecs writeAll's call writes; n and errno their outcome. Reads
	// are serialized (by the buffered reader's owner), writes too.
	readFn, writeFn func(fd uintptr) bool
	rbuf            []byte
	niov            int
	rn, wn          uintptr
	rerrno, werrno  syscall.Errno
	waited          bool

	stallTimeout time.Duration // <= 0: none
	stall        *time.Timer   // made when first needed
	stalled      atomic.Bool   // the timer closed the connection
}

func newSock(conn io.ReadWriteCloser, stallTimeout time.Duration) *sock {
	s := &sock{conn: conn, stallTimeout: stallTimeout}
	// Only sockets of the net package: their descriptors are
	// non-blocking and registered with the poller.
	if sc, ok := conn.(interface {
		net.Conn
		syscall.Conn
	}); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			s.raw, s.net = raw, sc.LocalAddr().Network()
		}
	}
	s.readFn = func(fd uintptr) bool {
		s.rn, s.rerrno = retry(func() (uintptr, syscall.Errno) {
			r, _, e := unix.RawSyscall(unix.SYS_READ, fd, uintptr(unsafe.Pointer(&s.rbuf[0])), uintptr(len(s.rbuf)))
			return r, e
		})
		return s.rerrno != unix.EAGAIN
	}
	s.writeFn = func(fd uintptr) bool {
		s.wn, s.werrno = retry(func() (uintptr, syscall.Errno) {
			r, _, e := unix.RawSyscall(unix.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&s.iov[0])), uintptr(s.niov))
			return r, e
		})
		if s.werrno == unix.EAGAIN {
			// The socket is full: the client has this long to
			// make room.
			s.waited = true
			s.arm()
			return false
		}
		return true
	}
	return s
}

func (s *sock) Read(p []byte) (int, error) {
	if s.raw == nil || len(p) == 0 {
		return s.conn.Read(p)
	}
	s.rbuf = p
	err := s.raw.Read(s.readFn)
	s.rbuf = nil
	n, errno := int(s.rn), s.rerrno
	switch {
	case err != nil:
		return 0, err
	case errno != 0:
		return 0, &net.OpError{Op: "read", Net: s.net, Err: errno}
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

// arm starts (or restarts) the stall timer; writes are serialized, so
// arm and disarm are never called at once.
func (s *sock) arm() {
	if s.stallTimeout <= 0 {
		return
	}
	if s.stall == nil {
		s.stall = time.AfterFunc(s.stallTimeout, func() {
			s.stalled.Store(true)
			s.conn.Close()
		})
		return
	}
	s.stall.Reset(s.stallTimeout)
}

func (s *sock) disarm() {
	if s.stall != nil {
		s.stall.Stop()
	}
}

// stop stops the stall timer for good, once no write runs.
func (s *sock) stop() { s.disarm() }

// write writes hdr and then data (may be empty), all of both. It fails
// with ErrReplyTimeout when the client took none of it for stallTimeout.
func (s *sock) write(hdr, data []byte) error {
	err := s.writeAll(hdr, data)
	if err != nil && s.stalled.Load() {
		return ErrReplyTimeout
	}
	return err
}

func (s *sock) writeAll(hdr, data []byte) error {
	if s.raw == nil {
		s.arm()
		defer s.disarm()
		if _, err := s.conn.Write(hdr); err != nil || len(data) == 0 {
			return err
		}
		_, err := s.conn.Write(data)
		return err
	}
	s.waited = false
	defer func() {
		if s.waited {
			s.disarm()
		}
	}()
	for len(hdr)+len(data) > 0 {
		s.niov = 0
		if len(hdr) > 0 {
			s.iov[s.niov].Base = &hdr[0]
			s.iov[s.niov].SetLen(len(hdr))
			s.niov++
		}
		if len(data) > 0 {
			s.iov[s.niov].Base = &data[0]
			s.iov[s.niov].SetLen(len(data))
			s.niov++
		}
		err := s.raw.Write(s.writeFn)
		s.iov = [2]unix.Iovec{} // keep no pointers to the caller's data
		n, errno := int(s.wn), s.werrno
		switch {
		case err != nil:
			return err
		case errno != 0:
			return &net.OpError{Op: "write", Net: s.net, Err: errno}
		case n == 0:
			return io.ErrShortWrite
		}
		k := min(n, len(hdr))
		hdr, n = hdr[k:], n-k
		data = data[n:]
	}
	return nil
}

// retry makes call again while it fails with EINTR.
func retry(call func() (uintptr, syscall.Errno)) (uintptr, syscall.Errno) {
	for {
		n, errno := call()
		if errno != unix.EINTR {
			return n, errno
		}
	}
}
