package initiator

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/goaoe/aoe/initiator/wire"
	"github.com/goaoe/aoe/internal/ata"
)

// The disk engine (engine.go) sits above the transport (Client) and uses
// it through the transport interface only: it registers each send with
// an ataHandler (the send's attempt) and writes its frames in batches.
// The client's read loop hands every reply to a registered send to its
// handler; it knows nothing else of the engine.

// transport is what a Disk's engine uses of a client.
type transport interface {
	// Interface is the local interface (its name and MAC, for frames and
	// errors).
	Interface() Interface
	// Err says why the transport stopped, nil while it runs; stopped is
	// closed when it stops.
	Err() error
	stopped() <-chan struct{}
	// expect registers cl under a fresh tag: its replies go to cl.ata.
	expect(cl *call) (tag uint32, err error)
	// forget unregisters tag: when it returns, no reply reaches its
	// handler any more.
	forget(tag uint32)
	// newBatchSender returns a sender of frames in batches, for one
	// engine goroutine.
	newBatchSender() batchSender
	// countRetransmit counts a frame sent again, in the client's Stats.
	countRetransmit()
	// setReadBuffer asks for a socket receive buffer of n bytes.
	setReadBuffer(n int) error
	// fitRing asks for a receive ring of frames slots more (see
	// Client.fitRing).
	fitRing(frames int)
	// borrowReads lends the transport's reads to the engine, or returns
	// nil when it cannot (see Client.borrowReads); release asks the
	// engine to give them back.
	borrowReads(release func()) replyReader
}

// replyReader is a transport's reads lent to an engine (see lentReads).
type replyReader interface {
	// readReplies reads and hands out what came, or waits until a frame
	// comes, the deadline or a wake; it returns the frames read.
	// The replies to the sends of sink's engine go to sink.q, the
	// others to their engine's queue.
	readReplies(deadline time.Time, kicked *atomic.Bool, sink *replySink) (int, error)
	wake()
	giveBack()
}

// batchSender writes frames in order, calling failed(i, err) for each one
// that could not be sent (err wraps ErrSend); it returns how many went.
type batchSender interface {
	send(frames []outFrame, failed func(i int, err error)) int
}

var _ transport = (*Client)(nil)

// expect is register for a Disk engine's send (per frame): its tag in
// the table (registerATA) when a slot is free, with no deferred unlock.
func (c *Client) expect(cl *call) (uint32, error) {
	c.mu.Lock()
	if c.err == nil {
		if tag, ok := c.registerATA(cl); ok {
			c.mu.Unlock()
			return tag, nil
		}
	}
	c.mu.Unlock()
	return c.register(cl, 0)
}

func (c *Client) forget(tag uint32)           { c.unregister(tag) }
func (c *Client) newBatchSender() batchSender { return newBatchWriter(c) }

// replyEvent is what the read loop tells a Disk's engine of a reply to
// one of its sends (attempt.takeReply): the send, and the reply's status.
// When filled, the reply's data is in the send's op's readDest.
type replyEvent struct {
	att     *attempt       // the send it answers
	tag     uint32         // the send's tag when the reply came
	errFlag bool           // the AoE E flag
	code    wire.ErrorCode // with errFlag
	ata     bool           // it has an ATA argument
	status  uint8          // ATA status
	errReg  uint8          // ATA error register
	filled  bool
	bad     badInfo // set: the reply failed the send's want, unused
}

// readDest is where the read loop puts the data of the ATA replies to
// the sends of one frame of a read (each send under its own tag, maybe
// on several clients): the first matching reply that carries no error and
// at least len(buf) bytes is copied into buf, under mu and under the
// client's lock (so never after the send is unregistered), not into a
// fresh buffer.
type readDest struct {
	mu     sync.Mutex
	buf    []byte
	filled bool
}

