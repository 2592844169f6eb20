package initiator

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/goaoe/aoe/initiator/aoeaddr"
	"github.com/goaoe/aoe/initiator/wire"
	"github.com/goaoe/aoe/internal/ata"
)

// DiskPath is one way to a target: a client (local interface) and the
// target's MAC there, with the target's Query Config reply on that path.
type DiskPath struct {
	Client *Client
	MAC    net.HardwareAddr
	Config *wire.ConfigArg
}

// DiskOptions tune a Disk; the zero value gives the defaults.
type DiskOptions struct {
	// Deadline is how long a request may go unanswered on every path
	// before the I/O fails with ErrDeadline (default 60s, the driver's
	// aoe_deadsecs).
	Deadline time.Duration
	// MinRTO and MaxRTO bound the retransmission timeout computed from
	// each path's round-trip times (default 5ms and 2s); InitialRTO is
	// used before the first sample (default 200ms).
	MinRTO, MaxRTO, InitialRTO time.Duration
	// Window, when positive, replaces each target's buffer count as the
	// bound of the frames outstanding to it.
	Window int
	// MaxSectors, when positive, caps the sectors per frame (tests).
	MaxSectors int
	// Now is the engine's clock, read for every "now" of a Disk: send
	// times, round trips, timeouts, deadlines, probes (nil: time.Now).
	// The engine's timer is a real timer, armed for the difference.
	Now func() time.Time
}

