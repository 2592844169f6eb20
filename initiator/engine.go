package initiator

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/goaoe/aoe/initiator/wire"
	"github.com/goaoe/aoe/internal/ata"
)

// The data path of a Disk is one event loop, its engine: a goroutine that
// owns every frame in flight. It hands the frames of the requests (reads,
// writes, IDENTIFY, FLUSH) out to the paths' window slots, round robin
// over the requests, sends them in batches (one sendmmsg per client), takes
// the replies the clients' read loops hand it, and times the frames out
// with one timer. Per reply there is no goroutine switch of its own and no
// allocation; per batch one wake-up and one send syscall per client. It is
// how the kernel driver works (one state machine per device and a timer),
// and what keeps a userspace initiator near it on a slow CPU.
//
// Never a wrong byte: a reply's data reaches the caller's buffer only
// after the client's read loop has checked it against its send (tag,
// source MAC, address, command, then ataWant: the LBA echoed, no sectors
// remaining, the length); a path carries frames only once its IDENTIFY
// matched the disk (OpenDisk, then probe for a path that died); and no
// frame is cut past the capacity the addressing mode reaches (beyond).
//
// The window of a path adapts (AIMD, as Coraid's driver does with its
// targets' buffer counts): it starts at initialWindow, doubles per round
// trip up to the target's buffer count (slow start; on a clean link it is
// open after a few round trips), and once a loss has been seen grows by
// one per window of answered frames; a loss (a timeout, or a frame
// overtaken by reorderThresh later ones) halves it, once per loss event,
// floor 1. A target that advertises more buffers than it holds so gets
// about what it holds. After a cut, slow start goes back at once to the
// largest window that was answered whole without a loss (proven): a link
// that loses frames at random, whatever the window, is not starved to a
// window of 1 or 2, while a target short of buffers never proves more
// than it holds.

// tick is a time on the disk's clock (DiskOptions.Now) in nanoseconds
// since its opening (Disk.epoch): the times the engine sets, adds and
// compares per frame, in an integer, where a time.Time's Add, Sub and
// Before cost tens of instructions each.
type tick int64

// never is the tick of no time: an unset timer, no expiry.
const never = tick(math.MaxInt64)

// now is the disk's clock now. On the real clock it reads the monotonic
// clock alone (time.Since): time.Now reads the wall clock too, and in a
// guest whose clock source is not the TSC each read is a system call.
func (d *Disk) now() tick {
	if d.mono {
		return tick(time.Since(d.epoch))
	}
	return d.tick(d.opts.Now())
}

// tick converts a time of the disk's clock.
func (d *Disk) tick(t time.Time) tick { return tick(t.Sub(d.epoch)) }

// at converts a tick back to a time of the disk's clock.
func (d *Disk) at(t tick) time.Time { return d.epoch.Add(time.Duration(t)) }

// realAt is tick t on the real clock (a socket's deadline), now being the
// disk's clock now: at(t) when the disk's clock is the real one (no clock
// read), else t's distance from now added to time.Now.
func (d *Disk) realAt(t, now tick) time.Time {
	if d.mono {
		return d.at(t)
	}
	return time.Now().Add(time.Duration(t - now))
}

// request is one I/O of a caller: a buffer cut into frames.
type request struct {
	ctx    context.Context
	cmd    uint8 // ata.ReadSectors, ata.WriteSectors, ata.Identify, a FLUSH
	write  bool
	target *diskTarget // when set, every frame goes to this target (FLUSH)
	buf    []byte      // not yet handed out
	lba    uint64      // of buf[0]
	single bool        // one frame without data (FLUSH): not yet handed out
	// path, when set, is the only path the request goes on, dead or not
	// (IDENTIFY of a path: OpenDisk's, and the engine's probes). probe:
	// the engine's own (probed takes the outcome).
	path     *diskPath
	probe    bool
	deadline time.Duration // when not 0, replaces DiskOptions.Deadline

	pending  int  // frames handed out and not done
	turn     int  // bytes handed out in its turn (see issue)
	since    tick // submitted, or a frame last answered
	finished bool
	err      error
	done     chan struct{}
}

// more reports whether the request has frames left to hand out.
func (q *request) more() bool { return len(q.buf) > 0 || q.single }

// op is one frame of a request: one ATA command, sent until answered.
type op struct {
	req   *request
	cmd   uint8
	lba   uint64
	buf   []byte // read: where the data goes; write: the data
	write bool

	path     *diskPath // holds a window slot there while in flight
	avoid    *diskPath // a path it left (dead): another is preferred
	first    tick      // the first send: the deadline counts from it
	expire   tick      // when the last send times out
	tries    int       // sends on the current path
	sends    int       // in all
	sendErr  error     // the last send failed (not sent)
	inFlight bool      // in engine.inflight (also while in engine.retry)
	at       int       // its index there (see drop)
	latest   *attempt  // its latest send: queued for the next flush, then awaited
	flushed  uint64    // the engine.seq of the flush that last encoded it
	placed   uint64    // the engine.placeSeq that last placed its data (expectReplies)
	nudge    bool      // expire is now because of a bad reply, not a loss
	bad      int       // sends answered badly (see maxBad)
	goodSeen uint64    // its path's good replies at the first bad one
	lastBad  badInfo
	badPath  *diskPath

	// attempts are its sends; the active ones, live of them, await a
	// reply (at most maxAttempts: see there).
	attempts [maxAttempts + 1]attempt
	live     int
	dest     readDest // where its replies' data lands (reads, IDENTIFY)
	arg      wire.ATAArg
	hdr      [minFrameLen]byte
}

// attempt is one send of an op under its own tag; cl is what the client
// has registered for it.
type attempt struct {
	op     *op
	active bool
	tag    uint32
	sent   tick
	path   *diskPath
	seq    uint64 // of the sends on path (diskPath.sendSeq)
	bad    bool   // answered badly (counted once in op.bad)
	// cl is what the client has registered for the send; want, dest and
	// events are what takeReply reads in the read loop: set before the
	// send is registered, fixed until it is unregistered.
	cl     call
	want   ataWant
	dest   *readDest // reads and IDENTIFY: the op's
	events chan<- replyEvent
}

// reorderThresh is how many frames sent after one on its path (or a
// quarter of its window, when more) must be answered before it counts as
// lost without waiting for its timeout (as TCP's three duplicate ACKs): a
// target answers in about the order asked, so a frame overtaken by that
// many was dropped (a full buffer), once it is later than most round trips
// (SRTT + 2 RTTVAR; its timeout is at SRTT + 4 RTTVAR). A reply that was
// only late undoes the window cut (see lost).
const reorderThresh = 3

// maxAttempts bounds the sends of one frame kept waiting for a reply: a reply
// to an earlier send that was only late still completes the frame (and its
// round trip, measured from that send, raises the estimate).
const maxAttempts = 4

