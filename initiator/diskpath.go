package initiator

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// A path is dead after deadAfter timeouts in a row with no reply for
// deadTime (a burst of losses, such as a full socket buffer, does not kill
// it): new frames avoid it, and it is tried again only once every
// probeEvery, until it answers.
const (
	deadAfter  = 4
	deadTime   = 500 * time.Millisecond
	probeEvery = time.Second
)

// diskPath is one (interface, target MAC) way to the disk, with its round
// trip estimate and counters. Its mutable fields are guarded by Disk.mu.
type diskPath struct {
	client     *Client
	mac        net.HardwareAddr
	target     *diskTarget
	mtu        int
	maxSectors int

	out       int // frames outstanding on this path
	rtt       rttEstimator
	timeouts  int       // in a row
	answered  time.Time // the last reply
	dead      bool
	gone      bool // its client stopped (interface gone or down): never used again
	lastProbe time.Time

	stats PathStats
}

// PathStats count what went over one path.
type PathStats struct {
	Interface   string        `json:"interface"`
	MAC         string        `json:"mac"`
	MTU         int           `json:"mtu"`
	Sectors     int           `json:"sectors_per_frame"`
	Window      int           `json:"window"`
	Frames      uint64        `json:"frames"` // answered
	Bytes       uint64        `json:"bytes"`
	Retransmits uint64        `json:"retransmits"`
	Timeouts    uint64        `json:"timeouts"`
	Dropped     uint64        `json:"dropped"` // short or malformed replies
	SRTT        time.Duration `json:"srtt_ns"`
	RTO         time.Duration `json:"rto_ns"`
	Dead        bool          `json:"dead"`
}

func newDiskPath(p DiskPath, t *diskTarget, opts DiskOptions) *diskPath {
	ifi := p.Client.Interface()
	mtu := ifi.MTU
	if mtu <= 0 {
		mtu = 1500
	}
	n := p.Config.PayloadForMTU(mtu) / SectorSize
	n = min(n, 255)
	if opts.MaxSectors > 0 {
		n = min(n, opts.MaxSectors)
	}
	dp := &diskPath{client: p.Client, mac: p.MAC, target: t, mtu: mtu, maxSectors: max(n, 1), answered: time.Now()}
	dp.rtt = rttEstimator{min: opts.MinRTO, max: opts.MaxRTO, initial: opts.InitialRTO}
	return dp
}

// PathStats returns the counters of every path.
func (d *Disk) PathStats() []PathStats {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]PathStats, 0, len(d.paths))
	for _, p := range d.paths {
		s := p.stats
		s.Interface, s.MAC, s.MTU = p.client.Interface().Name, p.mac.String(), p.mtu
		s.Sectors, s.Window = p.maxSectors, p.target.window
		s.SRTT, s.RTO, s.Dead = p.rtt.srtt, p.rtt.rto(), p.dead
		out = append(out, s)
	}
	return out
}

// ResetStats zeroes the paths' counters (not their RTT estimates).
func (d *Disk) ResetStats() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, p := range d.paths {
		p.stats = PathStats{}
	}
}

// op is one ATA command in one frame.
type op struct {
	cmd    uint8 // the non-EXT opcode of the family (ATAReadSectors...)
	lba    uint64
	buf    []byte // read: where the data goes; write: the data
	write  bool
	target *diskTarget // when set, the op must go to this target (FLUSH)
	path   *diskPath   // the path holding the op's window slot

	// Reused by each send of the op: the request, and where the read loop
	// puts a read's data (straight into buf).
	req  Frame
	arg  ATAArg
	sink into
	live [maxLive + 1]attempt
}

// slotWaiter is an acquire waiting for a slot (on target t when not nil).
// A waker removes it from Disk.waitq and puts a token in wake (room for
// one: it is queued at most once at a time).
type slotWaiter struct {
	t     *diskTarget
	owner *cursor // the transfer it waits for, if any
	wake  chan struct{}
}

// othersWaitLocked reports whether an acquire other than cur's waits for
// a slot. d.mu held.
func (d *Disk) othersWaitLocked(cur *cursor) bool {
	for _, w := range d.waitq {
		if w.owner != cur {
			return true
		}
	}
	return false
}

// wakeLocked wakes every waiter: a path changed (died, came back, is
// gone). d.mu held.
func (d *Disk) wakeLocked() {
	for _, w := range d.waitq {
		w.wake <- struct{}{}
	}
	clear(d.waitq)
	d.waitq = d.waitq[:0]
}

