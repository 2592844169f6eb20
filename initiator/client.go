package initiator

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/goaoe/aoe/initiator/aoeaddr"
	"github.com/goaoe/aoe/initiator/wire"
	"github.com/mdlayher/packet"
	"golang.org/x/net/bpf"
)

// Interface is the local network interface a Client speaks on.
type Interface struct {
	Name string
	MAC  net.HardwareAddr
	MTU  int
}

// Stats count what a client did.
type Stats struct {
	Sent        uint64 // frames written, retransmissions included
	Retransmits uint64
	Received    uint64 // AoE replies read
	Matched     uint64 // replies delivered to a request
	Unmatched   uint64 // replies for no request: late, duplicate or foreign
	Malformed   uint64 // frames that did not decode
	// Forged counts replies dropped for an impossible source MAC:
	// broadcast, multicast, all zeros, or the client's own.
	Forged uint64
	// Dropped counts the frames lost because a receive buffer was full:
	// replies sent to us that the socket dropped (the kernel's
	// PACKET_STATISTICS drops, when the connection reports them, as
	// packet.Conn does), and replies a full broadcast queue discarded. A
	// Query Config that saw drops cannot claim a complete answer.
	Dropped uint64
	// BadATA counts ATA replies to a Disk's sends dropped before their
	// data was used because they did not answer the request: another LBA
	// echoed, sectors remaining, or less data than asked.
	BadATA uint64
	// Placed counts the replies whose data the socket read straight into
	// the read's buffer, as foreseen (no copy in userspace): a Disk
	// engine's, when it reads the client's socket itself.
	Placed uint64
	// Receive is how the client reads its socket (see Config.Receive):
	// "ring" or "socket"; "" on a connection that is not a socket.
	Receive string
}

// Client sends AoE requests on one interface and matches the replies. It
// owns a connection of whole Ethernet frames (production: a raw packet
// socket bound to EtherType 0x88a2; tests: any net.PacketConn).
type Client struct {
	conn net.PacketConn
	ifi  Interface
	// tx, when set, is the socket a Disk engine's batches go out on
	// (openSendSocket): nil, they go on conn.
	tx *os.File
	// sink is set while a Disk engine that holds the client's reads
	// handles the frames it read (readReplies): the holder's only.
	sink *replySink

	cfg Config // with defaults

	// tag is the last tag made (newTag), under mu.
	tag uint32
	// owner, 0 to 127, is the high byte of the client's tags less bit
	// 31; -1: none (New). ownFilter (under mu): the socket's filter
	// passes only replies to them (responseFilter), until a caller
	// chooses a tag of another (register).
	owner     int
	ownFilter bool
	// lastAddr is the socket address of the last destination, reused
	// while it does not change (a Disk's frames all go to one MAC).
	lastAddr atomic.Pointer[packet.Addr]

	mu    sync.Mutex
	calls map[uint32]*call
	// sends holds the calls of a Disk engine's sends (ata set), indexed
	// by their tag's low bits (tagSlot): a send and its reply cost no map
	// insertion or deletion, and the table is reused. A tag is in sends
	// or in calls, never both, and unique over both.
	sends   []taggedCall
	windows map[string]chan struct{}
	err     error // set when the read loop stops

	stats struct {
		sent, retransmits, received, matched, unmatched, malformed, forged, dropped, badATA, placed atomic.Uint64
	}
	done chan struct{}

	// reader is the read loop's; while the reads are lent (see
	// borrowReads) the borrower uses it, and the read loop waits. It is
	// changed (setReader) only by the holder of the lent reads, or
	// before the read loop starts. sock is the socket's reader (nil:
	// not a socket), which a ring replaces (fitRing); ringWant the
	// slots the disks open on the client asked for.
	reader   frameReader
	sock     *mmsgReader
	ringWant int
	// receive says what reader is ("ring", "socket", ""), ringErr why a
	// ring could not be had; under mu.
	receive string
	ringErr error
	lend    struct {
		ask  atomic.Bool   // a borrower wants the reads, or has them
		give chan struct{} // read loop → borrower: the reads are yours
		back chan struct{} // borrower → read loop: they are yours again
		// wake, while an engine has the reads of several clients
		// (multiReads), ends its wait: Close calls it.
		wake atomic.Pointer[func()]
		// release, while an engine has the reads, asks it to give
		// them back (fitRing: an idle engine keeps them a while).
		release atomic.Pointer[func()]
	}
	// closing is set by Close before it wakes the reader: an engine
	// with the reads of several clients gives them back when it sees it.
	closing atomic.Bool
}