// engine is a Disk's event loop (see above). One ownership model: its
// state, and the Disk's paths and targets, are owned by its goroutine
// (run) and touched by no other, without a lock. Other goroutines reach
// them through its channels only: requests (do: submit, cancel), the
// replies the clients' read loops queue (replies), a client's end (gone),
// a late path's content check (checked), and functions to run on the
// loop (inLoop: PathStats, OpenDisk's verdicts). The read loops read only
// what a registered send fixes (attempt.takeReply).
type engine struct {
	d       *Disk
	replies chan replyEvent
	// sink takes the replies to the engine's sends that it reads
	// itself (readReplies; its ch is replies).
	sink replySink
	// inbox holds the requests submitted and cancelled (post): they
	// reach the loop without a rendezvous, so that a loop waiting on
	// a lent socket takes them where it is (notify wakes it when it
	// waits on its channels).
	inbox struct {
		sync.Mutex
		posts, spare []post
		closed       bool // the loop has ended: nothing is taken any more
	}
	notify  chan struct{}
	gone    chan transport
	checked chan contentCheck // a late path's sameContent (see probed)
	calls   chan loopCall     // functions to run on the loop (inLoop)
	stop    chan struct{}     // closed by Disk.Close
	exited  chan struct{}

	active   []*request // with frames left to hand out
	rr       int
	retry    []*op // frames waiting for a path (theirs died)
	inflight []*op
	free     []*op
	txs      []*engineTx // the paths' clients, each once
	sending  []*op       // flush's ops of one batch
	frames   []outFrame
	// failed is sendFailed, made once (a closure per flush would be
	// allocated per flush); failTx is the client of the batch it is for.
	failed func(i int, err error)
	failTx *engineTx
	timer  *time.Timer
	armed  tick // when the timer fires; never: stopped
	// soonest is the earliest expiry set (expireAt) since arm last
	// looked: while the timer runs, arm needs no other (the timer fires
	// by the earlier ones, and the loop then looks at all).
	soonest tick
	// armedAt is armed on the real clock, the lent socket's read
	// deadline (the disk's clock may be a test's).
	armedAt time.Time
	seq     uint64 // flushes and wake-ups, for PathStats
	// placeSeq counts the reads that foresaw replies (expectReplies),
	// and place is the last one's placements.
	placeSeq uint64
	place    []placement
	// clock, when fresh, is the time read after the last wait: the
	// loop's next pass takes it rather than read the clock again (in a
	// guest whose clock source is not the TSC, every read is a system
	// call and an emulated device's).
	clock tick
	fresh bool

	// reads, while frames are out, are its clients' socket reads, lent
	// to the loop (borrow): it waits for the replies itself, with no
	// hand-off from a read loop per reply (several clients:
	// multiReads). lent is them for wake (any goroutine); attention ends
	// such a wait (a post, or a kick); kicked, while above zero, asks
	// the loop to give them back and wait on its channels: it counts the
	// messages due there (see kick), each taken off as the loop takes
	// it, so that one taken first does not leave another's sender
	// waiting until the loop is next idle. released asks it to give
	// them back once (letGo). noBorrow: a read failed, the read loops
	// read from then on.
	reads     replyReader
	lent      atomic.Pointer[replyReader]
	attention atomic.Bool
	kicked    atomic.Int32
	released  atomic.Bool
	noBorrow  bool
	// full is set while the loop waits on lent reads with frames out
	// and no room for another frame on any path (windowsFull): a
	// request posted meanwhile could not be sent before a reply frees
	// a slot, and that reply (or the timer) ends the wait anyway, so
	// post does not wake the loop for it. Waking it costs a deadline
	// set twice (three clock reads, two timer changes) and a pass that
	// sends nothing; at queue depth 32 it did so for every burst of
	// requests.
	full atomic.Bool
	// rset, once the engine has borrowed the reads of several clients,
	// is what it waits on for their sockets (readSet); borrowMiss: one
	// of them would not lend (another disk's engine has its reads), the
	// read loops hand the replies over until the engine is next idle.
	rset       *readSet
	borrowMiss bool
	lentBuf    []replyReader
	// idleUntil, once no frame is out, is when the loop gives the
	// lent reads back (real clock; zero: busy, or not lent): see
	// readReplies.
	idleUntil time.Time
	letGo     func() // made once: what a client's fitRing calls (see released)
}

// turnBytes is how much of a request issue hands out before the next
// active request's turn. Requests of the kernel's nbd driver (128 KiB by
// default) or a file system's are then answered in the order they came,
// the first while the others' frames are out (its reply written to the
// client meanwhile), not all at once at the end as one frame each in turn
// would; a larger request shares the window with the others in turns.
const turnBytes = 128 << 10

// keepReads is how long an idle engine keeps its clients' reads (and
// waits for posts on them) before it gives them back to the read loops.
// A request that comes meanwhile, the next of a queue depth 1 stream
// (an NBD client's, a file system's), then costs a wake of the engine
// on the socket, not the read loop's hand-over both ways (a deadline set
// to wake the read loop, two channel hand-offs, its read that finds
// nothing, and the deadlines set again) at each request. Another disk's
// engine on the same client has its replies handed over meanwhile, as
// when this one is busy.
const keepReads = 50 * time.Millisecond

// post is a request submitted, or cancelled, for the loop.
type post struct {
	q      *request
	cancel bool
}

// post hands p to the loop; false when the loop has ended.
func (e *engine) post(p post) bool {
	e.inbox.Lock()
	if e.inbox.closed {
		e.inbox.Unlock()
		return false
	}
	e.inbox.posts = append(e.inbox.posts, p)
	e.inbox.Unlock()
	select {
	case e.notify <- struct{}{}:
	default: // a wake-up is due already
	}
	if p.cancel || !e.full.Load() {
		e.wake()
	}
	return true
}

// windowsFull reports whether frames are out and no path has room for
// another (see pick and pickBound): only a reply or a timeout can change
// that (see full).
func (e *engine) windowsFull() bool {
	if len(e.inflight) == 0 {
		return false
	}
	for _, p := range e.d.paths {
		if p.gone || p.target.out >= p.target.window {
			continue
		}
		if !p.usable() || p.out < p.cwnd {
			return false // room, or a dead path a bound IDENTIFY may take
		}
	}
	return true
}

// takePosts takes what was posted, now being the loop's clock: after it,
// a post ends the next wait on a lent socket (attention) or on the
// channels (notify).
func (e *engine) takePosts(now tick) {
	e.attention.Store(false)
	e.inbox.Lock()
	posts := e.inbox.posts
	e.inbox.posts, e.inbox.spare = e.inbox.spare[:0], posts
	e.inbox.Unlock()
	for i, p := range posts {
		if p.cancel {
			e.fail(p.q, p.q.ctx.Err())
		} else {
			e.add(p.q, now)
		}
		posts[i] = post{}
	}
}

// wake ends the loop's wait on a lent socket, if it waits there. When
// attention is set already, a wake is under way and the loop has not yet
// taken the posts (takePosts clears it first): it takes this one too.
func (e *engine) wake() {
	if e.attention.Swap(true) {
		return
	}
	if r := e.lent.Load(); r != nil {
		(*r).wake()
	}
}

// kick makes the loop leave a wait on a lent socket for its channels:
// whoever sends it a message on them (gone, checked, calls) calls it
// first, once per message; the loop takes one kick off as it takes the
// message.
func (e *engine) kick() {
	e.kicked.Add(1)
	e.wake()
}

// halt stops the loop (Disk.Close).
func (e *engine) halt() {
	close(e.stop)
	e.kick()
}

// count adds one to the SendCalls (or Wakeups) of p, once per flush (or
// wake-up) e.seq.
func (e *engine) count(p *diskPath, wake bool) {
	if p.countedSeq == e.seq {
		return
	}
	p.countedSeq = e.seq
	if wake {
		p.stats.Wakeups++
	} else {
		p.stats.SendCalls++
	}
}