// wakeOneLocked wakes the oldest waiter that can use a slot of target t:
// one slot freed, one waiter to take it (not all of them: with a queue
// depth of 32 and a window of 16, waking everyone at each reply cost
// more than the reply). d.mu held.
func (d *Disk) wakeOneLocked(t *diskTarget) {
	for i, w := range d.waitq {
		if w.t == nil || w.t == t {
			d.waitq = append(d.waitq[:i], d.waitq[i+1:]...)
			d.waitq[len(d.waitq):cap(d.waitq)][0] = nil
			w.wake <- struct{}{}
			return
		}
	}
}

// wakeOwnerLocked wakes the waiter of transfer cur, if any. d.mu held.
func (d *Disk) wakeOwnerLocked(cur *cursor) {
	for _, w := range d.waitq {
		if w.owner == cur {
			d.unqueueLocked(w)
			w.wake <- struct{}{}
			return
		}
	}
}

// errDrained is returned by acquireFor when its transfer has no frame
// left to hand out.
var errDrained = errors.New("aoe: transfer drained")

// unqueueLocked removes w from the queue; it reports false when w is no
// longer queued (a waker took it out and sent a token). d.mu held.
func (d *Disk) unqueueLocked(w *slotWaiter) bool {
	for i, q := range d.waitq {
		if q == w {
			d.waitq = append(d.waitq[:i], d.waitq[i+1:]...)
			d.waitq[len(d.waitq):cap(d.waitq)][0] = nil
			return true
		}
	}
	return false
}

// acquire takes a window slot on the best path (of target t when not nil):
// alive, its target's window not full, fewest frames outstanding. Dead
// paths are used when none is alive, and probed once every probeEvery.
func (d *Disk) acquire(ctx context.Context, t *diskTarget) (*diskPath, error) {
	return d.acquireFor(ctx, t, nil)
}

