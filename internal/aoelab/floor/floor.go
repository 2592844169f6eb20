// Package floor is the least a userspace AoE reader can do, the yardstick
// for the initiator's data path, as lean as a minimal C reader: one
// thread, one packet socket (PACKET_IGNORE_OUTGOING, an 8 MiB receive
// buffer), raw system calls, a fixed window of READ SECTORS EXT (LBA48)
// requests sent with sendmmsg(2), each reply copied once to its place and
// answered with the next request. Replies come from the socket
// (a blocking recvmmsg(2), MSG_WAITFORONE: one call a wake-up, where the C
// reader polls first) or from a receive ring the
// kernel shares with the process (PACKET_RX_RING, TPACKET_V2 frames or
// TPACKET_V3 blocks): with a ring, a wake-up costs one poll(2) and no copy
// into a receive buffer.
//
// No retransmission, no multipath, no second target, no timers: a lost
// frame ends the run with ErrLost. Whatever the floor cannot reach on a
// machine, no reader built on packet sockets will.
//
// It is for benchmarks (BenchmarkVbladeRead, make bench-vm's guest runs it
// as aoefloor), never for data anyone keeps. It encodes its frames itself
// (the byte layout below), so that it measures the system, not a codec.
package floor

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Transport is how the floor receives replies.
type Transport int

// Transports.
const (
	// Socket: recvmmsg(2) on the packet socket, blocking until a reply
	// is queued (one call a wake-up).
	Socket Transport = iota
	// RingV2: a PACKET_RX_RING of TPACKET_V2 frames, one slot a frame.
	RingV2
	// RingV3: a PACKET_RX_RING of TPACKET_V3 blocks, several frames a
	// block; a block is handed over when full or after the retire
	// timeout (1 ms, the least), so blocks are small (see BlockSize).
	RingV3
)

var transportNames = [...]string{"socket", "ring-v2", "ring-v3"}

func (t Transport) String() string {
	if t >= 0 && int(t) < len(transportNames) {
		return transportNames[t]
	}
	return fmt.Sprintf("Transport(%d)", int(t))
}

// ParseTransport parses a Transport's name (socket, ring-v2, ring-v3).
func ParseTransport(s string) (Transport, error) {
	for i, n := range transportNames {
		if s == n {
			return Transport(i), nil
		}
	}
	return 0, fmt.Errorf("floor: unknown transport %q (socket, ring-v2 or ring-v3)", s)
}

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
	// Offset is where to start reading, in bytes (a multiple of 512).
	Offset int64
	// Length is how many bytes to read from Offset (whole sectors are
	// read; they must be on the disk).
	Length int64
	// Buffer, when positive and less than Length, is the size of the
	// buffer the data is copied to, frame after frame round it (rounded
	// up to whole frames): for reads larger than the memory to spare
	// (the guest of make bench-vm), where the data is not kept, as
	// aoe read -o /dev/null does not keep it. Read then returns the
	// buffer, not the data.
	Buffer int64
	// Timeout ends the run when no reply comes for that long (default 2 s).
	Timeout time.Duration
	// Transport is how replies are received (default Socket).
	Transport Transport
	// BlockSize is a TPACKET_V3 ring's block size (default: the fewest
	// pages that hold one frame of the interface's MTU: 4 KiB at 1500,
	// 12 KiB at 9000). Larger blocks wait for the retire timeout when
	// the window's replies do not fill them.
	BlockSize int
}

// Result is what a run did.
type Result struct {
	Transport Transport
	Bytes     int64
	Elapsed   time.Duration
	Frames    int
	SendCalls int // sendmmsg(2)
	RecvCalls int // recvmmsg(2), socket transport
	PollCalls int // poll(2)
	RingSlots int // frames (V2) or blocks (V3) in the ring; 0: none
	RingBytes int // the ring's size
}

