package aoelab

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/goaoe/aoe/initiator/wire"
	"github.com/mdlayher/packet"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// ReorderOptions configures the relay that Reorder starts. The zero value
// holds back a quarter of the AoE frames for 0.2 to 3 ms.
type ReorderOptions struct {
	// Fraction of the frames held back, each for a random delay, while the
	// frames read after it go straight through (default 0.25; it is
	// clamped to [0, 1]).
	Fraction float64
	// MinDelay and MaxDelay bound a held frame's delay (default 200µs and
	// 3ms).
	MinDelay, MaxDelay time.Duration
	// Seed seeds the random choices, so that a run can be repeated
	// (default: random; Relay.Seed returns it).
	Seed uint64
	// EtherType selects the frames relayed (default AoE, 0x88A2). The
	// relay's sockets are bound to it: frames of other types are not
	// relayed, and an nftables ingress rule (Loss) on a relay interface
	// drops frames before the relay sees them.
	EtherType uint16
}

func (o ReorderOptions) withDefaults() ReorderOptions {
	if o.Fraction == 0 {
		o.Fraction = 0.25
	}
	o.Fraction = min(max(o.Fraction, 0), 1)
	if o.MinDelay <= 0 {
		o.MinDelay = 200 * time.Microsecond
	}
	if o.MaxDelay <= 0 {
		o.MaxDelay = 3 * time.Millisecond
	}
	o.MaxDelay = max(o.MaxDelay, o.MinDelay)
	if o.Seed == 0 {
		o.Seed = rand.Uint64() | 1
	}
	if o.EtherType == 0 {
		o.EtherType = wire.EtherType
	}
	return o
}

// RelayStats counts the frames a relay carried in one direction.
type RelayStats struct {
	// Forwarded is the frames written out on the other interface.
	Forwarded uint64
	// Held is the frames held back for a delay.
	Held uint64
	// Reordered is the frames written out after a frame that was read
	// after them: frames that really left out of order.
	Reordered uint64
	// Errors is the failed reads and writes (such as an interface going
	// down); the relay goes on after them.
	Errors uint64
}

// Relay is a userspace relay between two interfaces of a namespace that
// reorders frames, started by Lab.Reorder. It stops at the test's cleanup.
type Relay struct {
	opts   ReorderOptions
	aToB   relayDir
	bToA   relayDir
	stop   atomic.Bool
	timers sync.WaitGroup // frames being held
}

// relayDir is one direction of a relay: frames read on in are written out
// on out.
type relayDir struct {
	in, out *packet.Conn
	rng     *rand.Rand // used only by the reading goroutine

	mu        sync.Mutex // serialises writes, so that the order is counted right
	maxSent   uint64     // highest sequence number written so far
	forwarded uint64
	reordered uint64

	held   atomic.Uint64
	errors atomic.Uint64
}

// Reorder starts, inside namespace ns, a relay between its interfaces a
// and b: every frame of opts.EtherType received on one is written out on
// the other (never back out the one it came in on; the frames the relay
// writes are not read back as input). A fraction of the frames is held
// back for a random short delay while the following ones go through, so
// that frames arrive out of order, both ways. Both interfaces are put in
// promiscuous mode while the relay runs; their MTUs should match (frames
// up to 64 KiB are carried). The relay stops at the test's cleanup,
// before the lab's namespaces are removed, within opts.MaxDelay plus a
// few milliseconds, leaving no goroutine behind.
func (l *Lab) Reorder(ns, a, b string, opts ReorderOptions) *Relay {
	l.t.Helper()
	r := &Relay{opts: opts.withDefaults()}
	var ca, cb *packet.Conn
	var err error
	l.Do(ns, func() {
		if ca, err = relaySocket(a, r.opts.EtherType); err != nil {
			return
		}
		if cb, err = relaySocket(b, r.opts.EtherType); err != nil {
			ca.Close()
		}
	})
	if err != nil {
		l.t.Fatalf("relay in %s: %v", ns, err)
	}
	r.aToB = relayDir{in: ca, out: cb, rng: rand.New(rand.NewPCG(r.opts.Seed, 1))}
	r.bToA = relayDir{in: cb, out: ca, rng: rand.New(rand.NewPCG(r.opts.Seed, 2))}
	var readers sync.WaitGroup
	for _, d := range []*relayDir{&r.aToB, &r.bToA} {
		readers.Go(func() { r.run(d) })
	}
	l.t.Cleanup(func() {
		r.stop.Store(true)
		ca.SetReadDeadline(time.Now())
		cb.SetReadDeadline(time.Now())
		readers.Wait()
		r.timers.Wait() // at most MaxDelay
		ca.Close()
		cb.Close()
	})
	return r
}

