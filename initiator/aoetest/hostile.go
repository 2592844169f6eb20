package aoetest

import (
	"encoding/binary"
	mrand "math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/goaoe/aoe/initiator/wire"
	"github.com/goaoe/aoe/internal/ata"
	"github.com/mdlayher/packet"
)

// SourceMode chooses the source MAC a Hostile peer claims in its replies.
type SourceMode int

// Source MACs a hostile peer can claim.
const (
	SourceOwn       SourceMode = iota // its own MAC (honest)
	SourceBroadcast                   // ff:ff:ff:ff:ff:ff
	SourceZero                        // 00:00:00:00:00:00
	SourceMulticast                   // 01:00:5e:00:00:01 (group bit set)
	SourceRequester                   // the MAC of the initiator that asked
)

// Hostile is a misbehaving AoE peer for tests: it answers like Target (when
// Target is set) and then misbehaves as configured. Everything on an AoE
// segment can answer a broadcast, so every wire command must survive these.
//
// The misbehaviours of a disk (each field says which replies it touches):
//
//   - WrongLBA: reads and writes served at, and echoing, another LBA;
//   - Short: read replies carrying half their data;
//   - Remaining: replies saying sectors remain (writes then write nothing);
//   - Status: error bits (ERR, DRQ, DF, BSY) in the ATA status;
//   - Hold with Delay: a buffer count that lies (Target.BufferCount
//     advertised, Hold held, the requests beyond dropped);
//   - DropRate, DupRate, ReorderRate: replies lost, sent twice, or held
//     back so that later ones overtake them, drawn from a PRNG seeded with
//     Seed (runs repeat);
//   - Delay: every reply late.
//
// An impostor (a second target on the same address with another disk) is
// Target.Impostor; a lying capacity is Target.IdentifySectors and
// Target.NoLBA48.
type Hostile struct {
	// Target gives the honest answers to start from; nil answers nothing
	// but floods.
	Target *Target
	// MAC is the port's MAC (default: Target.MAC).
	MAC net.HardwareAddr

	// Delay holds every reply back this long (a busy vblade, a slow NAS).
	Delay time.Duration
	// NoATA answers Query Config but never an ATA command (IDENTIFY
	// included): an impostor whose disk identity cannot be had.
	NoATA bool
	// ErrorCode, when not 0, sets the E flag with this code on every
	// reply.
	ErrorCode wire.ErrorCode
	// Source is the source MAC the replies claim.
	Source SourceMode
	// Flood answers each Query Config request with this many extra
	// replies, each from a new shelf.slot counted up from FloodShelf.0
	// (default shelf 1000), as fast as the port takes them.
	Flood      int
	FloodShelf uint16
	// Duplicate sends every reply this many extra times.
	Duplicate int

	// WrongLBA, when not 0, is added to the LBA of every READ and WRITE
	// SECTORS (EXT) request: the target reads or writes that other LBA
	// and echoes it, as a target that mixes up its requests would.
	WrongLBA uint64
	// Short cuts the data of every read reply to half its sectors, the
	// ATA argument kept (status: success, nothing remaining).
	Short bool
	// Remaining, when not 0, is put in the sector count (sectors
	// remaining) of every read and write reply, the status kept (DRDY):
	// reads still carry their data; writes write nothing, as a target
	// that gave up mid-command would.
	Remaining uint8
	// Status is ORed into the ATA status of every read and write reply
	// (ATAStatusErr, ATAStatusDRQ, ATAStatusDF, ATAStatusBSY), the data
	// kept. IDENTIFY stays honest for all four, so a Disk opens.
	Status uint8
	// Hold, when not 0, is how many ATA requests the peer holds at once,
	// whatever Target.BufferCount advertises: a request that comes while
	// Hold are waiting out their Delay is dropped, as a target with Hold
	// buffers drops the excess. Use it with Delay > 0 (without a delay no
	// request waits).
	Hold int

	// Random misbehaviour of every reply, drawn from a PCG seeded with
	// Seed: DropRate of them (0 to 1) are lost, DupRate sent twice,
	// ReorderRate held back a random time up to Jitter (default 2ms) so
	// that later replies overtake them.
	Seed                           uint64
	DropRate, DupRate, ReorderRate float64
	Jitter                         time.Duration
	// DecoyRate of the replies to reads (0 to 1, drawn from the same
	// PCG) come after a decoy under the same tag: the reply to the
	// previous LBA (the next for LBA 0), that LBA echoed and its data,
	// which the initiator must refuse (not a byte of it used) and then
	// take the honest reply.
	DecoyRate float64

	mu      sync.Mutex
	next    int // the next flood address, counted over all requests
	sent    int
	dropped int // requests dropped for Hold, replies for DropRate
	pending int // ATA requests held (Hold)
	rnd     *mrand.Rand
	delay   sync.WaitGroup
}