// MBps is the rate in MB/s (10^6 bytes).
func (r Result) MBps() float64 { return float64(r.Bytes) / r.Elapsed.Seconds() / 1e6 }

// Syscalls is the number of system calls of the data path.
func (r Result) Syscalls() int { return r.SendCalls + r.RecvCalls + r.PollCalls }

func (r Result) String() string {
	s := fmt.Sprintf("%s: %d bytes in %v = %.1f MB/s; %d frames, %.1f per send call, %.1f per receive call, %.1f per poll; %.1f system calls per MiB",
		r.Transport, r.Bytes, r.Elapsed.Round(time.Millisecond), r.MBps(), r.Frames,
		ratio(r.Frames, r.SendCalls), ratio(r.Frames, r.RecvCalls), ratio(r.Frames, r.PollCalls),
		float64(r.Syscalls())/(float64(r.Bytes)/(1<<20)))
	if r.RingSlots > 0 {
		s += fmt.Sprintf("; ring of %d slots, %d KiB", r.RingSlots, r.RingBytes>>10)
	}
	return s
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// Errors of Read.
var (
	ErrLost   = errors.New("floor: no reply within the timeout (a frame was lost: the floor does not retransmit)")
	ErrStatus = errors.New("floor: the target reported an ATA error")
)

// A request and its reply, Ethernet header included:
//
//	off size field
//	 0   6   destination MAC
//	 6   6   source MAC
//	12   2   EtherType 0x88a2
//	14   1   version 1 (high nibble), flags (response 0x08, error 0x04)
//	15   1   error
//	16   2   shelf (major)
//	18   1   slot (minor)
//	19   1   command (0: ATA)
//	20   4   tag (bit 31 set: a userspace tag, which the aoe driver ignores)
//	24   1   ATA flags (0x40: LBA48)
//	25   1   error / feature
//	26   1   sector count
//	27   1   command (0x24 READ SECTORS EXT) / status (reply)
//	28   6   LBA, least significant byte first
//	34   2   reserved
//	36   ..  data (reply)
const (
	etherType    = 0x88a2
	hdrLen       = 36
	sectorSize   = 512
	tagUserspace = 1 << 31
	ataReadExt   = 0x24
	ataStatusBad = 0x01 | 0x20 // ERR, DF
	batch        = 64          // frames per recvmmsg/sendmmsg
	rcvBuf       = 8 << 20
)

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// reader is one run's state.
type reader struct {
	o       Options
	fd      int
	per     int // bytes per full frame
	total   int // bytes to read
	nframes int
	slots   int    // frames dst holds (nframes unless Options.Buffer)
	first   uint64 // the first sector
	dst     []byte
	done    []bool
	next    int // the next frame to ask for
	got     int // frames received
	res     Result

	// The ring's geometry (ring transports).
	blockSize, frameSize, perBlock int

	reqs [batch][]byte
	siov [batch]unix.Iovec
	smsg [batch]unix.Mmsghdr
}

// Read reads o.Length bytes from o.Offset into dst, which it returns.
func Read(o Options) (dst []byte, res Result, err error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	ifi, err := net.InterfaceByName(o.Interface)
	if err != nil {
		return nil, res, err
	}
	if o.Offset%sectorSize != 0 {
		return nil, res, fmt.Errorf("floor: offset %d is not a multiple of %d", o.Offset, sectorSize)
	}
	if o.Sectors <= 0 {
		o.Sectors = min((ifi.MTU-(hdrLen-14))/sectorSize, 255)
	}
	if o.Window <= 0 {
		o.Window = 16
	}
	if o.Timeout <= 0 {
		o.Timeout = 2 * time.Second
	}
	r := &reader{o: o, per: o.Sectors * sectorSize, first: uint64(o.Offset / sectorSize)}
	r.res.Transport = o.Transport
	r.nframes = int((o.Length + int64(r.per) - 1) / int64(r.per))
	r.total = int((o.Length + sectorSize - 1) / sectorSize * sectorSize)
	r.slots = r.nframes
	if o.Buffer > 0 && o.Buffer < int64(r.total) {
		r.slots = int((o.Buffer + int64(r.per) - 1) / int64(r.per))
	}
	r.dst = make([]byte, min(r.total, r.slots*r.per))
	for i := 0; i < len(r.dst); i += 4096 {
		r.dst[i] = 0 // fault the pages in before the clock starts
	}
	r.done = make([]bool, r.nframes)

	// Protocol 0: the socket receives nothing until bound to the
	// interface (a socket made with the EtherType receives it from every
	// interface until then: another path's replies, with tags this run
	// would take for its own).
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, res, fmt.Errorf("floor: socket: %w", err)
	}
	defer unix.Close(fd)
	r.fd = fd
	// Our own requests are not looped back to us (Linux 4.20 and
	// later; older kernels deliver them, and take drops them).
	_ = unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1)
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, rcvBuf) != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, rcvBuf)
	}
	var ring []byte
	if o.Transport != Socket {
		if ring, err = r.setupRing(ifi.MTU); err != nil {
			return nil, res, err
		}
		defer unix.Munmap(ring)
	}
	// Bound last: no frame is queued before the ring exists.
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(etherType), Ifindex: ifi.Index}); err != nil {
		return nil, res, fmt.Errorf("floor: bind: %w", err)
	}

	proto := make([]byte, hdrLen)
	copy(proto[0:6], o.Target)
	copy(proto[6:12], ifi.HardwareAddr)
	binary.BigEndian.PutUint16(proto[12:14], etherType)
	proto[14] = 0x10
	binary.BigEndian.PutUint16(proto[16:18], o.Shelf)
	proto[18] = o.Slot
	proto[24] = 0x40
	proto[26] = byte(o.Sectors)
	proto[27] = ataReadExt
	for i := range batch {
		r.reqs[i] = make([]byte, 60) // the Ethernet minimum, zero-padded
		copy(r.reqs[i], proto)
		r.siov[i].Base = &r.reqs[i][0]
		r.siov[i].SetLen(len(r.reqs[i]))
		r.smsg[i].Hdr.Iov = &r.siov[i]
		r.smsg[i].Hdr.SetIovlen(1)
	}

	start := time.Now()
	if err := r.send(o.Window); err != nil {
		return nil, r.res, err
	}
	switch o.Transport {
	case Socket:
		err = r.runSocket()
	case RingV2:
		err = r.runV2(ring)
	case RingV3:
		err = r.runV3(ring)
	default:
		err = fmt.Errorf("floor: unknown transport %v", o.Transport)
	}
	if err != nil {
		return nil, r.res, err
	}
	r.res.Elapsed = time.Since(start)
	r.res.Frames = r.nframes
	r.res.Bytes = int64(r.total)
	if r.slots < r.nframes {
		return r.dst, r.res, nil
	}
	return r.dst[:o.Length], r.res, nil
}

