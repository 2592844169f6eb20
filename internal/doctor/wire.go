package doctor

// This file is the doctor's only use of the wire packages (initiator,
// discover): renames there touch this file alone.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/goaoe/aoe/discover"
	"github.com/goaoe/aoe/initiator"
	"github.com/goaoe/aoe/initiator/wire"
	"github.com/goaoe/aoe/internal/safetext"
)

// WireOptions tune GatherWire.
type WireOptions struct {
	// Timeout bounds the probe (default 3s); Measure is how long each
	// frame size measured may take to come back (default 1s).
	Timeout, Measure time.Duration
	// Source says how the group's interfaces were chosen (SourceGiven...).
	Source string
}

// GatherWire probes every interface of g: Query Config and IDENTIFY for
// every target, then on each path its mask and reserve lists, and reads of
// every frame size up to the one the driver would use (reads only: nothing
// is written). Peer strings are escaped for terminals and JSON.
func GatherWire(ctx context.Context, g *initiator.Group, o WireOptions) WireView {
	var names []string
	for _, c := range g.Clients() {
		names = append(names, c.Interface().Name)
	}
	v := WireView{Seen: true, Interfaces: safeStrings(names), Source: o.Source, Frames: []FrameCount{}, Targets: []WireTarget{}}
	if o.Timeout <= 0 {
		o.Timeout = 3 * time.Second
	}
	if o.Measure <= 0 {
		o.Measure = time.Second
	}
	targets, err := discover.Probe(ctx, g, discover.Options{Timeout: o.Timeout})
	if err != nil && !errors.As(err, new(*initiator.IncompleteError)) {
		v.Seen = false
		v.Missing = Text(err.Error())
	}
	var wg sync.WaitGroup
	for _, t := range targets {
		wt := WireTarget{Name: t.Name(), Conflict: t.Conflict, Paths: make([]WirePath, len(t.Paths))}
		for i, p := range t.Paths {
			c := g.ClientFor(p.Interface)
			wp := &wt.Paths[i]
			*wp = WirePath{Interface: safetext.String(p.Interface), MAC: p.MAC.String(), Self: c.Interface().MAC.String(),
				LocalMTU: p.MTU, BufferCount: int(p.BufferCount), Firmware: fmt.Sprintf("0x%04x", p.Firmware),
				SectorsPerFrame: p.SectorsPerFrame, Mask: []string{}, Reserve: []string{}}
			if p.Identity != nil {
				wp.Serial, wp.Model = Text(safetext.String(p.Identity.Serial)), Text(safetext.String(p.Identity.Model))
				n, _ := p.Identity.Capacity()
				wp.Sectors = &n
			} else if p.IdentifyErr != nil {
				wp.IdentifyErr = Text(p.IdentifyErr.Error())
			}
			tgt := initiator.Target{MAC: p.MAC, Shelf: t.Shelf, Slot: t.Slot}
			lba48 := p.Identity != nil && p.Identity.LBA48
			wg.Go(func() {
				var maskErr, resErr error
				var lists sync.WaitGroup
				lists.Go(func() {
					mask, err := c.Mask(ctx, tgt, nil)
					wp.Mask, wp.MaskErr, maskErr = macStrings(mask, err), errString(err), err
				})
				lists.Go(func() {
					res, err := c.Reserve(ctx, tgt, wire.ReserveRead, nil)
					wp.Reserve, wp.ReserveErr, resErr = macStrings(res, err), errString(err), err
				})
				lists.Wait()
				// Neither list answered: the target has stopped answering
				// since the discovery; measuring it would only time out
				// and read as a path too small.
				wp.Silent = errors.Is(maskErr, initiator.ErrTimeout) && errors.Is(resErr, initiator.ErrTimeout)
				if p.Identity != nil && !wp.Silent {
					wp.Measured, wp.Carried = measure(ctx, c, tgt, wp.DriverSectors(), lba48, o.Measure)
				}
			})
		}
		v.Targets = append(v.Targets, wt)
	}
	wg.Wait()
	for i, t := range targets {
		if w := &v.Targets[i]; !w.Conflict {
			if differs := sameDisk(ctx, g, t, w.Paths, o.Timeout); differs != "" {
				w.Conflict, w.ConflictData = true, Text(safetext.String(differs))
			}
		}
	}
	for _, c := range g.Clients() {
		st := c.Stats()
		v.Frames = append(v.Frames, FrameCount{Interface: safetext.String(c.Interface().Name), Sent: st.Sent, Seen: st.Received})
	}
	return v
}

