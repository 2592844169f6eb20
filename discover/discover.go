// Package discover finds AoE targets from userspace: it broadcasts a Query
// Config on each interface, asks every responder for its ATA IDENTIFY data,
// and aggregates the answers by shelf.slot into targets with all their paths,
// flagging addresses that different disks claim.
package discover

import (
	"bytes"
	"context"
	"errors"
	"net"
	"sort"
	"time"

	"github.com/goaoe/aoe/initiator"
)

// Options tune a probe. The zero value gives the defaults.
type Options struct {
	// Timeout bounds the whole probe (default 5s).
	Timeout time.Duration
	// Quiet is how long no new responder must appear, after the last
	// broadcast, before the probe ends (default 300ms).
	Quiet time.Duration
	// Resend are the times, from the start, at which the broadcast is sent
	// again, so that one lost frame loses no target (default 50ms, 150ms,
	// 300ms, 500ms).
	Resend []time.Duration
	// NoIdentify skips ATA IDENTIFY.
	NoIdentify bool
}

func (o Options) withDefaults() Options {
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	if o.Quiet <= 0 {
		o.Quiet = 300 * time.Millisecond
	}
	if o.Resend == nil {
		o.Resend = []time.Duration{50 * time.Millisecond, 150 * time.Millisecond, 300 * time.Millisecond, 500 * time.Millisecond}
	}
	return o
}

// Path is one way to a target: a target MAC seen from a local interface,
// with what the target said there.
type Path struct {
	MAC       net.HardwareAddr
	Interface string
	// MTU is the local interface's MTU.
	MTU int
	// From the Query Config reply:
	BufferCount uint16
	Firmware    uint16
	// SectorsPerFrame is the target's sector count (0 read as 2).
	SectorsPerFrame int
	// Payload is the data bytes per ATA frame on this path, as the Linux
	// driver computes it from the MTU and the sector count.
	Payload    int
	AoEVersion uint8
	Config     []byte
	// Identity is the IDENTIFY data; nil when it could not be had
	// (IdentifyErr says why).
	Identity    *initiator.Identity
	IdentifyErr error
}

// Target is one shelf.slot address and every path that answered for it.
type Target struct {
	Shelf uint16
	Slot  uint8
	Paths []Path
	// Conflict is set when the paths lead to different disks (serial,
	// model or capacity differ): two targets claim one address.
	Conflict bool
}

// Name returns "eSHELF.SLOT".
func (t *Target) Name() string { return initiator.DeviceName(t.Shelf, t.Slot) }

// Identity returns the first path's IDENTIFY data, or nil.
func (t *Target) Identity() *initiator.Identity {
	for _, p := range t.Paths {
		if p.Identity != nil {
			return p.Identity
		}
	}
	return nil
}

// Payload returns the smallest payload of the paths.
func (t *Target) Payload() int {
	n := 0
	for i, p := range t.Paths {
		if i == 0 || p.Payload < n {
			n = p.Payload
		}
	}
	return n
}

// Interfaces returns the local interfaces of the paths, without repeats.
func (t *Target) Interfaces() []string {
	var out []string
	seen := map[string]bool{}
	for _, p := range t.Paths {
		if !seen[p.Interface] {
			seen[p.Interface] = true
			out = append(out, p.Interface)
		}
	}
	return out
}

// MACs returns the distinct target MACs.
func (t *Target) MACs() []net.HardwareAddr {
	var out []net.HardwareAddr
	seen := map[string]bool{}
	for _, p := range t.Paths {
		if !seen[string(p.MAC)] {
			seen[string(p.MAC)] = true
			out = append(out, p.MAC)
		}
	}
	return out
}

// ErrNoClients: Probe was given no interface.
var ErrNoClients = errors.New("discover: no interface to probe")

type reply struct {
	client *initiator.Client
	frame  *initiator.Frame
}

type pathKey struct {
	iface string
	mac   string
	shelf uint16
	slot  uint8
}

type identified struct {
	key pathKey
	id  *initiator.Identity
	err error
}

