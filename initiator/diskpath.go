package initiator

import (
	"encoding/binary"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/goaoe/aoe/initiator/wire"
	"github.com/goaoe/aoe/internal/ata"
)

// A path is dead after deadAfter timeouts in a row with no reply for
// deadTime (a burst of losses, such as a full socket buffer, does not kill
// it): it carries no data until an IDENTIFY probe proves the disk behind it
// is the disk, sent once every probeEvery while another path serves the
// target, at once when none does. A path that OpenDisk could not verify
// starts dead.
const (
	deadAfter  = 4
	deadTime   = 500 * time.Millisecond
	probeEvery = time.Second
)

// diskPath is one (interface, target MAC) way to the disk, with its round
// trip estimate and counters. Its mutable fields are the engine's goroutine's (see engine).
type diskPath struct {
	tr         transport // the client it goes through
	tx         *engineTx // tr's batch in the engine
	mac        net.HardwareAddr
	src        net.HardwareAddr // tr's interface's (the frames' source)
	target     *diskTarget
	mtu        int
	maxSectors int
	// hdr is the header of its frames, made when the engine encodes
	// its first: MACs, shelf, slot and command; the tag and the ATA
	// argument zero (encode writes them); padded to the Ethernet minimum.
	hdr [minFrameLen]byte
	// rhdr is the header its replies have, the tag zero (putReplyHeader).
	rhdr [wire.HeaderLen]byte

	out        int // frames outstanding on this path
	rtt        rttEstimator
	countedSeq uint64   // the engine's flush or wake-up that counted it last
	timeouts   int      // in a row
	answered   tick     // the last reply (0: the disk's opening)
	good       uint64   // replies that answered their send
	dead       bool     // unverified: carries no data until a probe matches
	gone       bool     // its client stopped (interface gone or down): never used again
	excluded   bool     // its IDENTIFY showed another disk: never used again
	mismatch   []string // how (wire.Identity.Differs)
	probing    bool     // an IDENTIFY of it is under way
	refused    bool     // its last probe was answered, not with the disk: the next waits probeEvery
	probeBuf   []byte
	lastProbe  time.Time

	// The congestion window (AIMD, see grow and lost): cwnd frames may be
	// outstanding on the path (and never more than its target's buffer
	// count over all the target's paths). It starts at initialWindow,
	// doubles each round trip (slow start) up to ssthresh, then grows by
	// one per window of answered frames; a loss halves it, once per loss
	// event (losses of frames sent before the last cut are that event).
	cwnd, ssthresh int
	acked          int // answered since cwnd last grew (additive phase)
	cutAt          tick
	undo           cutUndo
	// clean counts the frames answered since the last loss; proven is
	// the largest window that was answered whole without a loss: after a
	// cut, slow start goes back to it (a lossy link loses frames at any
	// window and would else starve at 1 or 2; a target that holds fewer
	// buffers than it says loses one at every window above what it
	// holds, so proven stays at what it holds).
	// proven once every frame sent until the window's last is answered:
	// candidate and candSeq wait for that, minOut is expireOps' lowest
	// send out.
	clean, proven   int
	candidate       int
	candSeq, minOut uint64
	// sendSeq numbers the sends on the path; highSeq is the highest
	// answered (see reorderThresh).
	sendSeq, highSeq uint64

	lastBad badInfo
	stats   PathStats
}

// initialWindow is a path's first congestion window (at most the target's
// buffer count).
const initialWindow = 4

// cutUndo is the window before the last cut and the send whose timeout
// made it.
type cutUndo struct {
	a                      *attempt
	tag                    uint32
	cwnd, ssthresh, proven int
}

