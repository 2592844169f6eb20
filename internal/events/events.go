// Package events watches the aoe driver and reports its changes as events:
// devices appearing and going away, state changes (up, down, closewait),
// paths' interfaces added or lost, payload, size and MAC changes, and the
// messages the driver queues on /dev/etherd/err.
//
// Changes are found by diffing snapshots of sysfs (Diff, a pure function),
// taken at a polling interval and at once when the kernel announces an
// etherd block device (NETLINK_KOBJECT_UEVENT).
package events

import (
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/goaoe/aoe/initiator/aoeaddr"
	"github.com/goaoe/aoe/sysfs"
)

// Kinds of events.
const (
	KindPresent        = "present"         // a device there when watching started (--initial)
	KindAppeared       = "appeared"        // a device appeared
	KindRemoved        = "removed"         // a device went away (flushed)
	KindState          = "state"           // the state attribute changed (up, down, down,closewait...)
	KindInterfaceAdded = "interface-added" // a path's interface appeared in netif
	KindInterfaceLost  = "interface-lost"  // an interface left netif
	KindPayload        = "payload"         // bytes per ATA frame changed
	KindSize           = "size"            // capacity changed (0 while down; revalidate)
	KindMAC            = "mac"             // the first path's MAC changed
	KindDriverLoaded   = "driver-loaded"   // /sys/module/aoe appeared
	KindDriverUnloaded = "driver-unloaded" // /sys/module/aoe went away
	// Messages of /dev/etherd/err:
	KindRetransmit         = "retransmit"          // the driver sent a frame again
	KindUnexpectedResponse = "unexpected-response" // a reply with a tag the driver did not expect
	KindUnknownDevice      = "unknown-device"      // an ATA reply for a device it does not know
	KindDriverMessage      = "driver-message"      // any other err message
)

// Sources of events.
const (
	SourcePoll   = "poll"   // found by the periodic sysfs poll
	SourceUevent = "uevent" // found by a poll the kernel's uevent triggered
	SourceErr    = "err"    // a message of /dev/etherd/err
)

// Event is one change. Old and New hold the attribute's values for a
// change; Interface the interface of an interface event; Message the
// driver's message for err events. Strings from sysfs and the driver are
// untrusted: renderers escape them.
type Event struct {
	Time      time.Time
	Kind      string
	Device    string
	Old, New  string
	Interface string
	Message   string
	Source    string
}

// Device is what a snapshot holds of one device: its attributes as the
// driver writes them, trimmed ("" when unreadable).
type Device struct {
	State      string
	Interfaces []string
	Payload    string
	Size       string // 512-byte sectors
	MAC        string
}

// Snapshot is the driver's state at one time.
type Snapshot struct {
	Loaded  bool
	Devices map[string]Device
}

// Take reads a snapshot from the sysfs tree at root. A tree without the
// driver gives an empty snapshot; it fails only when the device list
// cannot be read (sysfs not mounted, permission).
func Take(root string) (Snapshot, error) {
	s := Snapshot{Devices: map[string]Device{}}
	fs, err := sysfs.NewFS(root)
	if err != nil {
		return s, err
	}
	s.Loaded = fs.ModuleLoaded()
	// Entries that cannot be read (a symlink loop) are left out; the
	// rest is the snapshot.
	devs, _, err := fs.Devices()
	if err != nil {
		return s, err
	}
	for _, d := range devs {
		s.Devices[d.Name] = Device{State: trim(d.State), Interfaces: d.NetIfs(), Payload: trim(d.Payload),
			Size: trim(d.Size), MAC: trim(d.MAC)}
	}
	return s, nil
}

func trim(s *string) string {
	if s == nil {
		return ""
	}
	return strings.TrimSpace(*s)
}

// Present returns a KindPresent event for every device of s, in
// shelf.slot order, with its state as New.
func Present(s Snapshot) []Event {
	var out []Event
	for _, name := range sortedNames(s.Devices) {
		out = append(out, Event{Kind: KindPresent, Device: name, New: s.Devices[name].State})
	}
	return out
}

// Diff returns the events that lead from old to new: the driver loaded or
// unloaded first, then per device (in shelf.slot order) appeared or removed,
// or its changes: state, interfaces lost and added, payload, size, MAC.
// Time and Source are left for the caller to set.
func Diff(old, new Snapshot) []Event {
	var out []Event
	switch {
	case new.Loaded && !old.Loaded:
		out = append(out, Event{Kind: KindDriverLoaded})
	case old.Loaded && !new.Loaded:
		out = append(out, Event{Kind: KindDriverUnloaded})
	}
	names := map[string]Device{}
	for n, d := range old.Devices {
		names[n] = d
	}
	for n, d := range new.Devices {
		names[n] = d
	}
	for _, name := range sortedNames(names) {
		o, inOld := old.Devices[name]
		n, inNew := new.Devices[name]
		switch {
		case !inOld:
			out = append(out, Event{Kind: KindAppeared, Device: name, New: n.State})
		case !inNew:
			out = append(out, Event{Kind: KindRemoved, Device: name, Old: o.State})
		default:
			out = append(out, deviceDiff(name, o, n)...)
		}
	}
	return out
}

func deviceDiff(name string, o, n Device) []Event {
	var out []Event
	if o.State != n.State {
		out = append(out, Event{Kind: KindState, Device: name, Old: o.State, New: n.State})
	}
	for _, i := range o.Interfaces {
		if !slices.Contains(n.Interfaces, i) {
			out = append(out, Event{Kind: KindInterfaceLost, Device: name, Interface: i})
		}
	}
	for _, i := range n.Interfaces {
		if !slices.Contains(o.Interfaces, i) {
			out = append(out, Event{Kind: KindInterfaceAdded, Device: name, Interface: i})
		}
	}
	for _, a := range []struct{ kind, old, new string }{
		{KindPayload, o.Payload, n.Payload}, {KindSize, o.Size, n.Size}, {KindMAC, o.MAC, n.MAC},
	} {
		if a.old != a.new {
			out = append(out, Event{Kind: a.kind, Device: name, Old: a.old, New: a.new})
		}
	}
	return out
}

// sortedNames returns the device names in shelf.slot order.
func sortedNames(m map[string]Device) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool {
		a, _ := aoeaddr.Parse(names[i])
		b, _ := aoeaddr.Parse(names[j])
		si, li, sj, lj := a.Shelf, a.Slot, b.Shelf, b.Slot
		if si != sj {
			return si < sj
		}
		if li != lj {
			return li < lj
		}
		return names[i] < names[j]
	})
	return names
}
