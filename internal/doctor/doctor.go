// Package doctor answers "why can't I see it?" for AoE devices: it joins
// what the aoe driver shows (sysfs, /dev/etherd, aoe_iflist), what the wire
// shows (which interfaces and target MACs answer, their buffer counts,
// frame sizes, mask and reserve lists, frames sent and seen) and what boot
// will do (aoe.conf, fstab), and names the cause and the next command when
// they disagree.
//
// The views are plain values (Views); Diagnose turns them into Reports
// with typed Findings and does no I/O, so that every cause is tested from
// constructed views. The gathering is apart: GatherDriver, GatherLinks and
// GatherBoot read files under injected roots, GatherWire (wire.go, the only
// file that speaks AoE) probes over a group of clients.
package doctor

import (
	"encoding/json"
	"fmt"
)

// Cause is what a finding is about, a stable code for scripts (--json).
type Cause string

// The causes the doctor recognizes, in the order a report lists them
// among findings of one severity: the first explains the later ones.
const (
	// CauseDriverNotLoaded: the aoe driver is not loaded.
	CauseDriverNotLoaded Cause = "driver-not-loaded"
	// CauseLinkDown: an interface AoE should use is down or has no carrier.
	CauseLinkDown Cause = "link-down"
	// CauseBridgePort: an interface the driver is allowed is a bridge
	// port; its frames are handed to the bridge, which the driver does not
	// use.
	CauseBridgePort Cause = "bridge-port"
	// CauseVLAN: the target answers on a VLAN interface the driver does
	// not use.
	CauseVLAN Cause = "vlan"
	// CauseIflist: the target answers on an interface that aoe_iflist
	// (aoe interfaces) does not allow.
	CauseIflist Cause = "interface-not-allowed"
	// CauseNoReply: nothing answered for the device.
	CauseNoReply Cause = "no-reply"
	// CauseMasked: the target's MAC mask list leaves a local interface out.
	CauseMasked Cause = "masked"
	// CauseReserved: the target is reserved by another host.
	CauseReserved Cause = "reserved"
	// CauseConflict: different disks answer for one address.
	CauseConflict Cause = "conflict"
	// CauseBuffers: the target's buffer count is below 2.
	CauseBuffers Cause = "buffer-count"
	// CauseMTU: the frames the driver will send do not get through the
	// path.
	CauseMTU Cause = "mtu"
	// CauseNotDiscovered: the driver has no device, while the target answers
	// (or the wire was not seen to tell).
	CauseNotDiscovered Cause = "not-discovered"
	// CauseDeviceDown: the driver's device is down, closewait or kickme.
	CauseDeviceDown Cause = "device-down"
	// CauseNoNode: the device is in sysfs but has no /dev/etherd node.
	CauseNoNode Cause = "no-node"
	// CauseMTUOneSide: jumbo frames on one side only (works, slower).
	CauseMTUOneSide Cause = "mtu-one-side"
	// CausePathUnused: a path answers on an interface the driver does not
	// use while another is allowed.
	CausePathUnused Cause = "path-unused"
	// CauseBoot: boot waits for the device and cannot bring it up as
	// configured.
	CauseBoot Cause = "boot"
	// CauseNoDriverView, CauseNoWireView: a half the doctor could not see
	// (notes); CauseNoWireView is a cause when neither half was seen.
	CauseNoDriverView Cause = "no-driver-view"
	CauseNoWireView   Cause = "no-wire-view"
)

// causeOrder ranks the causes (see the constants).
var causeOrder = map[Cause]int{}

func init() {
	for i, c := range []Cause{CauseDriverNotLoaded, CauseLinkDown, CauseBridgePort, CauseVLAN, CauseIflist,
		CauseNoReply, CauseMasked, CauseReserved, CauseConflict, CauseBuffers, CauseMTU, CauseNotDiscovered,
		CauseDeviceDown, CauseNoNode, CauseMTUOneSide, CausePathUnused, CauseBoot, CauseNoDriverView, CauseNoWireView} {
		causeOrder[c] = i
	}
}

// Severity says whether a finding explains a failure.
type Severity int

// Severities, from the least.
const (
	// SeverityNote: something the doctor could not see, or worth knowing.
	SeverityNote Severity = iota
	// SeverityWarning: works, but not as well as it could.
	SeverityWarning
	// SeverityCause: why the device cannot be seen or used.
	SeverityCause
)

