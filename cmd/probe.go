package cmd

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/goaoe/aoe/discover"
	"github.com/olekukonko/tablewriter/tw"
	"github.com/spf13/cobra"
)

// runProbe is `aoe discover --probe`: discovery on the wire, from userspace.
func runProbe(cmd *cobra.Command, o *discoverOptions) error {
	if len(o.wait) > 0 {
		return usageErrorf("--probe and --wait exclude each other")
	}
	timeout := o.timeout
	if f := cmd.Flags().Lookup("timeout"); f == nil || !f.Changed {
		timeout = 5 * time.Second
	}
	g, err := o.openGroup(cmd, o.ifaces)
	if err != nil {
		return err
	}
	defer g.Close()
	start := o.now()
	targets, err := discover.Probe(cmd.Context(), g, discover.Options{Timeout: timeout})
	if err != nil {
		return err
	}
	for _, t := range targets {
		if t.Conflict {
			o.warnf("%s is claimed by different disks: %s", t.Name(), describePaths(t))
		}
	}
	if o.json {
		if err := writeProbeJSON(o.stdout(), targets); err != nil {
			return err
		}
	} else if len(targets) > 0 {
		if err := writeProbeTable(o.stdout(), targets); err != nil {
			return err
		}
	}
	if len(targets) == 0 {
		return fmt.Errorf("no AoE target answered on %s (waited %v); check cabling, VLANs and the targets", strings.Join(g.Names(), ", "), o.now().Sub(start).Round(10*time.Millisecond))
	}
	return nil
}

func describePaths(t discover.Target) string {
	var parts []string
	for _, p := range t.Paths {
		s := p.MAC.String() + " on " + p.Interface
		if p.Identity != nil {
			s += fmt.Sprintf(" (serial %q, %s, %s)", p.Identity.Serial, p.Identity.Model, humanSize(p.Identity.Sectors()))
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
	BufCnt          uint16          `json:"bufcnt"`
	Firmware        string          `json:"firmware"`
	SectorsPerFrame int             `json:"sectors_per_frame"`
	Payload         int             `json:"payload"`
	AoEVersion      uint8           `json:"aoe_version"`
	Config          string          `json:"config"`
	Sectors         *uint64         `json:"sectors"`
	Bytes           *uint64         `json:"bytes"`
	Model           *string         `json:"model"`
	Serial          *string         `json:"serial"`
	Conflict        bool            `json:"conflict"`
}

type probePathJSON struct {
	MAC       string `json:"mac"`
	Interface string `json:"interface"`
	// Per path, since the paths of a conflict lead to different disks:
	BufCnt   uint16  `json:"bufcnt"`
	Payload  int     `json:"payload"`
	Config   string  `json:"config"`
	Sectors  *uint64 `json:"sectors"`
	Model    *string `json:"model"`
	Serial   *string `json:"serial"`
	Identify *string `json:"identify_error,omitempty"`
}

func toProbeJSON(t discover.Target) probeJSON {
	first := t.Paths[0]
	j := probeJSON{
		Device: t.Name(), Shelf: t.Shelf, Slot: t.Slot,
		BufCnt: first.BufferCount, Firmware: fmt.Sprintf("0x%04x", first.Firmware),
		SectorsPerFrame: first.SectorsPerFrame, Payload: t.Payload(), AoEVersion: first.AoEVersion,
		Config: string(first.Config), Conflict: t.Conflict, Paths: []probePathJSON{},
	}
	if id := t.Identity(); id != nil {
		n := id.Sectors()
		b := n * 512
		j.Sectors, j.Bytes, j.Model, j.Serial = &n, &b, &id.Model, &id.Serial
	}
	for _, p := range t.Paths {
		pj := probePathJSON{MAC: p.MAC.String(), Interface: p.Interface, BufCnt: p.BufferCount, Payload: p.Payload, Config: string(p.Config)}
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

func writeProbeTable(w io.Writer, targets []discover.Target) error {
	header := []string{"DEVICE", "SIZE", "PATHS", "IFACES", "BUFCNT", "FIRMWARE", "PAYLOAD", "CONFIG", "STATE"}
	aligns := []tw.Align{tw.AlignLeft, tw.AlignRight, tw.AlignRight, tw.AlignLeft, tw.AlignRight, tw.AlignLeft, tw.AlignRight, tw.AlignLeft, tw.AlignLeft}
	var rows [][]string
	for _, t := range targets {
		j := toProbeJSON(t)
		size := "-"
		if j.Sectors != nil {
			size = humanSize(*j.Sectors)
		}
		state := "ok"
		if t.Conflict {
			state = "CONFLICT"
		}
		rows = append(rows, []string{j.Device, size, strconv.Itoa(len(t.Paths)), strings.Join(t.Interfaces(), ","),
			strconv.Itoa(int(j.BufCnt)), j.Firmware, strconv.Itoa(j.Payload), configCell(t.Paths[0].Config), state})
	}
	return writeTable(w, header, rows, aligns)
}

// configCell shows a config string in a table cell: escaped (see
// escapeBytes), cut at 32 characters, never inside one.
func configCell(b []byte) string {
	if len(b) == 0 {
		return "-"
	}
	s := []rune(escapeBytes(b))
	if len(s) > 32 {
		return string(s[:31]) + "…"
	}
	return string(s)
}
