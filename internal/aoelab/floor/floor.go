// Package floor is the least a userspace AoE reader can do, the yardstick
// for the initiator's data path: one thread, one packet socket, raw
// blocking system calls, a fixed window of READ SECTORS (EXT) requests,
// each reply copied once to its place and answered with the next request.
// No retransmission, no multipath, no second target, no timers: a lost
// frame ends the run with ErrLost. Whatever the floor cannot reach on a
// machine, no reader built on packet sockets will.
//
// It is for benchmarks (BenchmarkVbladeRead, make bench-vm's guest runs it
// as aoefloor), never for data anyone keeps.
package floor

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"runtime"
	"time"
	"unsafe"

	"github.com/goaoe/aoe/initiator/wire"
	"golang.org/x/sys/unix"
)

// Options says what to read and how.
type Options struct {
	Interface string
	Target    net.HardwareAddr // the target's MAC on Interface
	Shelf     uint16
	Slot      uint8
	// Sectors per frame (default: as many as the interface MTU carries, at
	// most 255). The target must accept that many.
	Sectors int
	// Window is the number of frames outstanding (default 16, vblade's
	// buffer count).
	Window int
	// Length is how many bytes to read from sector 0 (whole sectors
	// are read; they must be on the disk).
	Length int64
	// Timeout ends the run when no reply comes for that long (default 2 s).
	Timeout time.Duration
}

// Result is what a run did.
type Result struct {
	Bytes     int64
	Elapsed   time.Duration
	Frames    int
	SendCalls int // sendmmsg(2)
	RecvCalls int // recvmmsg(2)
}

// MBps is the rate in MB/s (10^6 bytes).
func (r Result) MBps() float64 { return float64(r.Bytes) / r.Elapsed.Seconds() / 1e6 }

func (r Result) String() string {
	return fmt.Sprintf("%d bytes in %v = %.1f MB/s; %d frames, %.1f per send call, %.1f per receive call",
		r.Bytes, r.Elapsed.Round(time.Millisecond), r.MBps(), r.Frames,
		float64(r.Frames)/float64(max(r.SendCalls, 1)), float64(r.Frames)/float64(max(r.RecvCalls, 1)))
}

// Errors of Read.
var (
	ErrLost   = errors.New("floor: no reply within the timeout (a frame was lost: the floor does not retransmit)")
	ErrStatus = errors.New("floor: the target reported an ATA error")
)