// call is a request waiting for replies.
type call struct {
	shelf   uint16
	slot    uint8
	command wire.Command
	// src is the MAC the reply must come from; nil accepts any (broadcast).
	src net.HardwareAddr
	ch  chan *wire.Frame
	// once means a single reply is wanted: the call is removed after it.
	once bool
	// ata, when not nil, replaces ch: it takes the replies itself, in
	// the read loop (a Disk's sends; see ataHandler).
	ata ataHandler
}

// ataHandler takes the replies to a call registered by a Disk's engine,
// in the client's read loop, under the client's lock: never after its
// call is unregistered. The transport knows the engine's sends only so.
type ataHandler interface {
	// takeReply is given the reply's tag, its header and its data, which
	// is the read buffer's: it must be copied before takeReply returns.
	// It reports whether the reply answers the call (then unregistered;
	// else it stays for a good one, and the reply counts in BadATA) and
	// whether it reached the engine (else it was lost, as in a full
	// socket buffer, and counts in Dropped).
	takeReply(tag uint32, h replyHeader, data []byte, sink *replySink) (answered, queued bool)
}

// replyHeader is what the read loop decoded of a reply for an ataHandler.
type replyHeader struct {
	errFlag bool           // the AoE E flag
	code    wire.ErrorCode // with errFlag
	ata     bool           // it has an ATA argument, in arg
	// arg is the ATA argument as received (see wire.ATAArg):
	// 0 AFlags, 1 error register, 2 sectors remaining, 3 status, 4-9 LBA.
	arg [ataArgLen]byte
}

// Config tunes a Client; nil or the zero value gives the defaults.
type Config struct {
	// RTO is the first retransmission timeout of a unicast request
	// (default 250ms); it doubles at each retransmission up to MaxRTO
	// (default 500ms: AoE lives on a LAN, with sub-millisecond round
	// trips, and a long backoff only wastes the caller's time budget).
	RTO, MaxRTO time.Duration
	// Retries is how many times a request is sent again before
	// ErrTimeout (default 5).
	Retries int
	// Now is the client's clock, read for every "now" of its operations
	// (the round-trip time of a Query Config); nil: time.Now. Timers
	// are real timers, and the socket's deadlines real time.
	Now func() time.Time
	// Receive is how replies are read from a packet socket: "ring", from
	// a receive ring the kernel shares with the process (PACKET_RX_RING,
	// TPACKET_V2: no system call per frame read), set up at once and
	// sized to twice the windows of the disks opened on the client;
	// "socket" or "" (the default), with recvmmsg(2); "auto": the socket
	// until a disk opens on the client (a broadcast's burst of answers
	// fills the socket's large buffer), then a ring sized so when the
	// kernel gives one, else the socket still. The socket is the default:
	// `aoe read` with the ring was 0.89 to 1.04 times as fast in the
	// qemu guests of docs/performance.md (on the host, in namespaces,
	// 0.81 to 1.39), not a clear gain yet for a path that the
	// project's tests have run longest. NewClient fails when "ring" cannot be had,
	// and on any other value; New then reads the socket. A
	// connection that is not a socket (tests' in-memory networks) is
	// read one frame at a time whatever it says.
	Receive string
}