func (s Severity) String() string {
	switch s {
	case SeverityCause:
		return "cause"
	case SeverityWarning:
		return "warning"
	}
	return "note"
}

// MarshalJSON writes the severity's name.
func (s Severity) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// UnmarshalJSON reads a severity's name.
func (s *Severity) UnmarshalJSON(b []byte) error {
	var name string
	if err := json.Unmarshal(b, &name); err != nil {
		return err
	}
	for _, v := range []Severity{SeverityNote, SeverityWarning, SeverityCause} {
		if v.String() == name {
			*s = v
			return nil
		}
	}
	return fmt.Errorf("unknown severity %q", name)
}

// Text is a string that JSON writes as null when it is empty: a value
// unknown, unread or not applying (docs/json.md: never "").
type Text string

// MarshalJSON writes null for "", else the string.
func (t Text) MarshalJSON() ([]byte, error) {
	if t == "" {
		return []byte("null"), nil
	}
	return json.Marshal(string(t))
}

// UnmarshalJSON reads null as "".
func (t *Text) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*t = ""
		return nil
	}
	return json.Unmarshal(b, (*string)(t))
}

// Finding is one thing the doctor found about a device.
type Finding struct {
	Device   string   `json:"device"`
	Cause    Cause    `json:"cause"`
	Severity Severity `json:"severity"`
	// Detail says what was seen, with the numbers.
	Detail string `json:"detail"`
	// Next is the command to run next ("" when there is none to give).
	Next Text `json:"next"`
}

func (f Finding) String() string {
	s := fmt.Sprintf("%s: %s: %s", f.Device, f.Cause, f.Detail)
	if f.Next != "" {
		s += " (next: " + string(f.Next) + ")"
	}
	return s
}

// Report is one device: the three views of it and the findings, the
// causes first.
type Report struct {
	Device string `json:"device"`
	// Driver is the driver's device, nil when it has none.
	Driver *DriverDevice `json:"driver"`
	// Wire is what answered for the address, nil when nothing did (or the
	// wire was not seen).
	Wire *WireTarget `json:"wire"`
	// Boot says why boot waits for the device (AOE_WAIT, fstab), empty
	// when it does not.
	Boot     []string  `json:"boot"`
	Findings []Finding `json:"findings"`
}

// Healthy reports whether no finding is a cause.
func (r *Report) Healthy() bool {
	for _, f := range r.Findings {
		if f.Severity == SeverityCause {
			return false
		}
	}
	return true
}

// Verdict returns the first cause, or nil when the device is healthy.
func (r *Report) Verdict() *Finding {
	for i := range r.Findings {
		if r.Findings[i].Severity == SeverityCause {
			return &r.Findings[i]
		}
	}
	return nil
}

// Views are what the doctor saw, each half with whether it could be seen.
type Views struct {
	Driver DriverView `json:"driver"`
	Wire   WireView   `json:"wire"`
	Boot   BootView   `json:"boot"`
	// Links are the local network interfaces.
	Links []Link `json:"links"`
}

// DriverView is the aoe driver's state.
type DriverView struct {
	// Seen is false when sysfs could not be read (Missing says why).
	Seen    bool `json:"seen"`
	Missing Text `json:"missing"`
	Loaded  bool `json:"loaded"`
	Version Text `json:"version"`
	// IfList is aoe_iflist: empty allows every interface. IfListKnown is
	// false when it could not be read (it is root's only).
	IfList      []string `json:"aoe_iflist"`
	IfListKnown bool     `json:"aoe_iflist_known"`
	Dyndevs     Text     `json:"dyndevs"`
	DevDir      string   `json:"devdir"`
	// Devices are sorted by shelf and slot.
	Devices []DriverDevice `json:"devices"`
}

// DriverDevice is a device as the driver shows it.
type DriverDevice struct {
	Name     string   `json:"device"`
	State    Text     `json:"state"`
	MAC      Text     `json:"mac"`
	NetIfs   []string `json:"interfaces"`
	Firmware Text     `json:"firmware"`
	// Payload and Sectors are nil when sysfs does not show them.
	Payload *int64  `json:"payload_bytes"`
	Sectors *uint64 `json:"sectors"`
	// Dev is "major:minor"; Node the block node's path and NodeOK whether
	// it is there as a block device.
	Dev    Text   `json:"dev"`
	Node   string `json:"node"`
	NodeOK bool   `json:"node_ok"`
	// Partitions are "e1.2p1"...
	Partitions []string `json:"partitions"`
	// Names are the /dev/disk/by-* links to the disk and its partitions
	// ("by-uuid/0f3c...", "by-label/data -> e1.2p1").
	Names []string `json:"names"`
}