func (o DiskOptions) withDefaults() DiskOptions {
	if o.Deadline <= 0 {
		o.Deadline = 60 * time.Second
	}
	if o.MinRTO <= 0 {
		o.MinRTO = 5 * time.Millisecond
	}
	if o.MaxRTO <= 0 {
		o.MaxRTO = 2 * time.Second
	}
	if o.InitialRTO <= 0 {
		o.InitialRTO = 200 * time.Millisecond
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Disk reads and writes an AoE target's sectors from userspace, over all
// its paths: it implements io.ReaderAt and io.WriterAt at any offset and
// length (unaligned writes read the edge sectors first). Each I/O is cut
// into ATA frames of as many sectors as the chosen path carries; at most
// each target's buffer count of frames are outstanding to it at once,
// spread over its paths; lost frames are sent again, on another path when
// one has stopped answering, after a timeout computed from that path's
// round-trip times, until the deadline. Every reply is matched by tag,
// source MAC, address and command, and checked against its request (the
// LBA echoed, no sectors remaining, the data length) before its data is
// used, so no data lands in the wrong buffer: a target that keeps
// answering wrong fails the I/O with a *ReplyError. Every path proves
// with IDENTIFY that it leads to the disk before it carries data (see
// OpenDisk). The window of frames outstanding on a path adapts to loss
// (AIMD, PathStats.Window). Nothing is sent past the capacity the
// addressing mode reaches (Identity.Capacity). Safe for concurrent use.
type Disk struct {
	name    string
	shelf   uint16
	slot    uint8
	id      wire.Identity
	sectors uint64 // wire.Identity.Capacity
	size    int64
	opts    DiskOptions
	epoch   time.Time // opts.Now() at its opening: its engine's tick 0
	mono    bool      // opts.Now is time.Now: now reads the monotonic clock alone
	paths   []*diskPath
	targets []*diskTarget
	ctx     context.Context
	cancel  context.CancelFunc
	eng     *engine
	rmw     sync.Mutex // serializes read-modify-write of edge sectors
	// The engine's state (paths, targets, frames; id, sectors and size
	// once open) is owned by its goroutine (see engine). mu guards only
	// the three flags below, and is never held across a call into the
	// engine or a system call.
	mu      sync.Mutex
	dirty   bool // written since the last flush
	noFlush bool // the target aborted FLUSH CACHE
	closed  bool

	closeOnce, stopOnce sync.Once
	closeErr            error
}

// diskTarget is one target MAC with its window.
type diskTarget struct {
	mac    net.HardwareAddr
	window int
	out    int // frames outstanding
	// checked: its data was compared with the disk's (sameContent), or
	// it is the disk's reference: an IDENTIFY that matches is enough
	// for its paths.
	checked bool
}

// OpenDisk opens shelf.slot over the given paths. Before any data moves
// it asks every path for the disk's IDENTIFY data, all at once, and waits
// for every answer: once one has come, the others get a grace of a few
// round trips (at most openGrace); a path that has not answered then
// starts unverified and carries no data until a later IDENTIFY of it
// matches. The disk's size and LBA48 support come from the answers.
//
// It fails with errNoPaths without paths; with a *ConflictError
// when two paths answer with different disks
// (Identity.Differs: two targets claim the address; pass only one MAC's
// paths to open its disk); when no path answers, with the error of the
// first that failed otherwise than by the deadline (an *ATAError or an
// ErrorCode when the target refuses IDENTIFY, a *ReplyError), else one
// wrapping ErrDeadline; or with ctx's error.
func OpenDisk(ctx context.Context, shelf uint16, slot uint8, paths []DiskPath, opts DiskOptions) (*Disk, error) {
	specs := make([]pathSpec, len(paths))
	for i, p := range paths {
		specs[i] = pathSpec{tr: p.Client, mac: p.MAC, config: p.Config}
	}
	return openDisk(ctx, shelf, slot, specs, opts)
}

// pathSpec is a DiskPath as the engine takes it: any transport.
type pathSpec struct {
	tr     transport
	mac    net.HardwareAddr
	config *wire.ConfigArg
}

// openDisk is OpenDisk over any transports.
func openDisk(ctx context.Context, shelf uint16, slot uint8, paths []pathSpec, opts DiskOptions) (*Disk, error) {
	if len(paths) == 0 {
		return nil, errNoPaths
	}
	mono := opts.Now == nil
	opts = opts.withDefaults()
	d := &Disk{name: aoeaddr.Address{Shelf: shelf, Slot: slot}.String(), shelf: shelf, slot: slot, opts: opts, epoch: opts.Now(), mono: mono}
	d.ctx, d.cancel = context.WithCancel(context.Background())
	byMAC := map[string]*diskTarget{}
	for _, p := range paths {
		t, ok := byMAC[string(p.mac)]
		if !ok {
			w := int(p.config.BufferCount)
			if opts.Window > 0 {
				w = opts.Window
			}
			t = &diskTarget{mac: p.mac, window: max(w, 1)}
			byMAC[string(p.mac)] = t
			d.targets = append(d.targets, t)
		}
		dp := newDiskPath(p, t, opts)
		dp.probing = true // OpenDisk's IDENTIFY, not the engine's probes
		d.paths = append(d.paths, dp)
	}
	// Room for every target's window of full frames, twice, on each
	// client's socket (best effort: a smaller buffer only costs
	// retransmissions).
	need := map[transport]int{}
	for _, p := range d.paths {
		need[p.tr] += 2 * p.target.window * (p.maxSectors*wire.SectorSize + wire.HeaderLen + ataArgLen)
	}
	for c, n := range need {
		if n > receiveBuffer { // NewClient asked for receiveBuffer already
			_ = c.setReadBuffer(n)
		}
	}
	// A receive ring of twice every target's window, in frames, where
	// the client's Config allows one.
	frames := map[transport]int{}
	for _, p := range d.paths {
		frames[p.tr] += 2 * p.target.window
	}
	for c, n := range frames {
		c.fitRing(n)
	}
	d.eng = newEngine(d)
	if err := d.identifyPaths(ctx); err != nil {
		d.stop()
		return nil, err
	}
	return d, nil
}

// openGrace bounds how long OpenDisk waits for the other paths' IDENTIFY
// once one has answered.
const openGrace = 2 * time.Second

// identifyPaths sends IDENTIFY over every path at once and checks that
// the answers describe one disk (see OpenDisk).
func (d *Disk) identifyPaths(ctx context.Context) error {
	type answer struct {
		i   int
		id  wire.Identity
		err error
	}
	gctx, cancel := context.WithCancel(ctx)
	defer cancel()
	answers := make(chan answer, len(d.paths))
	for i, p := range d.paths {
		go func() {
			buf := make([]byte, wire.SectorSize)
			err := d.eng.do(&request{ctx: gctx, cmd: ata.Identify, buf: buf, path: p})
			var id wire.Identity
			if err == nil {
				id, err = wire.ParseIdentify(buf)
			}
			answers <- answer{i, id, err}
		}()
	}
	got := make([]*answer, len(d.paths))
	var grace <-chan time.Time
	for range d.paths {
		var a answer
		select {
		case a = <-answers:
		case <-grace:
			cancel() // the rest start unverified
			grace = nil
			a = <-answers
		}
		got[a.i] = &a
		if a.err == nil && grace == nil {
			var rto time.Duration
			d.eng.inLoop(func() { rto = d.paths[a.i].rtt.rto() })
			t := time.NewTimer(min(openGrace, 2*d.opts.InitialRTO+4*rto))
			defer t.Stop()
			grace = t.C
		}
	}
	var ok []int
	var firstErr, deadlineErr error
	for i, a := range got {
		switch {
		case a.err == nil:
			ok = append(ok, i)
		case errors.Is(a.err, ErrDeadline) || errors.Is(a.err, context.Canceled) || errors.Is(a.err, errNoPaths):
			if deadlineErr == nil {
				deadlineErr = a.err
			}
		case firstErr == nil:
			firstErr = a.err
		}
	}
	if len(ok) == 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		if firstErr != nil {
			return firstErr
		}
		return deadlineErr
	}
	first := got[ok[0]]
	for _, i := range ok[1:] {
		if diff := first.id.Differs(got[i].id); len(diff) > 0 {
			ce := &ConflictError{Device: d.name, First: 0, Differs: diff}
			for _, j := range ok {
				p := d.paths[j]
				ce.Answers = append(ce.Answers, PathIdentity{Interface: p.tr.Interface().Name, MAC: p.mac, Identity: got[j].id})
				if j == i {
					ce.Other = len(ce.Answers) - 1
				}
			}
			return ce
		}
	}
	n, _ := first.id.Capacity()
	now := d.opts.Now()
	d.eng.inLoop(func() {
		d.id, d.sectors, d.size = first.id, n, int64(n)*wire.SectorSize
		for i, p := range d.paths {
			p.probing = false
			p.dead = got[i].err != nil
			p.lastProbe = now
			if !p.dead {
				p.target.checked = true // compared below, or OpenDisk fails
			}
		}
	})
	return d.sameContent(ctx, ok, func(j int) PathIdentity {
		return PathIdentity{Interface: d.paths[j].tr.Interface().Name, MAC: d.paths[j].mac, Identity: got[j].id}
	})
}

// contentSamples is how many sectors sameContent compares.
const contentSamples = 8

// sameContent reads the same few sectors (the first, the last, and some
// spread between) through one verified path of each target MAC and fails
// with a *ConflictError when they differ. IDENTIFY cannot tell two
// targets apart that export different files of the same size from hosts
// of the same name (vblade's serial is SHELF.SLOT:HOSTNAME): used
// together, they would splice two disks. Several MACs of one disk
// (multipath) read the same sectors. ok indexes the verified paths.
func (d *Disk) sameContent(ctx context.Context, ok []int, answer func(int) PathIdentity) error {
	var byTarget []int // one verified path per target MAC, in order
	seen := map[*diskTarget]bool{}
	for _, i := range ok {
		if t := d.paths[i].target; !seen[t] {
			seen[t] = true
			byTarget = append(byTarget, i)
		}
	}
	if len(byTarget) < 2 || d.sectors == 0 {
		return nil
	}
	lbas := make([]uint64, 0, contentSamples)
	for k := range uint64(contentSamples) {
		lba := k * (d.sectors - 1) / (contentSamples - 1)
		if len(lbas) == 0 || lbas[len(lbas)-1] != lba {
			lbas = append(lbas, lba)
		}
	}
	read := func(i int) ([]byte, error) {
		buf := make([]byte, len(lbas)*wire.SectorSize)
		for k, lba := range lbas {
			q := &request{ctx: ctx, cmd: ata.ReadSectors, buf: buf[k*wire.SectorSize : (k+1)*wire.SectorSize], lba: lba, path: d.paths[i]}
			if err := d.eng.do(q); err != nil {
				return nil, err
			}
		}
		return buf, nil
	}
	// A sample that cannot be read (a reservation held by another host
	// refuses reads, not IDENTIFY; an ATA error) proves nothing either
	// way: the disk opens as before, and its I/O meets the same refusal.
	want, err := read(byTarget[0])
	if err != nil {
		return ctx.Err()
	}
	for _, i := range byTarget[1:] {
		b, err := read(i)
		if err != nil {
			return ctx.Err()
		}
		for k := range lbas {
			if bytes.Equal(b[k*wire.SectorSize:(k+1)*wire.SectorSize], want[k*wire.SectorSize:(k+1)*wire.SectorSize]) {
				continue
			}
			return &ConflictError{
				Device:  d.name,
				Answers: []PathIdentity{answer(byTarget[0]), answer(i)},
				First:   0, Other: 1,
				Differs: []string{fmt.Sprintf("same IDENTIFY, different data in sector %d", lbas[k])},
			}
		}
	}
	return nil
}

// Size returns the disk's size in bytes: the capacity its addressing mode
// reaches (Identity.Capacity), at most 2^57, never what a larger claim
// would overflow to.
func (d *Disk) Size() int64 { return d.size }

// Identity returns the disk's IDENTIFY data. Its Capacity says whether
// the claim was clamped to the addressing mode ("e1.2 claims N sectors;
// LBA28 addresses only 268435456").
func (d *Disk) Identity() wire.Identity { return d.id }

// Close flushes the target's cache if the disk was written since the last
// Sync, and stops the disk (I/O under way fails with errDiskClosed). It
// does not close the clients. It returns the flush's error. Close may be
// called more than once, from any goroutine: every call returns when the
// disk is stopped, with the first one's error.
func (d *Disk) Close() error {
	d.closeOnce.Do(func() {
		d.mu.Lock()
		dirty := d.dirty
		d.mu.Unlock()
		if dirty {
			d.closeErr = d.Sync()
		}
		d.mu.Lock()
		d.closed = true
		d.mu.Unlock()
		d.stop()
	})
	return d.closeErr
}

// stop ends the engine (requests under way fail with errDiskClosed).
func (d *Disk) stop() {
	d.stopOnce.Do(func() {
		d.cancel()
		d.eng.halt()
	})
	<-d.eng.exited
}

// ReadAt reads len(p) bytes at off (io.ReaderAt). It returns io.EOF when
// off+len(p) passes the end of the disk, with the bytes before it read; an
// *ATAError, an ErrorCode, or an error wrapping ErrDeadline on failure.
func (d *Disk) ReadAt(p []byte, off int64) (int, error) {
	return d.ReadAtContext(d.ctx, p, off)
}

// ReadAtContext is ReadAt with a context that can cancel it.
func (d *Disk) ReadAtContext(ctx context.Context, p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("aoe: %s: negative offset %d", d.name, off)
	}
	if off >= d.size {
		if len(p) == 0 {
			return 0, nil
		}
		return 0, io.EOF
	}
	var eof error
	if rest := d.size - off; int64(len(p)) > rest {
		p, eof = p[:rest], io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	first := off / wire.SectorSize
	last := (off + int64(len(p)) + wire.SectorSize - 1) / wire.SectorSize
	if off%wire.SectorSize == 0 && len(p)%wire.SectorSize == 0 {
		if err := d.transfer(ctx, uint64(first), p, false); err != nil {
			return 0, err
		}
		return len(p), eof
	}
	buf := make([]byte, (last-first)*wire.SectorSize)
	if err := d.transfer(ctx, uint64(first), buf, false); err != nil {
		return 0, err
	}
	return copy(p, buf[off-first*wire.SectorSize:]), eof
}

// WriteAt writes p at off (io.WriterAt). Writes past the end of the disk
// fail with an error wrapping io.ErrShortWrite, writing nothing. Failures
// are as for ReadAt.
func (d *Disk) WriteAt(p []byte, off int64) (int, error) {
	return d.WriteAtContext(d.ctx, p, off)
}

// WriteAtContext is WriteAt with a context that can cancel it.
func (d *Disk) WriteAtContext(ctx context.Context, p []byte, off int64) (int, error) {
	if off < 0 || off > d.size || int64(len(p)) > d.size-off { // no overflow: d.size <= 2^57
		return 0, fmt.Errorf("aoe: %s: write of %d bytes at %d passes the end (%d bytes): %w", d.name, len(p), off, d.size, io.ErrShortWrite)
	}
	if len(p) == 0 {
		return 0, nil
	}
	d.mu.Lock()
	d.dirty = true
	d.mu.Unlock()
	if off%wire.SectorSize == 0 && len(p)%wire.SectorSize == 0 {
		if err := d.transfer(ctx, uint64(off/wire.SectorSize), p, true); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	// Read-modify-write of the edge sectors.
	d.rmw.Lock()
	defer d.rmw.Unlock()
	first := off / wire.SectorSize
	last := (off + int64(len(p)) + wire.SectorSize - 1) / wire.SectorSize
	buf := make([]byte, (last-first)*wire.SectorSize)
	if err := d.transfer(ctx, uint64(first), buf[:wire.SectorSize], false); err != nil {
		return 0, err
	}
	if last-1 > first {
		if err := d.transfer(ctx, uint64(last-1), buf[len(buf)-wire.SectorSize:], false); err != nil {
			return 0, err
		}
	}
	copy(buf[off-first*wire.SectorSize:], p)
	if err := d.transfer(ctx, uint64(first), buf, true); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Sync sends FLUSH CACHE (EXT when the disk has LBA48) to every target
// MAC, so that what was written is on stable storage. A target that aborts
// FLUSH CACHE does not implement it (vblade 25, which claims it in its
// IDENTIFY data, aborts it; its -s flag makes every write synchronous
// instead): Sync then returns nil, stops sending it, and FlushUnsupported
// reports it. Failures are as for ReadAt.
func (d *Disk) Sync() error {
	cmd := uint8(ata.FlushCache)
	if d.id.LBA48 {
		cmd = ata.FlushCacheExt
	}
	d.mu.Lock()
	d.dirty = false
	unsupported := d.noFlush
	d.mu.Unlock()
	if unsupported {
		return nil
	}
	flushed := 0
	for _, t := range d.targets {
		var gone error
		d.eng.inLoop(func() { gone = d.allGone(t) })
		if gone != nil && (flushed > 0 || t != d.targets[len(d.targets)-1]) {
			continue // this target MAC is unreachable; another one serves the disk
		}
		flushed++
		err := d.eng.do(&request{ctx: d.ctx, cmd: cmd, target: t, single: true})
		var ae *wire.ATAError
		if errors.As(err, &ae) && ae.Aborted() {
			d.mu.Lock()
			d.noFlush = true
			d.mu.Unlock()
			return nil
		}
		if err != nil {
			d.mu.Lock()
			d.dirty = true
			d.mu.Unlock()
			return err
		}
	}
	return nil
}

// FlushUnsupported reports whether the target aborted FLUSH CACHE.
func (d *Disk) FlushUnsupported() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.noFlush
}

// transfer reads (or writes) buf at sector lba: the engine cuts it into
// frames.
func (d *Disk) transfer(ctx context.Context, lba uint64, buf []byte, write bool) error {
	q := &request{ctx: ctx, cmd: ata.ReadSectors, write: write, buf: buf, lba: lba}
	if write {
		q.cmd = ata.WriteSectors
	}
	err := d.eng.do(q)
	if err == nil {
		return nil
	}
	d.mu.Lock()
	closed := d.closed
	d.mu.Unlock()
	if closed && errors.Is(err, context.Canceled) {
		return errDiskClosed
	}
	return err
}

// Address returns the disk's shelf.slot (its String is the device name,
// "e1.2").
func (d *Disk) Address() aoeaddr.Address { return aoeaddr.Address{Shelf: d.shelf, Slot: d.slot} }
