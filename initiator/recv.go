package initiator

import (
	"encoding/binary"
	"errors"
	"net"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/goaoe/aoe/initiator/wire"
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

	// place is where the next call puts the data of the replies it
	// expects (see placement), set by the holder of the reads for one
	// call; placed[i] is the data of frame i when it landed there (the
	// frame's slice is then its header only), else nil.
	place  []placement
	piov   [recvBatch][3]unix.Iovec
	placed [recvBatch][]byte
}

// placement is a reply the holder of a socket's reads expects, in the
// order of the replies (a target answers in the order asked): the
// reply's first wire.HeaderLen bytes as they must be (MACs, EtherType,
// flags, shelf, slot, command and tag) and where its data goes (a read's
// buffer, which the reply fills exactly). The socket then reads the
// reply's data straight there: no copy of it in userspace.
//
// A frame that lands in a placement it is not (another reply, an
// error, a reply the order did not foresee) is moved out before any
// frame of the call is handled: the buffer it went through is one that
// awaits a reply still, and that reply fills it whole (or the read
// fails). So no frame's data stays in a buffer it does not belong to,
// and a refused reply's data (the checks come after) is overwritten
// by the reply that is taken.
type placement struct {
	hdr  [wire.HeaderLen]byte
	data []byte
}

// headerIs reports whether b starts with h: three word compares (an array
// compare calls memequal), per frame.
func headerIs(b []byte, h *[wire.HeaderLen]byte) bool {
	_ = b[wire.HeaderLen-1]
	return binary.LittleEndian.Uint64(b) == binary.LittleEndian.Uint64(h[:]) &&
		binary.LittleEndian.Uint64(b[8:]) == binary.LittleEndian.Uint64(h[8:]) &&
		binary.LittleEndian.Uint64(b[16:]) == binary.LittleEndian.Uint64(h[16:])
}

// placedHdrLen is the part of a placed frame read into the frame's own
// buffer: the AoE header and the fixed ATA argument (which the checks
// read).
const placedHdrLen = wire.HeaderLen + ataArgLen

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
	r.arrange()
	if err := r.raw.Read(r.recv); err != nil {
		r.unarrange()
		return nil, err
	}
	return r.frames()
}

// arrange points the messages of the next call at r.place: the header
// into the frame's buffer, the data into the placement, anything more
// into the rest of the frame's buffer.
func (r *mmsgReader) arrange() {
	for i := range min(len(r.place), recvBatch) {
		d := r.place[i].data
		v := &r.piov[i]
		v[0].Base, v[1].Base, v[2].Base = &r.bufs[i][0], &d[0], &r.bufs[i][placedHdrLen]
		v[0].SetLen(placedHdrLen)
		v[1].SetLen(len(d))
		v[2].SetLen(len(r.bufs[i]) - placedHdrLen - len(d))
		r.hdrs[i].Hdr.Iov = &v[0]
		r.hdrs[i].Hdr.SetIovlen(3)
	}
}

// unarrange points every message back at its frame's buffer alone, and
// forgets the placements (the reads may go back to the read loop, which
// must never write into them).
func (r *mmsgReader) unarrange() {
	for i := range min(len(r.place), recvBatch) {
		r.piov[i] = [3]unix.Iovec{}
		r.hdrs[i].Hdr.Iov = &r.iovs[i]
		r.hdrs[i].Hdr.SetIovlen(1)
	}
	r.place = nil
}

// poll reads the frames queued now, without waiting and whatever the
// read deadline (raw.Control runs the call as it is): none is no error.
// A deadline that passed while replies came must not hide them (they
// would be taken for lost).
func (r *mmsgReader) poll() ([][]byte, error) {
	r.n, r.errno = 0, 0
	r.arrange()
	if err := r.raw.Control(r.recvNow); err != nil {
		r.unarrange()
		return nil, err
	}
	return r.frames()
}

// frames returns the frames the last call read. A frame that landed in
// its placement whole is its header (placedHdrLen bytes), its data in
// placed; one that did not is made whole again in its own buffer first.
func (r *mmsgReader) frames() ([][]byte, error) {
	np := min(len(r.place), recvBatch)
	if r.errno != 0 {
		r.unarrange()
		return nil, errors.Join(errRecv, r.errno)
	}
	r.out = r.out[:0]
	for i := range r.n {
		b := r.bufs[i]
		n := int(r.hdrs[i].Len)
		r.placed[i] = nil // (the handler clears what it was given)
		if i >= np {
			r.out = append(r.out, b[:n])
			continue
		}
		pl := &r.place[i]
		d := len(pl.data)
		if n == placedHdrLen+d && headerIs(b, &pl.hdr) {
			r.placed[i] = pl.data
			r.out = append(r.out, b[:placedHdrLen])
			continue
		}
		// Not the reply foreseen: its bytes past the header went to the
		// placement first, then to b after the header.
		if n > placedHdrLen {
			n = min(n, len(b))
			k := min(n-placedHdrLen, d)
			copy(b[placedHdrLen+k:n], b[placedHdrLen:n-k])
			copy(b[placedHdrLen:placedHdrLen+k], pl.data)
		}
		r.out = append(r.out, b[:n])
	}
	r.unarrange()
	return r.out, nil
}