func newEngine(d *Disk) *engine {
	window := 0
	for _, t := range d.targets {
		window += t.window
	}
	e := &engine{
		d:       d,
		replies: make(chan replyEvent, max(1024, 2*(maxAttempts+1)*window)),
		notify:  make(chan struct{}, 1),
		gone:    make(chan transport),
		checked: make(chan contentCheck),
		calls:   make(chan loopCall),
		stop:    make(chan struct{}),
		exited:  make(chan struct{}),
		timer:   time.NewTimer(time.Hour),
		armed:   never,
		soonest: never,
	}
	e.sink.ch = e.replies
	e.sink.expect = e.expectFor
	e.sink.now = e.waitNow
	e.letGo = func() {
		e.released.Store(true)
		e.wake()
	}
	e.timer.Stop()
	for _, p := range d.paths {
		if p.tx != nil && p.tx.tr == p.tr {
			continue
		}
		e.addTx(p.tr, p.tr.newBatchSender())
		go func(c transport) {
			select {
			case <-c.stopped():
				e.kick()
				select {
				case e.gone <- c:
				case <-e.exited:
				}
			case <-e.exited:
			}
		}(p.tr)
	}
	go e.run()
	return e
}

// engineTx is one client the engine's paths go through: its batch sender
// and the frames queued for the next flush. A path reaches it by
// diskPath.tx (no lookup by client per frame).
type engineTx struct {
	tr     transport
	w      batchSender
	queued []*op // to send at the next flush

	// order is the reads sent through tr, in the order sent, from
	// head on: the order their replies come in, which expectReplies
	// foresees. An entry whose send is no longer awaited is stale.
	order []sentRead
	head  int
}

// sentRead is a read's send, in engineTx.order.
type sentRead struct {
	a   *attempt
	tag uint32
}

// awaited reports whether the send still awaits its reply.
func (s sentRead) awaited() bool { return s.a.active && s.a.tag == s.tag }

// maxOrder is how many entries engineTx.order holds before its stale ones
// are dropped at a send (when no read foresees replies to drop them).
const maxOrder = 4096

// noteRead adds a read's send to the order.
func (t *engineTx) noteRead(a *attempt, tag uint32) {
	if len(t.order) >= maxOrder {
		t.prune()
	}
	t.order = append(t.order, sentRead{a, tag})
}

// prune drops the stale entries of the order (and the oldest half, if
// that is not enough: sends awaited so long are left to the copy).
func (t *engineTx) prune() {
	kept := t.order[:0]
	for _, s := range t.order[t.head:] {
		if s.awaited() {
			kept = append(kept, s)
		}
	}
	if len(kept) >= maxOrder/2 {
		kept = append(kept[:0], kept[len(kept)/2:]...)
	}
	clear(t.order[len(kept):])
	t.order, t.head = kept, 0
}

// expectFor is the sink's expect: the placements of the replies on c's
// socket.
func (e *engine) expectFor(c *Client) []placement {
	for _, t := range e.txs {
		if t.tr == c {
			return e.expectReplies(t)
		}
	}
	return nil
}

// expectReplies returns where the data of the next replies on t's socket
// go straight into their reads' buffers (see placement): the reads
// awaited, oldest send first, each once, up to a batch. A read whose
// buffer a reply filled already (its event not yet taken: by a read of
// another client's socket just before, say) is left out: a frame must
// never land in it.
func (e *engine) expectReplies(t *engineTx) []placement {
	place := e.place[:0]
	for t.head < len(t.order) && !t.order[t.head].awaited() {
		t.order[t.head] = sentRead{}
		t.head++
	}
	if t.head == len(t.order) {
		t.order, t.head = t.order[:0], 0
	}
	e.placeSeq++
	for _, s := range t.order[t.head:] {
		if len(place) == recvBatch {
			break
		}
		a := s.a
		o := a.op
		if !s.awaited() || o.placed == e.placeSeq || a.dest != &o.dest || len(o.buf) == 0 || len(o.buf) > maxPlaced {
			continue
		}
		// Read without dest's lock: while the engine holds its
		// clients' reads, the replies to its sends are handed out on
		// its goroutine alone (a read loop that filled one before the
		// reads were lent did so before the lending).
		if o.dest.filled {
			continue
		}
		o.placed = e.placeSeq
		place = append(place, placement{data: o.buf})
		a.path.putReplyHeader(&place[len(place)-1].hdr, e.d, s.tag)
	}
	e.place = place
	return place
}

// maxPlaced is the most data a placement takes: a frame of any size still
// fits the socket reader's buffer and the placement together.
const maxPlaced = 1<<16 - placedHdrLen

// addTx adds the client tr, written by w, for the paths that go
// through it.
func (e *engine) addTx(tr transport, w batchSender) *engineTx {
	t := &engineTx{tr: tr, w: w}
	e.txs = append(e.txs, t)
	for _, p := range e.d.paths {
		if p.tr == tr {
			p.tx = t
		}
	}
	if e.failed == nil {
		e.failed = e.sendFailed
	}
	return t
}

// do runs q and returns its error: q's context's when it ends first,
// errDiskClosed when the disk is closed. When do returns, no reply writes
// into q's buffer any more.
func (e *engine) do(q *request) error {
	q.done = make(chan struct{})
	if err := q.ctx.Err(); err != nil {
		return err
	}
	if !e.post(post{q: q}) {
		return errDiskClosed
	}
	select {
	case <-q.done:
	case <-q.ctx.Done():
		// Failed by the loop, or by its end (shutdown takes what was
		// posted): done either way.
		e.post(post{q: q, cancel: true})
		<-q.done
	}
	return q.err
}

// checkPass, when set (by the package's tests, in export_test.go), checks
// the engine's state at the top of every pass of its loop, on its
// goroutine.
var checkPass func(*engine)

func (e *engine) run() {
	defer close(e.exited)
	defer func() { e.rset.close() }()
	defer e.giveBack()
	for {
		if checkPass != nil {
			checkPass(e)
		}
		now := e.clock
		if !e.fresh {
			now = e.d.now()
		}
		e.fresh = false
		e.expireOps(now)
		e.probe(e.d.at(now))
		e.issue(now)
		e.flush()
		e.arm(now)
		if e.readReplies(now) {
			continue
		}
		e.giveBack()
		e.fresh = false
		select {
		case r := <-e.replies:
			e.seq++
			now := e.d.now()
			e.clock, e.fresh = now, true
			e.onReply(&r, now)
			e.takeReplies(now)
		case <-e.notify:
			now := e.d.now()
			e.clock, e.fresh = now, true
			e.takePosts(now)
		case r := <-e.checked:
			e.kicked.Add(-1)
			e.contentChecked(r)
		case c := <-e.gone:
			e.kicked.Add(-1)
			e.clientGone(c)
		case f := <-e.calls:
			e.kicked.Add(-1)
			f.fn()
			close(f.done)
		case <-e.timer.C:
			e.armed, e.armedAt = never, time.Time{}
		case <-e.stop:
			e.shutdown()
			return
		}
	}
}