// PathStats count what went over one path.
type PathStats struct {
	Interface string `json:"interface"`
	MAC       string `json:"mac"`
	MTU       int    `json:"mtu"`
	Sectors   int    `json:"sectors_per_frame"`
	// Window is the target's buffer count (DiskOptions.Window when
	// set): the bound of the frames outstanding to it over all its paths,
	// and of each path's CongestionWindow, the frames the path may have
	// outstanding now (AIMD: halved by a loss, grown by answers).
	Window           int `json:"window"`
	CongestionWindow int `json:"congestion_window"`
	// ProvenWindow is the largest window answered whole without a loss:
	// after a cut the window goes back to it at once (slow start).
	ProvenWindow int    `json:"proven_window"`
	WindowCuts   uint64 `json:"window_cuts"` // loss events that halved CongestionWindow
	// LateReplies counts the cuts undone: the send whose timeout made
	// the cut was answered after all (late, not lost).
	LateReplies uint64 `json:"late_replies"`
	Frames      uint64 `json:"frames"` // answered
	Bytes       uint64 `json:"bytes"`
	Retransmits uint64 `json:"retransmits"`
	Timeouts    uint64 `json:"timeouts"`
	// Overtaken counts the frames taken for lost before their timeout,
	// because frames sent after them were answered (and sent again).
	Overtaken uint64 `json:"overtaken"`
	Dropped   uint64 `json:"dropped"` // replies without an ATA argument
	// Probes counts the IDENTIFY probes sent to prove the path (dead or
	// unverified) leads to the disk.
	Probes uint64 `json:"probes"`
	// BadReplies counts the replies dropped, their data unused, because
	// they did not answer their request (a short payload, another LBA
	// echoed, sectors remaining); LastBadReply says what the last one was,
	// such as "wrong LBA: asked 8, echoed 0".
	BadReplies   uint64 `json:"bad_replies"`
	LastBadReply string `json:"-"` // JSON: blockio.BenchPath, null when none
	// SendCalls counts the send syscalls that carried this path's
	// frames (Frames/SendCalls is how many a batch held on average),
	// Wakeups the engine's wake-ups that brought replies of this path.
	SendCalls uint64 `json:"send_calls"`
	Wakeups   uint64 `json:"wakeups"`
	// SRTT (0: no sample yet) and RTO are in the JSON as
	// blockio.BenchPath's srtt_seconds and rto_seconds (docs/json.md:
	// durations are float seconds).
	SRTT time.Duration `json:"-"`
	RTO  time.Duration `json:"-"`
	// Dead: the path carries no data until an IDENTIFY probe matches the
	// disk (it stopped answering, or OpenDisk could not verify it).
	Dead bool `json:"dead"`
	// Verified: its IDENTIFY matched the disk's and it has not died
	// since: it carries data.
	Verified bool `json:"verified"`
	// IdentityMismatch: its IDENTIFY answered another disk (Mismatch
	// says how); it is never used again.
	IdentityMismatch bool     `json:"identity_mismatch"`
	Mismatch         []string `json:"-"` // JSON: blockio.BenchPath, [] when none
}

func newDiskPath(p pathSpec, t *diskTarget, opts DiskOptions) *diskPath {
	ifi := p.tr.Interface()
	mtu := ifi.MTU
	if mtu <= 0 {
		mtu = 1500
	}
	n := p.config.PayloadForMTU(mtu) / wire.SectorSize
	n = min(n, 255)
	if opts.MaxSectors > 0 {
		n = min(n, opts.MaxSectors)
	}
	dp := &diskPath{tr: p.tr, mac: p.mac, src: ifi.MAC, target: t, mtu: mtu, maxSectors: max(n, 1),
		cwnd: min(initialWindow, t.window), ssthresh: t.window, dead: true}
	dp.rtt = rttEstimator{min: opts.MinRTO, max: opts.MaxRTO, initial: opts.InitialRTO}
	return dp
}

// PathStats returns the counters of every path.
func (d *Disk) PathStats() []PathStats {
	out := make([]PathStats, 0, len(d.paths))
	d.eng.inLoop(func() {
		for _, p := range d.paths {
			s := p.stats
			s.Interface, s.MAC, s.MTU = p.tr.Interface().Name, p.mac.String(), p.mtu
			s.Sectors, s.Window, s.CongestionWindow = p.maxSectors, p.target.window, p.cwnd
			s.ProvenWindow = p.proven
			s.SRTT, s.RTO, s.Dead = p.rtt.srtt, p.rtt.rto(), p.dead
			s.Verified = p.usable()
			s.IdentityMismatch, s.Mismatch = p.excluded, append([]string(nil), p.mismatch...)
			if p.lastBad.kind != 0 {
				s.LastBadReply = p.lastBad.String()
			}
			out = append(out, s)
		}
	})
	return out
}

// usable reports whether p carries data: verified, alive, its client up.
func (p *diskPath) usable() bool { return !p.dead && !p.gone && !p.excluded }

// ataArg returns the ATA argument of op o (without its data).
func (d *Disk) ataArg(o *op) wire.ATAArg {
	var arg wire.ATAArg
	d.setATAArg(&arg, o)
	return arg
}

// setATAArg is ataArg into arg, for encode: no copy of it per frame.
func (d *Disk) setATAArg(arg *wire.ATAArg, o *op) {
	ext := d.id.LBA48
	switch o.cmd {
	case ata.Identify:
		*arg = *wire.NewIdentify()
	case ata.ReadSectors:
		*arg = wire.ATAArg{Extended: ext, SectorCount: uint8(len(o.buf) / wire.SectorSize), CmdStatus: ata.ReadSectors, LBA: o.lba}
		if ext {
			arg.CmdStatus = ata.ReadSectorsExt
		}
	case ata.WriteSectors:
		*arg = wire.ATAArg{Extended: ext, Write: true, SectorCount: uint8(len(o.buf) / wire.SectorSize), CmdStatus: ata.WriteSectors, LBA: o.lba}
		if ext {
			arg.CmdStatus = ata.WriteSectorsExt
		}
	default: // FLUSH CACHE (EXT)
		*arg = wire.ATAArg{Extended: o.cmd == ata.FlushCacheExt, CmdStatus: o.cmd}
	}
}

