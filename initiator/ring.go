package initiator

import (
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The client's packet socket can be read through a receive ring the
// kernel shares with the process (PACKET_RX_RING): the kernel writes each
// frame into the next free slot and flips its status word to the
// process's; the reader takes the slots whose status is its own, with no
// system call, and hands them back. Only when the next slot is still the
// kernel's does the reader wait, in the runtime's poller (raw.Read), as
// the socket reader waits after recvmmsg(2) says EAGAIN: the connection's
// read deadline, its Close and the lent reads' wake work as they do on the
// socket (a frame written to the ring wakes the poller as a frame queued
// on the socket does).
//
// TPACKET_V2, not V3: a V3 ring hands the reader whole blocks, and the
// kernel hands over a block only when it is full or after its retire
// timeout (one jiffy at least: 1 to 10 ms). The floor's V3 ring gains on
// V2 only while a full window keeps the blocks filling (docs/performance.md:
// 0.97× against 1.30× the kernel in one VM, 0.74× against 0.77× in
// another); the engine also carries single requests (a random read at
// queue depth 1, an IDENTIFY, a Query Config, a probe), whose replies a
// V3 block would hold back for the timeout, 10 to 100 times their round
// trip. A V2 slot is the reader's as soon as its frame is written. In the
// namespace (BenchmarkVbladeRead, one run, vblade on the same two CPUs)
// the floor's V2 ring also led its V3 ring: 183 against 129 MB/s at MTU
// 1500, 659 against 437 at 9000, 898 against 496 over two 9000 paths.
//
// A slot (TPACKET_V2 frame) of the ring:
//
//	off size field
//	 0   4   tp_status (TP_STATUS_KERNEL 0: the kernel's; TP_STATUS_USER 1: ours)
//	 4   4   tp_len (the frame's length on the wire)
//	 8   4   tp_snaplen (the bytes kept in the slot)
//	12   2   tp_mac (offset of the Ethernet header in the slot)
//	14   2   tp_net
//	16  16   timestamps, VLAN, padding
//	32  20   struct sockaddr_ll
//	tp_mac   the frame, Ethernet header first
//
// The frames read are slices of the ring's slots: handed to the caller and
// back to the kernel at the reader's next call (read or poll), as the
// socket reader's buffers are reused at its next call. Every caller
// handles the frames before it reads again (Client.handleFrames copies
// what it keeps: the data of an ATA reply into the caller's buffer, a
// decoded Frame's slices); the reader is used by one goroutine at a time
// (the read loop, or the engine it lends its reads to) and unmapped only
// when the read loop ends, which waits for lent reads to be given back.

// Ring geometry: tp_mac is at TPACKET_ALIGN(32+20+16) - 14 = 66 (the
// Ethernet header ends on a 16-byte boundary, at 80); slack covers a VLAN
// tag and a reply a few bytes over the MTU (a short frame's padding).
const (
	ringHdrLen = 80
	ringSlack  = 64
	// A ring holds twice the windows of the disks open on the client
	// (Client.fitRing: the replies to a window, and to the sends made
	// again while the reader was late), at least ringMinFrames (a ring
	// asked for before any disk opens has that many) and at most
	// ringMaxFrames (4096 targets' buffers at MTU 9000: 9 MiB).
	ringMinFrames = 64
	ringMaxFrames = 1024
	// ringBatch is the most frames one read hands out (the slots are the
	// kernel's again only at the next call).
	ringBatch = 32
)

// ringReader reads a packet socket's frames from its TPACKET_V2 receive
// ring.
type ringReader struct {
	raw   syscall.RawConn
	ring  []byte // mmap'd; nil once closed
	frame int    // bytes per slot
	per   int    // slots per block
	block int    // bytes per block
	slots int
	// offs are the slots' offsets in ring (per slot, a division and a
	// modulo less: they cost on a slow CPU).
	offs  []int
	cur   int // the next slot to read, in the kernel's order
	held  int // slots before cur handed out by the last call, still ours
	batch int
	out   [][]byte
	// recv is the function raw.Read runs, made once (see mmsgReader).
	recv func(fd uintptr) bool
	// scribble, when set (tests), is run on each slot's frame just
	// before the slot goes back to the kernel: a frame still referenced
	// then would show it.
	scribble func(b []byte)
}

// ringSetup sets up a receive ring on the socket fd (a variable: tests
// make it fail).
var ringSetup = setupRing

// ringScribble, when set (tests), becomes each new ring's scribble.
var ringScribble func(b []byte)

// errRingVersion is a kernel's refusal of TPACKET_V2 (or of a ring).
var errRingVersion = errors.New("aoe: receive ring")

// setupRing asks for a TPACKET_V2 receive ring of at least frames slots
// of frames of the MTU on fd and maps it. On failure the socket is left
// as it was (no ring, TPACKET_V1).
func setupRing(fd, mtu, frames int) (ring []byte, frame, per, block int, err error) {
	page := os.Getpagesize()
	frame = (ringHdrLen + mtu + ringSlack + 15) &^ 15
	// The block (a multiple of the page) that wastes least, of up to 16
	// pages: at MTU 9000, 9 pages hold 4 slots (1 in 3 pages).
	best := -1
	for k := 1; k <= 16; k++ {
		b := k * page
		if b < frame {
			continue
		}
		if waste := (b % frame) * 16 / b; best < 0 || waste < best {
			best, block = waste, b
		}
	}
	if block == 0 {
		return nil, 0, 0, 0, fmt.Errorf("%w: a frame of %d bytes", errRingVersion, frame)
	}
	per = block / frame
	blocks := (frames + per - 1) / per
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VERSION, unix.TPACKET_V2); err != nil {
		return nil, 0, 0, 0, fmt.Errorf("%w: TPACKET_V2: %w", errRingVersion, err)
	}
	req := unix.TpacketReq{Block_size: uint32(block), Block_nr: uint32(blocks), Frame_size: uint32(frame), Frame_nr: uint32(blocks * per)}
	if err := unix.SetsockoptTpacketReq(fd, unix.SOL_PACKET, unix.PACKET_RX_RING, &req); err != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VERSION, unix.TPACKET_V1)
		return nil, 0, 0, 0, fmt.Errorf("%w: PACKET_RX_RING %+v: %w", errRingVersion, req, err)
	}
	ring, err = unix.Mmap(fd, 0, block*blocks, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		_ = unix.SetsockoptTpacketReq(fd, unix.SOL_PACKET, unix.PACKET_RX_RING, &unix.TpacketReq{})
		_ = unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VERSION, unix.TPACKET_V1)
		return nil, 0, 0, 0, fmt.Errorf("%w: mmap: %w", errRingVersion, err)
	}
	return ring, frame, per, block, nil
}