func (c *Config) withDefaults() Config {
	var o Config
	if c != nil {
		o = *c
	}
	if o.RTO <= 0 {
		o.RTO = 250 * time.Millisecond
	}
	if o.MaxRTO <= 0 {
		o.MaxRTO = 500 * time.Millisecond
	}
	if o.Retries <= 0 {
		o.Retries = 5
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Receive == "" {
		o.Receive = receiveSocket
	} else if checkReceive(&o) != nil {
		o.Receive = receiveSocket
	}
	return o
}

// checkReceive checks a Config's Receive.
func checkReceive(cfg *Config) error {
	if cfg == nil {
		return nil
	}
	switch cfg.Receive {
	case "", receiveAuto, receiveRing, receiveSocket:
		return nil
	}
	return fmt.Errorf("aoe: receive %q: not auto, ring or socket", cfg.Receive)
}

// New returns a client speaking on conn for the interface ifi, tuned by
// cfg (nil: the defaults), and starts reading. Close it when done.
func New(ifi Interface, conn net.PacketConn, cfg *Config) *Client {
	c := &Client{
		conn:    conn,
		ifi:     ifi,
		cfg:     cfg.withDefaults(),
		calls:   map[uint32]*call{},
		windows: map[string]chan struct{}{},
		done:    make(chan struct{}),
		owner:   -1,
	}
	c.lend.give, c.lend.back = make(chan struct{}, 1), make(chan struct{}, 1)
	c.reader, c.sock = newFrameReader(conn)
	if c.sock != nil {
		c.receive = receiveSocket
		if c.cfg.Receive == receiveRing {
			// Asked for: now, so that NewClient can say when the kernel
			// refuses it; sized to the windows when disks open.
			if r, err := newRingReader(c.sock.raw, ifiMTU(ifi), ringMinFrames); err != nil {
				c.ringErr = err
			} else {
				c.reader, c.receive = r, receiveRing
				c.drainSocket()
			}
		}
	}
	var seed [4]byte
	_, _ = rand.Read(seed[:])
	c.tag = binary.BigEndian.Uint32(seed[:])
	go c.readLoop()
	return c
}

// Interface returns the interface the client speaks on.
func (c *Client) Interface() Interface { return c.ifi }

// Stats returns the client's counters.
func (c *Client) Stats() Stats {
	c.countDrops()
	return Stats{
		Sent: c.stats.sent.Load(), Retransmits: c.stats.retransmits.Load(),
		Received: c.stats.received.Load(), Matched: c.stats.matched.Load(),
		Unmatched: c.stats.unmatched.Load(), Malformed: c.stats.malformed.Load(),
		Forged: c.stats.forged.Load(), Dropped: c.stats.dropped.Load(), BadATA: c.stats.badATA.Load(),
		Placed: c.stats.placed.Load(), Receive: c.receiveKind(),
	}
}

// statser is a connection that counts what its receive buffer lost, as
// packet.Conn does (the counters reset at each call).
type statser interface {
	Stats() (*packet.Stats, error)
}

// countDrops adds to the dropped count the frames the connection lost
// since the last call, when it counts them (a statser).
func (c *Client) countDrops() {
	if s, ok := c.conn.(statser); ok {
		if st, err := s.Stats(); err == nil {
			c.stats.dropped.Add(uint64(st.Drops))
		}
	}
}

// Close stops the client and closes its connection. Pending requests fail
// with an error matching net.ErrClosed.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.err == nil {
		c.err = errClientClosed
	}
	c.mu.Unlock()
	c.closing.Store(true)
	if w := c.lend.wake.Load(); w != nil {
		(*w)() // an engine waiting on several clients' sockets
	}
	// Wake the reader: closing alone does not reliably unblock a packet
	// socket read.
	_ = c.conn.SetReadDeadline(time.Now()) // the socket's clock: real time
	err := c.conn.Close()
	<-c.done
	if c.tx != nil {
		c.tx.Close() // after conn: a batch under way fails as closed, not on a reused descriptor
	}
	return err
}

// newTag returns a fresh tag with bit 31 set, unused by pending calls.
// c.mu held.
func (c *Client) newTag() uint32 {
	c.tag++
	n := c.tag
	if c.owner < 0 {
		return n | tagUserspace
	}
	return tagUserspace | uint32(c.owner)<<24 | n&0xffffff
}

// setFilter replaces the socket's BPF program.
func (c *Client) setFilter(prog []bpf.Instruction) error {
	raw, err := bpf.Assemble(prog)
	if err != nil {
		return err
	}
	f, ok := c.conn.(interface {
		SetBPF([]bpf.RawInstruction) error
	})
	if !ok {
		return nil // not a socket (tests)
	}
	if err := f.SetBPF(raw); err != nil {
		return fmt.Errorf("aoe: %s: filter: %w", c.ifi.Name, err)
	}
	return nil
}

// setWindow limits the requests outstanding at once to the target with
// this MAC to n, its buffer count (learnWindow). Until then a target gets
// one at a time.
func (c *Client) setWindow(mac net.HardwareAddr, n int) {
	if n < 1 {
		n = 1
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if w, ok := c.windows[string(mac)]; ok && cap(w) == n {
		return
	}
	c.windows[string(mac)] = make(chan struct{}, n)
}

func (c *Client) window(mac net.HardwareAddr) chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	w, ok := c.windows[string(mac)]
	if !ok {
		w = make(chan struct{}, 1)
		c.windows[string(mac)] = w
	}
	return w
}

