package cmd

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/goaoe/aoe/discover"
	"github.com/goaoe/aoe/initiator"
	"github.com/goaoe/aoe/initiator/wire"
	"github.com/goaoe/aoe/internal/safetext"
	"github.com/goaoe/aoe/internal/units"
	"github.com/spf13/cobra"
)

// runProbe is `aoe discover --probe`: discovery on the wire, from userspace.
func runProbe(cmd *cobra.Command, o *discoverOptions) error {
	if len(o.wait) > 0 {
		return usageErrorf("--probe and --wait exclude each other")
	}
	timeout, full, err := probeTimeout(cmd, o.timeout)
	if err != nil {
		return err
	}
	return o.withGroup(cmd, o.ifaces, func(g *initiator.Group) error {
		return o.probeGroup(cmd, g, timeout, full)
	})
}

// probeGroup finds the targets on g's interfaces and prints them; full
// says whether the timeout was given (and is waited out).
func (o *discoverOptions) probeGroup(cmd *cobra.Command, g *initiator.Group, timeout time.Duration, full bool) error {
	start := o.now()
	opts := discover.Options{Timeout: timeout}
	if full {
		opts.Quiet = timeout // a given --timeout is waited out: slow targets are listed
	}
	targets, err := discover.Probe(cmd.Context(), g, opts)
	if err := showAnswers(err, "list", func() error {
		o.warnTargets(targets)
		return jsonOrTable(o.json, len(targets),
			func() error { return writeProbeJSON(o.stdout(), targets) },
			func() error { return writeProbeTable(o.stdout(), targets, o.charset(), o.tableWidth()) })
	}); err != nil {
		return err
	}
	if len(targets) == 0 {
		hint := ""
		if !full {
			hint = fmt.Sprintf("; a slower target may be missing (--timeout %v waits that long)", timeout)
		}
		return fmt.Errorf("no AoE target answered on %s (waited %v); check cabling, VLANs and the targets%s", interfaceNames(g), o.now().Sub(start).Round(10*time.Millisecond), hint)
	}
	// A probe that found targets is quiet: it ended once no new target
	// answered for discover.DefaultQuiet, as --help says; --timeout waits.
	return nil
}

// probeTimeout returns the --timeout of a wire search (default 5s, not
// the flag's default, which is --wait's) and whether the user gave it: a
// given timeout is waited out. A timeout that is not positive is a usage
// error.
func probeTimeout(cmd *cobra.Command, t time.Duration) (time.Duration, bool, error) {
	if f := cmd.Flags().Lookup("timeout"); f == nil || !f.Changed {
		return 5 * time.Second, false, nil
	}
	if t <= 0 {
		return 0, true, usageErrorf("--timeout %v: must be positive", t)
	}
	return t, true, nil
}

// warnTargets says on stderr what is doubtful in the targets: conflicts,
// paths whose disk is unknown, capacities beyond LBA48.
func (o *discoverOptions) warnTargets(targets []discover.Target) {
	const most = 10 // unverified paths named; a flood has thousands
	unverified := 0
	defer func() {
		if unverified > most {
			o.warnf("and %d more unverified paths", unverified-most)
		}
	}()
	for _, t := range targets {
		if t.Conflict {
			o.warnf("%s is claimed by different disks: %s", t.Name(), describePaths(t))
		}
		for _, p := range t.Paths {
			if p.Unverified() {
				if unverified++; unverified > most {
					continue
				}
				o.warnf("%s via %s on %s: unverified, IDENTIFY got no answer (%v): not known to be the same disk", t.Name(), p.MAC, safetext.String(p.Interface), p.IdentifyErr)
			}
			if p.Identity != nil {
				if _, clamped := p.Identity.Capacity(); clamped {
					o.warnf("%s via %s: %s", t.Name(), p.MAC, capacity(p.Identity))
				}
			}
		}
	}
}