// newRingReader sets up a receive ring of at least frames slots on raw's
// socket for frames of the MTU and returns its reader. The socket's queue
// is not read through the ring: the caller reads what it holds (the
// frames that came before the ring) once the ring is there.
func newRingReader(raw syscall.RawConn, mtu, frames int) (*ringReader, error) {
	r := &ringReader{raw: raw, scribble: ringScribble}
	var serr error
	err := raw.Control(func(fd uintptr) {
		r.ring, r.frame, r.per, r.block, serr = ringSetup(int(fd), mtu, frames)
	})
	if err == nil {
		err = serr
	}
	if err != nil {
		return nil, err
	}
	r.slots = len(r.ring) / r.block * r.per
	r.offs = make([]int, r.slots)
	for i := range r.offs {
		r.offs[i] = i/r.per*r.block + i%r.per*r.frame
	}
	r.batch = max(1, min(ringBatch, r.slots/4))
	r.out = make([][]byte, 0, r.batch)
	r.recv = func(uintptr) bool { return r.collect() > 0 }
	return r, nil
}

// slot returns slot i of the ring.
func (r *ringReader) slot(i int) []byte {
	off := r.offs[i]
	return r.ring[off : off+r.frame : off+r.frame]
}

func slotStatus(s []byte) *uint32 { return (*uint32)(unsafe.Pointer(&s[0])) }

// release hands the slots of the last call back to the kernel.
func (r *ringReader) release() {
	i := r.cur - r.held
	if i < 0 {
		i += r.slots
	}
	for ; r.held > 0; r.held-- {
		s := r.slot(i)
		if i++; i == r.slots {
			i = 0
		}
		if r.scribble != nil {
			r.scribble(s[ringHdrLen-14:])
		}
		atomic.StoreUint32(slotStatus(s), unix.TP_STATUS_KERNEL)
	}
}

