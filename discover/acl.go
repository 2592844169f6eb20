package discover

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"strings"

	"github.com/goaoe/aoe/initiator"
	"github.com/goaoe/aoe/initiator/aoeaddr"
	"github.com/goaoe/aoe/initiator/wire"
)

// MAC is an entry of a MAC list given by a user: an address, or Self, the
// MAC of the local interface a path is reached on.
type MAC struct {
	Self bool
	Addr net.HardwareAddr
}

// ParseMAC parses "self", xx:xx:xx:xx:xx:xx (or another form of
// net.ParseMAC for 6 bytes) or 12 hex digits. It fails with an error
// wrapping ErrBadMAC.
func ParseMAC(s string) (MAC, error) {
	if s == "self" {
		return MAC{Self: true}, nil
	}
	t := s
	if len(t) == 12 && !strings.Contains(t, ":") {
		t = t[0:2] + ":" + t[2:4] + ":" + t[4:6] + ":" + t[6:8] + ":" + t[8:10] + ":" + t[10:12]
	}
	m, err := net.ParseMAC(t)
	if err != nil || len(m) != 6 {
		return MAC{}, fmt.Errorf("%q: %w", s, ErrBadMAC)
	}
	return MAC{Addr: m}, nil
}

// String returns "self" or the address.
func (m MAC) String() string {
	if m.Self {
		return "self"
	}
	return m.Addr.String()
}

func resolve(list []MAC, self net.HardwareAddr) []net.HardwareAddr {
	var out []net.HardwareAddr
	for _, m := range list {
		if m.Self {
			out = append(out, self)
		} else {
			out = append(out, m.Addr)
		}
	}
	return out
}

// ACLPath is one path of a device and its mask or reserve list.
type ACLPath struct {
	Target    initiator.Target
	Interface string
	// Self is the MAC of the local interface.
	Self net.HardwareAddr
	// List is the list the target holds (after the change, if any).
	List []net.HardwareAddr
	// Err is why the path failed, or nil: an initiator error
	// (ErrTimeout, a *DirectiveError...), or a *ReservedError.
	Err error
}

func joinMACs(list []net.HardwareAddr, sep string) string {
	var s []string
	for _, m := range list {
		s = append(s, m.String())
	}
	return strings.Join(s, sep)
}

// lockout says whether list would shut out self: not empty, without self.
func lockout(list []net.HardwareAddr, self net.HardwareAddr) bool {
	return len(list) > 0 && !containsMAC(list, self)
}

func containsMAC(list []net.HardwareAddr, m net.HardwareAddr) bool {
	for _, x := range list {
		if bytes.Equal(x, m) {
			return true
		}
	}
	return false
}

// Paths finds the paths of one device: the answers to a Query Config for
// its address on every interface of the group, sorted by interface and
// target MAC. Errors: ErrNotFound, and
// those of initiator.Group.QueryConfig.
func Paths(ctx context.Context, g *initiator.Group, a aoeaddr.Address, opts Options) ([]ACLPath, error) {
	found, err := g.QueryConfig(ctx, initiator.Target{Shelf: a.Shelf, Slot: a.Slot}, &wire.ConfigArg{}, opts.collect(), nil)
	if err != nil {
		return nil, err
	}
	var out []ACLPath
	for _, r := range found {
		out = append(out, ACLPath{Target: r.Target, Interface: r.Interface.Name, Self: r.Interface.MAC})
	}
	if len(out) == 0 {
		return nil, ErrNotFound
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Interface != out[j].Interface {
			return out[i].Interface < out[j].Interface
		}
		return bytes.Compare(out[i].Target.MAC, out[j].Target.MAC) < 0
	})
	return out, nil
}

// MaskChange is an edit of a Mac Mask List.
type MaskChange struct {
	Add, Del []MAC
	// Force allows a list without this host's MAC.
	Force bool
}

// Mask reads the Mac Mask List of every path of device a and, when change
// adds or deletes, edits it. A path's failure is in its Err. Errors: a
// *LockoutError (nothing edited on that path or after it), and those of
// Paths.
func Mask(ctx context.Context, g *initiator.Group, a aoeaddr.Address, change MaskChange, opts Options) ([]ACLPath, error) {
	paths, err := Paths(ctx, g, a, opts)
	if err != nil {
		return nil, err
	}
	for i := range paths {
		p := &paths[i]
		c := g.ClientFor(p.Interface)
		p.List, p.Err = c.Mask(ctx, p.Target, nil)
		if p.Err != nil || len(change.Add)+len(change.Del) == 0 {
			continue
		}
		var ds []wire.Directive
		result := p.List
		for _, m := range resolve(change.Add, p.Self) {
			ds = append(ds, wire.Directive{Command: wire.DirectiveAdd, MAC: m})
			if !containsMAC(result, m) {
				result = append(result, m)
			}
		}
		for _, m := range resolve(change.Del, p.Self) {
			ds = append(ds, wire.Directive{Command: wire.DirectiveDelete, MAC: m})
			result = removeMAC(result, m)
		}
		if lockout(result, p.Self) && !change.Force {
			return nil, &LockoutError{Path: *p, List: result}
		}
		p.List, p.Err = c.Mask(ctx, p.Target, ds)
	}
	return paths, nil
}

func removeMAC(list []net.HardwareAddr, m net.HardwareAddr) []net.HardwareAddr {
	var out []net.HardwareAddr
	for _, x := range list {
		if !bytes.Equal(x, m) {
			out = append(out, x)
		}
	}
	return out
}

// ReserveChange is a change of a reserve list.
type ReserveChange struct {
	// Set reserves the target for these MACs.
	Set []MAC
	// Release empties the list.
	Release bool
	// Force sends a force set (taking a reservation over), and allows a
	// list without this host's MAC.
	Force bool
}

// Reserve reads the reserve list of every path of device a or, with Set or
// Release, changes it. A path's failure is in its Err (a *ReservedError
// when another host holds the reservation). Errors: a *LockoutError
// (nothing changed on that path or after it), and those of Paths.
func Reserve(ctx context.Context, g *initiator.Group, a aoeaddr.Address, change ReserveChange, opts Options) ([]ACLPath, error) {
	paths, err := Paths(ctx, g, a, opts)
	if err != nil {
		return nil, err
	}
	for i := range paths {
		p := &paths[i]
		c := g.ClientFor(p.Interface)
		if len(change.Set) == 0 && !change.Release {
			p.List, p.Err = c.Reserve(ctx, p.Target, wire.ReserveRead, nil)
			continue
		}
		macs := resolve(change.Set, p.Self)
		if lockout(macs, p.Self) && !change.Force {
			return nil, &LockoutError{Path: *p, List: macs, Reserve: true}
		}
		cmd := uint8(wire.ReserveSet)
		if change.Force {
			cmd = wire.ReserveForceSet
		}
		p.List, p.Err = c.Reserve(ctx, p.Target, cmd, macs)
		if errors.Is(p.Err, wire.ErrTargetReserved) {
			p.Err = &ReservedError{Path: *p}
		}
	}
	return paths, nil
}