// send sends requests for the next n frames, batch at a time.
func (r *reader) send(n int) error {
	n = min(n, r.nframes-r.next)
	for n > batch {
		if err := r.send(batch); err != nil {
			return err
		}
		n -= batch
	}
	for i := range n {
		q := r.reqs[i]
		binary.BigEndian.PutUint32(q[20:24], tagUserspace|uint32(r.next))
		q[26] = byte(min(r.per, r.total-r.next*r.per) / sectorSize)
		lba := r.first + uint64(r.next)*uint64(r.o.Sectors)
		for k := range 6 {
			q[28+k] = byte(lba >> (8 * k))
		}
		r.next++
	}
	for sent := 0; sent < n; {
		got, _, e := unix.RawSyscall6(unix.SYS_SENDMMSG, uintptr(r.fd), uintptr(unsafe.Pointer(&r.smsg[sent])), uintptr(n-sent), 0, 0, 0)
		r.res.SendCalls++
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

// take places one received frame's data; it returns whether the frame
// was a reply the run still waited for.
func (r *reader) take(b []byte) (bool, error) {
	if len(b) < hdrLen || binary.BigEndian.Uint16(b[12:14]) != etherType || b[14]&0x0c != 0x08 || b[19] != 0 ||
		binary.BigEndian.Uint16(b[16:18]) != r.o.Shelf || b[18] != r.o.Slot || string(b[6:12]) != string(r.o.Target) {
		return false, nil
	}
	tag := binary.BigEndian.Uint32(b[20:24])
	idx := int(tag &^ tagUserspace)
	if tag&tagUserspace == 0 || idx >= r.nframes || r.done[idx] {
		return false, nil
	}
	n := min(r.per, r.total-idx*r.per)
	if len(b) < hdrLen+n {
		return false, nil
	}
	at := idx % r.slots * r.per
	want := r.dst[at : at+n]
	if b[27]&ataStatusBad != 0 {
		return false, ErrStatus
	}
	// In pieces of 2 KiB: on x86 CPUs without ERMS or AVX, Go copies
	// more than 2 KiB at once with REP MOVSQ, which qemu's TCG (make
	// bench-vm's qemu64 guest) runs several times slower than the SSE
	// loop Go uses up to 2 KiB or glibc's memcpy: a jumbo frame copied
	// whole left this floor at 0.65 of the C floor's speed (cfloor,
	// MTU 9000, 1 vCPU, medians of 6 alternated rounds), in pieces 0.93.
	for o := 0; o < n; o += 2048 {
		copy(want[o:min(o+2048, n)], b[hdrLen+o:])
	}
	r.done[idx] = true
	r.got++
	return true, nil
}

// wait polls the socket until it is readable; ErrLost after o.Timeout.
// A signal (often the runtime asking this goroutine to stop for the
// collector: a raw call never yields by itself) interrupts it; the time
// already waited counts.
func (r *reader) wait() error {
	deadline := time.Now().Add(r.o.Timeout)
	pfd := unix.PollFd{Fd: int32(r.fd), Events: unix.POLLIN}
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return ErrLost
		}
		ts := unix.NsecToTimespec(left.Nanoseconds())
		n, _, e := unix.RawSyscall6(unix.SYS_PPOLL, uintptr(unsafe.Pointer(&pfd)), 1, uintptr(unsafe.Pointer(&ts)), 0, 0, 0)
		r.res.PollCalls++
		switch {
		case e == unix.EINTR:
			runtime.Gosched()
		case e != 0:
			return fmt.Errorf("floor: poll: %w", e)
		case n == 0:
			return ErrLost
		case pfd.Revents&(unix.POLLERR|unix.POLLNVAL) != 0:
			return fmt.Errorf("floor: poll: revents %#x", pfd.Revents)
		default:
			return nil
		}
	}
}