// Link is a local network interface.
type Link struct {
	Name     string `json:"name"`
	MAC      Text   `json:"mac"`
	MTU      int    `json:"mtu"`
	Up       bool   `json:"up"`
	Carrier  bool   `json:"carrier"`
	Loopback bool   `json:"loopback"`
	// Master is the bridge (or bond) the interface is a port of.
	Master Text `json:"master"`
	VLAN   bool `json:"vlan"`
}

// WireView is what a probe on the wire found.
type WireView struct {
	// Seen is false when no frame could be sent (Missing says why: no raw
	// socket, no interface).
	Seen    bool `json:"seen"`
	Missing Text `json:"missing"`
	// Interfaces were probed; Source says how they were chosen.
	Interfaces []string `json:"interfaces"`
	Source     string   `json:"source"`
	// Named are the interfaces -i or aoe_iflist named (up or not).
	Named  []string     `json:"named"`
	Frames []FrameCount `json:"frames"`
	// Targets are sorted by shelf and slot.
	Targets []WireTarget `json:"targets"`
}

// FrameCount is what one interface's client sent and read.
type FrameCount struct {
	Interface string `json:"interface"`
	Sent      uint64 `json:"sent"`
	Seen      uint64 `json:"seen"`
}

// WireTarget is one address and every path that answered for it.
type WireTarget struct {
	Name     string `json:"device"`
	Conflict bool   `json:"conflict"`
	// ConflictData is the data path's finding when the disks IDENTIFY
	// alike and their data differs (initiator.OpenDisk's sample); ""
	// (null) otherwise.
	ConflictData Text       `json:"conflict_data"`
	Paths        []WirePath `json:"paths"`
}

// WirePath is a target MAC seen from a local interface.
type WirePath struct {
	Interface string `json:"interface"`
	MAC       string `json:"mac"`
	// Self is the local interface's MAC.
	Self     string `json:"self"`
	LocalMTU int    `json:"local_mtu"`
	// From the Query Config reply.
	BufferCount     int    `json:"buffers"`
	Firmware        string `json:"firmware"`
	SectorsPerFrame int    `json:"sectors_per_frame"`
	// Silent is true when the path answered the discovery but then
	// neither its mask nor its reserve list came back: the target stopped
	// answering (or is overloaded); no frame size was measured.
	Silent bool `json:"silent"`
	// Measured is true when reads of up to DriverSectors() sectors were
	// sent; Carried is the largest that came back (0: none did).
	Measured bool `json:"measured"`
	Carried  int  `json:"carried_sectors"`
	// From IDENTIFY (empty and nil when it got no answer, IdentifyErr
	// says why).
	Serial      Text    `json:"serial"`
	Model       Text    `json:"model"`
	Sectors     *uint64 `json:"sectors"`
	IdentifyErr Text    `json:"identify_error"`
	// Mask and Reserve are the target's lists (empty: open; nil: not
	// read, the errors say why).
	Mask       []string `json:"mask"`
	MaskErr    Text     `json:"mask_error"`
	Reserve    []string `json:"reserve"`
	ReserveErr Text     `json:"reserve_error"`
}

// headers is what an ATA frame carries besides data: Ethernet and AoE
// headers (24 bytes) and the ATA argument (12).
const headers = 36

// DriverSectors is the sectors per frame the Linux driver uses on the
// path: the target's count, cut to what the local MTU carries.
func (p WirePath) DriverSectors() int {
	return min(p.SectorsPerFrame, max(0, (p.LocalMTU-headers)/512))
}

// TargetMTU is the smallest MTU that carries the target's frames.
func (p WirePath) TargetMTU() int { return p.SectorsPerFrame*512 + headers }

// BootView is what boot is configured to do.
type BootView struct {
	Seen    bool   `json:"seen"`
	Missing Text   `json:"missing"`
	Source  string `json:"source"`
	Boot    bool   `json:"boot"`
	// Interfaces is AOE_INTERFACES (empty with AllInterfaces: every one).
	Interfaces    []string `json:"interfaces"`
	AllInterfaces bool     `json:"all_interfaces"`
	// Wait maps each awaited device ("e1.2") to what asks for it
	// ("AOE_WAIT e1.2p1", "fstab UUID=...").
	Wait map[string][]string `json:"wait"`
}
