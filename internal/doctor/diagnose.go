package doctor

import (
	"fmt"
	"sort"
	"strings"
)

// Diagnose returns one report per device of names, or when names is
// empty, per device the driver, the wire or boot knows (sorted by shelf
// and slot). When names is empty and no device is known, the one report
// is for the host (Device ""), with what keeps devices from appearing.
func Diagnose(v Views, names []string) []Report {
	if len(names) == 0 {
		seen := map[string]bool{}
		add := func(n string) {
			if !seen[n] {
				seen[n] = true
				names = append(names, n)
			}
		}
		for _, d := range v.Driver.Devices {
			add(d.Name)
		}
		for _, t := range v.Wire.Targets {
			add(t.Name)
		}
		for n := range v.Boot.Wait {
			add(n)
		}
		sortNames(names)
		if len(names) == 0 {
			names = []string{""}
		}
	}
	out := make([]Report, 0, len(names))
	done := map[string]bool{}
	for _, n := range names {
		if !done[n] { // a device named twice is reported once
			done[n] = true
			out = append(out, diagnose(v, n))
		}
	}
	return out
}

// Healthy reports whether every report is.
func Healthy(reps []Report) bool {
	for i := range reps {
		if !reps[i].Healthy() {
			return false
		}
	}
	return true
}

// checker gathers a device's findings.
type checker struct {
	v    Views
	name string
	out  []Finding
}

func (c *checker) add(cause Cause, sev Severity, next, format string, args ...any) {
	c.out = append(c.out, Finding{Device: c.name, Cause: cause, Severity: sev, Detail: fmt.Sprintf(format, args...), Next: Text(next)})
}

func diagnose(v Views, name string) Report {
	r := Report{Device: name, Boot: v.Boot.Wait[name], Findings: []Finding{}}
	if r.Boot == nil {
		r.Boot = []string{}
	}
	for i := range v.Driver.Devices {
		if v.Driver.Devices[i].Name == name {
			r.Driver = &v.Driver.Devices[i]
		}
	}
	for i := range v.Wire.Targets {
		if v.Wire.Targets[i].Name == name {
			r.Wire = &v.Wire.Targets[i]
		}
	}
	c := &checker{v: v, name: name}
	c.halves()
	c.driverLoaded()
	c.links(r.Driver, r.Wire)
	if r.Wire != nil {
		c.allowed(r.Wire)
		c.masked(r.Wire)
		c.reserved(r.Wire)
		c.conflict(r.Wire)
		c.silent(r.Wire)
		c.buffers(r.Wire)
		c.mtu(r.Wire)
		if v.Driver.Seen && v.Driver.Loaded && r.Driver == nil && name != "" {
			c.add(CauseNotDiscovered, SeverityCause, "aoe discover --wait "+name,
				"%s answers on %s but the driver has no such device: it has not discovered it yet", name, strings.Join(wireIfaces(r.Wire), ", "))
		}
	} else if v.Wire.Seen {
		c.noReply(r.Driver)
	} else if v.Driver.Seen && v.Driver.Loaded && r.Driver == nil {
		c.notInDriver()
	}
	if r.Driver != nil {
		c.device(r.Driver)
	}
	c.boot(r.Wire)
	sort.SliceStable(c.out, func(i, j int) bool {
		a, b := c.out[i], c.out[j]
		if a.Severity != b.Severity {
			return a.Severity > b.Severity
		}
		return causeOrder[a.Cause] < causeOrder[b.Cause]
	})
	r.Findings = append(r.Findings, c.out...)
	return r
}

// halves notes what the doctor could not see; seeing neither half, it
// can say nothing of the device, which is no "ok".
func (c *checker) halves() {
	if !c.v.Driver.Seen && !c.v.Wire.Seen {
		what := "the host"
		next := "sudo aoe doctor"
		if c.name != "" {
			what, next = c.name, next+" "+c.name
		}
		c.add(CauseNoWireView, SeverityCause, next, "neither the driver's view (%s) nor the wire's (%s) was seen: nothing can be said of %s",
			c.v.Driver.Missing, c.v.Wire.Missing, what)
		return
	}
	if !c.v.Driver.Seen {
		c.add(CauseNoDriverView, SeverityNote, "", "the driver's view was not seen: %s; what follows is the wire's view only", c.v.Driver.Missing)
	}
	if !c.v.Wire.Seen {
		c.add(CauseNoWireView, SeverityNote, "", "the wire's view was not seen: %s; what follows is the driver's view only", c.v.Wire.Missing)
	}
}

