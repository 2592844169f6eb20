package discover

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/goaoe/aoe/initiator"
	"github.com/goaoe/aoe/initiator/aoeaddr"
	"github.com/goaoe/aoe/initiator/wire"
)

// headers is what an ATA frame carries besides data: Ethernet and AoE
// headers (24 bytes) and the ATA argument (12).
const headers = 36

// Interface is a local interface as the SAN check reports it.
type Interface struct {
	Name  string `json:"name"`
	Up    bool   `json:"up"`
	MTU   int    `json:"mtu"`
	PCIID string `json:"pci_id"` // vendor:device of its PCI device, or ""
}

// CheckedPath is one path of the SAN check and what got through it.
type CheckedPath struct {
	Target    initiator.Target
	Interface string
	// MTU is the local interface's MTU.
	MTU int
	// Sectors is the target's sector count per ATA frame (Query Config).
	Sectors int
	// MaxSectors is the largest IDENTIFY padding, in sectors, answered.
	MaxSectors int
	// Identity is the IDENTIFY data of one answered probe, or nil.
	Identity *wire.Identity
}

// Device is a target of the SAN check: its paths and what is wrong.
type Device struct {
	Shelf uint16
	Slot  uint8
	// MACs is the number of distinct target MACs.
	MACs int
	// Payload is the data bytes per frame the target can take (its sector
	// count, from the first path that answered, times 512).
	Payload int
	// Interfaces are the local interfaces of the paths, sorted.
	Interfaces []string
	// Paths are sorted by interface and MAC.
	Paths    []CheckedPath
	Conflict bool
	Warnings []Warning
}

// Name returns "eSHELF.SLOT".
func (d *Device) Name() string { return aoeaddr.Address{Shelf: d.Shelf, Slot: d.Slot}.String() }

// Unverified reports whether a path answered no IDENTIFY (WarnUnverified).
func (d *Device) Unverified() bool {
	for i := range d.Paths {
		if d.Paths[i].Unverified() {
			return true
		}
	}
	return false
}

// Unverified reports whether no IDENTIFY got through on the path: its
// disk is unknown.
func (p *CheckedPath) Unverified() bool { return p.Identity == nil && p.MaxSectors == 0 }

// Tested returns the smallest frame payload, in bytes, that got through
// every path.
func (d *Device) Tested() int {
	n := 0
	for i, p := range d.Paths {
		if i == 0 || p.MaxSectors*512 < n {
			n = p.MaxSectors * 512
		}
	}
	return n
}

// WarningKind says what a warning is about.
type WarningKind int

// Warnings of the SAN check.
const (
	// WarnMACCount: a target has a different number of MACs than local
	// interfaces reach it.
	WarnMACCount WarningKind = iota
	// WarnPathPayload: a path carries only smaller frames than its MTU
	// allows (Bytes is what got through).
	WarnPathPayload
	// WarnMTUPayload: an interface's MTU is too small for the payload the
	// target can take.
	WarnMTUPayload
	// WarnMTUDiffers: a target's interfaces have different MTUs.
	WarnMTUDiffers
	// WarnConflict: different disks answer for one address.
	WarnConflict
	// WarnUnverified: a path answered Query Config but no IDENTIFY: its
	// disk is unknown, so it is no proof of a path to the target's disk
	// (anything on the segment can answer for any address).
	WarnUnverified
)

// Warning is one finding of the SAN check.
type Warning struct {
	Kind      WarningKind
	Device    string
	Interface string
	MAC       net.HardwareAddr
	Bytes     int // WarnPathPayload
	MTU       int // the interface's MTU
	OtherMTU  int // WarnMTUDiffers: the first interface's
}

