// Package soak is the randomized end-to-end check of the data path ("never
// a wrong byte"): per seed, a scenario (a small disk of odd size, one or
// two paths, a target whose misbehaviour changes from phase to phase, an
// impostor now and then, random reads, writes and flushes at any offset),
// a model of the disk that a write changes only once it is acknowledged,
// and the invariant checked after every operation: every byte a read
// returns equals the model wherever the model knows it, or the operation
// fails; every acknowledged write is on the target's disk.
//
// The scenarios run against initiator.Disk, the NBD server and the
// commands (aoe read, aoe write); see the tests of this package and
// cmd/soak_test.go. Everything is in memory (aoetest.Network): no frame
// reaches a real interface.
package soak

import (
	"bytes"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/goaoe/aoe/initiator/aoetest"
	"github.com/goaoe/aoe/initiator/wire"
	"github.com/goaoe/aoe/internal/ata"
	"github.com/mdlayher/packet"
)

// Mix is one phase of the peer's misbehaviour: the share (0 to 1) of data
// requests (READ and WRITE SECTORS) answered each wrong way, and the
// network's chaos on the replies.
type Mix struct {
	// WrongLBA answers (and writes) at LBA+Shift; Short cuts a read
	// reply's data in half; Remaining says sectors remain (writes then
	// write nothing); Status sets StatusBits in the ATA status.
	WrongLBA, Short, Remaining, Status float64
	Shift                              uint64
	StatusBits                         uint8
	// DropRequest loses requests before the target sees them; Drop,
	// Dup and Reorder lose, double and hold back replies (up to Jitter);
	// Delay holds every reply back.
	DropRequest, Drop, Dup, Reorder float64
	Delay, Jitter                   time.Duration
	// Hold is how many requests the peer holds at once (its real buffer
	// count), whatever it advertises: more are dropped while Hold replies
	// wait out their delay.
	Hold int
	// Control puts the chaos (not the corruption) on Query Config and
	// IDENTIFY too.
	Control bool
}

// Corrupting reports whether the mix answers some data requests wrong:
// I/O may then fail otherwise than by the deadline.
func (m Mix) Corrupting() bool {
	return m.WrongLBA > 0 || m.Short > 0 || m.Remaining > 0 || m.Status > 0
}

func (m Mix) String() string {
	var s []string
	add := func(name string, v float64) {
		if v > 0 {
			s = append(s, fmt.Sprintf("%s=%.2f", name, v))
		}
	}
	add("wronglba", m.WrongLBA)
	add("short", m.Short)
	add("remaining", m.Remaining)
	add("status", m.Status)
	add("dropreq", m.DropRequest)
	add("drop", m.Drop)
	add("dup", m.Dup)
	add("reorder", m.Reorder)
	if m.Delay > 0 {
		s = append(s, "delay="+m.Delay.String())
	}
	if m.Hold > 0 {
		s = append(s, fmt.Sprintf("hold=%d", m.Hold))
	}
	if len(s) == 0 {
		return "honest"
	}
	return strings.Join(s, ",")
}

// The ways a data request is answered.
const (
	answerHonest = iota
	answerWrongLBA
	answerShort
	answerRemaining
	answerStatus
	nAnswers
)

var answerNames = [nAnswers]string{"honest", "wronglba", "short", "remaining", "status"}

// PeerStats counts what the peer did.
type PeerStats struct {
	Requests, DroppedRequests, DroppedReplies, Duplicated, Held uint64
	Answers                                                     [nAnswers]uint64
}

// Peer is the soak's target: an aoetest.Target behind the current Mix.
// It takes the requests sent to its MAC synchronously, in the order the
// initiator sends them (through Network.Drop), so that a late copy of a
// write never overtakes a later write; the wrong answers come from
// aoetest.Hostile.Replies.
type Peer struct {
	Target *aoetest.Target

	mu      sync.Mutex
	mix     Mix
	answer  [nAnswers]*aoetest.Hostile
	rnd     *mrand.Rand
	ports   []*aoetest.Port
	mtus    []int
	held    int
	damaged [][2]uint64 // sectors written at a wrong LBA: [first, end)
	stats   PeerStats
	closed  bool
	wg      sync.WaitGroup
}

// NewPeer returns a peer for tg drawing its chaos from seed.
func NewPeer(tg *aoetest.Target, seed uint64) *Peer {
	p := &Peer{Target: tg, rnd: mrand.New(mrand.NewPCG(seed, seed^0x5eed))}
	p.SetMix(Mix{})
	return p
}

// SetMix switches the misbehaviour, also while I/O is under way.
func (p *Peer) SetMix(m Mix) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mix = m
	p.answer[answerHonest] = &aoetest.Hostile{Target: p.Target}
	p.answer[answerWrongLBA] = &aoetest.Hostile{Target: p.Target, WrongLBA: max(m.Shift, 1)}
	p.answer[answerShort] = &aoetest.Hostile{Target: p.Target, Short: true}
	p.answer[answerRemaining] = &aoetest.Hostile{Target: p.Target, Remaining: 1}
	p.answer[answerStatus] = &aoetest.Hostile{Target: p.Target, Status: max(m.StatusBits, ata.StatusErr)}
}