// fill copies data into buf unless a reply did already; it reports
// whether buf now holds a reply's data.
func (t *readDest) fill(data []byte) bool {
	if len(data) < len(t.buf) {
		return false
	}
	t.mu.Lock()
	if !t.filled {
		if len(t.buf) > 0 && &data[0] != &t.buf[0] { // else the socket read it there (placement)
			copyPieces(t.buf, data)
		}
		t.filled = true
	}
	t.mu.Unlock()
	return true
}

// copyPieces copies src into dst as copy does, in pieces of at most 2 KiB.
// On x86 CPUs without ERMS or AVX, Go copies more than 2 KiB at once with
// REP MOVSQ, and qemu's TCG (the CPU make bench-vm's guest has: qemu64)
// emulates that several times slower than the SSE loop Go uses up to
// 2 KiB, or glibc's memcpy: a jumbo frame's 8.5 KiB copied whole cost the
// floor a third of its speed against a C reader. Elsewhere the pieces
// cost a few calls per frame.
func copyPieces(dst, src []byte) {
	n := min(len(dst), len(src))
	for o := 0; o < n; o += copyPiece {
		copy(dst[o:min(o+copyPiece, n)], src[o:])
	}
}

const copyPiece = 2048

// takeReply is the attempt's ataHandler (see there): in the client's read
// loop, it checks the reply against what the send asked (want) before a
// byte of it is used, copies a read's data into the op's readDest, and
// queues a replyEvent for the engine: in sink.q when sink is its engine's
// (the engine reads the client itself), else on its queue. It reads only
// the fields that are fixed while the send is registered (want, dest,
// events).
func (a *attempt) takeReply(tag uint32, h replyHeader, data []byte, sink *replySink) (answered, queued bool) {
	// The event is written where it goes: in place at the end of the
	// sink's queue when the engine reads the client itself (no copy of
	// it per reply), else here for the engine's channel.
	ev := replyEvent{att: a, tag: tag, errFlag: h.errFlag, code: h.code, ata: h.ata, status: h.arg[3], errReg: h.arg[1]}
	r := &ev
	mine := sink != nil && sink.ch == a.events
	if mine {
		sink.q = append(sink.q, ev)
		r = &sink.q[len(sink.q)-1]
	}
	if h.ata && !h.errFlag && r.status&ata.StatusFailed == 0 {
		// A reply that does not answer the send leaves it registered
		// (the target's good reply may follow) and the buffer untouched.
		if !a.want.good(h.arg[:], data) { // inlined
			r.bad, _ = a.want.why(h.arg[:], data)
		} else if a.dest != nil {
			r.filled = a.dest.fill(data)
		}
	}
	answered = r.bad.kind == 0
	if mine {
		return answered, true
	}
	select {
	case a.events <- ev:
		queued = true
	default: // a full queue loses it, as a full socket buffer would: the engine sends again
	}
	return answered, queued
}

// replySink is where an engine that reads its clients' sockets itself
// (readReplies) takes the replies to its own sends: on its goroutine, so
// a slice, not its queue (a channel send and receive per reply, and their
// locks). ch is the engine's queue, which tells its sends from another
// engine's on a shared client. The client's sink is set only while the
// engine handles the frames it read (Client.sink).
type replySink struct {
	ch chan replyEvent
	q  []replyEvent
	// expect, when set, returns where the engine expects the replies
	// of the next read of c's socket (engine.expectReplies), just
	// before that read; placed is, while the frames read are handled,
	// the data of each that landed there (nil: the data is in the
	// frame).
	expect func(c *Client) []placement
	placed [][]byte
	// now, when set, is the holder's clock now, on the real clock (a
	// read deadline's), read at most once a wait: a read that must
	// know whether its deadline passed asks it, and the engine then
	// takes the same reading as its own after the wait (in a guest
	// whose clock source is not the TSC each read is a system call).
	now func() time.Time
}

var _ ataHandler = (*attempt)(nil)

// minFrameLen is the Ethernet minimum frame without the FCS, which wire
// pads every frame to: a buffer of it holds any request without data.
const minFrameLen = 60