// register adds a call under a tag and returns the tag: want when it has
// bit 31 set (the caller chose it), else a fresh one.
func (c *Client) register(cl *call, want uint32) (uint32, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return 0, c.err
	}
	if want&tagUserspace != 0 {
		if c.lookup(want) != nil {
			return 0, fmt.Errorf("%w: %#08x", errTagInUse, want)
		}
		if c.ownFilter && int(want>>24&0x7f) != c.owner {
			// A tag the caller chose (aoeping -t): its replies must
			// pass the socket's filter too.
			if err := c.setFilter(responseFilter(-1)); err != nil {
				return 0, err
			}
			c.ownFilter = false
		}
		c.calls[want] = cl
		return want, nil
	}
	for {
		tag := c.newTag()
		if c.lookup(tag) == nil {
			c.calls[tag] = cl
			return tag, nil
		}
	}
}

// registerATA registers a Disk engine's send in the table (sends), or
// reports false when the slots it tried were taken (register then puts it
// in the map). c.mu held.
func (c *Client) registerATA(cl *call) (uint32, bool) {
	if c.sends == nil {
		c.sends = make([]taggedCall, tagSlots)
	}
	// Tags come in sequence, so a free slot is almost always the first
	// one tried; a table crowded there leaves the call to the map.
	for range 8 {
		tag := c.newTag()
		s := &c.sends[tag%tagSlots]
		if s.cl == nil && (len(c.calls) == 0 || c.calls[tag] == nil) {
			*s = taggedCall{tag: tag, cl: cl}
			return tag, true
		}
	}
	return 0, false
}

// tagSlots is the size of Client.sends: a power of two, more than the
// sends a few engines keep waiting (their windows, times maxAttempts).
const tagSlots = 4096

// taggedCall is an entry of Client.sends.
type taggedCall struct {
	tag uint32
	cl  *call // nil: free
}

// lookup returns the call registered under tag, or nil. c.mu held.
func (c *Client) lookup(tag uint32) *call {
	if c.sends != nil {
		if s := &c.sends[tag%tagSlots]; s.cl != nil && s.tag == tag {
			return s.cl
		}
	}
	return c.calls[tag]
}

// remove unregisters tag. c.mu held.
func (c *Client) remove(tag uint32) {
	if c.sends != nil {
		if s := &c.sends[tag%tagSlots]; s.cl != nil && s.tag == tag {
			*s = taggedCall{}
			return
		}
	}
	delete(c.calls, tag)
}

func (c *Client) unregister(tag uint32) {
	c.mu.Lock()
	c.remove(tag)
	c.mu.Unlock()
}

// sendBufs holds the buffers requests are encoded in: a frame is written
// with one syscall that copies it, so the buffer is free again at once.
var sendBufs = sync.Pool{New: func() any { b := make([]byte, 0, 9216); return &b }}

// send encodes req with the given tag and writes it.
func (c *Client) send(req *wire.Frame, tag uint32) error {
	f := *req
	f.Tag = tag
	f.Source = c.ifi.MAC
	if f.Destination == nil {
		f.Destination = wire.BroadcastMAC
	}
	bp := sendBufs.Get().(*[]byte)
	defer sendBufs.Put(bp)
	b, err := f.AppendBinary((*bp)[:0])
	if err != nil {
		return err
	}
	if cap(b) <= 1<<16 {
		*bp = b[:0]
	}
	_, err = c.conn.WriteTo(b, c.addr(f.Destination))
	if errors.Is(err, syscall.ENETDOWN) {
		// A link that went down and up leaves ENETDOWN pending on the
		// socket, reported once by the next call that looks (the
		// engine's batches go on another socket, and a ring's reads
		// never look): sent again, the frame goes, or the link is
		// down still and it fails again.
		_, err = c.conn.WriteTo(b, c.addr(f.Destination))
	}
	if err != nil {
		return fmt.Errorf("%w on %s: %w", ErrSend, c.ifi.Name, err)
	}
	c.stats.sent.Add(1)
	return nil
}