func describePaths(t discover.Target) string {
	var parts []string
	for _, p := range t.Paths {
		s := p.MAC.String() + " on " + safetext.String(p.Interface)
		if p.Identity != nil {
			s += fmt.Sprintf(" (serial %q, model %q, %s)", p.Identity.Serial, p.Identity.Model, capacity(p.Identity))
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}

// probeJSON is one target of `aoe discover --probe --json`.
type probeJSON struct {
	Device          string          `json:"device"`
	Shelf           uint16          `json:"shelf"`
	Slot            uint8           `json:"slot"`
	Paths           []probePathJSON `json:"paths"`
	Buffers         uint16          `json:"buffers"`
	Firmware        string          `json:"firmware"`
	SectorsPerFrame int             `json:"sectors_per_frame"`
	Payload         int             `json:"payload_bytes"`
	AoEVersion      uint8           `json:"aoe_version"`
	Config          string          `json:"config"`
	Sectors         *uint64         `json:"sectors"`
	Bytes           *uint64         `json:"bytes"`
	Model           *string         `json:"model"`
	Serial          *string         `json:"serial"`
	// CapacityInvalid: the disk claims more sectors than LBA48 addresses
	// (sectors is the claim, bytes null).
	CapacityInvalid bool `json:"capacity_invalid"`
	Conflict        bool `json:"conflict"`
	// Unverified: a path's IDENTIFY got no answer, its disk is unknown.
	Unverified bool `json:"unverified"`
}

type probePathJSON struct {
	MAC       string `json:"mac"`
	Interface string `json:"interface"`
	// Per path, since the paths of a conflict lead to different disks:
	Buffers  uint16  `json:"buffers"`
	Payload  int     `json:"payload_bytes"`
	Config   string  `json:"config"`
	Sectors  *uint64 `json:"sectors"`
	Model    *string `json:"model"`
	Serial   *string `json:"serial"`
	Identify *string `json:"identify_error"` // null when IDENTIFY answered
	// Unverified: IDENTIFY got no answer on this path.
	Unverified bool `json:"unverified"`
}

func toProbeJSON(t discover.Target) probeJSON {
	first := t.Paths[0]
	j := probeJSON{
		Device: t.Name(), Shelf: t.Shelf, Slot: t.Slot,
		Buffers: first.BufferCount, Firmware: fmt.Sprintf("0x%04x", first.Firmware),
		SectorsPerFrame: first.SectorsPerFrame, Payload: t.Payload(), AoEVersion: first.AoEVersion,
		Config: string(first.Config), Conflict: t.Conflict, Unverified: t.Unverified(), Paths: []probePathJSON{},
	}
	if id := t.Identity(); id != nil {
		n := id.Sectors()
		j.Sectors, j.Model, j.Serial = &n, &id.Model, &id.Serial
		if n, clamped := id.Capacity(); !clamped {
			b := n * wire.SectorSize
			j.Bytes = &b
		} else {
			j.CapacityInvalid = true
		}
	}
	for _, p := range t.Paths {
		pj := probePathJSON{MAC: p.MAC.String(), Interface: p.Interface, Buffers: p.BufferCount, Payload: p.Payload, Config: string(p.Config), Unverified: p.Unverified()}
		if p.Identity != nil {
			n := p.Identity.Sectors()
			pj.Sectors, pj.Model, pj.Serial = &n, &p.Identity.Model, &p.Identity.Serial
		} else if p.IdentifyErr != nil {
			s := p.IdentifyErr.Error()
			pj.Identify = &s
		}
		j.Paths = append(j.Paths, pj)
	}
	return j
}

func writeProbeJSON(w io.Writer, targets []discover.Target) error {
	out := make([]probeJSON, 0, len(targets))
	for _, t := range targets {
		out = append(out, toProbeJSON(t))
	}
	return writeJSON(w, out)
}

func writeProbeTable(w io.Writer, targets []discover.Target, cs units.Charset, width int) error {
	// On a narrow terminal BUFCNT goes first, then FIRMWARE, PAYLOAD,
	// PATHS, IFACES, CONFIG, SIZE; DEVICE and STATE stay.
	cols := []column{{header: "DEVICE"}, {header: "SIZE", right: true, drop: 7}, {header: "PATHS", right: true, drop: 4},
		{header: "IFACES", drop: 5}, {header: "BUFCNT", right: true, drop: 1}, {header: "FIRMWARE", drop: 2},
		{header: "PAYLOAD", right: true, drop: 3}, {header: "CONFIG", drop: 6}, {header: "STATE"}}
	var rows [][]string
	for _, t := range targets {
		j := toProbeJSON(t)
		size := "-"
		if id := t.Identity(); id != nil {
			size = sizeCell(id)
		}
		state := "ok"
		switch {
		case t.Conflict:
			state = "CONFLICT"
		case t.Unverified():
			state = "unverified"
		}
		rows = append(rows, []string{j.Device, size, strconv.Itoa(len(t.Paths)), safetext.String(strings.Join(t.Interfaces(), ",")),
			strconv.Itoa(int(j.Buffers)), j.Firmware, strconv.Itoa(j.Payload), configCell(t.Paths[0].Config, cs), state})
	}
	return table{cols: cols, rows: rows}.render(w, width)
}

// configCell shows a config string in a table cell: escaped (see
// safetext.Bytes), cut to 32 characters, never inside one, with the
// charset's ellipsis.
func configCell(b []byte, cs units.Charset) string {
	if len(b) == 0 {
		return "-"
	}
	s := []rune(safetext.Bytes(b))
	if len(s) > 32 {
		e := cs.Ellipsis()
		return string(s[:32-utf8.RuneCountInString(e)]) + e
	}
	return string(s)
}

// capacity describes an IDENTIFY capacity: a size, or, for a claim beyond
// LBA48, the claim itself flagged invalid (never an overflowed byte count).
func capacity(id *wire.Identity) string {
	limit, clamped := id.Capacity()
	if !clamped {
		return units.Sectors(id.Sectors())
	}
	return fmt.Sprintf("invalid capacity: %d sectors claimed, beyond %s's %d", id.Sectors(), lbaMode(id.LBA48), limit)
}

// lbaMode names a disk's addressing mode, by IDENTIFY's LBA48 bit: what
// limits its capacity.
func lbaMode(lba48 bool) string {
	if lba48 {
		return "LBA48"
	}
	return "LBA28"
}

// sizeCell is a capacity in a table cell.
func sizeCell(id *wire.Identity) string {
	if _, clamped := id.Capacity(); !clamped {
		return units.Sectors(id.Sectors())
	}
	return "INVALID"
}