// runSocket receives with recvmmsg until every frame is in.
func (r *reader) runSocket() error {
	var (
		rbufs [batch][]byte
		riov  [batch]unix.Iovec
		rmsg  [batch]unix.Mmsghdr
	)
	for i := range batch {
		rbufs[i] = make([]byte, hdrLen+r.per+64)
		riov[i].Base = &rbufs[i][0]
		riov[i].SetLen(len(rbufs[i]))
		rmsg[i].Hdr.Iov = &riov[i]
		rmsg[i].Hdr.SetIovlen(1)
	}
	// One call a wake-up: recvmmsg blocks until a reply is queued
	// (MSG_WAITFORONE: then takes what else is queued), bounded by
	// SO_RCVTIMEO; poll(2) first would be one more call each time.
	tv := unix.NsecToTimeval(r.o.Timeout.Nanoseconds())
	if err := unix.SetsockoptTimeval(r.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return err
	}
	var interrupted time.Time // the first EINTR since the last reply
	for r.got < r.nframes {
		n, _, e := unix.RawSyscall6(unix.SYS_RECVMMSG, uintptr(r.fd), uintptr(unsafe.Pointer(&rmsg[0])), batch, unix.MSG_WAITFORONE, 0, 0)
		r.res.RecvCalls++
		switch e {
		case 0:
			interrupted = time.Time{}
		case unix.EAGAIN:
			return ErrLost
		case unix.EINTR:
			// A signal, often the runtime asking this goroutine to
			// stop for the collector: a raw call never yields by
			// itself. The socket's timeout starts again with each
			// call: keep the time here.
			if interrupted.IsZero() {
				interrupted = time.Now()
			} else if time.Since(interrupted) > r.o.Timeout {
				return ErrLost
			}
			runtime.Gosched()
			continue
		default:
			return fmt.Errorf("floor: recvmmsg: %w", e)
		}
		answered := 0
		for i := range int(n) {
			ok, err := r.take(rbufs[i][:rmsg[i].Len])
			if err != nil {
				return err
			}
			if ok {
				answered++
			}
		}
		if err := r.send(answered); err != nil {
			return err
		}
	}
	return nil
}