// collect takes the slots the kernel has handed over, in order, up to a
// batch, into out; it returns how many.
func (r *ringReader) collect() int {
	r.out = r.out[:0]
	for len(r.out) < r.batch {
		s := r.slot(r.cur)
		if atomic.LoadUint32(slotStatus(s))&unix.TP_STATUS_USER == 0 {
			break
		}
		h := (*unix.Tpacket2Hdr)(unsafe.Pointer(&s[0]))
		if end := int(h.Mac) + int(h.Snaplen); int(h.Mac) >= unix.SizeofTpacket2Hdr && end <= len(s) {
			// A frame longer than the slot keeps its head only
			// (Snaplen < Len): it is then short, and dropped as such.
			r.out = append(r.out, s[h.Mac:end:end])
		}
		if r.cur++; r.cur == r.slots {
			r.cur = 0
		}
		r.held++
	}
	return len(r.out)
}

// read returns the frames in the ring, waiting in the runtime's poller
// (the read deadline and Close apply) while there is none.
func (r *ringReader) read() ([][]byte, error) {
	r.release()
	if err := r.raw.Read(r.recv); err != nil {
		return nil, err
	}
	return r.out, nil
}

// poll returns the frames in the ring now, without waiting and whatever
// the read deadline: none is no error.
func (r *ringReader) poll() ([][]byte, error) {
	r.release()
	r.collect()
	return r.out, nil
}

// close unmaps the ring (the read loop, when it ends, or a resize: no
// read follows).
func (r *ringReader) close() {
	if r.ring != nil {
		_ = unix.Munmap(r.ring)
		r.ring = nil
	}
}

// drop unmaps the ring and gives it up on the socket (the kernel queues
// the frames on the socket again until another ring is set up).
func (r *ringReader) drop() error {
	r.close()
	var serr error
	err := r.raw.Control(func(fd uintptr) {
		serr = unix.SetsockoptTpacketReq(int(fd), unix.SOL_PACKET, unix.PACKET_RX_RING, &unix.TpacketReq{})
	})
	if err == nil {
		err = serr
	}
	return err
}

// fitRing gives the client's socket a receive ring of at least frames
// slots (more when other disks use the client: the sum of what they
// asked), or a larger one than it has, when Config.Receive allows a ring
// (Disk opens call it, the window known): rings sized to the windows,
// not to the largest burst a broadcast could bring (until a disk opens,
// auto reads the socket, with its large buffer). It takes the reads from
// the read loop meanwhile, and is best effort: while another disk's engine
// has them, or when the kernel refuses the ring, the reader stays.
// Frames queued on the socket before the ring was there are read and
// handled at once.
func (c *Client) fitRing(frames int) {
	if c.cfg.Receive == receiveSocket || c.sock == nil {
		return
	}
	rr := c.borrowReads(nil)
	for i := 0; rr == nil && i < 100; i++ {
		// An engine has them: one that idles gives them back when
		// asked (a busy one too, and may take them again first).
		r := c.lend.release.Load()
		if r == nil {
			break
		}
		(*r)()
		time.Sleep(time.Millisecond)
		rr = c.borrowReads(nil)
	}
	if rr == nil {
		return
	}
	defer rr.giveBack()
	c.ringWant = min(c.ringWant+frames, ringMaxFrames)
	want := max(c.ringWant, ringMinFrames)
	old, _ := c.reader.(*ringReader)
	if old != nil {
		if old.slots >= want {
			return
		}
		if err := old.drop(); err != nil {
			// Unmapped, the ring cannot be read any more: the socket,
			// which the kernel queues on while no ring is set up.
			c.setReader(c.sock, receiveSocket, err)
			return
		}
		c.setReader(c.sock, receiveSocket, nil)
	}
	r, err := newRingReader(c.sock.raw, ifiMTU(c.ifi), want)
	if err != nil {
		c.setReader(c.sock, receiveSocket, err)
		return
	}
	c.setReader(r, receiveRing, nil)
	c.drainSocket()
}

// drainSocket handles the frames queued on the socket: those that came
// before its ring. The reads are the caller's.
func (c *Client) drainSocket() {
	for range 1 << 10 {
		frames, err := c.sock.poll()
		if err != nil || len(frames) == 0 {
			return
		}
		c.handleFrames(frames, nil)
	}
}
