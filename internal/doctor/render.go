package doctor

import (
	"fmt"
	"io"
	"strings"
)

// Render writes the reports for people: the host's three views, then per
// device its verdict (the first cause, with the next command), every
// finding as a checklist line, and what each view shows of it.
func Render(w io.Writer, v Views, reps []Report) error {
	var b strings.Builder
	b.WriteString("driver: " + driverLine(v.Driver) + "\n")
	b.WriteString("wire:   " + wireLine(v.Wire) + "\n")
	b.WriteString("boot:   " + bootLine(v.Boot) + "\n")
	for i := range reps {
		r := &reps[i]
		b.WriteString("\n")
		name := r.Device
		if name == "" {
			name = "(no device)"
		}
		if f := r.Verdict(); f != nil {
			fmt.Fprintf(&b, "%s: %s\n", name, f.Cause)
		} else {
			fmt.Fprintf(&b, "%s: ok\n", name)
		}
		for _, f := range r.Findings {
			mark := map[Severity]string{SeverityCause: "[FAIL]", SeverityWarning: "[warn]", SeverityNote: "[note]"}[f.Severity]
			fmt.Fprintf(&b, "  %s %s: %s\n", mark, f.Cause, f.Detail)
			if f.Next != "" {
				fmt.Fprintf(&b, "         next: %s\n", f.Next)
			}
		}
		if r.Device == "" {
			continue
		}
		b.WriteString("  driver: " + deviceLine(v.Driver, r.Driver) + "\n")
		if v.Wire.Seen && r.Wire == nil {
			b.WriteString("  wire:   no answer\n")
		}
		if r.Wire != nil {
			for _, p := range r.Wire.Paths {
				b.WriteString("  wire:   " + pathLine(p) + "\n")
			}
		}
		if len(r.Boot) > 0 {
			b.WriteString("  boot:   " + strings.Join(r.Boot, "; ") + "\n")
		} else {
			b.WriteString("  boot:   not awaited\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func driverLine(d DriverView) string {
	switch {
	case !d.Seen:
		return "not seen (" + string(d.Missing) + ")"
	case !d.Loaded:
		return "not loaded"
	}
	s := "aoe"
	if d.Version != "" {
		s += " v" + string(d.Version)
	}
	s += " loaded; aoe_iflist: "
	switch {
	case !d.IfListKnown:
		s += "unreadable (root only)"
	case len(d.IfList) == 0:
		s += "every interface"
	default:
		s += strings.Join(d.IfList, " ")
	}
	if d.Dyndevs != "" {
		s += "; dyndevs " + string(d.Dyndevs)
	}
	return s + fmt.Sprintf("; %d devices", len(d.Devices))
}

func wireLine(w WireView) string {
	if !w.Seen {
		return "not seen (" + string(w.Missing) + ")"
	}
	var sent, seen uint64
	for _, f := range w.Frames {
		sent += f.Sent
		seen += f.Seen
	}
	return fmt.Sprintf("probed %s (%s): %d frames sent, %d replies seen, %d targets",
		strings.Join(w.Interfaces, ", "), w.Source, sent, seen, len(w.Targets))
}

func bootLine(b BootView) string {
	if !b.Seen {
		return "not seen (" + string(b.Missing) + ")"
	}
	if !b.Boot {
		return b.Source + ": AOE_BOOT off"
	}
	ifs := strings.Join(b.Interfaces, " ")
	if b.AllInterfaces {
		ifs = "all"
	}
	return fmt.Sprintf("%s: AOE_BOOT=yes, AOE_INTERFACES %s, waits for %d devices", b.Source, ifs, len(b.Wait))
}

func deviceLine(v DriverView, d *DriverDevice) string {
	if d == nil {
		if !v.Seen || !v.Loaded {
			return "-"
		}
		return "no such device"
	}
	ifs := strings.Join(d.NetIfs, ",")
	if ifs == "" {
		ifs = "no interface"
	}
	node := d.Node
	if !d.NodeOK {
		node = "no " + d.Node
	}
	s := fmt.Sprintf("%s on %s, %s sectors, payload %s, firmware %s, %s", orNone(string(d.State)), ifs, num(d.Sectors), num(d.Payload), orUnknown(d.Firmware), node)
	if len(d.Names) > 0 {
		s += " (" + strings.Join(d.Names, ", ") + ")"
	}
	return s
}

func pathLine(p WirePath) string {
	s := fmt.Sprintf("%s -> %s: buffers %d, firmware %s, %d sectors per frame, MTU %d here / %d there",
		p.Interface, p.MAC, p.BufferCount, p.Firmware, p.SectorsPerFrame, p.LocalMTU, p.TargetMTU())
	if p.Measured {
		s += fmt.Sprintf(", carries %d", p.Carried*512)
	}
	list := func(l []string, err string) string {
		switch {
		case err != "":
			return "? (" + err + ")"
		case len(l) == 0:
			return "open"
		}
		return strings.Join(l, " ")
	}
	s += ", mask " + list(p.Mask, string(p.MaskErr)) + ", reserve " + list(p.Reserve, string(p.ReserveErr))
	if p.Serial != "" {
		s += fmt.Sprintf(", serial %q, %s sectors", p.Serial, num(p.Sectors))
	} else if p.IdentifyErr != "" {
		s += ", IDENTIFY: " + string(p.IdentifyErr)
	}
	return s
}

// num writes a number the view may lack ("?" when it does).
func num[T int64 | uint64](p *T) string {
	if p == nil {
		return "?"
	}
	return fmt.Sprint(*p)
}

func orUnknown(t Text) string {
	if t == "" {
		return "?"
	}
	return string(t)
}