// Dropped returns how many requests the peer dropped for Hold and replies
// it lost for DropRate.
func (h *Hostile) Dropped() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.dropped
}

// Sent returns how many replies the peer has written.
func (h *Hostile) Sent() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.sent
}

func (h *Hostile) mac() net.HardwareAddr {
	if h.MAC != nil {
		return h.MAC
	}
	if h.Target != nil {
		return h.Target.MAC
	}
	return net.HardwareAddr{0x02, 0xba, 0xd0, 0, 0, 1}
}

// Replies returns the frames the peer sends in answer to one frame.
func (h *Hostile) Replies(b []byte) [][]byte {
	var req wire.Frame
	if req.UnmarshalBinary(b) != nil || req.Response {
		return nil
	}
	var out [][]byte
	if h.Target != nil && !(h.NoATA && req.Command == wire.CommandATA) {
		if d := h.decoy(&req); d != nil {
			out = append(out, h.rewrite(d, &req))
		}
		if r := h.ata(b, &req); r != nil {
			out = append(out, h.rewrite(r, &req))
		}
	}
	if h.Flood > 0 && req.Command == wire.CommandQueryConfig {
		out = append(out, h.flood(&req)...)
	}
	for range h.Duplicate {
		out = append(out, out[:len(out):len(out)]...)
	}
	return out
}

// isData reports whether req is a READ or WRITE SECTORS (EXT).
func isData(req *wire.Frame) (*wire.ATAArg, bool) {
	arg, ok := req.Arg.(*wire.ATAArg)
	if !ok || req.Command != wire.CommandATA {
		return nil, false
	}
	switch arg.CmdStatus {
	case ata.ReadSectors, ata.ReadSectorsExt, ata.WriteSectors, ata.WriteSectorsExt:
		return arg, true
	}
	return nil, false
}

// ata returns the target's reply to b with the ATA misbehaviour applied.
//
//	reply offsets: 24 AFlags, 25 error, 26 sectors remaining, 27 status,
//	28-33 LBA, 36.. data
func (h *Hostile) ata(b []byte, req *wire.Frame) []byte {
	arg, data := isData(req)
	if !data {
		return h.Target.Handle(b)
	}
	write := arg.CmdStatus == ata.WriteSectors || arg.CmdStatus == ata.WriteSectorsExt
	if h.WrongLBA != 0 {
		moved := *req
		a := *arg
		a.LBA = arg.LBA + h.WrongLBA
		moved.Arg = &a
		nb, err := moved.MarshalBinary()
		if err != nil {
			return nil
		}
		b = nb
	}
	var r []byte
	if h.Remaining != 0 && write {
		// Nothing written: the request's header comes back, with the
		// sectors it did not write.
		r = append([]byte(nil), b[:wire.HeaderLen+12]...)
		copy(r[0:6], b[6:12])
		copy(r[6:12], h.Target.MAC)
		r[14] |= 0x08 // R
		r[25], r[27] = 0, ata.StatusDRDY
	} else if r = h.Target.Handle(b); r == nil {
		return nil
	}
	if len(r) < wire.HeaderLen+12 || r[14]&0x04 != 0 {
		return r // an AoE error: no ATA argument to spoil
	}
	if h.Short && !write {
		n := (len(r) - wire.HeaderLen - 12) / 2
		r = r[:wire.HeaderLen+12+n]
	}
	if h.Remaining != 0 {
		r[26] = h.Remaining
	}
	r[27] |= h.Status
	return r
}

// decoy returns, for DecoyRate of the reads, the honest reply to the
// same read of another LBA (see DecoyRate); else nil.
func (h *Hostile) decoy(req *wire.Frame) []byte {
	arg, data := isData(req)
	if h.DecoyRate == 0 || !data || arg.CmdStatus == ata.WriteSectors || arg.CmdStatus == ata.WriteSectorsExt {
		return nil
	}
	h.mu.Lock()
	if h.rnd == nil {
		h.rnd = mrand.New(mrand.NewPCG(h.Seed, h.Seed^0x9e3779b97f4a7c15))
	}
	hit := h.rnd.Float64() < h.DecoyRate
	h.mu.Unlock()
	if !hit {
		return nil
	}
	moved := *req
	a := *arg
	if a.LBA > 0 {
		a.LBA-- // inside the disk, as the read is: an honest reply
	} else {
		a.LBA++
	}
	moved.Arg = &a
	nb, err := moved.MarshalBinary()
	if err != nil {
		return nil
	}
	return h.Target.Handle(nb)
}