// sameDisk asks the data path whether the answering paths of t whose
// IDENTIFY agrees reach one disk: IDENTIFY cannot tell apart two vblades
// on hosts of one name exporting files of one size, so
// initiator.OpenDisk also compares a few sectors read through one path of
// each MAC. It returns what differs, as OpenDisk's *ConflictError says
// ("same IDENTIFY, different data in sector 0"), or "" (one MAC, one
// disk, or no verdict). It reads only.
func sameDisk(ctx context.Context, g *initiator.Group, t discover.Target, seen []WirePath, timeout time.Duration) string {
	macs := map[string]bool{}
	var paths []initiator.DiskPath
	for i, p := range t.Paths {
		if p.Identity == nil || seen[i].Silent {
			continue
		}
		macs[string(p.MAC)] = true
		cfg := wire.ConfigArg{BufferCount: p.BufferCount, FirmwareVersion: p.Firmware, SectorCount: uint8(p.SectorsPerFrame)}
		paths = append(paths, initiator.DiskPath{Client: g.ClientFor(p.Interface), MAC: p.MAC, Config: &cfg})
	}
	if len(macs) < 2 {
		return ""
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	d, err := initiator.OpenDisk(ctx, t.Shelf, t.Slot, paths, initiator.DiskOptions{Deadline: timeout})
	if d != nil {
		d.Close()
	}
	if ce := (*initiator.ConflictError)(nil); errors.As(err, &ce) {
		return strings.Join(ce.Differs, ", ")
	}
	return ""
}

// measure sends, for n from 1 up to most, an IDENTIFY padded by n sectors
// (an n-sector request, a short reply) and, once that came back, a read of
// n sectors (an n-sector reply), and returns the largest n for which both
// came back, each given up to per to answer. It stops at the first size
// that does not come back (larger frames would not either, and unanswered
// requests would fill the target's window). The request goes first: a
// reply larger than the target's own link carries is refused by its NIC
// (ENOBUFS on a veth whose peer has a smaller MTU), and vblade exits on
// that error, so a read is sent only at a size the path has carried
// toward the target. It is measured when some size came back, or when the
// smallest got no reply at all.
func measure(ctx context.Context, c *initiator.Client, t initiator.Target, most int, lba48 bool, per time.Duration) (measured bool, carried int) {
	got := func(err error) bool { return err == nil || errors.Is(err, initiator.ErrShortIdentify) }
	lost := func(err error) bool {
		return errors.Is(err, initiator.ErrTimeout) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, initiator.ErrSend)
	}
	try := func(op func(context.Context) error) error {
		sctx, cancel := context.WithTimeout(ctx, per)
		defer cancel()
		return op(sctx)
	}
	for n := 1; n <= most; n++ {
		err := try(func(ctx context.Context) error { _, _, err := c.Identify(ctx, t, n); return err })
		if got(err) {
			err = try(func(ctx context.Context) error {
				_, err := c.ATA(ctx, t, wire.NewRead(0, uint8(n), lba48))
				return err
			})
		}
		switch {
		case got(err):
			carried = n
		case ctx.Err() != nil:
			return carried > 0, carried
		case lost(err):
			return true, carried // a size lost on the way
		default:
			return carried > 0, carried // refused (reserved...): not measured beyond
		}
	}
	return true, carried
}

// macStrings returns the list as strings; nil (JSON null: not read) when
// err is not nil.
func macStrings(list []net.HardwareAddr, err error) []string {
	if err != nil {
		return nil
	}
	out := []string{}
	for _, m := range list {
		out = append(out, m.String())
	}
	return out
}

func errString(err error) Text {
	if err == nil {
		return ""
	}
	return Text(strings.TrimPrefix(err.Error(), "aoe: "))
}

func safeStrings(list []string) []string {
	out := make([]string, 0, len(list))
	for _, s := range list {
		out = append(out, safetext.String(s))
	}
	return out
}