// readReplies waits for replies on the lent sockets of the engine's
// clients, while frames are out (or, for keepReads, since the last went)
// and no message is due (kick), and takes those that came; it reports
// false, having done nothing, when the loop is to wait on its channels
// instead.
func (e *engine) readReplies(now tick) bool {
	deadline := e.armedAt
	if len(e.inflight) == 0 {
		// Idle: the reads are kept a while (keepReads), if lent.
		e.borrowMiss = false
		if e.reads == nil || e.kicked.Load() > 0 {
			e.idleUntil = time.Time{}
			return false
		}
		wall := e.d.realAt(now, now) // the socket's deadline is on the real clock
		if e.idleUntil.IsZero() {
			e.idleUntil = wall.Add(keepReads)
		} else if !wall.Before(e.idleUntil) {
			e.idleUntil = time.Time{}
			return false
		}
		if deadline.IsZero() || e.idleUntil.Before(deadline) {
			deadline = e.idleUntil
		}
	} else {
		e.idleUntil = time.Time{}
	}
	if e.noBorrow || e.borrowMiss || e.kicked.Load() > 0 || e.released.Swap(false) {
		return false
	}
	if e.reads == nil {
		if e.reads = e.borrow(); e.reads == nil {
			return false
		}
		r := e.reads // wake's copy: e.reads changes on the loop
		e.lent.Store(&r)
	}
	var (
		n   int
		err error
	)
	e.fresh = false // the reads may read the clock after the wait (waitNow)
	if len(e.replies) == 0 {
		e.full.Store(e.windowsFull())
		n, err = e.reads.readReplies(deadline, &e.attention, &e.sink)
		e.full.Store(false)           // before takePosts: a post after it wakes
		clear(e.place[:cap(e.place)]) // no pointer into a read's buffer is kept
	}
	// else: replies a read loop queued before it lent its reads (it may
	// have read one while the engine asked for them) are taken at once; a
	// wait on the socket would not see them, and ended only at the
	// timer's deadline (a random read at queue depth 1 took that long in
	// a 2-vCPU guest: 48 IOPS).
	now = e.clock // after the wait, as the reads saw it (waitNow)
	if !e.fresh {
		now = e.d.now()
	}
	e.clock, e.fresh = now, true
	e.takeSink(now) // even after an error: another client's frames came before it
	if err != nil {
		// The read loops read from now on, and see what the
		// connection says (a link down, a close); a client closed
		// among several leaves the others' reads to borrow again
		// once the engine is idle.
		if errors.Is(err, errClientClosed) {
			e.borrowMiss = true
		} else {
			e.noBorrow = true
		}
		e.giveBack()
		return false
	}
	if now >= e.armed {
		e.armed, e.armedAt = never, time.Time{} // the deadline was the timer's: re-armed
	}
	if n > 0 {
		e.seq++
	}
	e.takeReplies(now)
	e.takePosts(now)
	return true
}

// waitNow is the sink's now: the disk's clock, read once after a wait
// (the loop's clock: readReplies then takes the same reading), on the
// real clock.
func (e *engine) waitNow() time.Time {
	if !e.fresh {
		e.clock, e.fresh = e.d.now(), true
	}
	return e.d.realAt(e.clock, e.clock)
}

// takeSink takes the replies readReplies put in the sink.
func (e *engine) takeSink(now tick) {
	q := e.sink.q
	for i := range q {
		e.onReply(&q[i], now)
	}
	clear(q)
	e.sink.q = q[:0]
}

// takeReplies takes every reply queued now, without waiting.
func (e *engine) takeReplies(now tick) {
	for {
		select {
		case r := <-e.replies:
			e.onReply(&r, now)
		default:
			return
		}
	}
}

// borrow borrows the reads of the engine's clients that run: one
// client's lent reads, or several clients' joined (readSet.join). It
// returns nil when one of them cannot lend them (then borrowMiss) or
// there is no socket to read.
func (e *engine) borrow() replyReader {
	rs := e.lentBuf[:0]
	defer func() { clear(rs); e.lentBuf = rs[:0] }()
	for _, t := range e.txs {
		select {
		case <-t.tr.stopped():
			continue // its paths are gone
		default:
		}
		r := t.tr.borrowReads(e.letGo)
		if r == nil {
			for _, r := range rs {
				r.giveBack()
			}
			if len(rs) > 0 || len(e.txs) > 1 {
				e.borrowMiss = true
			}
			return nil
		}
		rs = append(rs, r)
	}
	switch len(rs) {
	case 0:
		return nil
	case 1:
		return rs[0]
	}
	var err error
	if e.rset == nil {
		e.rset, err = newReadSet()
	}
	var m replyReader
	if err == nil {
		m, err = e.rset.join(rs)
	}
	if err != nil {
		for _, r := range rs {
			r.giveBack()
		}
		e.noBorrow = true // the read loops hand the replies over
		return nil
	}
	return m
}

// giveBack returns the lent reads, if any, to the clients' read loops.
func (e *engine) giveBack() {
	if e.reads != nil {
		e.lent.Store(nil)
		e.reads.giveBack()
		e.reads = nil
	}
}

// inLoop runs fn on the engine's goroutine, which owns the engine's state
// (the paths, the targets, the frames), and returns when it has run: the
// way another goroutine reads or changes that state (PathStats,
// OpenDisk's verdicts, Sync's choice of targets). Once the engine has
// exited, its state is no one's: fn runs on the caller's goroutine.
func (e *engine) inLoop(fn func()) {
	f := loopCall{fn: fn, done: make(chan struct{})}
	e.kick()
	select {
	case e.calls <- f:
		<-f.done
	case <-e.exited:
		fn()
	}
}

// loopCall is a function for the engine's goroutine to run (inLoop).
type loopCall struct {
	fn   func()
	done chan struct{}
}

// add takes a new request, now being the loop's clock (one read for all
// the requests of a wake-up: in a guest whose clock source is not the
// TSC each read is a system call).
func (e *engine) add(q *request, now tick) {
	q.since = now
	if q.path != nil {
		if q.path.gone {
			e.finish(q, fmt.Errorf("%s: %w: %w", e.d.name, errNoPaths, q.path.tr.Err()))
			return
		}
		e.active = append(e.active, q)
		return
	}
	if err := e.d.allGone(q.target); err != nil {
		e.finish(q, err)
		return
	}
	if err := e.d.beyond(q.cmd, q.lba, len(q.buf)); err != nil {
		e.finish(q, err)
		return
	}
	e.active = append(e.active, q)
}

// beyond returns an error when a READ or WRITE of n bytes at sector lba
// passes the capacity the disk's addressing mode reaches: such a frame is
// never sent (LBA28 would write sector lba mod 2^28).
func (d *Disk) beyond(cmd uint8, lba uint64, n int) error {
	if cmd != ata.ReadSectors && cmd != ata.WriteSectors {
		return nil
	}
	if !d.within(lba, n) {
		return fmt.Errorf("aoe: %s: %s of %d sectors at sector %d passes the addressable capacity, %d sectors", d.name, commandName(cmd),
			n/wire.SectorSize, lba, d.sectors)
	}
	return nil
}

// within reports whether n bytes at sector lba are within the capacity
// (see beyond): the check made per frame, inlined.
func (d *Disk) within(lba uint64, n int) bool {
	return lba <= d.sectors && uint64(n/wire.SectorSize) <= d.sectors-lba
}

// deadline is how long a frame of q may go unanswered.
func (e *engine) deadline(q *request) time.Duration {
	if q.deadline > 0 {
		return q.deadline
	}
	return e.d.opts.Deadline
}

