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
	"github.com/goaoe/aoe/initiator/aoeaddr"
	"github.com/goaoe/aoe/initiator/wire"
	"golang.org/x/sync/errgroup"
)

// Options tune a probe. The zero value gives the defaults.
type Options struct {
	// Timeout bounds the whole probe (default 5s).
	Timeout time.Duration
	// Quiet, Resend, ResendInterval and MaxSends shape the broadcast, as
	// in initiator.CollectOptions: it is sent again on a schedule, and
	// more often once the network shows loss, so that a lost frame loses
	// no target.
	Quiet          time.Duration
	Resend         []time.Duration
	ResendInterval time.Duration
	MaxSends       int
	// MaxPaths caps the paths kept (default 4096, as
	// initiator.CollectOptions.MaxReplies); more make the probe end with
	// an *initiator.IncompleteError.
	MaxPaths int
	// NoIdentify skips ATA IDENTIFY.
	NoIdentify bool
}

// DefaultQuiet is how long a probe goes on without a new answer, by
// default, before it ends (initiator.CollectOptions.Quiet).
const DefaultQuiet = 300 * time.Millisecond

// defaultMaxPaths is Options.MaxPaths's default, initiator's default
// MaxReplies: a probe's or a check's IDENTIFY pool queues that many jobs
// without blocking the collect loop.
const defaultMaxPaths = 4096

// everyTarget is the broadcast address: a Query Config every target
// answers.
var everyTarget = initiator.Target{Shelf: aoeaddr.BroadcastShelf, Slot: aoeaddr.BroadcastSlot}

// collect returns the broadcast options of a probe.
func (o Options) collect() initiator.CollectOptions {
	max := o.MaxPaths
	if max <= 0 {
		max = defaultMaxPaths
	}
	return initiator.CollectOptions{Timeout: o.Timeout, Quiet: o.Quiet, Resend: o.Resend,
		ResendInterval: o.ResendInterval, MaxSends: o.MaxSends, MaxReplies: max}
}

func (o Options) timeout() time.Duration {
	if o.Timeout <= 0 {
		return 5 * time.Second
	}
	return o.Timeout
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
	// (IdentifyErr says why) or was not asked (NoIdentify).
	Identity    *wire.Identity
	IdentifyErr error
}

// Unverified reports whether IDENTIFY was asked and not answered: the
// path's disk is unknown. Anything on the segment can answer Query Config
// for any address, so such a path is no proof of reaching the target's
// disk, nor of being the same disk as the other paths.
func (p *Path) Unverified() bool { return p.Identity == nil && p.IdentifyErr != nil }

// Target is one shelf.slot address and every path that answered for it.
type Target struct {
	Shelf uint16
	Slot  uint8
	Paths []Path
	// Conflict is set when the paths lead to different disks (serial,
	// model or capacity differ): two targets claim one address.
	Conflict bool
}

// Unverified reports whether some path's disk is unknown (see
// Path.Unverified).
func (t *Target) Unverified() bool {
	for i := range t.Paths {
		if t.Paths[i].Unverified() {
			return true
		}
	}
	return false
}

// Name returns "eSHELF.SLOT".
func (t *Target) Name() string { return aoeaddr.Address{Shelf: t.Shelf, Slot: t.Slot}.String() }

// Identity returns the first path's IDENTIFY data, or nil.
func (t *Target) Identity() *wire.Identity {
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

type pathKey struct {
	iface string
	mac   string
	shelf uint16
	slot  uint8
}

// IdentifyWorkers bounds the IDENTIFY requests a probe or a check has in
// flight at once, whatever the number of paths.
const IdentifyWorkers = 32

// Probe broadcasts Query Config on every interface of the group and
// returns the targets that answered, sorted by shelf and slot. Each new
// path is sent ATA IDENTIFY as soon as it answers, by a pool of
// IdentifyWorkers. It ends when no new responder has appeared for Quiet
// after the last broadcast and every IDENTIFY is answered, or at Timeout.
// At most MaxPaths paths are kept (default 4096). When the list is known to be incomplete
// (more paths answered, or replies were lost before they were read), the
// targets found come with an *initiator.IncompleteError, or with ctx's
// error when ctx ended first. Errors: those of
// initiator.Group.QueryConfig.
func Probe(ctx context.Context, g *initiator.Group, opts Options) ([]Target, error) {
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, opts.timeout())
	defer cancel()
	paths := map[pathKey]*Path{}
	var order []pathKey
	var mu sync.Mutex
	pool := newPool(ctx, opts.collect().MaxReplies)
	_, err := g.QueryConfig(ctx, everyTarget, &wire.ConfigArg{}, opts.collect(), func(r initiator.ConfigReply) bool {
		k, p, ok := newPath(r)
		if !ok {
			return false
		}
		mu.Lock()
		paths[k] = p
		order = append(order, k)
		mu.Unlock()
		if opts.NoIdentify {
			return false
		}
		p.IdentifyErr = errNotAsked
		c := g.ClientFor(p.Interface) // its window is the target's buffer count (QueryConfig)
		pool.do(func() {
			id, _, err := c.Identify(ctx, r.Target, 0)
			mu.Lock()
			p.Identity, p.IdentifyErr = id, err
			mu.Unlock()
		})
		return false
	})
	var incomplete *initiator.IncompleteError
	if err != nil && !errors.As(err, &incomplete) {
		pool.wait()
		return nil, err
	}
	pool.wait() // bounded by ctx: Timeout ends the IDENTIFY retries
	mu.Lock()
	defer mu.Unlock()
	if perr := parent.Err(); perr != nil {
		err = perr // interrupted: what came is no complete answer
	}
	return aggregate(paths, order), err
}

