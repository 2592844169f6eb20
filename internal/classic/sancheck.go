package classic

import (
	"github.com/goaoe/aoe/internal/safetext"

	"fmt"
	"io"
	"strings"

	"github.com/goaoe/aoe/discover"
)

// SancheckProbing is what aoe-sancheck prints before it probes, and
// SancheckWriteFailed what it prints for each probe it could not send.
const (
	SancheckProbing     = "Probing..."
	SancheckWriteFailed = "write failed\n"
)

// Sancheck prints aoe-sancheck's report (after SancheckProbing): the
// interface and device summaries with the warnings aoe-sancheck knows
// and, verbose (-v), each interface's paths with the sectors per frame
// that got through, sorted by address and MAC (aoe-sancheck printed them
// newest first: in an order that varied from run to run).
func Sancheck(w io.Writer, rep *discover.Report, verbose bool) {
	var b strings.Builder
	rule := "==========================================\n"
	b.WriteString("done.\n" + rule + "INTERFACE SUMMARY\n" + rule + "Name\tStatus\tMTU\tPCI ID\n")
	for _, i := range rep.Interfaces {
		state := "DN"
		if i.Up {
			state = "UP"
		}
		fmt.Fprintf(&b, "%s\t%s\t%d\t%s\n", safetext.String(i.Name), state, i.MTU, i.PCIID)
	}
	b.WriteString(rule + "DEVICE SUMMARY\n" + rule + "Device\tMacs\tPayload\tLocal Interfaces\n")
	for _, d := range rep.Devices {
		fmt.Fprintf(&b, "%s\t%4d\t%d\t%s\n", d.Name(), d.MACs, d.Payload, safetext.String(strings.Join(d.Interfaces, ",")))
		for _, m := range d.Warnings {
			b.WriteString("   " + m.String() + "\n")
		}
	}
	if verbose {
		for _, i := range rep.Interfaces {
			fmt.Fprintf(&b, "%s:\n", safetext.String(i.Name))
			for _, d := range rep.Devices {
				for _, p := range d.Paths {
					if p.Interface == i.Name {
						fmt.Fprintf(&b, "%s %s %d\n", p.Target.Address().String(), strings.ReplaceAll(p.Target.MAC.String(), ":", ""), p.MaxSectors)
					}
				}
			}
			b.WriteString("\n")
		}
	}
	io.WriteString(w, b.String())
}