// String says it in aoe-sancheck's words.
func (w Warning) String() string {
	switch w.Kind {
	case WarnMACCount:
		return "Mismatched number of local vs remote interfaces"
	case WarnPathPayload:
		return fmt.Sprintf("The path %s->%s is only capable of %d byte payloads", w.Interface, strings.ReplaceAll(w.MAC.String(), ":", ""), w.Bytes)
	case WarnMTUPayload:
		return fmt.Sprintf("%s: MTU (%d) not set optimally for device's capable payload", w.Interface, w.MTU)
	case WarnMTUDiffers:
		return fmt.Sprintf("%s: MTU different from other interfaces (%d vs. %d)", w.Interface, w.MTU, w.OtherMTU)
	case WarnConflict:
		return "Different disks answer for " + w.Device + " (address conflict)"
	case WarnUnverified:
		return fmt.Sprintf("The path %s->%s answered no IDENTIFY: unverified, its disk is unknown", w.Interface, strings.ReplaceAll(w.MAC.String(), ":", ""))
	}
	return fmt.Sprintf("warning %d", int(w.Kind))
}

// Report is the result of the SAN check.
type Report struct {
	Interfaces []Interface
	// Devices are sorted by shelf and slot.
	Devices []Device
	// Paths are every path in the order they answered.
	Paths []CheckedPath
}

// CheckOptions tune Check.
type CheckOptions struct {
	// Timeout bounds the check (default 5s).
	Timeout time.Duration
	// Quiet is how long the search for paths goes on without a new one
	// (default 300ms, as initiator.CollectOptions); set it to Timeout to
	// wait for slow targets.
	Quiet time.Duration
	// OnSendFail, if set, is called (one call at a time) for each probe
	// that could not be sent (initiator.ErrSend: a frame larger than the
	// link takes).
	OnSendFail func()
}

// Check checks the SAN: it finds every path with Query Config on the
// group's interfaces (g may be nil: nothing is probed), measures each with
// IDENTIFY requests padded to (MTU-36) rounded down to 512 bytes and every
// smaller multiple (the largest answered is the path's frame size), and
// reports the devices with their warnings against ifaces. IDENTIFYs run
// on a pool of IdentifyWorkers paths at a time. When the list of paths is
// known to be incomplete the report comes with an
// *initiator.IncompleteError, or with ctx's error when ctx ended first.
// Errors: those of initiator.Group.QueryConfig.
func Check(ctx context.Context, g *initiator.Group, ifaces []Interface, opts CheckOptions) (*Report, error) {
	rep := &Report{Interfaces: ifaces}
	var incomplete error
	if g != nil && len(g.Clients()) > 0 {
		paths, err := measurePaths(ctx, g, opts)
		if err != nil && !errors.As(err, new(*initiator.IncompleteError)) {
			return nil, err
		}
		incomplete = err
		for _, p := range paths {
			rep.Paths = append(rep.Paths, *p)
		}
	}
	rep.Devices = Devices(rep.Paths, ifaces)
	if err := ctx.Err(); err != nil {
		return rep, err // interrupted: what came is no complete answer
	}
	return rep, incomplete
}

// measurePaths finds the paths and sends each its padded IDENTIFYs.
func measurePaths(ctx context.Context, g *initiator.Group, opts CheckOptions) ([]*CheckedPath, error) {
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var mu sync.Mutex
	var paths []*CheckedPath
	pool := newPool(ctx, defaultMaxPaths)
	_, err := g.QueryConfig(ctx, everyTarget, &wire.ConfigArg{}, initiator.CollectOptions{Timeout: timeout, Quiet: opts.Quiet, MaxReplies: defaultMaxPaths}, func(r initiator.ConfigReply) bool {
		if r.Err != nil {
			return false
		}
		c := g.ClientFor(r.Interface.Name)
		p := &CheckedPath{Target: r.Target, Interface: r.Interface.Name, MTU: r.Interface.MTU, Sectors: r.Config.Sectors()}
		mu.Lock()
		paths = append(paths, p)
		mu.Unlock()
		pool.do(func() { measure(ctx, c, p, &mu, opts.OnSendFail) })
		return false
	})
	pool.wait()
	var incomplete *initiator.IncompleteError
	if err != nil && !errors.As(err, &incomplete) {
		return nil, err
	}
	return paths, err
}