// relaySocket opens a raw socket on ifname (in the calling thread's
// namespace) for frames of etherType that arrive on it, with a large
// receive buffer, the interface in promiscuous mode.
func relaySocket(ifname string, etherType uint16) (*packet.Conn, error) {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, err
	}
	// Accept every frame but those the interface sends (the relay's own
	// among them): load the packet type, drop PACKET_OUTGOING.
	filter, err := bpf.Assemble([]bpf.Instruction{
		bpf.LoadExtension{Num: bpf.ExtType},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.PACKET_OUTGOING, SkipTrue: 1},
		bpf.RetConstant{Val: 1 << 18},
		bpf.RetConstant{Val: 0},
	})
	if err != nil {
		return nil, err
	}
	c, err := packet.Listen(ifi, packet.Raw, int(etherType), &packet.Config{Filter: filter})
	if err != nil {
		return nil, fmt.Errorf("socket on %s: %w", ifname, err)
	}
	if err := c.SetPromiscuous(true); err != nil {
		c.Close()
		return nil, fmt.Errorf("promiscuous %s: %w", ifname, err)
	}
	rc, err := c.SyscallConn()
	if err == nil {
		cerr := rc.Control(func(fd uintptr) {
			err = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 8<<20)
		})
		err = errors.Join(err, cerr)
	}
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("receive buffer on %s: %w", ifname, err)
	}
	return c, nil
}

// run reads frames on d.in until the relay stops, and writes each out on
// d.out, now or after a random delay.
func (r *Relay) run(d *relayDir) {
	buf := make([]byte, 64<<10)
	var seq uint64
	for !r.stop.Load() {
		n, _, err := d.in.ReadFrom(buf)
		if err != nil {
			if r.stop.Load() {
				return
			}
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				d.errors.Add(1)
				time.Sleep(time.Millisecond) // such as ENETDOWN: do not spin
			}
			continue
		}
		if n < 14 {
			continue
		}
		seq++
		if d.rng.Float64() >= r.opts.Fraction {
			d.send(buf[:n], seq)
			continue
		}
		d.held.Add(1)
		frame := append([]byte(nil), buf[:n]...)
		delay := r.opts.MinDelay + time.Duration(d.rng.Int64N(int64(r.opts.MaxDelay-r.opts.MinDelay)+1))
		r.timers.Add(1)
		s := seq
		time.AfterFunc(delay, func() {
			defer r.timers.Done()
			d.send(frame, s)
		})
	}
}

// send writes frame, the seq'th frame read, out on d.out and counts it.
func (d *relayDir) send(frame []byte, seq uint64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, err := d.out.WriteTo(frame, &packet.Addr{HardwareAddr: net.HardwareAddr(frame[:6])}); err != nil {
		d.errors.Add(1)
		return
	}
	d.forwarded++
	if seq < d.maxSent {
		d.reordered++
	} else {
		d.maxSent = seq
	}
}

func (d *relayDir) stats() RelayStats {
	d.mu.Lock()
	defer d.mu.Unlock()
	return RelayStats{Forwarded: d.forwarded, Held: d.held.Load(), Reordered: d.reordered, Errors: d.errors.Load()}
}

// Stats returns what the relay has carried from a to b and from b to a.
func (r *Relay) Stats() (aToB, bToA RelayStats) {
	return r.aToB.stats(), r.bToA.stats()
}

// Seed returns the seed of the relay's random choices (ReorderOptions.Seed).
func (r *Relay) Seed() uint64 { return r.opts.Seed }