// issue hands frames to free window slots: first the frames that wait for
// a new path, then new frames of the active requests, in turns of up to
// turnBytes each (deficit round robin).
func (e *engine) issue(now tick) {
	for len(e.retry) > 0 {
		o := e.retry[0]
		p := e.pick(o.req.target, o.avoid)
		if p == nil {
			break
		}
		e.retry = e.retry[1:]
		if len(o.buf) > p.maxSectors*wire.SectorSize {
			e.splitFor(o, p)
			o = e.retry[0]
			e.retry = e.retry[1:]
		}
		e.take(o, p)
		o.tries = 0
		p.stats.Retransmits++
		p.tr.countRetransmit()
		e.send(o, now)
	}
	misses := 0
	for len(e.active) > 0 && misses < len(e.active) {
		if e.rr >= len(e.active) {
			e.rr %= len(e.active) // (a division per frame costs)
		}
		i := e.rr
		q := e.active[i]
		var p *diskPath
		if q.path != nil {
			p = e.pickBound(q.path)
		} else {
			p = e.pick(q.target, nil)
		}
		if p == nil {
			misses++
			e.rr++
			continue
		}
		misses = 0
		if n := min(len(q.buf), p.maxSectors*wire.SectorSize); (q.cmd == ata.ReadSectors || q.cmd == ata.WriteSectors) && !e.d.within(q.lba, n) {
			// The frame-cutting assertion: nothing past the capacity
			// (add refused such requests; this holds it for any path).
			e.fail(q, e.d.beyond(q.cmd, q.lba, n))
			e.rr = i
			continue
		}
		o := e.cut(q, p)
		if q.more() {
			// Its turn goes on up to turnBytes: a request of that
			// size is handed out whole before the next one's frames.
			q.turn += len(o.buf)
			e.rr = i
			if q.turn >= turnBytes {
				q.turn = 0
				e.rr = i + 1
			}
		} else {
			e.active = append(e.active[:i], e.active[i+1:]...)
			e.active[len(e.active):cap(e.active)][0] = nil
			e.rr = i
		}
		e.take(o, p)
		o.first = now
		e.send(o, now)
	}
}

// cut takes the next frame of q for path p.
func (e *engine) cut(q *request, p *diskPath) *op {
	o := e.newOp(q)
	if q.single {
		q.single = false
		return o
	}
	n := len(q.buf)
	if q.cmd != ata.Identify {
		n = min(n, p.maxSectors*wire.SectorSize)
	}
	o.buf, o.lba = q.buf[:n], q.lba
	q.buf, q.lba = q.buf[n:], q.lba+uint64(n/wire.SectorSize)
	return o
}

func (e *engine) newOp(q *request) *op {
	var o *op
	if n := len(e.free); n > 0 {
		o, e.free = e.free[n-1], e.free[:n-1]
	} else {
		o = new(op)
	}
	o.req, o.cmd, o.write = q, q.cmd, q.write
	q.pending++
	return o
}

// splitFor cuts o, too big for p, into frames that p carries, and puts
// them first in the retry queue. o's sends are given up first: none may
// write into its buffer while the pieces are read anew.
func (e *engine) splitFor(o *op, p *diskPath) {
	e.cancelSends(o)
	o.dest = readDest{}
	var pieces []*op
	for off := 0; off < len(o.buf); {
		n := min(len(o.buf)-off, p.maxSectors*wire.SectorSize)
		s := o
		if off > 0 {
			s = e.newOp(o.req)
			s.first, s.avoid, s.sends = o.first, o.avoid, o.sends
		}
		pieces = append(pieces, s)
		off += n
	}
	buf, lba := o.buf, o.lba
	for _, s := range pieces {
		n := min(len(buf), p.maxSectors*wire.SectorSize)
		s.buf, s.lba = buf[:n], lba
		buf, lba = buf[n:], lba+uint64(n/wire.SectorSize)
	}
	e.retry = append(pieces, e.retry...)
}

// take gives o a window slot on p.
func (e *engine) take(o *op, p *diskPath) {
	o.path = p
	p.out++
	p.target.out++
	if !o.inFlight {
		o.inFlight, o.at = true, len(e.inflight)
		e.inflight = append(e.inflight, o)
	}
}

// release gives o's slot back.
func (e *engine) release(o *op) {
	if o.path != nil {
		o.path.out--
		o.path.target.out--
		o.path = nil
	}
}

// send sends o (again) on o.path: it registers a fresh tag with the
// client and queues the frame for the next flush.
func (e *engine) send(o *op, now tick) {
	p := o.path
	o.tries++
	o.sends++
	o.sendErr = nil
	a := o.slot()
	a.op, a.bad = o, false
	p.sendSeq++
	a.seq = p.sendSeq
	o.latest = a
	if a.cl.ata == nil {
		// The same for every send of the engine's (its ops are its own).
		a.cl = call{shelf: e.d.shelf, slot: e.d.slot, command: wire.CommandATA, once: true, ata: a}
		a.events = e.replies
	}
	a.cl.src, a.dest = p.mac, nil
	switch o.cmd {
	case ata.ReadSectors:
		a.want = ataWant{rw: true, ext: e.d.id.LBA48, lba: o.lba, sectors: uint8(len(o.buf) / wire.SectorSize), data: len(o.buf)}
	case ata.WriteSectors:
		a.want = ataWant{rw: true, ext: e.d.id.LBA48, lba: o.lba, sectors: uint8(len(o.buf) / wire.SectorSize)}
	case ata.Identify:
		a.want = ataWant{data: wire.SectorSize}
	default:
		a.want = ataWant{}
	}
	if o.cmd == ata.Identify || o.cmd == ata.ReadSectors {
		if o.dest.buf == nil {
			o.dest = readDest{buf: o.buf}
		}
		a.dest = &o.dest
	}
	tag, err := p.tr.expect(&a.cl)
	if err != nil {
		// The client is closed: its path is reported gone soon.
		o.sendErr = err
		e.expireAt(o, now+tick(10*time.Millisecond))
		return
	}
	a.active, a.tag, a.path, a.sent = true, tag, p, now
	o.live++
	if o.cmd == ata.ReadSectors {
		p.tx.noteRead(a, tag)
	}
	rto := p.rtt.backedOff(o.tries)
	if left := e.deadline(o.req) - time.Duration(now-o.first); rto > left {
		rto = max(left, time.Millisecond)
	}
	e.expireAt(o, now+tick(rto))
	p.tx.queued = append(p.tx.queued, o)
}

// slot returns a free attempt of o, giving up its oldest send when
// maxAttempts are waiting.
func (o *op) slot() *attempt {
	if o.live == 0 {
		return &o.attempts[0] // none is active: a frame's first send (inlined)
	}
	return o.slotOf()
}

// slotOf is slot when a send of o is active.
func (o *op) slotOf() *attempt {
	if o.live >= maxAttempts {
		var oldest *attempt
		for i := range o.attempts {
			if a := &o.attempts[i]; a.active && (oldest == nil || a.sent < oldest.sent) {
				oldest = a
			}
		}
		oldest.path.tr.forget(oldest.tag)
		oldest.active = false
		o.live--
	}
	for i := range o.attempts {
		if !o.attempts[i].active {
			return &o.attempts[i]
		}
	}
	panic("aoe: no free attempt") // unreachable: at most maxAttempts-1 are active here
}