// measure sends one path its padded IDENTIFYs, all sizes at once, and
// records the largest answered.
func measure(ctx context.Context, c *initiator.Client, p *CheckedPath, mu *sync.Mutex, onSendFail func()) {
	var wg sync.WaitGroup
	for n := (p.MTU - headers) / 512; n >= 1; n-- {
		wg.Go(func() {
			id, _, err := c.Identify(ctx, p.Target, n)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case errors.Is(err, initiator.ErrSend) && onSendFail != nil:
				onSendFail()
			case err == nil || errors.Is(err, initiator.ErrShortIdentify): // it got through
				p.MaxSectors = max(p.MaxSectors, n)
				if p.Identity == nil {
					p.Identity = id
				}
			}
		})
	}
	wg.Wait()
}

// Devices groups checked paths (in the order they answered) by address
// and adds the warnings against the local interfaces.
func Devices(paths []CheckedPath, ifaces []Interface) []Device {
	mtu := map[string]int{}
	for _, i := range ifaces {
		mtu[i.Name] = i.MTU
	}
	groups := byAddress(paths, func(p CheckedPath) (uint16, uint8, string, net.HardwareAddr) {
		return p.Target.Shelf, p.Target.Slot, p.Interface, p.Target.MAC
	})
	out := make([]Device, 0, len(groups))
	for _, gr := range groups {
		d := Device{Shelf: gr.shelf, Slot: gr.slot, Paths: gr.items, Interfaces: []string{}, Warnings: []Warning{}}
		for _, p := range paths { // the first to answer, as aoe-sancheck
			if p.Target.Shelf == d.Shelf && p.Target.Slot == d.Slot {
				d.Payload = p.Sectors * 512
				break
			}
		}
		macs := map[string]bool{}
		var ids []*wire.Identity
		for _, p := range d.Paths {
			macs[string(p.Target.MAC)] = true
			if !slices.Contains(d.Interfaces, p.Interface) {
				d.Interfaces = append(d.Interfaces, p.Interface)
			}
			ids = append(ids, p.Identity)
		}
		sort.Strings(d.Interfaces)
		d.MACs = len(macs)
		d.Conflict = differentDisks(ids)
		d.Warnings = warnings(&d, mtu)
		out = append(out, d)
	}
	return out
}

// warnings are a device's findings, in aoe-sancheck's order (the conflict
// last, which aoe-sancheck does not report).
func warnings(d *Device, mtu map[string]int) []Warning {
	ws := []Warning{}
	name := d.Name()
	if d.MACs != len(d.Interfaces) {
		ws = append(ws, Warning{Kind: WarnMACCount, Device: name})
	}
	for _, p := range d.Paths {
		if p.MaxSectors < (p.MTU-headers)/512 {
			ws = append(ws, Warning{Kind: WarnPathPayload, Device: name, Interface: p.Interface, MAC: p.Target.MAC, Bytes: p.MaxSectors * 512, MTU: p.MTU})
		}
	}
	for _, i := range d.Interfaces {
		if mtu[i] < d.Payload+headers {
			ws = append(ws, Warning{Kind: WarnMTUPayload, Device: name, Interface: i, MTU: mtu[i]})
		}
	}
	for _, i := range d.Interfaces[1:] {
		if first := d.Interfaces[0]; mtu[i] != mtu[first] {
			ws = append(ws, Warning{Kind: WarnMTUDiffers, Device: name, Interface: i, MTU: mtu[i], OtherMTU: mtu[first]})
		}
	}
	if d.Conflict {
		ws = append(ws, Warning{Kind: WarnConflict, Device: name})
	}
	for _, p := range d.Paths {
		if p.Unverified() {
			ws = append(ws, Warning{Kind: WarnUnverified, Device: name, Interface: p.Interface, MAC: p.Target.MAC, MTU: p.MTU})
		}
	}
	return ws
}