// addr returns the socket address of mac, the last one when it is the
// same (a *packet.Addr is only read by the connection).
func (c *Client) addr(mac net.HardwareAddr) *packet.Addr {
	if a := c.lastAddr.Load(); a != nil && bytes.Equal(a.HardwareAddr, mac) {
		return a
	}
	a := &packet.Addr{HardwareAddr: append(net.HardwareAddr(nil), mac...)}
	c.lastAddr.Store(a)
	return a
}

// roundTrip sends req to its Destination (a target's MAC) and returns the
// reply (its Tag is used when it has bit 31 set, else a fresh tag is), sending it again with a doubling timeout when none comes. The reply
// must come from that MAC with the request's tag, address and command. A
// reply with the E flag is returned with its ErrorCode as the error. At most
// the target's window of requests is outstanding at once.
func (c *Client) roundTrip(ctx context.Context, req *wire.Frame) (*wire.Frame, error) {
	if len(req.Destination) != 6 || bytes.Equal(req.Destination, wire.BroadcastMAC) {
		return nil, fmt.Errorf("aoe: Request needs a target's MAC, not %v", req.Destination)
	}
	w := c.window(req.Destination)
	select {
	case w <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-w }()

	cl := &call{shelf: req.Shelf, slot: req.Slot, command: req.Command, src: req.Destination, ch: make(chan *wire.Frame, 1), once: true}
	tag, err := c.register(cl, req.Tag)
	if err != nil {
		return nil, err
	}
	defer c.unregister(tag)

	rto := c.cfg.RTO
	timer := time.NewTimer(rto)
	defer timer.Stop()
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			c.stats.retransmits.Add(1)
		}
		if err := c.send(req, tag); err != nil {
			return nil, err
		}
		timer.Reset(rto)
		select {
		case f := <-cl.ch:
			if f.Error {
				return f, f.Err
			}
			return f, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-c.done:
			return nil, c.closedErr()
		case <-timer.C:
		}
		if attempt >= c.cfg.Retries {
			return nil, fmt.Errorf("%w from %s (%v) on %s after %d tries", ErrTimeout, aoeaddr.Address{Shelf: req.Shelf, Slot: req.Slot}.String(), req.Destination, c.ifi.Name, attempt+1)
		}
		rto = min(rto*2, max(c.cfg.MaxRTO, c.cfg.RTO))
	}
}

// broadcast sends req to every target (Ethernet broadcast; Shelf and Slot
// may be the broadcast values; Tag as for roundTrip) and delivers each reply with its tag and a
// matching address on the returned channel, until stop is called. resend
// sends the same request again, with the same tag, so that replies to every
// copy arrive on the channel (duplicates included).
func (c *Client) broadcast(req *wire.Frame) (replies <-chan *wire.Frame, resend func() error, stop func(), err error) {
	cl := &call{shelf: req.Shelf, slot: req.Slot, command: req.Command, ch: make(chan *wire.Frame, 4096)}
	tag, err := c.register(cl, req.Tag)
	if err != nil {
		return nil, nil, nil, err
	}
	b := *req
	b.Destination = wire.BroadcastMAC
	if err := c.send(&b, tag); err != nil {
		c.unregister(tag)
		return nil, nil, nil, err
	}
	var once sync.Once
	return cl.ch, func() error { return c.send(&b, tag) }, func() { once.Do(func() { c.unregister(tag) }) }, nil
}

func (c *Client) closedErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return c.err
	}
	return errClientClosed
}

// readLoop reads frames until the connection fails or is closed, and hands
// replies to the calls waiting for their tags.
func (c *Client) readLoop() {
	defer close(c.done)
	defer func() {
		// Lent reads are back before the loop ends: no read follows.
		if rr, ok := c.reader.(*ringReader); ok {
			rr.close()
		}
	}()
	downs := 0
	for {
		if c.lend.ask.Load() {
			// A Disk's engine reads the socket itself for a while
			// (borrowReads): wait until it gives the reads back.
			c.lend.give <- struct{}{}
			<-c.lend.back
			continue
		}
		frames, err := c.reader.read()
		if errors.Is(err, os.ErrDeadlineExceeded) && c.Err() == nil {
			// Not Close: a deadline a borrower set (to be woken, or
			// asking for the reads). Clear it; the loop's top then
			// sees whether the reads are asked for (a borrower that
			// asks after this sets its deadline after, and wakes us
			// again).
			_ = c.conn.SetReadDeadline(time.Time{})
			continue
		}
		if errors.Is(err, syscall.ENETDOWN) && downs < maxDowns {
			// The interface went down: the socket reports it once and
			// reads again when the link is back (sends fail meanwhile,
			// so a Disk marks the path dead and probes it). A socket
			// that says nothing else is read on; one that keeps saying
			// it is given up after maxDowns.
			downs++
			time.Sleep(10 * time.Millisecond)
			continue
		}
		if err != nil {
			c.mu.Lock()
			if c.err == nil {
				c.err = fmt.Errorf("aoe: receive on %s: %w", c.ifi.Name, err)
			}
			c.mu.Unlock()
			return
		}
		if len(frames) > 0 {
			downs = 0
		}
		c.handleFrames(frames, nil)
	}
}

