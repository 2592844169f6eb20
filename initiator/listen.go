package initiator

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"os"

	"github.com/goaoe/aoe/initiator/wire"
	"github.com/mdlayher/packet"
	"golang.org/x/net/bpf"
)

// responseFilter is the classic BPF program the raw socket gets: it passes
// only AoE frames with the R (response) flag and tag bit 31 set, i.e.
// replies to userspace tools, and so keeps other initiators' requests and
// the kernel driver's replies out of the read loop. With owner 0 to 127,
// only replies to tags whose high byte is 0x80|owner pass: the client's
// own (see Client.newTag), not those of another process's client on the
// same interface, which it would otherwise be woken for, read and drop
// (an idle `aoe nbd` beside `aoe read` cost the read two thirds of its
// speed in a 1-vCPU guest). owner < 0: any userspace tag.
func responseFilter(owner int) []bpf.Instruction {
	tag := bpf.Instruction(bpf.JumpIf{Cond: bpf.JumpBitsNotSet, Val: 0x80, SkipTrue: 1})
	if owner >= 0 {
		tag = bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: 0x80 | uint32(owner&0x7f), SkipTrue: 1}
	}
	return []bpf.Instruction{
		bpf.LoadAbsolute{Off: 12, Size: 2}, // wire.EtherType
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: wire.EtherType, SkipTrue: 5},
		bpf.LoadAbsolute{Off: 14, Size: 1},                           // version | flags
		bpf.JumpIf{Cond: bpf.JumpBitsNotSet, Val: 0x08, SkipTrue: 3}, // R flag
		bpf.LoadAbsolute{Off: 20, Size: 1},                           // tag, high byte
		tag,
		bpf.RetConstant{Val: 0xffff},
		bpf.RetConstant{Val: 0},
	}
}

// NewClient opens a raw AoE socket on the named interface (bound to
// EtherType 0x88a2, with a BPF filter that passes only AoE replies with tag
// bit 31 set) and returns a client for it; New
// is the same over any net.PacketConn (tests). Without CAP_NET_RAW it fails
// with an error wrapping ErrPermission; an unknown interface fails with the
// error of net.InterfaceByName. cfg tunes it as New's (nil: the
// defaults); a receive ring asked for (Config.Receive "ring") that the
// kernel does not give fails it.
func NewClient(name string, cfg *Config) (*Client, error) {
	if err := checkReceive(cfg); err != nil {
		return nil, err
	}
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return nil, fmt.Errorf("aoe: interface %s: %w", name, err)
	}
	if len(ifi.HardwareAddr) != 6 {
		return nil, fmt.Errorf("aoe: interface %s is not Ethernet", name)
	}
	var id [1]byte
	_, _ = rand.Read(id[:])
	owner := int(id[0] & 0x7f)
	prog, err := bpf.Assemble(responseFilter(owner))
	if err != nil {
		return nil, err
	}
	conn, err := packet.Listen(ifi, packet.Raw, wire.EtherType, &packet.Config{Filter: prog})
	if err != nil {
		if errors.Is(err, os.ErrPermission) {
			return nil, fmt.Errorf("%w: %v", ErrPermission, err)
		}
		return nil, fmt.Errorf("aoe: open %s: %w", name, err)
	}
	c := New(Interface{Name: ifi.Name, MAC: ifi.HardwareAddr, MTU: ifi.MTU}, conn, cfg)
	c.owner, c.ownFilter = owner, true // before any tag is made
	if tx, err := openSendSocket(ifi.Index); err == nil {
		c.tx = tx // else the batches go on conn, as before
	}
	if cfg != nil && cfg.Receive == receiveRing && c.receiveKind() != receiveRing {
		err := fmt.Errorf("aoe: open %s: %w", name, c.ringErr)
		c.Close()
		return nil, err
	}
	_ = c.setReadBuffer(receiveBuffer) // a failure leaves the default; Dropped still reports losses
	return c, nil
}

// receiveBuffer is the receive buffer a raw socket asks for: a broadcast
// can bring thousands of replies at once (every target answers, hostile
// peers too), and what overflows the buffer is lost before it is read.
// 8 MiB holds about 60,000 Query Config replies (the kernel charges about
// 130 bytes of overhead per frame).
const receiveBuffer = 8 << 20

// ifiMTU is the MTU a receive ring's slots hold: the interface's, or the
// largest common jumbo MTU when it is unknown.
func ifiMTU(ifi Interface) int {
	if ifi.MTU <= 0 {
		return 9000
	}
	return ifi.MTU
}