func (c *checker) driverLoaded() {
	d := c.v.Driver
	if !d.Seen || d.Loaded {
		return
	}
	next := "modprobe aoe"
	if b := c.v.Boot; b.Seen && b.Boot {
		next = "aoe up"
	}
	c.add(CauseDriverNotLoaded, SeverityCause, next, "the aoe driver is not loaded (no /sys/module/aoe): no /dev/etherd device can appear")
}

func (c *checker) link(name string) *Link {
	for i := range c.v.Links {
		if c.v.Links[i].Name == name {
			return &c.v.Links[i]
		}
	}
	return nil
}

// driverAllows reports whether the driver may use iface (an empty list
// allows every interface; an unknown list allows everything, as far as
// the doctor can tell).
func (c *checker) driverAllows(iface string) bool {
	d := c.v.Driver
	if !d.Seen || !d.IfListKnown || len(d.IfList) == 0 {
		return true
	}
	return contains(d.IfList, iface)
}

// links finds the interfaces AoE should use that are down or have no
// carrier, and the driver's interfaces that are bridge ports. When the
// device answers on the wire, a link that is down elsewhere is no cause.
func (c *checker) links(drv *DriverDevice, wire *WireTarget) {
	var want []string
	if drv != nil {
		want = append(want, drv.NetIfs...)
	}
	if c.v.Driver.Seen && c.v.Driver.Loaded && c.v.Driver.IfListKnown {
		want = append(want, c.v.Driver.IfList...)
	}
	want = append(want, c.v.Wire.Named...)
	sev := SeverityCause
	if wire != nil || (drv != nil && drv.Up()) {
		// The device is reached: only its own paths' links matter.
		sev, want = SeverityWarning, nil
		if drv != nil {
			want = drv.NetIfs
		}
	}
	done := map[string]bool{}
	for _, n := range want {
		if done[n] {
			continue
		}
		done[n] = true
		l := c.link(n)
		switch {
		case l == nil:
			if c.v.Links != nil {
				c.add(CauseLinkDown, sev, "ip link", "%s does not exist (named by %s)", n, c.namedBy(n, drv))
			}
		case !l.Up:
			c.add(CauseLinkDown, sev, "ip link set "+n+" up", "%s is down (named by %s)", n, c.namedBy(n, drv))
		case !l.Carrier:
			c.add(CauseLinkDown, sev, "ip link show "+n, "%s is up but has no carrier (cable, switch port or peer down)", n)
		}
	}
	d := c.v.Driver
	if d.Seen && d.Loaded && d.IfListKnown && (drv == nil || !drv.Up()) {
		for _, n := range d.IfList {
			if l := c.link(n); l != nil && l.Master != "" {
				list := replace(d.IfList, n, string(l.Master))
				c.add(CauseBridgePort, SeverityCause, "aoe interfaces "+strings.Join(list, ","),
					"%s, which aoe_iflist allows, is a port of %s: the frames it receives are handed to %s, which the driver does not use", n, l.Master, l.Master)
			}
		}
	}
}

func (c *checker) namedBy(n string, drv *DriverDevice) string {
	switch {
	case drv != nil && contains(drv.NetIfs, n):
		return "the driver's paths of " + drv.Name
	case contains(c.v.Driver.IfList, n):
		return "aoe_iflist"
	case c.v.Wire.Source == "" && contains(c.v.Boot.Interfaces, n):
		return "AOE_INTERFACES"
	}
	return "-i"
}

