package aoetest

import (
	"net"
	"sync"
	"testing"
	"time"

	"github.com/goaoe/aoe/initiator"
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
	ErrorCode initiator.ErrorCode
	// Source is the source MAC the replies claim.
	Source SourceMode
	// Flood answers each Query Config request with this many extra
	// replies, each from a new shelf.slot counted up from FloodShelf.0
	// (default shelf 1000), as fast as the port takes them.
	Flood      int
	FloodShelf uint16
	// Duplicate sends every reply this many extra times.
	Duplicate int

	mu    sync.Mutex
	next  int // the next flood address, counted over all requests
	sent  int
	delay sync.WaitGroup
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
	var req initiator.Frame
	if req.UnmarshalBinary(b) != nil || req.Response {
		return nil
	}
	var out [][]byte
	if h.Target != nil && !(h.NoATA && req.Command == initiator.CommandATA) {
		if r := h.Target.Handle(b); r != nil {
			out = append(out, h.rewrite(r, &req))
		}
	}
	if h.Flood > 0 && req.Command == initiator.CommandQueryConfig {
		out = append(out, h.flood(&req)...)
	}
	for range h.Duplicate {
		out = append(out, out[:len(out):len(out)]...)
	}
	return out
}

// rewrite applies the source and error misbehaviour to an honest reply.
func (h *Hostile) rewrite(r []byte, req *initiator.Frame) []byte {
	switch h.Source {
	case SourceBroadcast:
		copy(r[6:12], initiator.BroadcastMAC)
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
func (h *Hostile) flood(req *initiator.Frame) [][]byte {
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
		rep := initiator.Frame{
			Destination: req.Source, Source: h.mac(),
			Shelf: base + uint16(i/255), Slot: uint8(i % 255),
			Response: true, Command: initiator.CommandQueryConfig, Tag: req.Tag,
			Arg: &initiator.ConfigArg{BufferCount: 16, FirmwareVersion: 0x4019, SectorCount: 2, Version: 1},
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
		replies := h.Replies(b)
		switch {
		case len(replies) == 0:
		case h.Delay > 0:
			h.delay.Add(1)
			time.AfterFunc(h.Delay, func() {
				defer h.delay.Done()
				h.write(conn, replies)
			})
		default:
			h.write(conn, replies)
		}
		return nil
	})
}

func (h *Hostile) write(conn net.PacketConn, replies [][]byte) {
	for _, r := range replies {
		if _, err := conn.WriteTo(r, &packet.Addr{HardwareAddr: r[0:6]}); err != nil {
			return
		}
		h.mu.Lock()
		h.sent++
		h.mu.Unlock()
	}
}

// ServeHostile puts a hostile peer on a new port of the segment until the
// test ends.
func (n *Network) ServeHostile(t testing.TB, h *Hostile) {
	p := n.Port(h.mac())
	go h.Serve(p)
	t.Cleanup(func() { p.Close() })
}