// acquireFor is acquire on behalf of transfer cur (nil: none).
func (d *Disk) acquireFor(ctx context.Context, t *diskTarget, cur *cursor) (*diskPath, error) {
	var probe *time.Timer
	var w *slotWaiter
	defer func() {
		if probe != nil {
			probe.Stop()
		}
	}()
	for {
		d.mu.Lock()
		if d.closed {
			d.mu.Unlock()
			return nil, ErrDiskClosed
		}
		if err := d.allGoneLocked(t); err != nil {
			d.mu.Unlock()
			return nil, err
		}
		if cur != nil && cur.empty() {
			d.mu.Unlock()
			return nil, errDrained
		}
		p := d.pickLocked(t, nil)
		if p != nil {
			p.out++
			p.target.out++
			d.mu.Unlock()
			return p, nil
		}
		if w == nil {
			w = &slotWaiter{t: t, owner: cur, wake: make(chan struct{}, 1)}
		}
		d.waitq = append(d.waitq, w)
		// Only a dead path is worth a timer: it is probed again after
		// probeEvery. Anything else that frees a slot (a release, a path
		// dying or coming back) wakes w.
		var probeC <-chan time.Time
		if d.anyDeadLocked() {
			if probe == nil {
				probe = time.NewTimer(probeEvery)
			} else {
				probe.Reset(probeEvery)
			}
			probeC = probe.C
		}
		d.mu.Unlock()
		select {
		case <-w.wake:
			continue
		case <-ctx.Done():
		case <-probeC:
		}
		d.mu.Lock()
		if !d.unqueueLocked(w) {
			// Woken meanwhile: take the token, and when leaving, hand
			// the wake on (everyone: rare) so that no slot is lost.
			<-w.wake
			if ctx.Err() != nil {
				d.wakeLocked()
			}
		}
		d.mu.Unlock()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
}

// anyDeadLocked reports whether a path is dead (and not gone). d.mu held.
func (d *Disk) anyDeadLocked() bool {
	for _, p := range d.paths {
		if p.dead && !p.gone {
			return true
		}
	}
	return false
}

// pickLocked chooses a path with a free slot, or nil. d.mu held. A path
// other than avoid is preferred.
func (d *Disk) pickLocked(t *diskTarget, avoid *diskPath) *diskPath {
	anyAlive := false
	for _, p := range d.paths {
		if !p.dead && !p.gone && (t == nil || p.target == t) {
			anyAlive = true
		}
	}
	now := time.Now()
	var best *diskPath
	for _, p := range d.paths {
		if (t != nil && p.target != t) || p.target.out >= p.target.window || p.gone {
			continue
		}
		if p.dead && anyAlive {
			if now.Sub(p.lastProbe) < probeEvery {
				continue
			}
		}
		if best == nil || better(p, best, avoid) {
			best = p
		}
	}
	if best != nil && best.dead {
		best.lastProbe = now
	}
	return best
}

// allGoneLocked returns an error when every path (to t, when not nil) has
// lost its client. d.mu held.
func (d *Disk) allGoneLocked(t *diskTarget) error {
	var last error
	for _, p := range d.paths {
		if t != nil && p.target != t {
			continue
		}
		if !p.gone {
			return nil
		}
		last = p.client.Err()
	}
	return fmt.Errorf("%s: %w: every path's interface stopped (last: %w)", d.name, ErrNoPaths, last)
}

func better(p, q, avoid *diskPath) bool {
	if (p == avoid) != (q == avoid) {
		return q == avoid
	}
	if p.dead != q.dead {
		return !p.dead
	}
	// Fewest bytes outstanding relative to what a frame carries.
	return p.out*q.maxSectors < q.out*p.maxSectors
}

func (d *Disk) release(p *diskPath) {
	d.mu.Lock()
	p.out--
	p.target.out--
	d.wakeOneLocked(p.target)
	d.mu.Unlock()
}

// switchPath moves op o, whose path cur is dead or gone, to another
// path: it gives up cur's slot and waits for one on the best path (alive
// ones first; cur again only if it is merely dead and nothing better
// frees). It returns false, keeping cur, when cur is just slow (not dead)
// or is the only path left alive-or-dead.
func (d *Disk) switchPath(ctx context.Context, o *op) (bool, error) {
	cur := o.path
	d.mu.Lock()
	other := false
	for _, p := range d.paths {
		if p != cur && !p.gone && (o.target == nil || p.target == o.target) {
			other = true
		}
	}
	if !(cur.dead || cur.gone) || !other {
		d.mu.Unlock()
		if cur.gone {
			return false, d.lose(cur)
		}
		return false, nil
	}
	cur.out--
	cur.target.out--
	d.wakeLocked()
	d.mu.Unlock()
	p, err := d.acquire(ctx, o.target)
	if err != nil {
		// Take a slot back on cur so that the caller's release balances.
		d.mu.Lock()
		cur.out++
		cur.target.out++
		d.mu.Unlock()
		return false, err
	}
	o.path = p
	return p != cur, nil
}

// frame builds the request of op o for path p, in o.
func (d *Disk) frame(o *op, p *diskPath) *Frame {
	arg := &o.arg
	ext := d.id.LBA48
	switch o.cmd {
	case ATAIdentify:
		*arg = ATAArg{SectorCount: 1, CmdStatus: ATAIdentify}
		arg.LBA[3] = 0xa0
	case ATAReadSectors:
		*arg = ATAArg{Extended: ext, SectorCount: uint8(len(o.buf) / SectorSize), CmdStatus: ATAReadSectors}
		if ext {
			arg.CmdStatus = ATAReadSectorsExt
		}
		arg.SetLBA(o.lba)
	case ATAWriteSectors:
		*arg = ATAArg{Extended: ext, Write: true, SectorCount: uint8(len(o.buf) / SectorSize), CmdStatus: ATAWriteSectors, Data: o.buf}
		if ext {
			arg.CmdStatus = ATAWriteSectorsExt
		}
		arg.SetLBA(o.lba)
	default: // FLUSH CACHE (EXT)
		*arg = ATAArg{Extended: o.cmd == ATAFlushCacheExt, CmdStatus: o.cmd}
		arg.LBA[3] = 0xe0
	}
	o.req = Frame{Destination: p.mac, Shelf: d.shelf, Slot: d.slot, Command: CommandATA, Arg: arg}
	return &o.req
}

// maxLive bounds the sends of one request kept waiting for a reply: a
// reply to an earlier send that was only late still completes the request
// (and its round trip, measured from that send, raises the estimate).
const maxLive = 4

// attempt is one send of a request, under its own tag.
type attempt struct {
	x    *Exchange
	sent time.Time
	path *diskPath
}

// run sends op o until it is answered, fails, or its deadline passes; it
// releases o's slot.
func (d *Disk) run(ctx context.Context, o *op) error {
	err := d.runHeld(ctx, o, time.Now())
	d.release(o.path)
	return err
}

// runHeld is run without the release: o.path holds a slot throughout (it
// may change path). An op too big for the only path left is split.
func (d *Disk) runHeld(ctx context.Context, o *op, start time.Time) error {
	deadline := start.Add(d.opts.Deadline)
	timer := getTimer()
	defer putTimer(timer)
	replies := make(chan *Frame, maxLive+1)
	live := o.live[:0]
	cancelLive := func() {
		for _, a := range live {
			a.x.Cancel()
		}
		live = nil
	}
	defer func() { cancelLive() }()
	var sink *into
	if o.cmd == ATAIdentify || o.cmd == ATAReadSectors {
		o.sink.buf, sink = o.buf, &o.sink
	}
	var lastErr error
	tries := 0 // on the current path
	for n := 0; ; n++ {
		if n > 0 {
			moved, err := d.switchPath(ctx, o)
			if err != nil {
				return err
			}
			if moved {
				tries = 0
				if o.path.maxSectors*SectorSize < len(o.buf) {
					// The pieces are read anew: no earlier send may
					// still write into o.buf meanwhile.
					cancelLive()
					return d.split(ctx, o, start)
				}
			}
			d.mu.Lock()
			o.path.stats.Retransmits++
			d.mu.Unlock()
			o.path.client.CountRetransmit()
		}
		p := o.path
		tries++
		d.mu.Lock()
		rto := p.rtt.backedOff(tries)
		d.mu.Unlock()
		if left := time.Until(deadline); rto > left {
			rto = max(left, time.Millisecond)
		}
		x, err := p.client.startInto(d.frame(o, p), replies, sink)
		if err == nil {
			live = append(live, attempt{x: x, sent: time.Now(), path: p})
			if len(live) > maxLive {
				live[0].x.Cancel()
				live = live[1:]
			}
			timer.Reset(rto)
			err = d.await(ctx, o, live, replies, timer, p)
			if err == nil || !errors.Is(err, errLost) && !errors.Is(err, errGone) {
				return err
			}
		}
		switch {
		case errors.Is(err, errLost):
			d.timedOut(p)
		case errors.Is(err, ErrSend):
			d.timedOut(p)
			lastErr = err
			time.Sleep(min(rto, 10*time.Millisecond)) // do not spin on a down link
		case ctx.Err() != nil:
			return err
		case p.client.Err() != nil:
			// The client stopped reading: the path is gone for good.
			lastErr = p.client.Err()
			if gerr := d.lose(p); gerr != nil {
				return gerr
			}
		default:
			return err
		}
		if time.Now().After(deadline) {
			return d.deadlineErr(o, start, n+1, lastErr)
		}
	}
}

// opTimers holds stopped timers for runHeld (Go 1.23 timers: a stopped or
// reset timer never delivers a stale tick, so reuse is safe).
var opTimers sync.Pool

func getTimer() *time.Timer {
	if t, ok := opTimers.Get().(*time.Timer); ok {
		return t
	}
	t := time.NewTimer(time.Hour)
	t.Stop()
	return t
}

func putTimer(t *time.Timer) {
	t.Stop()
	opTimers.Put(t)
}

// split runs o in pieces that o.path carries, one after the other, under
// the slot o.path holds.
func (d *Disk) split(ctx context.Context, o *op, start time.Time) error {
	for off := 0; off < len(o.buf); {
		n := min(len(o.buf)-off, o.path.maxSectors*SectorSize)
		sub := &op{cmd: o.cmd, lba: o.lba + uint64(off/SectorSize), buf: o.buf[off : off+n], write: o.write, target: o.target, path: o.path}
		err := d.runHeld(ctx, sub, start)
		o.path = sub.path
		if err != nil {
			return err
		}
		off += n
	}
	return nil
}

// Errors of await: no usable reply in time; the path's client stopped.
var (
	errLost = errors.New("aoe: lost")
	errGone = errors.New("aoe: path gone")
)

// await waits until the timer fires for a reply to any live send of o and
// delivers it (nil), or returns the reply's error, errLost at the timer,
// errGone when p's client stops, or ctx's error. (Go 1.23 timers: Reset
// needs no draining, and none is done.)
func (d *Disk) await(ctx context.Context, o *op, live []attempt, replies <-chan *Frame, timer *time.Timer, p *diskPath) error {
	for {
		select {
		case f := <-replies:
			for _, a := range live {
				if a.x.Tag() != f.Tag || !bytes.Equal(f.Source, a.path.mac) {
					continue
				}
				err := d.answered(o, a.path, f, time.Since(a.sent))
				if !errors.Is(err, errLost) {
					timer.Stop()
					return err
				}
			}
			// A dropped (short) reply or one to a send given up: keep
			// waiting for the others.
		case <-timer.C:
			return errLost
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		case <-p.client.Done():
			timer.Stop()
			return errGone
		}
	}
}

// answered checks a reply and delivers its data. A reply that is not the
// answer (short data, wrong argument) counts as lost; the caller
// retransmits.
func (d *Disk) answered(o *op, p *diskPath, f *Frame, rtt time.Duration) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	// Every send has its own tag, so the round trip is that of this send:
	// no retransmission ambiguity (Karn) to avoid.
	p.rtt.sample(rtt)
	p.timeouts, p.answered = 0, time.Now()
	if p.dead && !p.gone {
		p.dead = false
		d.wakeLocked()
	}
	if f.Error {
		return fmt.Errorf("%s: %s refused the request: %w", d.name, f.Source, f.Err)
	}
	arg, ok := f.Arg.(*ATAArg)
	if !ok {
		p.stats.Dropped++
		return fmt.Errorf("%s: %s answered without an ATA argument: %w (%w)", d.name, f.Source, ErrShortReply, errLost)
	}
	if arg.Failed() {
		return &ATAError{Device: d.name, Command: d.frame(o, p).Arg.(*ATAArg).CmdStatus, LBA: o.lba, Status: arg.CmdStatus, Err: arg.FeatureErr}
	}
	p.stats.Frames++
	if o.cmd == ATAIdentify || o.cmd == ATAReadSectors {
		if len(arg.Data) < len(o.buf) {
			p.stats.Dropped++
			return fmt.Errorf("%s: %s answered %d bytes for %d: %w (%w)", d.name, f.Source, len(arg.Data), len(o.buf), ErrShortReply, errLost)
		}
		if &arg.Data[0] != &o.buf[0] { // else the read loop put it there
			copy(o.buf, arg.Data)
		}
	}
	p.stats.Bytes += uint64(len(o.buf))
	return nil
}