func align16(n int) int { return (n + 15) &^ 15 }

// Ring geometry. A TPACKET_V2 slot starts with struct tpacket2_hdr (32
// bytes) and a sockaddr_ll (20); the frame's data begins at the header's
// tp_mac, after both aligned to 16 and room for the link header: 80 bytes
// covers it. A TPACKET_V3 block starts with its descriptor (48 bytes);
// each frame in it with struct tpacket3_hdr (48) and a sockaddr_ll: 96
// covers that. 64 bytes more cover a VLAN tag and padding.
const (
	v2Overhead = 80
	v3Overhead = 96
	v3BlockHdr = 48
	slack      = 64
)

// setupRing asks for a receive ring of the transport's version, sized to
// the window (four windows of frames: the replies of one window and of
// the requests sent meanwhile, with room to spare), and maps it.
func (r *reader) setupRing(mtu int) ([]byte, error) {
	page := os.Getpagesize()
	want := 4 * r.o.Window
	var size int
	switch r.o.Transport {
	case RingV2:
		if err := unix.SetsockoptInt(r.fd, unix.SOL_PACKET, unix.PACKET_VERSION, unix.TPACKET_V2); err != nil {
			return nil, fmt.Errorf("floor: TPACKET_V2: %w", err)
		}
		frame := align16(v2Overhead + 14 + mtu + slack)
		block := (frame + page - 1) / page * page
		perBlock := block / frame
		blocks := (want + perBlock - 1) / perBlock
		req := unix.TpacketReq{Block_size: uint32(block), Block_nr: uint32(blocks), Frame_size: uint32(frame), Frame_nr: uint32(blocks * perBlock)}
		if err := unix.SetsockoptTpacketReq(r.fd, unix.SOL_PACKET, unix.PACKET_RX_RING, &req); err != nil {
			return nil, fmt.Errorf("floor: PACKET_RX_RING (TPACKET_V2, %+v): %w", req, err)
		}
		size = block * blocks
		r.res.RingSlots = blocks * perBlock
		r.frameSize, r.perBlock, r.blockSize = frame, perBlock, block
	case RingV3:
		if err := unix.SetsockoptInt(r.fd, unix.SOL_PACKET, unix.PACKET_VERSION, unix.TPACKET_V3); err != nil {
			return nil, fmt.Errorf("floor: TPACKET_V3: %w", err)
		}
		slot := align16(v3Overhead + 14 + mtu + slack)
		block := r.o.BlockSize
		if block <= 0 {
			block = v3BlockHdr + slot
		}
		block = (block + page - 1) / page * page
		perBlock := max((block-v3BlockHdr)/slot, 1)
		blocks := max((want+perBlock-1)/perBlock, 4)
		req := unix.TpacketReq3{Block_size: uint32(block), Block_nr: uint32(blocks), Frame_size: uint32(block), Frame_nr: uint32(blocks),
			Retire_blk_tov: 1}
		if err := unix.SetsockoptTpacketReq3(r.fd, unix.SOL_PACKET, unix.PACKET_RX_RING, &req); err != nil {
			return nil, fmt.Errorf("floor: PACKET_RX_RING (TPACKET_V3, %+v): %w", req, err)
		}
		size = block * blocks
		r.res.RingSlots = blocks
		r.blockSize = block
	}
	r.res.RingBytes = size
	ring, err := unix.Mmap(r.fd, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("floor: mmap of the ring: %w", err)
	}
	return ring, nil
}