// allowed checks the paths against aoe_iflist.
func (c *checker) allowed(w *WireTarget) {
	d := c.v.Driver
	if !d.Seen || !d.Loaded {
		return
	}
	var ok, not []string
	for _, i := range wireIfaces(w) {
		if c.driverAllows(i) {
			ok = append(ok, i)
		} else {
			not = append(not, i)
		}
	}
	if len(not) == 0 {
		return
	}
	next := "aoe interfaces " + strings.Join(append(append([]string(nil), d.IfList...), not...), ",")
	if len(ok) > 0 {
		c.add(CausePathUnused, SeverityWarning, next, "%s also answers on %s, which aoe_iflist (%s) does not allow: the driver uses %s only",
			w.Name, strings.Join(not, ", "), strings.Join(d.IfList, " "), strings.Join(ok, ", "))
		return
	}
	cause := CauseIflist
	for _, n := range not {
		if l := c.link(n); l != nil && l.VLAN {
			cause = CauseVLAN
		}
	}
	kind := "an interface"
	if cause == CauseVLAN {
		kind = "a VLAN interface"
	}
	c.add(cause, SeverityCause, next, "%s answers only on %s, %s that aoe_iflist (%s) does not allow: the driver does not listen there",
		w.Name, strings.Join(not, ", "), kind, strings.Join(d.IfList, " "))
}

// sameSegment reports whether some target answers on both interfaces:
// they reach one segment.
func (c *checker) sameSegment(a, b string) bool {
	for _, t := range c.v.Wire.Targets {
		ifs := wireIfaces(&t)
		if contains(ifs, a) && contains(ifs, b) {
			return true
		}
	}
	return false
}

// masked finds probed interfaces left out by a path's mask list, among
// those on the path's segment.
func (c *checker) masked(w *WireTarget) {
	answered := map[string]bool{}
	for _, p := range w.Paths {
		answered[p.Interface] = true
	}
	for _, p := range w.Paths {
		if len(p.Mask) == 0 {
			continue
		}
		for _, i := range c.v.Wire.Interfaces {
			l := c.link(i)
			if answered[i] || l == nil || l.MAC == "" || contains(p.Mask, string(l.MAC)) || !c.sameSegment(i, p.Interface) {
				continue
			}
			answered[i] = true // once per interface
			c.add(CauseMasked, SeverityCause, fmt.Sprintf("aoe mask %s -i %s --add %s", w.Name, p.Interface, l.MAC),
				"the MAC mask list of %s (%s, read on %s) is %s, without %s's MAC %s: the target ignores every frame from %s",
				w.Name, p.MAC, p.Interface, strings.Join(p.Mask, ", "), i, l.MAC, i)
		}
	}
}

func (c *checker) reserved(w *WireTarget) {
	for _, p := range w.Paths {
		if len(p.Reserve) == 0 || contains(p.Reserve, p.Self) {
			continue
		}
		c.add(CauseReserved, SeverityCause, fmt.Sprintf("aoe reserve %s -i %s --release --force", w.Name, p.Interface),
			"%s (%s on %s) is reserved by %s: it refuses reads and writes from this host (%s); release it there, or take it over once that host is done",
			w.Name, p.MAC, p.Interface, strings.Join(p.Reserve, ", "), p.Self)
	}
}

func (c *checker) conflict(w *WireTarget) {
	if !w.Conflict {
		return
	}
	var parts []string
	for _, p := range w.Paths {
		s := p.MAC + " on " + p.Interface
		if p.Serial != "" {
			s += fmt.Sprintf(" (serial %q, %d sectors)", p.Serial, p.Sectors)
		}
		parts = append(parts, s)
	}
	how := ""
	if w.ConflictData != "" {
		how = " (" + string(w.ConflictData) + ")"
	}
	c.add(CauseConflict, SeverityCause, "aoe ping "+w.Name+" --identify",
		"different disks answer for %s: %s%s; give each target its own shelf.slot", w.Name, strings.Join(parts, ", "), how)
}

// silent: a path that answered the discovery, then nothing more.
func (c *checker) silent(w *WireTarget) {
	for _, p := range w.Paths {
		if !p.Silent {
			continue
		}
		c.add(CauseNoReply, SeverityCause, fmt.Sprintf("aoe ping %s -i %s", w.Name, p.Interface),
			"%s (%s on %s) answered the discovery, then stopped answering (mask list: %s; reserve list: %s): is the target still running, or overloaded?",
			w.Name, p.MAC, p.Interface, p.MaskErr, p.ReserveErr)
	}
}