// Probe broadcasts Query Config on every client's interface and returns the
// targets that answered, sorted by shelf and slot. It ends when no new
// responder has appeared for Quiet after the last broadcast and every
// IDENTIFY is answered, or at Timeout.
func Probe(ctx context.Context, clients []*initiator.Client, opts Options) ([]Target, error) {
	if len(clients) == 0 {
		return nil, ErrNoClients
	}
	o := opts.withDefaults()
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()

	query := &initiator.Frame{Shelf: initiator.BroadcastShelf, Slot: initiator.BroadcastSlot,
		Command: initiator.CommandQueryConfig, Arg: &initiator.ConfigArg{Command: initiator.ConfigRead}}
	replies := make(chan reply, 1024)
	var resends []func() error
	for _, c := range clients {
		ch, resend, stop, err := c.Broadcast(query)
		if err != nil {
			return nil, err
		}
		defer stop()
		resends = append(resends, resend)
		go func(c *initiator.Client, ch <-chan *initiator.Frame) {
			for {
				select {
				case f := <-ch:
					select {
					case replies <- reply{c, f}:
					case <-ctx.Done():
						return
					}
				case <-ctx.Done():
					return
				}
			}
		}(c, ch)
	}

	start := time.Now()
	paths := map[pathKey]*Path{}
	var order []pathKey
	identities := make(chan identified, 256)
	pending := 0
	lastNew := start
	lastSend := start
	next := 0 // index in o.Resend

	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		now := time.Now()
		for next < len(o.Resend) && now.Sub(start) >= o.Resend[next] {
			for _, resend := range resends {
				_ = resend() // a failed resend is not fatal: the first one went out
			}
			lastSend = now
			next++
		}
		quietUntil := lastNew.Add(o.Quiet)
		if t := lastSend.Add(o.Quiet); t.After(quietUntil) {
			quietUntil = t
		}
		if next >= len(o.Resend) && pending == 0 && !now.Before(quietUntil) {
			break
		}
		wake := quietUntil
		if next < len(o.Resend) {
			if t := start.Add(o.Resend[next]); t.Before(wake) {
				wake = t
			}
		}
		timer.Reset(max(time.Until(wake), time.Millisecond))
		select {
		case r := <-replies:
			k, p, ok := newPath(r)
			if !ok {
				continue
			}
			if _, seen := paths[k]; seen {
				continue
			}
			paths[k] = p
			order = append(order, k)
			lastNew = time.Now()
			r.client.SetWindow(p.MAC, int(p.BufferCount))
			if !o.NoIdentify {
				pending++
				go func(c *initiator.Client, k pathKey, mac net.HardwareAddr) {
					id, err := identifyPath(ctx, c, k, mac)
					identities <- identified{k, id, err}
				}(r.client, k, p.MAC)
			}
		case id := <-identities:
			pending--
			paths[id.key].Identity, paths[id.key].IdentifyErr = id.id, id.err
		case <-timer.C:
		case <-ctx.Done():
			// Timeout: keep what answered; collect identities already in.
			for pending > 0 {
				id := <-identities
				pending--
				paths[id.key].Identity, paths[id.key].IdentifyErr = id.id, id.err
			}
			return aggregate(paths, order), nil
		}
	}
	return aggregate(paths, order), nil
}

// newPath makes a path from a Query Config reply.
func newPath(r reply) (pathKey, *Path, bool) {
	f := r.frame
	arg, ok := f.Arg.(*initiator.ConfigArg)
	if !ok || f.Error || f.Shelf == initiator.BroadcastShelf || f.Slot == initiator.BroadcastSlot {
		return pathKey{}, nil, false
	}
	ifi := r.client.Interface()
	k := pathKey{iface: ifi.Name, mac: string(f.Source), shelf: f.Shelf, slot: f.Slot}
	return k, &Path{
		MAC:             append(net.HardwareAddr(nil), f.Source...),
		Interface:       ifi.Name,
		MTU:             ifi.MTU,
		BufferCount:     arg.BufferCount,
		Firmware:        arg.FirmwareVersion,
		SectorsPerFrame: arg.Sectors(),
		Payload:         arg.PayloadForMTU(ifi.MTU),
		AoEVersion:      arg.Version,
		Config:          arg.String,
	}, true
}

// identifyPath sends ATA IDENTIFY along one path.
func identifyPath(ctx context.Context, c *initiator.Client, k pathKey, mac net.HardwareAddr) (*initiator.Identity, error) {
	f, err := c.Request(ctx, &initiator.Frame{Destination: mac, Shelf: k.shelf, Slot: k.slot,
		Command: initiator.CommandATA, Arg: initiator.NewIdentify()})
	if err != nil {
		return nil, err
	}
	arg, ok := f.Arg.(*initiator.ATAArg)
	if !ok {
		return nil, errors.New("discover: IDENTIFY reply without an ATA argument")
	}
	if arg.Failed() {
		return nil, errors.New("discover: IDENTIFY failed: ATA status " + hexByte(arg.CmdStatus))
	}
	id, err := initiator.ParseIdentify(arg.Data)
	if err != nil {
		return nil, err
	}
	return &id, nil
}

func hexByte(b uint8) string {
	const digits = "0123456789abcdef"
	return "0x" + string([]byte{digits[b>>4], digits[b&0xf]})
}

// aggregate groups paths into targets and flags conflicts.
func aggregate(paths map[pathKey]*Path, order []pathKey) []Target {
	byAddr := map[[2]int]*Target{}
	var targets []*Target
	for _, k := range order {
		addr := [2]int{int(k.shelf), int(k.slot)}
		t, ok := byAddr[addr]
		if !ok {
			t = &Target{Shelf: k.shelf, Slot: k.slot}
			byAddr[addr] = t
			targets = append(targets, t)
		}
		t.Paths = append(t.Paths, *paths[k])
	}
	out := make([]Target, 0, len(targets))
	for _, t := range targets {
		sort.Slice(t.Paths, func(i, j int) bool {
			if t.Paths[i].Interface != t.Paths[j].Interface {
				return t.Paths[i].Interface < t.Paths[j].Interface
			}
			return bytes.Compare(t.Paths[i].MAC, t.Paths[j].MAC) < 0
		})
		t.Conflict = conflicting(t.Paths)
		out = append(out, *t)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Shelf != out[j].Shelf {
			return out[i].Shelf < out[j].Shelf
		}
		return out[i].Slot < out[j].Slot
	})
	return out
}

// conflicting reports whether the identified paths lead to different disks.
// Several MACs for the same disk is multipath, not a conflict.
func conflicting(paths []Path) bool {
	var first *initiator.Identity
	for _, p := range paths {
		if p.Identity == nil {
			continue
		}
		if first == nil {
			first = p.Identity
			continue
		}
		if p.Identity.Serial != first.Serial || p.Identity.Model != first.Model || p.Identity.Sectors() != first.Sectors() {
			return true
		}
	}
	return false
}
