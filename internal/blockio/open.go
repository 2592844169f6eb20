// Package blockio is the data side of the aoe command: it opens an AoE
// target as an initiator.Disk over every path that answers a Query Config,
// guards writes (reserve list, the local driver's use of the device),
// copies to and from a disk with progress, and measures a disk's speed.
package blockio

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/goaoe/aoe/initiator"
	"github.com/goaoe/aoe/initiator/aoeaddr"
	"github.com/goaoe/aoe/initiator/wire"
)

// Errors of the package.
var (
	// ErrNotFound is returned by Open when no path answers.
	ErrNotFound = errors.New("the target did not answer")
	// ErrReserved is returned by CheckWrite when the target's reserve list
	// names other hosts and not this one.
	ErrReserved = errors.New("the target is reserved for other hosts")
	// ErrInUse is returned by CheckWrite when the local aoe driver uses
	// the device (open, mounted, held).
	ErrInUse = errors.New("the device is in use on this host")
)

// Target is an opened disk with the paths it was found on.
type Target struct {
	*initiator.Disk
	Paths []initiator.DiskPath
}

// OpenOptions tune Open.
type OpenOptions struct {
	// Timeout bounds the wait for Query Config answers.
	Timeout time.Duration
	// Target, when set, keeps only the paths to that MAC: the one disk
	// to use when several answer for the address.
	Target net.HardwareAddr
	// Settle is how long Open waits for more answers once every
	// interface of the group has one for the address (from Target, when
	// set: then none, as no other port is used). Default 50ms, at least
	// twice the slowest answer's round trip; negative: until the
	// broadcast's quiet time has passed, as discovery does.
	Settle time.Duration
	// Disk are the options of initiator.OpenDisk.
	Disk initiator.DiskOptions
}

// defaultSettle is OpenOptions.Settle's default.
const defaultSettle = 50 * time.Millisecond

// Open finds shelf.slot on the group's interfaces with a Query Config
// broadcast (within o.Timeout) and opens it over every path that answered
// (from o.Target only, when set).
//
// It fails with an error wrapping ErrNotFound when nothing answers (or
// o.Target did not: the error names the MACs that did), and otherwise as
// initiator.OpenDisk.
//
// A target's ports answer a broadcast at once: when every interface has
// an answer, Open waits only o.Settle for the other ports' (a port whose
// answer the network lost then goes unused) rather than the broadcast's
// quiet time, which discovery needs and a named address does not (it was
// most of aoe read's start: 0.45 s of 0.65 s in a guest).
func Open(ctx context.Context, g *initiator.Group, shelf uint16, slot uint8, o OpenOptions) (*Target, error) {
	qctx, settled := context.WithCancel(ctx)
	defer settled()
	var (
		heard   = map[string]bool{}
		slowest time.Duration
		timer   *time.Timer
	)
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	onAnswer := func(a initiator.ConfigReply) bool {
		if a.Err != nil || (o.Target != nil && !bytes.Equal(a.Target.MAC, o.Target)) {
			return false
		}
		heard[a.Interface.Name] = true
		slowest = max(slowest, a.RTT)
		if len(heard) < len(g.Clients()) || o.Settle < 0 {
			return false
		}
		if o.Target != nil {
			return true // the one port, heard on every interface
		}
		if timer == nil {
			wait := o.Settle
			if wait == 0 {
				wait = defaultSettle
			}
			timer = time.AfterFunc(max(wait, 2*slowest), settled)
		}
		return false
	}
	found, err := g.QueryConfig(qctx, initiator.Target{Shelf: shelf, Slot: slot}, &wire.ConfigArg{}, initiator.CollectOptions{Timeout: o.Timeout}, onAnswer)
	if ctx.Err() != nil {
		return nil, context.Cause(ctx)
	}
	// An incomplete answer (a flood lost replies) still gives paths that
	// answered for this address; the disk works over those.
	var inc *initiator.IncompleteError
	if err != nil && !(errors.As(err, &inc) && len(found) > 0) {
		return nil, err
	}
	// Paths in the group's interface order, then by MAC: the same order
	// whatever order the answers came in.
	order := map[string]int{}
	var names []string // for messages
	for i, c := range g.Clients() {
		order[c.Interface().Name] = i
		names = append(names, c.Interface().Name)
	}
	slices.SortStableFunc(found, func(a, b initiator.ConfigReply) int {
		if c := cmp.Compare(order[a.Interface.Name], order[b.Interface.Name]); c != 0 {
			return c
		}
		return bytes.Compare(a.Target.MAC, b.Target.MAC)
	})
	var (
		paths    []initiator.DiskPath
		answered []string
	)
	for _, r := range found {
		if r.Err != nil {
			continue
		}
		if m := r.Target.MAC.String(); !slices.Contains(answered, m) {
			answered = append(answered, m)
		}
		if o.Target != nil && !bytes.Equal(r.Target.MAC, o.Target) {
			continue
		}
		cfg := r.Config
		paths = append(paths, initiator.DiskPath{Client: g.ClientFor(r.Interface.Name), MAC: r.Target.MAC, Config: &cfg})
	}
	name := aoeaddr.Address{Shelf: shelf, Slot: slot}.String()
	if len(paths) == 0 && len(answered) > 0 {
		slices.Sort(answered)
		return nil, fmt.Errorf("%s: %w from %s on %s; it answered from %s", name, ErrNotFound, o.Target, strings.Join(names, ", "), strings.Join(answered, ", "))
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("%s: %w on %s (see 'aoe discover --probe')", name, ErrNotFound, strings.Join(names, ", "))
	}
	d, err := initiator.OpenDisk(ctx, shelf, slot, paths, o.Disk)
	if err != nil {
		return nil, err
	}
	return &Target{Disk: d, Paths: paths}, nil
}

