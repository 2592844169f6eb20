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
	"sync"
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
	// again in any case (default 50ms and 150ms). Once the network shows
	// that it loses frames, the broadcast is sent again every
	// ResendInterval up to MaxSends copies in all, so that a target missed
	// by the early copies is still found. Signs of loss: a copy after the
	// first not answered by every responder known by then, a responder
	// first heard after the first copy (on a clean network all answer it),
	// or a retransmission by one of the clients (such as an IDENTIFY under
	// way). An empty, non-nil Resend sends one copy only.
	Resend []time.Duration
	// ResendInterval is the time between the copies sent for loss
	// (default 150ms).
	ResendInterval time.Duration
	// MaxSends bounds the copies of the broadcast (default 10).
	MaxSends int
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
		o.Resend = []time.Duration{50 * time.Millisecond, 150 * time.Millisecond}
	}
	if o.ResendInterval <= 0 {
		o.ResendInterval = 150 * time.Millisecond
	}
	if o.MaxSends <= 0 {
		o.MaxSends = 10
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

type pathKey struct {
	iface string
	mac   string
	shelf uint16
	slot  uint8
}

// Response is one reply to a broadcast, with the client (interface) it came
// in on.
type Response struct {
	Client *initiator.Client
	Frame  *initiator.Frame
}

// Collect sends req on every client's interface as a broadcast, again at
// the Resend times, and returns the replies, one per (interface, source MAC,
// shelf, slot), in arrival order. onNew, if set, is called for each as it
// arrives. It ends when no new reply has come for Quiet after the last
// broadcast, or at Timeout (what came is returned), or when ctx is done.
func Collect(ctx context.Context, clients []*initiator.Client, req *initiator.Frame, opts Options, onNew func(Response)) ([]Response, error) {
	if len(clients) == 0 {
		return nil, ErrNoClients
	}
	o := opts.withDefaults()
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()

	replies := make(chan Response, 1024)
	var resends []func() error
	for _, c := range clients {
		ch, resend, stop, err := c.Broadcast(req)
		if err != nil {
			return nil, err
		}
		defer stop()
		resends = append(resends, resend)
		go func() {
			for {
				select {
				case f := <-ch:
					select {
					case replies <- Response{c, f}:
					case <-ctx.Done():
						return
					}
				case <-ctx.Done():
					return
				}
			}
		}()
	}

	start := time.Now()
	seen := map[pathKey]bool{}
	// round holds the responders heard since the latest copy was sent.
	// Loss, once seen, keeps the copies coming: a round complete among the
	// known responders says nothing of the targets missed so far.
	round := map[pathKey]bool{}
	lossy := false
	retransmits := func() (n uint64) {
		for _, c := range clients {
			n += c.Stats().Retransmits
		}
		return n
	}
	retransmitsAtStart := retransmits()
	var out []Response
	lastNew, lastSend := start, start
	sends, next := 1, 0 // copies sent; index in o.Resend
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		now := time.Now()
		// The next copy is due at the next scheduled time, or, after the
		// schedule, ResendInterval after the last copy when that one showed
		// loss; it is never due once MaxSends copies went out.
		var due time.Time
		switch {
		case len(o.Resend) == 0 || sends >= o.MaxSends:
		case next < len(o.Resend):
			due = start.Add(o.Resend[next])
		case lossy || len(round) < len(seen) || retransmits() > retransmitsAtStart:
			due = lastSend.Add(o.ResendInterval)
		}
		if !due.IsZero() && !now.Before(due) {
			if (sends >= 2 && len(round) < len(seen)) || retransmits() > retransmitsAtStart {
				lossy = true
			}
			for _, resend := range resends {
				_ = resend() // the first copy went out; a failed resend is not fatal
			}
			lastSend, round = now, map[pathKey]bool{}
			sends++
			if next < len(o.Resend) {
				next++
			}
			continue
		}
		quietUntil := lastNew.Add(o.Quiet)
		if t := lastSend.Add(o.Quiet); t.After(quietUntil) {
			quietUntil = t
		}
		if due.IsZero() && !now.Before(quietUntil) {
			return out, nil
		}
		wake := quietUntil
		if !due.IsZero() && due.Before(wake) {
			wake = due
		}
		timer.Reset(max(time.Until(wake), time.Millisecond))
		select {
		case r := <-replies:
			k := pathKey{iface: r.Client.Interface().Name, mac: string(r.Frame.Source), shelf: r.Frame.Shelf, slot: r.Frame.Slot}
			round[k] = true
			if seen[k] {
				continue
			}
			seen[k] = true
			if sends >= 2 {
				lossy = true // a newcomer after the first copy: that copy was lost to it
			}
			out = append(out, r)
			lastNew = time.Now()
			if onNew != nil {
				onNew(r)
			}
		case <-timer.C:
		case <-ctx.Done():
			// Timeout or cancellation: what came so far is the answer.
			return out, nil
		}
	}
}

// QueryConfig is the broadcast Query Config read that finds every target.
func QueryConfig() *initiator.Frame {
	return &initiator.Frame{Shelf: initiator.BroadcastShelf, Slot: initiator.BroadcastSlot,
		Command: initiator.CommandQueryConfig, Arg: &initiator.ConfigArg{Command: initiator.ConfigRead}}
}

// Probe broadcasts Query Config on every client's interface and returns the
// targets that answered, sorted by shelf and slot. Each new path is sent
// ATA IDENTIFY as soon as it answers. It ends when no new responder has
// appeared for Quiet after the last broadcast and every IDENTIFY is
// answered, or at Timeout.
func Probe(ctx context.Context, clients []*initiator.Client, opts Options) ([]Target, error) {
	o := opts.withDefaults()
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	paths := map[pathKey]*Path{}
	var order []pathKey
	var mu sync.Mutex
	var wg sync.WaitGroup
	_, err := Collect(ctx, clients, QueryConfig(), o, func(r Response) {
		k, p, ok := newPath(r)
		if !ok {
			return
		}
		mu.Lock()
		paths[k] = p
		order = append(order, k)
		mu.Unlock()
		r.Client.SetWindow(p.MAC, int(p.BufferCount))
		if o.NoIdentify {
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			id, err := identifyPath(ctx, r.Client, k, p.MAC)
			mu.Lock()
			p.Identity, p.IdentifyErr = id, err
			mu.Unlock()
		}()
	})
	if err != nil {
		return nil, err
	}
	wg.Wait() // bounded by ctx: Timeout ends the IDENTIFY retries
	return aggregate(paths, order), nil
}

// newPath makes a path from a Query Config reply.
func newPath(r Response) (pathKey, *Path, bool) {
	f := r.Frame
	arg, ok := f.Arg.(*initiator.ConfigArg)
	if !ok || f.Error || f.Shelf == initiator.BroadcastShelf || f.Slot == initiator.BroadcastSlot {
		return pathKey{}, nil, false
	}
	ifi := r.Client.Interface()
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
		if !p.Identity.SameDisk(*first) {
			return true
		}
	}
	return false
}