// flush writes the queued frames, one batch per client. A queued op may
// have been given up since (its request failed while the same pass went
// on: it is reset, and may even be queued again for another request), or
// sent again on another client's path: only the op's current send goes,
// once, by its own path's client.
func (e *engine) flush() {
	for _, t := range e.txs {
		queued := t.queued
		if len(queued) == 0 {
			continue
		}
		e.frames = e.frames[:0]
		e.seq++
		ops := e.sending[:0]
		for _, o := range queued {
			if a := o.latest; a == nil || !a.active || a.path.tx != t || o.flushed == e.seq {
				continue
			}
			o.flushed = e.seq
			ops = append(ops, o)
			e.frames = append(e.frames, outFrame{})
			e.encode(o, &e.frames[len(e.frames)-1])
			e.count(o.path, false)
		}
		e.sending = ops
		if len(ops) > 0 {
			e.failTx = t
			t.w.send(e.frames, e.failed)
			e.failTx = nil
		}
		clear(e.frames)
		clear(ops)
		clear(queued)
		t.queued = queued[:0]
	}
}

// sendFailed takes the failure of the i-th frame of the batch flush is
// sending (e.sending) on e.failTx.
func (e *engine) sendFailed(i int, err error) {
	o := e.sending[i]
	if a := o.latest; a != nil && a.active {
		e.failTx.tr.forget(a.tag)
		a.active = false
		o.live--
	}
	// Sent again soon (a link that is down should not spin).
	o.sendErr = err
	e.expireAt(o, e.d.now()+tick(min(o.path.rtt.rto(), 10*time.Millisecond)))
	if p := o.path; linkDown(err) && !p.dead {
		// Whatever answers when the link is back
		// proves itself with IDENTIFY first.
		p.dead, p.lastProbe = true, e.d.opts.Now()
	}
}

// encode builds the frame of o's latest send in f: its path's header
// (diskPath.hdr) with the send's tag and o's ATA argument written in.
func (e *engine) encode(o *op, f *outFrame) {
	a := o.latest
	p := a.path
	if p.hdr[12] == 0 { // not yet made: the EtherType's first byte is 0x88
		h := wire.Frame{Destination: p.mac, Source: p.src, Shelf: e.d.shelf, Slot: e.d.slot, Command: wire.CommandATA}
		h.AppendBinary(p.hdr[:0]) // cannot fail: both MACs are 6 bytes
	}
	o.hdr = p.hdr
	binary.BigEndian.PutUint32(o.hdr[wire.HeaderLen-4:wire.HeaderLen], a.tag)
	e.d.setATAArg(&o.arg, o)
	o.arg.PutHeader(o.hdr[wire.HeaderLen:])
	if o.write {
		f.hdr, f.data = o.hdr[:wire.HeaderLen+ataArgLen], o.buf
		return
	}
	f.hdr = o.hdr[:]
}

// cancelSends gives up every send of o: after it, no reply touches o.
func (e *engine) cancelSends(o *op) {
	for i := 0; o.live > 0 && i < len(o.attempts); i++ {
		if a := &o.attempts[i]; a.active {
			a.path.tr.forget(a.tag)
			a.active = false
			o.live--
		}
	}
}

// onReply takes a reply to one of the sends.
func (e *engine) onReply(r *replyEvent, now tick) {
	a := r.att
	if !a.active || a.tag != r.tag {
		return // to a send given up: its op went on without it
	}
	o := a.op
	p := a.path
	d := e.d
	if r.bad.kind != 0 {
		// Its data unused; the send stays registered for a good reply.
		p.stats.BadReplies++
		p.lastBad = r.bad
		if a.bad {
			return // a duplicate
		}
		a.bad = true
		o.bad++
		o.lastBad, o.badPath = r.bad, p
		if o.bad == 1 {
			o.goodSeen = p.good
		}
		if o.bad >= maxBad && p.good == o.goodSeen {
			// Nothing but bad replies from this path since: it
			// keeps answering wrong.
			e.fail(o.req, d.replyErr(o))
			return
		}
		if o.bad < maxBad && o.path != nil && !o.nudge {
			e.expireAt(o, now) // ask again at once
			o.nudge = true
		}
		return
	}
	a.active = false
	o.live--
	p.rtt.sample(time.Duration(now - a.sent))
	p.timeouts, p.answered = 0, now
	p.good++
	p.highSeq = max(p.highSeq, a.seq)
	if u := &p.undo; u.a == a && u.tag == a.tag {
		// The send whose timeout cut the window was answered: late,
		// not lost.
		p.cwnd, p.ssthresh, p.proven = max(p.cwnd, u.cwnd), max(p.ssthresh, u.ssthresh), max(p.proven, u.proven)
		if p.stats.WindowCuts > 0 { // never below 0
			p.stats.WindowCuts--
		}
		p.stats.LateReplies++
		*u = cutUndo{}
	}
	switch {
	case r.errFlag:
		e.fail(o.req, fmt.Errorf("%s: %s refused the request: %w", d.name, p.mac, r.code))
		return
	case !r.ata:
		p.stats.Dropped++
		return // wait for another send, or the timer
	case r.status&ata.StatusFailed != 0:
		e.fail(o.req, &wire.ATAError{Device: d.name, Command: d.ataArg(o).CmdStatus, LBA: o.lba, Status: r.status, Err: r.errReg})
		return
	case (o.cmd == ata.Identify || o.cmd == ata.ReadSectors) && !r.filled:
		p.stats.Dropped++ // short: a target whose MTU is smaller than it said
		return
	}
	p.stats.Frames++
	p.stats.Bytes += uint64(len(o.buf))
	e.count(p, true)
	if o.path == p {
		e.grow(p)
	}
	// o is done.
	q := o.req
	e.drop(o)
	q.since = now
	q.pending--
	if !q.more() && q.pending == 0 {
		e.finish(q, nil)
	}
}

// grow opens p's window on an answered frame (see diskPath.cwnd), when
// the window was what limited it.
func (e *engine) grow(p *diskPath) {
	if p.clean++; p.clean >= p.cwnd && p.cwnd > max(p.proven, p.candidate) {
		// A whole window answered since the last loss: proven once
		// every frame sent until now is answered (expireOps), unless
		// one of them turns out lost.
		p.candidate, p.candSeq = p.cwnd, p.sendSeq
	}
	if p.cwnd >= p.target.window || p.out < p.cwnd {
		return
	}
	if p.cwnd < p.ssthresh {
		p.cwnd++ // slow start: doubles per round trip
		return
	}
	p.acked++
	if p.acked >= p.cwnd {
		p.cwnd++
		p.acked = 0
	}
}

// lost halves p's window for send a, timed out, once per loss event:
// frames sent before the last cut were lost to the same one. When a's
// reply comes after all, the loss was not one (a late reply): the cut is
// undone (see onReply).
func (e *engine) lost(p *diskPath, a *attempt, now tick) {
	p.clean = 0
	if a.seq <= p.candSeq {
		p.candidate = 0
	}
	if a.sent < p.cutAt {
		return
	}
	p.undo = cutUndo{a: a, tag: a.tag, cwnd: p.cwnd, ssthresh: p.ssthresh, proven: p.proven}
	p.cwnd = max(p.cwnd/2, 1)
	// Back to the largest window that once went a whole round without a
	// loss in one round trip (slow start), then on by one per window.
	p.ssthresh = max(p.cwnd, min(p.proven, p.target.window))
	p.acked = 0
	p.cutAt = now
	p.stats.WindowCuts++
}

