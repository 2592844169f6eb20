package initiator

import (
	"errors"
	"net"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// recvBatch is how many frames the read loop takes per recvmmsg(2).
const recvBatch = 16

// frameReader reads whole frames from a connection, several per syscall
// when it is a packet socket.
type frameReader interface {
	// read fills the reader's buffers and returns the frames read (slices
	// of those buffers, valid until the next call).
	read() ([][]byte, error)
}

// socketReader is a frameReader of a packet socket that also takes what
// is queued without waiting (poll): the reads a client can lend to a
// Disk's engine (borrowReads). mmsgReader and ringReader are.
type socketReader interface {
	frameReader
	poll() ([][]byte, error)
}

// Receive paths (Config.Receive).
const (
	receiveAuto   = "auto"
	receiveRing   = "ring"
	receiveSocket = "socket"
)

// newFrameReader returns a reader of conn, and the socket reader (nil: conn is no socket):
// recvmmsg(2) on the socket when conn gives one (syscall.Conn), else
// one ReadFrom per frame. A receive ring comes later (Client.fitRing).
func newFrameReader(conn net.PacketConn) (r frameReader, sock *mmsgReader) {
	if sc, ok := conn.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			sock = newMmsgReader(raw)
			return sock, sock
		}
	}
	return &plainReader{conn: conn, buf: make([]byte, 1<<16), out: make([][]byte, 1)}, nil
}

type plainReader struct {
	conn net.PacketConn
	buf  []byte
	out  [][]byte
}

func (r *plainReader) read() ([][]byte, error) {
	n, _, err := r.conn.ReadFrom(r.buf)
	if err != nil {
		return nil, err
	}
	r.out[0] = r.buf[:n]
	return r.out, nil
}

// mmsgReader reads up to recvBatch frames per recvmmsg(2), through the
// runtime's poller (so the connection's read deadline and Close apply).
type mmsgReader struct {
	raw  syscall.RawConn
	bufs [recvBatch][]byte
	iovs [recvBatch]unix.Iovec
	hdrs [recvBatch]unix.Mmsghdr
	out  [][]byte
	// recv is the function raw.Read runs, made once: a closure made at
	// each read would be allocated at each read (it escapes to the
	// poller). It leaves its outcome in n and errno.
	recv  func(fd uintptr) bool
	n     int
	errno syscall.Errno
	// recvNow is recv for raw.Control (poll), made once likewise.
	recvNow func(fd uintptr)
}

func newMmsgReader(raw syscall.RawConn) *mmsgReader {
	r := &mmsgReader{raw: raw, out: make([][]byte, 0, recvBatch)}
	r.recv = r.recvmmsg
	r.recvNow = func(fd uintptr) { r.recvmmsg(fd) }
	for i := range r.bufs {
		// A whole frame of any MTU: a truncated reply would only be
		// dropped as short and sent again, forever.
		r.bufs[i] = make([]byte, 1<<16)
		r.iovs[i].Base = &r.bufs[i][0]
		r.iovs[i].SetLen(len(r.bufs[i]))
		r.hdrs[i].Hdr.Iov = &r.iovs[i]
		r.hdrs[i].Hdr.SetIovlen(1)
	}
	return r
}

// recvmmsg is the reader's raw.Read function (recv).
func (r *mmsgReader) recvmmsg(fd uintptr) bool {
	for {
		for i := range r.hdrs {
			r.hdrs[i].Len = 0
			r.hdrs[i].Hdr.Flags = 0
		}
		// Raw: the socket never blocks (MSG_DONTWAIT), and the
		// scheduler must not hand this thread's P to another thread
		// while the call runs (see batchWriter.write).
		got, _, e := unix.RawSyscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&r.hdrs[0])), recvBatch, unix.MSG_DONTWAIT, 0, 0)
		switch e {
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false // wait for the poller
		}
		r.n, r.errno = int(got), e
		return true
	}
}

func (r *mmsgReader) read() ([][]byte, error) {
	r.n, r.errno = 0, 0
	if err := r.raw.Read(r.recv); err != nil {
		return nil, err
	}
	return r.frames()
}

// poll reads the frames queued now, without waiting and whatever the
// read deadline (raw.Control runs the call as it is): none is no error.
// A deadline that passed while replies came must not hide them (they
// would be taken for lost).
func (r *mmsgReader) poll() ([][]byte, error) {
	r.n, r.errno = 0, 0
	if err := r.raw.Control(r.recvNow); err != nil {
		return nil, err
	}
	return r.frames()
}

// frames returns the frames the last call read.
func (r *mmsgReader) frames() ([][]byte, error) {
	if r.errno != 0 {
		return nil, errors.Join(errRecv, r.errno)
	}
	r.out = r.out[:0]
	for i := range r.n {
		r.out = append(r.out, r.bufs[i][:r.hdrs[i].Len])
	}
	return r.out, nil
}