// pool runs jobs on at most IdentifyWorkers goroutines (an errgroup
// with a limit), queued without blocking the caller (the collect loop,
// which must go on reading replies); jobs not started when ctx ends are
// skipped.
type pool struct {
	ctx  context.Context
	jobs chan func()
	done chan struct{}
}

// newPool returns a pool that queues up to max jobs without blocking.
func newPool(ctx context.Context, max int) *pool {
	p := &pool{ctx: ctx, jobs: make(chan func(), max), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		var g errgroup.Group
		g.SetLimit(IdentifyWorkers)
		for job := range p.jobs {
			g.Go(func() error {
				if ctx.Err() == nil {
					job()
				}
				return nil
			})
		}
		_ = g.Wait() // the jobs return no error
	}()
	return p
}

// do queues job. A job beyond the queue's room waits for it (or for ctx).
func (p *pool) do(job func()) {
	select {
	case p.jobs <- job:
	case <-p.ctx.Done():
	}
}

// wait ends the queue and waits for the jobs.
func (p *pool) wait() {
	close(p.jobs)
	<-p.done
}

// newPath makes a path from a Query Config answer.
func newPath(r initiator.ConfigReply) (pathKey, *Path, bool) {
	if r.Err != nil {
		return pathKey{}, nil, false
	}
	t, arg, ifi := r.Target, &r.Config, r.Interface
	k := pathKey{iface: ifi.Name, mac: string(t.MAC), shelf: t.Shelf, slot: t.Slot}
	return k, &Path{
		MAC:             append(net.HardwareAddr(nil), t.MAC...),
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

// aggregate groups paths into targets and flags conflicts.
func aggregate(paths map[pathKey]*Path, order []pathKey) []Target {
	type keyed struct {
		k pathKey
		p Path
	}
	var list []keyed
	for _, k := range order {
		list = append(list, keyed{k, *paths[k]})
	}
	groups := byAddress(list, func(x keyed) (uint16, uint8, string, net.HardwareAddr) {
		return x.k.shelf, x.k.slot, x.p.Interface, x.p.MAC
	})
	out := make([]Target, 0, len(groups))
	for _, g := range groups {
		t := Target{Shelf: g.shelf, Slot: g.slot}
		var ids []*wire.Identity
		for _, x := range g.items {
			t.Paths = append(t.Paths, x.p)
			ids = append(ids, x.p.Identity)
		}
		t.Conflict = differentDisks(ids)
		out = append(out, t)
	}
	return out
}

// group is the items of one shelf.slot.
type group[T any] struct {
	shelf uint16
	slot  uint8
	items []T
}

// byAddress groups items by shelf.slot, in the order addresses first
// appear, then sorts the groups by shelf and slot and each group's items
// by local interface and target MAC.
func byAddress[T any](items []T, key func(T) (shelf uint16, slot uint8, iface string, mac net.HardwareAddr)) []group[T] {
	index := map[[2]int]int{}
	var out []group[T]
	for _, it := range items {
		sh, sl, _, _ := key(it)
		a := [2]int{int(sh), int(sl)}
		i, ok := index[a]
		if !ok {
			i = len(out)
			index[a] = i
			out = append(out, group[T]{shelf: sh, slot: sl})
		}
		out[i].items = append(out[i].items, it)
	}
	for _, g := range out {
		sort.SliceStable(g.items, func(i, j int) bool {
			_, _, ii, mi := key(g.items[i])
			_, _, ij, mj := key(g.items[j])
			if ii != ij {
				return ii < ij
			}
			return bytes.Compare(mi, mj) < 0
		})
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].shelf != out[j].shelf {
			return out[i].shelf < out[j].shelf
		}
		return out[i].slot < out[j].slot
	})
	return out
}

// differentDisks reports whether the known identities describe different
// disks. Several MACs for the same disk is multipath, not a conflict.
func differentDisks(ids []*wire.Identity) bool {
	var first *wire.Identity
	for _, id := range ids {
		if id == nil {
			continue
		}
		if first == nil {
			first = id
			continue
		}
		if len(id.Differs(*first)) > 0 {
			return true
		}
	}
	return false
}