// WriteGuard says whether a write to a target may go ahead.
type WriteGuard struct {
	// Force skips every check.
	Force bool
	// InUse, when set, returns an error (an *inuse.Error) when the
	// local driver's device of this name is in use: flush's check.
	InUse func(dev string) error
}

// CheckWrite refuses a write that would harm someone: it returns an error
// wrapping ErrInUse when the local driver has the device open, mounted or
// held, and one wrapping ErrReserved when a path's reserve list names
// other hosts but not the MAC of the interface we reach it on.
func (g WriteGuard) CheckWrite(ctx context.Context, t *Target) error {
	if g.Force {
		return nil
	}
	if g.InUse != nil {
		if err := g.InUse(t.Address().String()); err != nil {
			return fmt.Errorf("%w: %w; release it first, or use --force", ErrInUse, err)
		}
	}
	for _, p := range t.Paths {
		list, err := reserveList(ctx, p, t)
		if err != nil {
			return fmt.Errorf("%s: reading the reserve list at %s on %s: %w", t.Address().String(), p.MAC, p.Client.Interface().Name, err)
		}
		if len(list) > 0 && !containsMAC(list, p.Client.Interface().MAC) {
			var macs []string
			for _, m := range list {
				macs = append(macs, m.String())
			}
			return fmt.Errorf("%s: %w (%s at %s); use --force to write anyway", t.Address().String(), ErrReserved, strings.Join(macs, ", "), p.MAC)
		}
	}
	return nil
}

func (t *Target) target(p initiator.DiskPath) initiator.Target {
	a := t.Address()
	shelf, slot := a.Shelf, a.Slot
	return initiator.Target{MAC: p.MAC, Shelf: shelf, Slot: slot}
}

func reserveList(ctx context.Context, p initiator.DiskPath, t *Target) ([]net.HardwareAddr, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return p.Client.Reserve(ctx, t.target(p), wire.ReserveRead, nil)
}

// setReserve sets the reserve list of a path (empty: released).
func setReserve(ctx context.Context, p initiator.DiskPath, t *Target, macs []net.HardwareAddr) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var err error
	if len(macs) == 0 {
		_, err = p.Client.Reserve(ctx, t.target(p), wire.ReserveSet, nil)
	} else {
		_, err = p.Client.Reserve(ctx, t.target(p), wire.ReserveSet, macs)
	}
	return err
}

// Reserve sets every path's reserve list to this host's MACs (those of
// the interfaces the paths use) and returns a function that puts back the
// list each path had before (empty: released). It fails with
// wire.ErrTargetReserved when another host holds the reservation.
func Reserve(ctx context.Context, t *Target) (release func() error, err error) {
	var macs []net.HardwareAddr
	for _, p := range t.Paths {
		if m := p.Client.Interface().MAC; !containsMAC(macs, m) {
			macs = append(macs, m)
		}
	}
	type held struct {
		path initiator.DiskPath
		prev []net.HardwareAddr
	}
	var done []held
	release = func() error {
		var errs []error
		for _, h := range done {
			if err := setReserve(context.Background(), h.path, t, h.prev); err != nil {
				errs = append(errs, fmt.Errorf("releasing %s at %s: %w", t.Address().String(), h.path.MAC, err))
			}
		}
		return errors.Join(errs...)
	}
	for _, p := range t.Paths {
		prev, err := reserveList(ctx, p, t)
		if err == nil {
			err = setReserve(ctx, p, t, macs)
		}
		if err != nil {
			_ = release()
			return nil, fmt.Errorf("reserving %s at %s on %s: %w", t.Address().String(), p.MAC, p.Client.Interface().Name, err)
		}
		done = append(done, held{p, prev})
	}
	return release, nil
}

func containsMAC(list []net.HardwareAddr, m net.HardwareAddr) bool {
	for _, x := range list {
		if bytes.Equal(x, m) {
			return true
		}
	}
	return false
}