const (
	ataArgLen = 12
	hdrLen    = wire.HeaderLen + ataArgLen
	batch     = 64 // frames per recvmmsg/sendmmsg
)

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// Read reads o.Length bytes (rounded up to whole frames) into dst, which
// it returns.
func Read(o Options) (dst []byte, res Result, err error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	ifi, err := net.InterfaceByName(o.Interface)
	if err != nil {
		return nil, res, err
	}
	if o.Sectors <= 0 {
		o.Sectors = min((ifi.MTU-(hdrLen-14))/wire.SectorSize, 255)
	}
	if o.Window <= 0 {
		o.Window = 16
	}
	if o.Timeout <= 0 {
		o.Timeout = 2 * time.Second
	}
	per := o.Sectors * wire.SectorSize
	nframes := int((o.Length + int64(per) - 1) / int64(per))
	total := int((o.Length + wire.SectorSize - 1) / wire.SectorSize * wire.SectorSize)
	dst = make([]byte, total)
	for i := 0; i < len(dst); i += 4096 {
		dst[i] = 0 // fault the pages in before the clock starts
	}

	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(wire.EtherType)))
	if err != nil {
		return nil, res, fmt.Errorf("floor: socket: %w", err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(wire.EtherType), Ifindex: ifi.Index}); err != nil {
		return nil, res, fmt.Errorf("floor: bind: %w", err)
	}
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 4<<20) != nil {
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 4<<20)
	}
	tv := unix.NsecToTimeval(o.Timeout.Nanoseconds())
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return nil, res, err
	}

	// One request, encoded once by the initiator's codec; each send
	// patches its tag and LBA in a copy.
	f := wire.Frame{Destination: o.Target, Source: ifi.HardwareAddr, Shelf: o.Shelf, Slot: o.Slot, Command: wire.CommandATA,
		Arg: &wire.ATAArg{Extended: true, SectorCount: uint8(o.Sectors), CmdStatus: wire.ATAReadSectorsExt}}
	proto, err := f.MarshalBinary()
	if err != nil {
		return nil, res, err
	}
	var (
		reqs  [batch][]byte
		rbufs [batch][]byte
		siov  [batch]unix.Iovec
		riov  [batch]unix.Iovec
		smsg  [batch]unix.Mmsghdr
		rmsg  [batch]unix.Mmsghdr
	)
	for i := range batch {
		reqs[i] = append([]byte(nil), proto...)
		siov[i].Base = &reqs[i][0]
		siov[i].SetLen(len(reqs[i]))
		smsg[i].Hdr.Iov = &siov[i]
		smsg[i].Hdr.SetIovlen(1)
		rbufs[i] = make([]byte, hdrLen+per+64)
		riov[i].Base = &rbufs[i][0]
		riov[i].SetLen(len(rbufs[i]))
		rmsg[i].Hdr.Iov = &riov[i]
		rmsg[i].Hdr.SetIovlen(1)
	}
	done := make([]bool, nframes)
	next, received := 0, 0
	// send sends requests for the next n frames.
	send := func(n int) error {
		n = min(n, nframes-next)
		for i := range n {
			r := reqs[i]
			binary.BigEndian.PutUint32(r[20:24], uint32(next))
			r[wire.HeaderLen+2] = byte(min(per, total-next*per) / wire.SectorSize)
			lba := uint64(next) * uint64(o.Sectors)
			for k := range 6 {
				r[wire.HeaderLen+4+k] = byte(lba >> (8 * k))
			}
			next++
		}
		for sent := 0; sent < n; {
			got, _, e := unix.RawSyscall6(unix.SYS_SENDMMSG, uintptr(fd), uintptr(unsafe.Pointer(&smsg[sent])), uintptr(n-sent), 0, 0, 0)
			res.SendCalls++
			if e == unix.EINTR || e == unix.EAGAIN || e == unix.ENOBUFS {
				runtime.Gosched()
				continue
			}
			if e != 0 {
				return fmt.Errorf("floor: sendmmsg: %w", e)
			}
			sent += int(got)
		}
		return nil
	}
	start := time.Now()
	if err := send(o.Window); err != nil {
		return nil, res, err
	}
	var interrupted time.Time // the first EINTR since the last reply
	for received < nframes {
		got, _, e := unix.RawSyscall6(unix.SYS_RECVMMSG, uintptr(fd), uintptr(unsafe.Pointer(&rmsg[0])), batch, unix.MSG_WAITFORONE, 0, 0)
		res.RecvCalls++
		switch e {
		case 0:
			interrupted = time.Time{}
		case unix.EINTR:
			// A signal, often the runtime's asking this goroutine to
			// stop for the collector: a raw call never yields by
			// itself. The socket's timeout starts again with each
			// call: keep the time here.
			if interrupted.IsZero() {
				interrupted = time.Now()
			} else if time.Since(interrupted) > o.Timeout {
				return nil, res, ErrLost
			}
			runtime.Gosched()
			continue
		case unix.EAGAIN:
			return nil, res, ErrLost
		default:
			return nil, res, fmt.Errorf("floor: recvmmsg: %w", e)
		}
		answered := 0
		for i := range int(got) {
			b := rbufs[i][:rmsg[i].Len]
			if len(b) < hdrLen || b[14]&0x0c != 0x08 || wire.Command(b[19]) != wire.CommandATA ||
				binary.BigEndian.Uint16(b[16:18]) != o.Shelf || b[18] != o.Slot {
				continue
			}
			idx := int(binary.BigEndian.Uint32(b[20:24]))
			if idx >= nframes || done[idx] {
				continue
			}
			want := dst[idx*per : min((idx+1)*per, total)]
			if len(b) < hdrLen+len(want) {
				continue
			}
			if b[wire.HeaderLen+3]&(wire.ATAStatusErr|wire.ATAStatusDF) != 0 {
				return nil, res, ErrStatus
			}
			copy(want, b[hdrLen:])
			done[idx] = true
			received++
			answered++
		}
		if err := send(answered); err != nil {
			return nil, res, err
		}
	}
	res.Elapsed = time.Since(start)
	res.Frames = nframes
	res.Bytes = int64(total)
	return dst[:o.Length], res, nil
}