func (c *checker) buffers(w *WireTarget) {
	for _, p := range w.Paths {
		if p.BufferCount >= 2 {
			continue
		}
		c.add(CauseBuffers, SeverityCause, "restart the target with a buffer count of 2 or more (vblade -b 16 ...)",
			"%s (%s on %s) advertises a buffer count of %d: the aoe driver sends at most half the buffer count at once, so it sends nothing and the device never works",
			w.Name, p.MAC, p.Interface, p.BufferCount)
	}
}

func (c *checker) mtu(w *WireTarget) {
	for _, p := range w.Paths {
		n := p.DriverSectors()
		switch {
		case p.Measured && p.Carried < n:
			got := "no read came back"
			next := ""
			if p.Carried > 0 {
				got = fmt.Sprintf("only reads of up to %d bytes came back", p.Carried*512)
				next = fmt.Sprintf("ip link set %s mtu %d", p.Interface, mtuFor(p.Carried))
			} else {
				next = "aoe sancheck -i " + p.Interface
			}
			c.add(CauseMTU, SeverityCause, next,
				"the driver uses %d-byte payloads on %s (MTU %d, %s takes %d sectors per frame, MTU %d), but %s: a link between is smaller; give every link of the path the same MTU",
				n*512, p.Interface, p.LocalMTU, p.MAC, p.SectorsPerFrame, p.TargetMTU(), got)
		case p.SectorsPerFrame > n && p.LocalMTU > 0:
			c.add(CauseMTUOneSide, SeverityWarning, fmt.Sprintf("ip link set %s mtu %d", p.Interface, p.TargetMTU()),
				"%s (%s) takes %d-byte payloads (MTU %d) but %s's MTU %d limits them to %d: jumbo frames on one side only; raise it if every link between carries %d (doctor then measures it)",
				w.Name, p.MAC, p.SectorsPerFrame*512, p.TargetMTU(), p.Interface, p.LocalMTU, n*512, p.TargetMTU())
		case p.LocalMTU-headers >= (p.SectorsPerFrame+1)*512 && p.LocalMTU > 1500:
			c.add(CauseMTUOneSide, SeverityWarning, "",
				"%s's MTU is %d but %s (%s) takes only %d-byte payloads (MTU %d): jumbo frames on one side only",
				p.Interface, p.LocalMTU, w.Name, p.MAC, p.SectorsPerFrame*512, p.TargetMTU())
		}
	}
}

// mtuFor returns the MTU to give a link so that the driver uses frames of
// n sectors: 1500 when it does (the usual MTU, which switches carry), else
// the smallest.
func mtuFor(n int) int {
	if lo := n*512 + headers; lo <= 1500 && 1500 < lo+512 {
		return 1500
	}
	return n*512 + headers
}

// noReply: the wire was probed and nothing answered for the device (for
// the host, Device "": no target answered at all).
func (c *checker) noReply(drv *DriverDevice) {
	w := c.v.Wire
	var sent, seen uint64
	for _, f := range w.Frames {
		sent += f.Sent
		seen += f.Seen
	}
	ifs := strings.Join(w.Interfaces, ", ")
	var detail string
	switch {
	case sent == 0:
		detail = fmt.Sprintf("no frame could be sent on %s", ifs)
	case c.name == "":
		detail = fmt.Sprintf("no AoE target answered on %s: %d frames sent, %d replies seen", ifs, sent, seen)
	default:
		detail = fmt.Sprintf("nothing answered for %s on %s: %d frames sent, %d replies seen, none from %s", c.name, ifs, sent, seen, c.name)
	}
	next := "aoe discover --probe"
	var others []string
	for _, l := range c.v.Links {
		if l.Up && !l.Loopback && l.MAC != "" && !contains(w.Interfaces, l.Name) {
			others = append(others, l.Name)
		}
	}
	if w.Source == SourceIflist && len(others) > 0 {
		detail += fmt.Sprintf(" (only aoe_iflist's interfaces were probed; %s were not)", strings.Join(others, ", "))
		next = "aoe doctor " + c.name + " -i " + strings.Join(append(append([]string(nil), w.Interfaces...), others...), ",")
		if c.name == "" {
			next = "aoe doctor -i " + strings.Join(append(append([]string(nil), w.Interfaces...), others...), ",")
		}
	}
	detail += "; is the target running, on this segment, with a MAC mask list that includes this host?"
	c.add(CauseNoReply, SeverityCause, next, "%s", detail)
}

