// Package aoetest provides in-process AoE test peers: an in-memory Ethernet
// segment whose ports are net.PacketConns, and a target that answers AoE
// requests the way vblade does. They make the initiator testable without
// root; the target also serves on a real raw socket in privileged tests.
// They never replace tests against real vblade.
package aoetest

import (
	"bytes"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/goaoe/aoe/initiator"
	"github.com/mdlayher/packet"
)

// Network is an in-memory Ethernet segment: a frame written to a port
// reaches the port with its destination MAC, or every other port when it is
// broadcast.
type Network struct {
	mu    sync.Mutex
	ports []*Port
	// Drop, when set, is asked for each frame delivered to a port; true
	// loses it.
	Drop func(frame []byte, to net.HardwareAddr) bool
}

// Port is a network interface on a Network. It implements net.PacketConn
// with whole Ethernet frames, as a raw packet socket does.
type Port struct {
	nw  *Network
	mac net.HardwareAddr
	in  chan []byte

	mu       sync.Mutex
	deadline time.Time
	wake     chan struct{}
	closed   bool
	// received and drops count frames since the last Stats call, as the
	// kernel's PACKET_STATISTICS does.
	received, drops uint32
}

// Port adds a port with the given MAC.
func (n *Network) Port(mac net.HardwareAddr) *Port {
	p := &Port{nw: n, mac: mac, in: make(chan []byte, 4096), wake: make(chan struct{})}
	n.mu.Lock()
	n.ports = append(n.ports, p)
	n.mu.Unlock()
	return p
}

var broadcast = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// WriteTo sends a whole Ethernet frame; addr is ignored (the frame's
// destination decides).
func (p *Port) WriteTo(b []byte, addr net.Addr) (int, error) {
	p.mu.Lock()
	closed := p.closed
	p.mu.Unlock()
	if closed {
		return 0, net.ErrClosed
	}
	if len(b) < 14 {
		return len(b), nil
	}
	dst := net.HardwareAddr(b[0:6])
	p.nw.mu.Lock()
	ports := append([]*Port(nil), p.nw.ports...)
	drop := p.nw.Drop
	p.nw.mu.Unlock()
	for _, q := range ports {
		if q == p || !(bytes.Equal(dst, broadcast) || bytes.Equal(dst, q.mac)) {
			continue
		}
		if drop != nil && drop(b, q.mac) {
			continue
		}
		select {
		case q.in <- append([]byte(nil), b...):
			q.count(false)
		default: // a full queue loses the frame, as a socket buffer would
			q.count(true)
		}
	}
	return len(b), nil
}

// ReadFrom returns the next frame, or an error wrapping
// os.ErrDeadlineExceeded at the read deadline, or net.ErrClosed.
func (p *Port) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return 0, nil, net.ErrClosed
		}
		deadline, wake := p.deadline, p.wake
		p.mu.Unlock()
		var timeout <-chan time.Time
		if !deadline.IsZero() {
			d := time.Until(deadline)
			if d <= 0 {
				return 0, nil, os.ErrDeadlineExceeded
			}
			t := time.NewTimer(d)
			defer t.Stop()
			timeout = t.C
		}
		select {
		case f := <-p.in:
			n := copy(b, f)
			return n, &packet.Addr{HardwareAddr: append(net.HardwareAddr(nil), f[6:12]...)}, nil
		case <-timeout:
			return 0, nil, os.ErrDeadlineExceeded
		case <-wake:
			// the deadline changed or the port closed: look again
		}
	}
}

func (p *Port) count(dropped bool) {
	p.mu.Lock()
	p.received++
	if dropped {
		p.drops++
	}
	p.mu.Unlock()
}

// Stats returns the frames that reached the port and those lost because
// its queue was full since the last call, and resets them, as
// packet.Conn.Stats does with the kernel's counters.
func (p *Port) Stats() (*packet.Stats, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := &packet.Stats{Packets: p.received, Drops: p.drops}
	p.received, p.drops = 0, 0
	return s, nil
}

func (p *Port) kick() {
	close(p.wake)
	p.wake = make(chan struct{})
}

// Close closes the port.
func (p *Port) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.closed {
		p.closed = true
		p.kick()
	}
	return nil
}

// LocalAddr returns the port's MAC.
func (p *Port) LocalAddr() net.Addr { return &packet.Addr{HardwareAddr: p.mac} }

// SetDeadline sets the read deadline (writes never block).
func (p *Port) SetDeadline(t time.Time) error { return p.SetReadDeadline(t) }

// SetReadDeadline sets the read deadline.
func (p *Port) SetReadDeadline(t time.Time) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.deadline = t
	p.kick()
	return nil
}

// SetWriteDeadline does nothing: writes never block.
func (p *Port) SetWriteDeadline(time.Time) error { return nil }

// Client returns an initiator client on a new port of the segment, closed
// at the end of the test, with a short retransmission timeout (20ms).
func (n *Network) Client(t testing.TB, name string, mac net.HardwareAddr, mtu int) *initiator.Client {
	return n.ClientWith(t, name, mac, mtu, &initiator.Config{RTO: 20 * time.Millisecond})
}

// ClientWith is Client with the client's Config.
func (n *Network) ClientWith(t testing.TB, name string, mac net.HardwareAddr, mtu int, cfg *initiator.Config) *initiator.Client {
	c := initiator.New(initiator.Interface{Name: name, MAC: mac, MTU: mtu}, n.Port(mac), cfg)
	t.Cleanup(func() { c.Close() })
	return c
}

// Serve puts a target on a new port of the segment until the test ends.
func (n *Network) Serve(t testing.TB, tg *Target) {
	p := n.Port(tg.MAC)
	go tg.Serve(p)
	t.Cleanup(func() { p.Close() })
}