// rewrite applies the source and error misbehaviour to an honest reply.
func (h *Hostile) rewrite(r []byte, req *wire.Frame) []byte {
	switch h.Source {
	case SourceBroadcast:
		copy(r[6:12], wire.BroadcastMAC)
	case SourceZero:
		copy(r[6:12], make([]byte, 6))
	case SourceMulticast:
		copy(r[6:12], []byte{0x01, 0x00, 0x5e, 0x00, 0x00, 0x01})
	case SourceRequester:
		copy(r[6:12], req.Source)
	}
	if h.ErrorCode != 0 {
		// Byte 14: version and flags (R 0x08, E 0x04); byte 15: error.
		r[14] |= 0x04
		r[15] = byte(h.ErrorCode)
	}
	return r
}

// flood builds Flood Query Config replies from new addresses.
func (h *Hostile) flood(req *wire.Frame) [][]byte {
	base := h.FloodShelf
	if base == 0 {
		base = 1000
	}
	h.mu.Lock()
	first := h.next
	h.next += h.Flood
	h.mu.Unlock()
	out := make([][]byte, 0, h.Flood)
	for i := first; i < first+h.Flood; i++ {
		rep := wire.Frame{
			Destination: req.Source, Source: h.mac(),
			Shelf: base + uint16(i/255), Slot: uint8(i % 255),
			Response: true, Command: wire.CommandQueryConfig, Tag: req.Tag,
			Arg: &wire.ConfigArg{BufferCount: 16, FirmwareVersion: 0x4019, SectorCount: 2, Version: 1},
		}
		if b := encode(&rep); b != nil {
			out = append(out, h.rewrite(b, req))
		}
	}
	return out
}

// Serve answers frames read from conn until it fails or is closed.
func (h *Hostile) Serve(conn net.PacketConn) error {
	defer h.delay.Wait()
	return readFrames(conn, func(b []byte) error {
		held := h.Hold > 0 && isATARequest(b)
		if held && !h.hold() {
			return nil // its buffers are full: dropped
		}
		replies := h.Replies(b)
		switch {
		case h.Delay > 0:
			h.delay.Add(1)
			time.AfterFunc(h.Delay, func() {
				defer h.delay.Done()
				h.write(conn, replies)
				if held {
					h.unhold()
				}
			})
		default:
			h.write(conn, replies)
			if held {
				h.unhold()
			}
		}
		return nil
	})
}

// isATARequest reports whether b is an AoE ATA request.
//
//	12-13 EtherType 0x88a2, 14 version|flags (R 0x08), 19 command
func isATARequest(b []byte) bool {
	return len(b) >= wire.HeaderLen && binary.BigEndian.Uint16(b[12:14]) == wire.EtherType &&
		b[14]&0x08 == 0 && wire.Command(b[19]) == wire.CommandATA
}

// hold takes a buffer for a request, or reports false when Hold are taken.
func (h *Hostile) hold() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.pending >= h.Hold {
		h.dropped++
		return false
	}
	h.pending++
	return true
}

func (h *Hostile) unhold() {
	h.mu.Lock()
	h.pending--
	h.mu.Unlock()
}

// chance draws the random misbehaviour of one reply.
func (h *Hostile) chance() (drop, dup bool, hold time.Duration) {
	if h.DropRate == 0 && h.DupRate == 0 && h.ReorderRate == 0 {
		return false, false, 0
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.rnd == nil {
		h.rnd = mrand.New(mrand.NewPCG(h.Seed, h.Seed^0x9e3779b97f4a7c15))
	}
	drop = h.rnd.Float64() < h.DropRate
	dup = h.rnd.Float64() < h.DupRate
	if h.rnd.Float64() < h.ReorderRate {
		j := h.Jitter
		if j <= 0 {
			j = 2 * time.Millisecond
		}
		hold = time.Duration(h.rnd.Int64N(int64(j))) + 1
	}
	if drop {
		h.dropped++
	}
	return drop, dup, hold
}

func (h *Hostile) write(conn net.PacketConn, replies [][]byte) {
	for _, r := range replies {
		drop, dup, hold := h.chance()
		switch {
		case drop:
			continue
		case hold > 0:
			h.delay.Add(1)
			time.AfterFunc(hold, func() {
				defer h.delay.Done()
				h.send(conn, r)
			})
			continue
		}
		if !h.send(conn, r) {
			return
		}
		if dup {
			h.send(conn, r)
		}
	}
}

func (h *Hostile) send(conn net.PacketConn, r []byte) bool {
	if _, err := conn.WriteTo(r, &packet.Addr{HardwareAddr: r[0:6]}); err != nil {
		return false
	}
	h.mu.Lock()
	h.sent++
	h.mu.Unlock()
	return true
}

// ServeHostile puts a hostile peer on a new port of the segment until the
// test ends.
func (n *Network) ServeHostile(t testing.TB, h *Hostile) {
	p := n.Port(h.mac())
	go h.Serve(p)
	t.Cleanup(func() { p.Close() })
}