// setReader makes r the client's reader (kind: what it is; err: why a
// ring could not be had, or nil). The caller has the reads.
func (c *Client) setReader(r frameReader, kind string, err error) {
	c.reader = r
	c.mu.Lock()
	c.receive = kind
	if err != nil {
		c.ringErr = err
	}
	c.mu.Unlock()
}

// receiveKind is what the client's reader is (Stats.Receive).
func (c *Client) receiveKind() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.receive
}

// maxDowns is how many ENETDOWN errors in a row, with no frame read in
// between, the read loop takes before it stops.
const maxDowns = 1000

// handleFrames delivers the replies among the frames of a batch read.
// The replies to a Disk engine's sends (the bulk of the data path) are
// taken under one hold of the client's lock for the run of them, and
// counted in Stats once per batch: not a lock and two atomic additions
// per frame. sink is the holder's of the lent reads (see Client.sink),
// nil in the read loop.
func (c *Client) handleFrames(frames [][]byte, sink *replySink) {
	c.sink = sink
	var n replyCounts
	locked := false
	for i, b := range frames {
		var data []byte // the data, when the socket read it into place
		if sink != nil && sink.placed != nil {
			data = sink.placed[i]
		}
		// A frame that landed in its placement has the header its
		// engine foresaw (placement): an ATA reply from its path's
		// target, which a Query Config reply that was not forged named.
		if data != nil || (isATAReply(b) && !forgedSource(b[6:12], c.ifi.MAC)) {
			if !locked {
				c.mu.Lock()
				locked = true
			}
			if c.deliverEngine(b, data, &n) {
				if data != nil {
					n.placed++
				}
				continue
			}
		}
		if locked {
			c.mu.Unlock()
			locked = false
		}
		c.handleOther(b)
	}
	if locked {
		c.mu.Unlock()
	}
	n.add(c)
	c.sink = nil
}

// replyCounts are the Stats counts of one batch (handleFrames).
type replyCounts struct{ received, matched, dropped, badATA, placed uint64 }

func (n *replyCounts) add(c *Client) {
	if n.received > 0 {
		c.stats.received.Add(n.received)
	}
	if n.matched > 0 {
		c.stats.matched.Add(n.matched)
	}
	if n.dropped > 0 {
		c.stats.dropped.Add(n.dropped)
	}
	if n.badATA > 0 {
		c.stats.badATA.Add(n.badATA)
	}
	if n.placed > 0 {
		c.stats.placed.Add(n.placed)
	}
}

// handleOther takes a frame read that is not a plain reply to a Disk
// engine's send (deliverEngine): it is decoded whole, and delivered if
// it is a reply.
func (c *Client) handleOther(b []byte) {
	f := new(wire.Frame)
	if err := f.UnmarshalBinary(b); err != nil {
		if len(b) < wire.HeaderLen || binary.BigEndian.Uint16(b[12:14]) == wire.EtherType {
			c.stats.malformed.Add(1) // not another protocol's frame
		}
		return
	}
	if !f.Response {
		return // another initiator's request
	}
	c.stats.received.Add(1)
	if forgedSource(f.Source, c.ifi.MAC) {
		c.stats.forged.Add(1)
		return
	}
	c.deliver(f)
}

// ataArgLen is the fixed part of the ATA argument (see wire.ATAArg): the
// fast path reads a reply's bytes where the wire format puts them.
const ataArgLen = 12

// isATAReply reports whether b is a plain ATA reply: EtherType 0x88a2, R
// set, E clear (byte 14: version | R 0x08 | E 0x04), command ATA, a whole
// ATA argument.
func isATAReply(b []byte) bool {
	return len(b) >= wire.HeaderLen+ataArgLen && binary.BigEndian.Uint16(b[12:14]) == wire.EtherType &&
		b[14]&(0x08|0x04) == 0x08 && wire.Command(b[19]) == wire.CommandATA
}