// notInDriver: the driver has no such device (for the host: no device at
// all) and the wire was not seen, so whether the target answers is not
// known; asking the driver to discover is the next step either way.
func (c *checker) notInDriver() {
	if c.name == "" {
		c.add(CauseNotDiscovered, SeverityCause, "aoe discover",
			"the driver has no AoE device, and the wire was not seen (%s): whether any target answers is not known", c.v.Wire.Missing)
		return
	}
	c.add(CauseNotDiscovered, SeverityCause, "aoe discover --wait "+c.name,
		"the driver has no %s, and the wire was not seen (%s): whether the target answers is not known", c.name, c.v.Wire.Missing)
}

// device checks the driver's device: its state and its node.
func (c *checker) device(d *DriverDevice) {
	if !d.Up() || strings.Contains(string(d.State), "kickme") {
		c.add(CauseDeviceDown, SeverityCause, "aoe revalidate "+d.Name,
			"the driver's %s is %s: it sends nothing to it until revalidated (or, when it is not open, rediscovered)", d.Name, orNone(string(d.State)))
	}
	if !d.NodeOK {
		next := "udevadm trigger --action=add --sysname-match='etherd!" + d.Name + "'"
		if maj, mnr, ok := strings.Cut(string(d.Dev), ":"); ok {
			next = fmt.Sprintf("mknod -m 0660 %s b %s %s", d.Node, maj, mnr)
		}
		c.add(CauseNoNode, SeverityCause, next, "%s is in sysfs but %s is not a block device node (udev did not create it, or it was removed)", d.Name, d.Node)
	}
}

// boot checks what boot will do for the device.
func (c *checker) boot(w *WireTarget) {
	b := c.v.Boot
	why := b.Wait[c.name]
	if !b.Seen || len(why) == 0 {
		return
	}
	if !b.Boot {
		c.add(CauseBoot, SeverityWarning, "aoe up --check", "%s waits for %s, but AOE_BOOT is not yes: boot will not bring it up", b.Source, c.name)
		return
	}
	if w == nil || b.AllInterfaces {
		return
	}
	for _, i := range wireIfaces(w) {
		if contains(b.Interfaces, i) {
			return
		}
	}
	c.add(CauseBoot, SeverityWarning, "aoe up --check", "%s answers on %s, but %s restricts AoE to %s: boot will not find it",
		c.name, strings.Join(wireIfaces(w), ", "), b.Source, strings.Join(b.Interfaces, " "))
}

// Up reports whether the driver says the device is up.
func (d DriverDevice) Up() bool { return d.State == "up" || strings.HasPrefix(string(d.State), "up,") }

func wireIfaces(w *WireTarget) []string {
	var out []string
	for _, p := range w.Paths {
		if !contains(out, p.Interface) {
			out = append(out, p.Interface)
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func replace(list []string, old, repl string) []string {
	out := make([]string, 0, len(list))
	for _, x := range list {
		if x == old {
			x = repl
		}
		if !contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}

func orNone(s string) string {
	if s == "" {
		return "without a state"
	}
	return s
}

// sortNames sorts "eX.Y" names by shelf, then slot; other names last.
func sortNames(names []string) {
	key := func(n string) (int, int, bool) {
		var sh, sl int
		if _, err := fmt.Sscanf(n, "e%d.%d", &sh, &sl); err != nil {
			return 0, 0, false
		}
		return sh, sl, true
	}
	sort.SliceStable(names, func(i, j int) bool {
		a1, a2, aok := key(names[i])
		b1, b2, bok := key(names[j])
		switch {
		case aok != bok:
			return aok
		case a1 != b1:
			return a1 < b1
		case a2 != b2:
			return a2 < b2
		}
		return names[i] < names[j]
	})
}

// Where the probed interfaces came from (WireView.Source).
const (
	SourceGiven  = "-i"
	SourceIflist = "aoe_iflist"
	SourceAll    = "every up interface"
)