// drop takes o out of flight and out of the retry queue (its sends given
// up, its slot released) and recycles it.
func (e *engine) drop(o *op) {
	if o.live > 0 { // none, once answered
		e.cancelSends(o)
	}
	e.release(o)
	if o.inFlight {
		// The last takes its place: the order of e.inflight is no
		// one's (expireOps sends again what timed out in any order).
		last := len(e.inflight) - 1
		m := e.inflight[last]
		e.inflight[o.at], m.at = m, o.at
		e.inflight[last] = nil
		e.inflight = e.inflight[:last]
	}
	if len(e.retry) > 0 { // a piece of splitFor waits there out of flight
		e.retry = remove(e.retry, o)
	}
	o.reset()
	e.free = append(e.free, o)
}

// reset readies o, out of flight with no active send, for reuse. (Zeroing
// the whole op, a kilobyte with its sends, cost as much as a frame's data.)
func (o *op) reset() {
	o.req, o.buf, o.lba, o.cmd, o.write = nil, nil, 0, 0, false
	o.path, o.avoid, o.latest = nil, nil, nil
	o.first, o.expire = 0, 0
	o.tries, o.sends, o.sendErr, o.inFlight = 0, 0, nil, false
	o.nudge, o.bad, o.lastBad, o.badPath = false, 0, badInfo{}, nil
	o.dest = readDest{}
}

// remove deletes o from ops, keeping the order.
func remove(ops []*op, o *op) []*op {
	for i, x := range ops {
		if x == o {
			ops = append(ops[:i], ops[i+1:]...)
			ops[len(ops):cap(ops)][0] = nil
			return ops
		}
	}
	return ops
}

// fail ends q with err: its frames in flight or waiting are given up.
func (e *engine) fail(q *request, err error) {
	if q.finished {
		return
	}
	for _, list := range []*[]*op{&e.retry, &e.inflight} {
		for i := 0; i < len(*list); {
			if o := (*list)[i]; o.req == q {
				e.drop(o)
				continue
			}
			i++
		}
	}
	for i, x := range e.active {
		if x == q {
			e.active = append(e.active[:i], e.active[i+1:]...)
			e.active[len(e.active):cap(e.active)][0] = nil
			break
		}
	}
	e.finish(q, err)
}

func (e *engine) finish(q *request, err error) {
	if q.finished {
		return
	}
	q.finished, q.err = true, err
	close(q.done)
	if q.probe {
		e.probed(q, err)
	}
}

// expireOps handles the frames whose send timed out: sent again on their
// path, put back in the queue for a slot when their path's window was cut
// below what it has out, moved to another path when theirs is dead, or
// their request failed at the deadline; and the requests that waited for
// a verified path longer than the deadline.
func (e *engine) expireOps(now tick) {
	candidates := false
	for _, p := range e.d.paths {
		p.minOut = ^uint64(0)
		candidates = candidates || p.candidate > 0
	}
	for i := 0; i < len(e.inflight); i++ {
		o := e.inflight[i]
		if o.path == nil {
			continue
		}
		p := o.path
		if a := o.latest; candidates && a != nil && a.active && a.path == p {
			p.minOut = min(p.minOut, a.seq)
		}
		overtaken := false
		if now < o.expire {
			// Not timed out; but lost when reorderThresh frames sent
			// after it on its path were answered (fast retransmit).
			a := o.latest
			if o.nudge || a == nil || !a.active || a.path != p || a.seq+uint64(max(reorderThresh, p.cwnd/4)) > p.highSeq ||
				time.Duration(now-a.sent) <= p.rtt.srtt+2*p.rtt.rttvar {
				continue
			}
			overtaken = true
			p.stats.Overtaken++
		}
		switch {
		case o.nudge:
			o.nudge = false // a bad reply: ask again, no loss
		case overtaken:
			e.lost(p, o.latest, now)
		default:
			e.timedOut(p, now)
			if a := o.latest; a != nil && a.active && o.sendErr == nil {
				e.lost(p, a, now)
			}
		}
		if waited := time.Duration(now - o.first); waited > e.deadline(o.req) {
			e.fail(o.req, e.d.deadlineErr(o, p, waited, o.sends, o.sendErr))
			i = -1 // fail dropped ops: start again
			continue
		}
		if o.req.path != nil {
			if p.gone {
				e.fail(o.req, fmt.Errorf("%s: %w: %w", e.d.name, errNoPaths, p.tr.Err()))
				i = -1
				continue
			}
		} else if !p.usable() || p.out > p.cwnd {
			e.release(o)
			if !p.usable() {
				o.avoid = p
			}
			e.retry = append(e.retry, o)
			if err := e.d.allGone(o.req.target); err != nil {
				e.fail(o.req, err)
				i = -1
			}
			continue
		}
		p.stats.Retransmits++
		p.tr.countRetransmit()
		e.send(o, now)
	}
	for _, p := range e.d.paths {
		if p.candidate > 0 && p.minOut > p.candSeq {
			// Every frame sent up to the candidate window's last
			// one answered: proven.
			p.proven, p.candidate = max(p.proven, p.candidate), 0
		}
	}
	for i := 0; i < len(e.retry); i++ {
		if o := e.retry[i]; time.Duration(now-o.first) > e.deadline(o.req) {
			e.fail(o.req, e.d.deadlineErr(o, nil, time.Duration(now-o.first), o.sends, o.sendErr))
			i = -1
		}
	}
	for i := 0; i < len(e.active); i++ {
		if q := e.active[i]; q.pending == 0 && time.Duration(now-q.since) > e.deadline(q) {
			e.fail(q, e.d.stallErr(q, time.Duration(now-q.since)))
			i = -1
		}
	}
}

// timedOut counts a lost frame on p; p dies after deadAfter in a row
// with no reply for deadTime.
func (e *engine) timedOut(p *diskPath, now tick) {
	p.stats.Timeouts++
	p.timeouts++
	if p.timeouts >= deadAfter && time.Duration(now-p.answered) > deadTime && !p.dead {
		p.dead = true
		p.lastProbe = e.d.at(now)
	}
}

// clientGone marks the paths of c gone and moves their frames.
func (e *engine) clientGone(c transport) {
	for _, p := range e.d.paths {
		if p.tr == c {
			p.gone, p.dead = true, true
		}
	}
	now := e.d.now()
	for _, o := range e.inflight {
		if o.path != nil && o.path.gone {
			e.expireAt(o, now) // expireOps moves them, or fails them
		}
	}
	for i := 0; i < len(e.active); i++ {
		if q := e.active[i]; q.path != nil && q.path.gone && q.pending == 0 {
			e.fail(q, fmt.Errorf("%s: %w: %w", e.d.name, errNoPaths, c.Err()))
			i = -1
		}
	}
	if err := e.d.allGone(nil); err != nil {
		e.failAll(err)
	}
}

// pick chooses a path that carries data (of target t when not nil) with
// a free slot in its window and its target's, or nil: fewest bytes
// outstanding, avoid last.
func (e *engine) pick(t *diskTarget, avoid *diskPath) *diskPath {
	var best *diskPath
	for _, p := range e.d.paths {
		if (t != nil && p.target != t) || !p.usable() || p.out >= p.cwnd || p.target.out >= p.target.window {
			continue
		}
		if best == nil || better(p, best, avoid) {
			best = p
		}
	}
	return best
}