// deliver hands reply f to the call waiting for its tag, if it matches.
func (c *Client) deliver(f *wire.Frame) {
	c.mu.Lock()
	cl := c.lookup(f.Tag)
	ok := cl != nil
	if ok && !cl.matches(f) {
		ok = false
	}
	if ok && cl.ata != nil {
		h := replyHeader{errFlag: f.Error, code: f.Err}
		var data []byte
		if arg, isATA := f.Arg.(*wire.ATAArg); isATA {
			h.ata, data = true, arg.Data
			h.arg[1], h.arg[2], h.arg[3] = arg.FeatureErr, arg.SectorCount, arg.CmdStatus
			binary.LittleEndian.PutUint32(h.arg[4:8], uint32(arg.LBA))
			binary.LittleEndian.PutUint16(h.arg[8:10], uint16(arg.LBA>>32))
		}
		var n replyCounts
		c.toHandler(cl, f.Tag, h, data, &n)
		c.mu.Unlock()
		n.add(c)
		return
	}
	if ok && cl.once {
		c.remove(f.Tag)
	}
	c.mu.Unlock()
	if !ok {
		c.stats.unmatched.Add(1)
		return
	}
	select {
	case cl.ch <- f:
		c.stats.matched.Add(1)
	default:
		c.stats.dropped.Add(1) // a full broadcast queue: lost, as in a full socket buffer
	}
}

// deliverEngine is deliver for a plain ATA reply (isATAReply, its source
// not forged) to a Disk engine's send, straight from the frame's bytes: no
// Frame is decoded or allocated. It reports false, doing nothing, when b
// is not that (the general path then handles it). data is the reply's
// data when the socket read it into place (b is then the header alone),
// else nil. c.mu held; the counts go to n (see handleFrames).
func (c *Client) deliverEngine(b, data []byte, n *replyCounts) bool {
	tag := binary.BigEndian.Uint32(b[20:24])
	cl := c.lookup(tag)
	if cl == nil || cl.ata == nil || wire.Command(b[19]) != cl.command || !sameMAC(b[6:12], cl.src) ||
		binary.BigEndian.Uint16(b[16:18]) != cl.shelf || b[18] != cl.slot {
		return false
	}
	h := replyHeader{ata: true}
	copy(h.arg[:], b[wire.HeaderLen:wire.HeaderLen+ataArgLen])
	n.received++
	if data == nil {
		data = b[wire.HeaderLen+ataArgLen:]
	}
	c.toHandler(cl, tag, h, data, n)
	return true
}

// toHandler hands a reply to its call's ataHandler and counts the
// outcome in n. c.mu held.
func (c *Client) toHandler(cl *call, tag uint32, h replyHeader, data []byte, n *replyCounts) {
	answered, queued := cl.ata.takeReply(tag, h, data, c.sink)
	if answered {
		c.remove(tag)
	} else {
		n.badATA++
	}
	if queued {
		n.matched++
	} else {
		n.dropped++
	}
}

// forgedSource reports whether a reply's source MAC cannot be a target's:
// a group address (broadcast, multicast), all zeros, or our own.
func forgedSource(src, own net.HardwareAddr) bool {
	if len(src) != 6 || src[0]&0x01 != 0 || sameMAC(src, own) {
		return true
	}
	return binary.LittleEndian.Uint32(src)|uint32(binary.LittleEndian.Uint16(src[4:])) == 0
}

// sameMAC is bytes.Equal for two MACs, in two loads each: it runs per
// reply.
func sameMAC(a, b []byte) bool {
	return len(a) == 6 && len(b) == 6 && binary.LittleEndian.Uint32(a) == binary.LittleEndian.Uint32(b) &&
		binary.LittleEndian.Uint16(a[4:]) == binary.LittleEndian.Uint16(b[4:])
}

func (cl *call) matches(f *wire.Frame) bool {
	if f.Command != cl.command {
		return false
	}
	if cl.src != nil && !bytes.Equal(f.Source, cl.src) {
		return false
	}
	if cl.shelf != aoeaddr.BroadcastShelf && f.Shelf != cl.shelf {
		return false
	}
	if cl.slot != aoeaddr.BroadcastSlot && f.Slot != cl.slot {
		return false
	}
	return true
}
