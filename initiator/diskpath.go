package initiator

import (
	"errors"
	"fmt"
	"net"
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
	mark      uint64    // the engine's flush or wake-up that counted it last
	timeouts  int       // in a row
	answered  time.Time // the last reply
	dead      bool
	gone      bool // its client stopped (interface gone or down): never used again
	lastProbe time.Time

	stats PathStats
}

// PathStats count what went over one path.
type PathStats struct {
	Interface   string `json:"interface"`
	MAC         string `json:"mac"`
	MTU         int    `json:"mtu"`
	Sectors     int    `json:"sectors_per_frame"`
	Window      int    `json:"window"`
	Frames      uint64 `json:"frames"` // answered
	Bytes       uint64 `json:"bytes"`
	Retransmits uint64 `json:"retransmits"`
	Timeouts    uint64 `json:"timeouts"`
	Dropped     uint64 `json:"dropped"` // short or malformed replies
	// SendCalls counts the send syscalls that carried this path's
	// frames (Frames/SendCalls is how many a batch held on average),
	// Wakeups the engine's wake-ups that brought replies of this path.
	SendCalls uint64        `json:"send_calls"`
	Wakeups   uint64        `json:"wakeups"`
	SRTT      time.Duration `json:"srtt_ns"`
	RTO       time.Duration `json:"rto_ns"`
	Dead      bool          `json:"dead"`
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

// ataArg returns the ATA argument of op o (without its data).
func (d *Disk) ataArg(o *op) ATAArg {
	ext := d.id.LBA48
	var arg ATAArg
	switch o.cmd {
	case ATAIdentify:
		arg = ATAArg{SectorCount: 1, CmdStatus: ATAIdentify}
		arg.LBA[3] = 0xa0
	case ATAReadSectors:
		arg = ATAArg{Extended: ext, SectorCount: uint8(len(o.buf) / SectorSize), CmdStatus: ATAReadSectors}
		if ext {
			arg.CmdStatus = ATAReadSectorsExt
		}
		arg.SetLBA(o.lba)
	case ATAWriteSectors:
		arg = ATAArg{Extended: ext, Write: true, SectorCount: uint8(len(o.buf) / SectorSize), CmdStatus: ATAWriteSectors}
		if ext {
			arg.CmdStatus = ATAWriteSectorsExt
		}
		arg.SetLBA(o.lba)
	default: // FLUSH CACHE (EXT)
		arg = ATAArg{Extended: o.cmd == ATAFlushCacheExt, CmdStatus: o.cmd}
		arg.LBA[3] = 0xe0
	}
	return arg
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

// ErrShortReply is returned when a target answers a read with less data
// than asked for (a target whose MTU is smaller than it advertised).
var ErrShortReply = errors.New("aoe: reply shorter than the data asked for")

func (d *Disk) deadlineErr(o *op, p *diskPath, waited time.Duration, sends int, last error) error {
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
		waited.Round(time.Millisecond), sends, p.client.Interface().Name, p.mac)
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