// pickBound returns p for a request bound to it (an IDENTIFY) when its
// target has a free slot (its own window does not hold back one frame).
func (e *engine) pickBound(p *diskPath) *diskPath {
	if p.gone || p.target.out >= p.target.window {
		return nil
	}
	return p
}

// probe starts an IDENTIFY on each dead path that is due, while I/O
// waits or is under way: every probeEvery while another path serves its
// target, at once when none does (the I/O waits for it) unless its last
// probe was refused (then every probeEvery too).
func (e *engine) probe(now time.Time) {
	due := false
	for _, p := range e.d.paths {
		if p.dead && !p.gone && !p.excluded && !p.probing {
			due = true
			break
		}
	}
	if !due || !e.busy() {
		return
	}
	for _, p := range e.d.paths {
		if !p.dead || p.gone || p.excluded || p.probing {
			continue
		}
		if (e.serves(p.target) || p.refused) && now.Sub(p.lastProbe) < probeEvery {
			continue
		}
		if p.probeBuf == nil {
			p.probeBuf = make([]byte, wire.SectorSize)
		}
		p.probing, p.lastProbe = true, now
		p.stats.Probes++
		q := &request{ctx: e.d.ctx, cmd: ata.Identify, buf: p.probeBuf, path: p, probe: true, deadline: probeEvery, done: make(chan struct{})}
		e.add(q, e.d.tick(now))
	}
}

// busy reports whether a caller's frames wait or are out.
func (e *engine) busy() bool {
	for _, q := range e.active {
		if !q.probe {
			return true
		}
	}
	for _, o := range e.retry {
		if !o.req.probe {
			return true
		}
	}
	for _, o := range e.inflight {
		if !o.req.probe {
			return true
		}
	}
	return false
}

// serves reports whether a path carries data to t.
func (e *engine) serves(t *diskTarget) bool {
	for _, p := range e.d.paths {
		if p.target == t && p.usable() {
			return true
		}
	}
	return false
}

// probed takes the outcome of a probe of a dead path: an IDENTIFY of the
// disk makes it carry data again (for a target MAC whose data was never
// compared, once sameContent says its data is the disk's); of another
// disk, it is excluded for good; no answer leaves it dead, probed again
// later.
func (e *engine) probed(q *request, err error) {
	p := q.path
	p.probing = false
	if err != nil {
		if errors.Is(err, errDiskClosed) {
			return
		}
		p.lastProbe = e.d.opts.Now()
		// Answered at once with an error (not unanswered until its
		// deadline): the next probe waits, or probes would follow each
		// other as fast as the refusals come.
		p.refused = !errors.Is(err, ErrDeadline)
		return
	}
	p.refused = false
	id, _ := wire.ParseIdentify(p.probeBuf)
	if diff := e.d.id.Differs(id); len(diff) > 0 {
		e.exclude(p, diff)
		return
	}
	if !p.target.checked {
		// A target MAC whose data was never compared (it did not
		// answer at open): the same IDENTIFY may be another disk of
		// the same size (see sameContent). Its path carries data
		// once its sectors read as a checked target's do.
		ref, at := -1, -1
		for i, r := range e.d.paths {
			if ref < 0 && r.target.checked && r.usable() {
				ref = i
			}
			if r == p {
				at = i
			}
		}
		p.lastProbe = e.d.opts.Now()
		if ref < 0 {
			p.refused = true // nothing to compare with yet: later
			return
		}
		p.probing = true
		d := e.d
		go func() {
			err := d.sameContent(d.ctx, []int{ref, at}, func(j int) PathIdentity {
				return PathIdentity{Interface: d.paths[j].tr.Interface().Name, MAC: d.paths[j].mac, Identity: d.id}
			})
			e.kick()
			select {
			case e.checked <- contentCheck{p, err}:
			case <-e.exited:
			}
		}()
		return
	}
	p.dead, p.timeouts, p.answered = false, 0, e.d.now()
}

// contentCheck is the outcome of sameContent for a path probed late.
type contentCheck struct {
	p   *diskPath
	err error
}

// contentChecked takes the outcome of a late path's sameContent: the
// same data makes it (and its target) carry data; other data excludes
// it; a failure leaves it dead, probed again later.
func (e *engine) contentChecked(r contentCheck) {
	p := r.p
	p.probing = false
	var ce *ConflictError
	switch {
	case r.err == nil:
		p.target.checked = true
		p.dead, p.timeouts, p.answered, p.refused = false, 0, e.d.now(), false
	case errors.As(r.err, &ce):
		e.exclude(p, ce.Differs)
	default:
		p.lastProbe, p.refused = e.d.opts.Now(), true
	}
}

// exclude takes p out for good (it answers for another disk), and fails
// the I/O when no path is left.
func (e *engine) exclude(p *diskPath, diff []string) {
	p.excluded, p.mismatch = true, diff
	if err := e.d.allGone(nil); err != nil {
		e.failAll(err)
	}
}

// arm sets the timer to the earliest expiry (and the next probe of a
// dead path, the deadline of frames that wait for a path, when frames
// wait), unless it fires before that anyway.
func (e *engine) arm(now tick) {
	next := never
	if e.armed == never {
		for _, o := range e.inflight {
			if o.path != nil {
				next = min(next, o.expire)
			}
		}
	} else {
		// The timer fires by every expiry it saw; of those set since,
		// the soonest.
		next = e.soonest
	}
	e.soonest = never
	for _, o := range e.retry {
		next = min(next, o.first+tick(e.deadline(o.req)))
	}
	for _, q := range e.active {
		if q.pending == 0 {
			next = min(next, q.since+tick(e.deadline(q)))
		}
	}
	busy := -1 // unknown yet: e.busy walks the frames
	for _, p := range e.d.paths {
		if p.dead && !p.gone && !p.excluded && !p.probing {
			if busy < 0 {
				busy = 0
				if e.busy() { // probes alone do not wait for probes
					busy = 1
				}
			}
			if busy == 1 {
				next = min(next, e.d.tick(p.lastProbe.Add(probeEvery)))
			}
		}
	}
	if next >= e.armed {
		return // nothing to time, or it fires earlier: the loop re-arms then
	}
	e.armed = next
	e.armedAt = e.d.realAt(next, now)
	e.timer.Reset(max(time.Duration(next-now), 0))
}

// expireAt sets when o's send times out, for arm (soonest).
func (e *engine) expireAt(o *op, t tick) {
	o.expire = t
	e.soonest = min(e.soonest, t)
}

// linkDown reports whether a send failed because the interface is down
// or gone.
func linkDown(err error) bool {
	return errors.Is(err, syscall.ENETDOWN) || errors.Is(err, syscall.ENXIO) || errors.Is(err, syscall.ENODEV)
}

// shutdown fails every request with errDiskClosed: those posted and
// not yet taken too, and those posted from now on.
func (e *engine) shutdown() {
	e.timer.Stop()
	e.inbox.Lock()
	e.inbox.closed = true
	e.inbox.Unlock()
	e.takePosts(e.d.now())
	e.failAll(errDiskClosed)
}

// failAll fails every request: waiting, in flight, or waiting for a path.
func (e *engine) failAll(err error) {
	for len(e.active) > 0 {
		e.fail(e.active[0], err)
	}
	for len(e.inflight) > 0 {
		e.fail(e.inflight[0].req, err)
	}
	for len(e.retry) > 0 {
		e.fail(e.retry[0].req, err)
	}
}