// Attach puts the peer on nw, an interface of the given MTU: it takes the
// frames sent to its MAC, and loses frames longer than the MTU as a real
// link does. It sets nw.Drop: attach before the network carries frames.
func (p *Peer) Attach(nw *aoetest.Network, mtu int) {
	port := nw.Port(p.Target.MAC)
	p.mu.Lock()
	p.ports = append(p.ports, port)
	p.mtus = append(p.mtus, mtu)
	p.mu.Unlock()
	nw.Drop = func(frame []byte, to net.HardwareAddr) bool {
		if len(frame) > 14+mtu {
			return true
		}
		if !bytes.Equal(to, p.Target.MAC) || bytes.Equal(frame[6:12], p.Target.MAC) {
			return false
		}
		p.handle(frame, port)
		return true
	}
}

// Close stops answering and waits for the replies held back.
func (p *Peer) Close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.wg.Wait()
	for _, port := range p.ports {
		port.Close()
	}
}

// Stats returns the peer's counters.
func (p *Peer) Stats() PeerStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stats
}

// TakeDamage returns the sector ranges written at a wrong LBA since the
// last call: their content is the peer's doing, no longer the model's.
func (p *Peer) TakeDamage() [][2]uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	d := p.damaged
	p.damaged = nil
	return d
}

// dataRequest returns the ATA argument of a READ or WRITE SECTORS (EXT)
// request, and whether it writes.
func dataRequest(f *wire.Frame) (*wire.ATAArg, bool, bool) {
	arg, ok := f.Arg.(*wire.ATAArg)
	if !ok || f.Command != wire.CommandATA {
		return nil, false, false
	}
	switch arg.CmdStatus {
	case ata.ReadSectors, ata.ReadSectorsExt:
		return arg, false, true
	case ata.WriteSectors, ata.WriteSectorsExt:
		return arg, true, true
	}
	return nil, false, false
}

// handle answers one request, under the current mix.
func (p *Peer) handle(frame []byte, port *aoetest.Port) {
	var req wire.Frame
	if req.UnmarshalBinary(frame) != nil || req.Response {
		return
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	m := p.mix
	p.stats.Requests++
	arg, write, data := dataRequest(&req)
	chaos := data || m.Control
	if chaos && p.rnd.Float64() < m.DropRequest {
		p.stats.DroppedRequests++
		p.mu.Unlock()
		return
	}
	held := chaos && m.Hold > 0 && m.Delay > 0
	if held {
		if p.held >= m.Hold {
			p.stats.DroppedRequests++
			p.mu.Unlock()
			return
		}
		p.held++
	}
	answer := answerHonest
	if data {
		r := p.rnd.Float64()
		for i, share := range []float64{m.WrongLBA, m.Short, m.Remaining, m.Status} {
			if r < share {
				answer = i + 1
				break
			}
			r -= share
		}
		if answer == answerShort && write {
			answer = answerHonest
		}
		if answer == answerWrongLBA && write {
			first := arg.LBA + max(m.Shift, 1)
			p.damaged = append(p.damaged, [2]uint64{first, first + uint64(arg.SectorCount)})
		}
		p.stats.Answers[answer]++
	}
	// The target reads or writes its disk here, in the order of the
	// requests.
	replies := p.answer[answer].Replies(frame)
	type out struct {
		b     []byte
		after time.Duration
		dup   bool
	}
	var sends []out
	for _, r := range replies {
		o := out{b: r}
		if chaos {
			if p.rnd.Float64() < m.Drop {
				p.stats.DroppedReplies++
				continue
			}
			o.dup = p.rnd.Float64() < m.Dup
			if o.dup {
				p.stats.Duplicated++
			}
			o.after = m.Delay
			if p.rnd.Float64() < m.Reorder {
				j := max(m.Jitter, time.Millisecond)
				o.after += time.Duration(p.rnd.Int64N(int64(j))) + 1
				p.stats.Held++
			}
		}
		sends = append(sends, o)
	}
	p.wg.Add(1)
	p.mu.Unlock()
	release := func() {
		if held {
			p.mu.Lock()
			p.held--
			p.mu.Unlock()
		}
		p.wg.Done()
	}
	var later sync.WaitGroup
	for _, o := range sends {
		send := func() {
			port.WriteTo(o.b, &packet.Addr{HardwareAddr: o.b[0:6]})
			if o.dup {
				port.WriteTo(o.b, &packet.Addr{HardwareAddr: o.b[0:6]})
			}
		}
		if o.after <= 0 {
			send()
			continue
		}
		later.Add(1)
		time.AfterFunc(o.after, func() {
			defer later.Done()
			send()
		})
	}
	go func() {
		later.Wait()
		release()
	}()
}