// allGone returns an error when every path (to t, when not nil) has
// lost its client or answered IDENTIFY with another disk. On the
// engine's goroutine.
func (d *Disk) allGone(t *diskTarget) error {
	var last error
	for _, p := range d.paths {
		if t != nil && p.target != t {
			continue
		}
		if !p.gone && !p.excluded {
			return nil
		}
		if p.excluded {
			last = fmt.Errorf("%s on %s answers for another disk: %s", p.mac, p.tr.Interface().Name, strings.Join(p.mismatch, ", "))
		} else {
			last = p.tr.Err()
		}
	}
	return fmt.Errorf("%s: %w: every path's interface stopped or answers for another disk (last: %w)", d.name, errNoPaths, last)
}

func better(p, q, avoid *diskPath) bool {
	if (p == avoid) != (q == avoid) {
		return q == avoid
	}
	// Fewest bytes outstanding relative to what a frame carries.
	return p.out*q.maxSectors < q.out*p.maxSectors
}

// deadlineErr is the error of op o unanswered for waited, its last send
// on p (nil: it waits for a verified path). When bad replies came, it
// says so, and wraps the *ReplyError too.
func (d *Disk) deadlineErr(o *op, p *diskPath, waited time.Duration, sends int, last error) error {
	what := "read"
	switch {
	case o.write:
		what = "write"
	case o.cmd == ata.Identify:
		what = "IDENTIFY"
	case o.cmd != ata.ReadSectors:
		what = "FLUSH CACHE"
	}
	var err error
	if p != nil {
		err = fmt.Errorf("%w: %s: %s at sector %d unanswered for %v (%d sends, the last on %s to %s)", ErrDeadline, d.name, what, o.lba,
			waited.Round(time.Millisecond), sends, p.tr.Interface().Name, p.mac)
	} else {
		err = fmt.Errorf("%w: %s: %s at sector %d unanswered for %v (%d sends; no path verified since: %s)", ErrDeadline, d.name, what, o.lba,
			waited.Round(time.Millisecond), sends, d.pathStates())
	}
	if o.bad > 0 {
		err = fmt.Errorf("%w; %w", err, d.replyErr(o))
	}
	if last != nil {
		err = fmt.Errorf("%w (last: %w)", err, last)
	}
	return err
}

// stallErr is the error of request q, with no frame out, that found no
// verified path for waited.
func (d *Disk) stallErr(q *request, waited time.Duration) error {
	return fmt.Errorf("%w: %s: %s at sector %d waited %v for a verified path: %s", ErrDeadline, d.name, commandName(q.cmd), q.lba,
		waited.Round(time.Millisecond), d.pathStates())
}

// pathStates says what each path is, for errors: "a0 to MAC dead, ...".
func (d *Disk) pathStates() string {
	var b strings.Builder
	for i, p := range d.paths {
		if i > 0 {
			b.WriteString(", ")
		}
		state := "verified"
		switch {
		case p.gone:
			state = "gone"
		case p.excluded:
			state = "another disk"
		case p.dead:
			state = "dead"
		}
		fmt.Fprintf(&b, "%s to %s %s", p.tr.Interface().Name, p.mac, state)
	}
	return b.String()
}

// replyErr is the *ReplyError of o's bad replies.
func (d *Disk) replyErr(o *op) *ReplyError {
	p := o.badPath
	arg := d.ataArg(o)
	return &ReplyError{Device: d.name, Interface: p.tr.Interface().Name, MAC: p.mac, Command: arg.CmdStatus, LBA: o.lba,
		Kind: o.lastBad.kind.String(), Want: o.lastBad.want, Got: o.lastBad.got, Count: o.bad}
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

// putReplyHeader writes into h the header of the reply to p's send under
// tag, as a target sends it: to p's interface from p's MAC, R set, no
// error. In place: it runs per frame.
func (p *diskPath) putReplyHeader(h *[wire.HeaderLen]byte, d *Disk, tag uint32) {
	if p.rhdr[12] == 0 { // not yet made: the EtherType's first byte is 0x88
		f := wire.Frame{Destination: p.src, Source: p.mac, Response: true, Shelf: d.shelf, Slot: d.slot, Command: wire.CommandATA}
		b, _ := f.AppendBinary(nil) // cannot fail: both MACs are 6 bytes
		copy(p.rhdr[:], b)
	}
	*h = p.rhdr
	binary.BigEndian.PutUint32(h[wire.HeaderLen-4:], tag)
}