// ErrShortReply is returned when a target answers a read with less data
// than asked for (a target whose MTU is smaller than it advertised).
var ErrShortReply = errors.New("aoe: reply shorter than the data asked for")

// lose marks p gone; it returns an error when no path is left.
func (d *Disk) lose(p *diskPath) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !p.gone {
		p.gone, p.dead = true, true
		d.wakeLocked()
	}
	return d.allGoneLocked(nil)
}

func (d *Disk) timedOut(p *diskPath) {
	d.mu.Lock()
	defer d.mu.Unlock()
	p.stats.Timeouts++
	p.timeouts++
	if p.timeouts >= deadAfter && time.Since(p.answered) > deadTime && !p.dead {
		p.dead = true
		p.lastProbe = time.Now()
		d.wakeLocked()
	}
}

func (d *Disk) deadlineErr(o *op, start time.Time, sends int, last error) error {
	what := "read"
	switch {
	case o.write:
		what = "write"
	case o.cmd == ATAIdentify:
		what = "IDENTIFY"
	case o.cmd != ATAReadSectors:
		what = "FLUSH CACHE"
	}
	err := fmt.Errorf("%w: %s: %s at sector %d unanswered for %v (%d sends, the last on %s to %s)", ErrDeadline, d.name, what, o.lba,
		time.Since(start).Round(time.Millisecond), sends, o.path.client.Interface().Name, o.path.mac)
	if last != nil {
		err = fmt.Errorf("%w (last: %w)", err, last)
	}
	return err
}

// rttEstimator keeps a path's smoothed round-trip time and variation
// (RFC 6298, section 2) and the retransmission timeout derived from them.
type rttEstimator struct {
	min, max, initial time.Duration
	srtt, rttvar      time.Duration
	samples           int
}

// sample adds a measured round trip.
func (r *rttEstimator) sample(m time.Duration) {
	if r.samples == 0 {
		r.srtt, r.rttvar = m, m/2
	} else {
		diff := r.srtt - m
		if diff < 0 {
			diff = -diff
		}
		r.rttvar = (3*r.rttvar + diff) / 4
		r.srtt = (7*r.srtt + m) / 8
	}
	r.samples++
}

// rto is SRTT + 4*RTTVAR, within [min, max]; the initial RTO before any
// sample.
func (r *rttEstimator) rto() time.Duration {
	if r.samples == 0 {
		return r.initial
	}
	return min(max(r.srtt+4*r.rttvar, r.min), r.max)
}

// backedOff is the RTO for the tries-th send of a request on the path:
// doubled for each earlier one, at most max.
func (r *rttEstimator) backedOff(tries int) time.Duration {
	t := r.rto()
	for range tries - 1 {
		t *= 2
		if t >= r.max {
			return r.max
		}
	}
	return t
}