// status is the word the kernel and the reader pass a slot (V2 frame, V3
// block) back and forth with: TP_STATUS_USER when the reader's.
func status(b []byte) *uint32 { return (*uint32)(unsafe.Pointer(&b[0])) }

// runV2 walks the TPACKET_V2 ring: each slot in turn, read and handed
// back to the kernel; poll(2) when the next slot is still the kernel's.
func (r *reader) runV2(ring []byte) error {
	slots := r.res.RingSlots
	slotAt := func(i int) []byte {
		off := i/r.perBlock*r.blockSize + i%r.perBlock*r.frameSize
		return ring[off : off+r.frameSize]
	}
	cur := 0
	for r.got < r.nframes {
		answered := 0
		for range slots {
			s := slotAt(cur)
			st := status(s)
			if atomic.LoadUint32(st)&unix.TP_STATUS_USER == 0 {
				break
			}
			h := (*unix.Tpacket2Hdr)(unsafe.Pointer(&s[0]))
			if end := int(h.Mac) + int(h.Snaplen); end <= len(s) {
				ok, err := r.take(s[h.Mac:end])
				if err != nil {
					return err
				}
				if ok {
					answered++
				}
			}
			atomic.StoreUint32(st, unix.TP_STATUS_KERNEL)
			cur = (cur + 1) % slots
		}
		if answered > 0 {
			if err := r.send(answered); err != nil {
				return err
			}
			continue
		}
		if err := r.wait(); err != nil {
			return err
		}
	}
	return nil
}

// runV3 walks the TPACKET_V3 ring: each block in turn, once the kernel
// retires it (full, or after the retire timeout), its frames from
// offset_to_first_pkt along tp_next_offset.
//
//	block descriptor: off 0 version, 4 offset to private data,
//	8 block_status, 12 num_pkts, 16 offset_to_first_pkt, 20 blk_len, ...
func (r *reader) runV3(ring []byte) error {
	blocks := r.res.RingSlots
	cur := 0
	for r.got < r.nframes {
		answered := 0
		for range blocks {
			b := ring[cur*r.blockSize : (cur+1)*r.blockSize]
			st := status(b[8:])
			if atomic.LoadUint32(st)&unix.TP_STATUS_USER == 0 {
				break
			}
			n := int(binary.NativeEndian.Uint32(b[12:16]))
			off := int(binary.NativeEndian.Uint32(b[16:20]))
			for range n {
				if off+unix.SizeofTpacket3Hdr > len(b) {
					break
				}
				h := (*unix.Tpacket3Hdr)(unsafe.Pointer(&b[off]))
				if end := off + int(h.Mac) + int(h.Snaplen); end <= len(b) {
					ok, err := r.take(b[off+int(h.Mac) : end])
					if err != nil {
						return err
					}
					if ok {
						answered++
					}
				}
				if h.Next_offset == 0 {
					break
				}
				off += int(h.Next_offset)
			}
			atomic.StoreUint32(st, unix.TP_STATUS_KERNEL)
			cur = (cur + 1) % blocks
		}
		if answered > 0 {
			if err := r.send(answered); err != nil {
				return err
			}
			continue
		}
		if err := r.wait(); err != nil {
			return err
		}
	}
	return nil
}
