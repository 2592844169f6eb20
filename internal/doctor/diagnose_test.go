package doctor

import (
	"strings"
	"testing"

	"github.com/goaoe/aoe/internal/boot"
)

const (
	selfI0 = "52:54:00:00:00:01"
	selfI1 = "52:54:00:00:00:02"
	tgtMAC = "02:ae:00:00:01:02"
)

// healthy is a host where e1.2 works: driver loaded on every interface,
// the device up on i0 with its node, the target answering on i0.
func healthy() Views {
	return Views{
		Driver: DriverView{Seen: true, Loaded: true, Version: "85", IfList: []string{}, IfListKnown: true,
			Devices: []DriverDevice{{Name: "e1.2", State: "up", MAC: tgtMAC, NetIfs: []string{"i0"}, Payload: ptr[int64](1024),
				Sectors: ptr[uint64](2048), Dev: "152:16", Node: "/dev/etherd/e1.2", NodeOK: true}}},
		Wire: WireView{Seen: true, Interfaces: []string{"i0"}, Source: SourceAll, Frames: []FrameCount{{"i0", 10, 8}},
			Targets: []WireTarget{{Name: "e1.2", Paths: []WirePath{path("i0", selfI0)}}}},
		Boot:  BootView{Seen: true, Source: "aoe.conf", Wait: map[string][]string{}},
		Links: []Link{link("i0", selfI0), link("i1", selfI1), {Name: "lo", Up: true, Carrier: true, Loopback: true, MTU: 65536}},
	}
}

func path(iface, self string) WirePath {
	return WirePath{Interface: iface, MAC: tgtMAC, Self: self, LocalMTU: 1500, BufferCount: 16, Firmware: "0x4019",
		SectorsPerFrame: 2, Measured: true, Carried: 2, Serial: "1.2:t", Sectors: ptr[uint64](2048), Mask: []string{}, Reserve: []string{}}
}

func ptr[T any](v T) *T { return &v }

func link(name, mac string) Link {
	return Link{Name: name, MAC: Text(mac), MTU: 1500, Up: true, Carrier: true}
}

func TestDiagnoseCauses(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(v *Views)
		names  []string
		// want is the first finding's cause, severity and next command
		// (a substring); others must also be there.
		want   Cause
		sev    Severity
		next   string
		detail string
		others []Cause
	}{
		{name: "healthy", change: func(v *Views) {}},
		{name: "driver not loaded", change: func(v *Views) {
			v.Driver = DriverView{Seen: true}
		}, want: CauseDriverNotLoaded, sev: SeverityCause, next: "modprobe aoe", others: []Cause{}},
		{name: "driver not loaded, boot on", change: func(v *Views) {
			v.Driver = DriverView{Seen: true}
			v.Boot.Boot = true
		}, want: CauseDriverNotLoaded, sev: SeverityCause, next: "aoe up"},
		{name: "interface not allowed", change: func(v *Views) {
			v.Driver.IfList = []string{"i1"}
			v.Driver.Devices = nil
		}, want: CauseIflist, sev: SeverityCause, next: "aoe interfaces i1,i0", detail: "answers only on i0", others: []Cause{CauseNotDiscovered}},
		{name: "vlan not allowed", change: func(v *Views) {
			v.Driver.IfList = []string{"i1"}
			v.Driver.Devices = nil
			v.Links[0].VLAN = true
		}, want: CauseVLAN, sev: SeverityCause, next: "aoe interfaces i1,i0"},
		{name: "one path not allowed", change: func(v *Views) {
			v.Driver.IfList = []string{"i0"}
			v.Wire.Targets[0].Paths = append(v.Wire.Targets[0].Paths, path("i1", selfI1))
		}, want: CausePathUnused, sev: SeverityWarning, next: "aoe interfaces i0,i1"},
		{name: "bridge port", change: func(v *Views) {
			v.Driver.IfList = []string{"i0"}
			v.Driver.Devices = nil
			v.Links[0].Master = "br0"
			v.Wire.Targets = nil
		}, want: CauseBridgePort, sev: SeverityCause, next: "aoe interfaces br0", names: []string{"e1.2"}, others: []Cause{CauseNoReply}},
		{name: "link down", change: func(v *Views) {
			v.Driver.IfList = []string{"i1"}
			v.Driver.Devices = nil
			v.Links[1].Up = false
			v.Wire = WireView{Seen: true, Interfaces: []string{}, Named: []string{"i1"}, Source: SourceIflist}
		}, want: CauseLinkDown, sev: SeverityCause, next: "ip link set i1 up", names: []string{"e1.2"}, others: []Cause{CauseNoReply}},
		{name: "no carrier", change: func(v *Views) {
			v.Links[0].Carrier = false
			v.Driver.Devices[0].State = "down"
			v.Wire.Targets = nil
		}, want: CauseLinkDown, sev: SeverityCause, next: "ip link show i0", names: []string{"e1.2"}},
		{name: "link down but reached elsewhere", change: func(v *Views) {
			v.Wire.Named = []string{"i0", "i1"}
			v.Driver.Devices[0].NetIfs = []string{"i0", "i1"}
			v.Links[1].Up = false
		}, want: CauseLinkDown, sev: SeverityWarning, next: "ip link set i1 up"},
		{name: "another link down", change: func(v *Views) {
			v.Wire.Named = []string{"i0", "i1"}
			v.Links[1].Up = false
		}},
		{name: "no reply", change: func(v *Views) {
			v.Wire.Targets = nil
			v.Driver.Devices = nil
		}, names: []string{"e1.2"}, want: CauseNoReply, sev: SeverityCause, next: "aoe discover --probe", detail: "10 frames sent, 8 replies seen, none from e1.2"},
		{name: "nothing sent", change: func(v *Views) {
			v.Wire.Targets = nil
			v.Wire.Frames = []FrameCount{{"i0", 0, 0}}
			v.Driver.Devices = nil
		}, names: []string{"e1.2"}, want: CauseNoReply, sev: SeverityCause, detail: "no frame could be sent on i0"},
		{name: "no reply, only iflist probed", change: func(v *Views) {
			v.Wire.Targets = nil
			v.Wire.Source = SourceIflist
			v.Driver.IfList = []string{"i0"}
		}, names: []string{"e1.2"}, want: CauseNoReply, sev: SeverityCause, next: "aoe doctor e1.2 -i i0,i1", others: []Cause{}},
		{name: "masked", change: func(v *Views) {
			v.Wire.Interfaces = []string{"i0", "i1"}
			v.Wire.Targets[0].Paths[0].Mask = []string{selfI0}
			v.Wire.Targets = append(v.Wire.Targets, WireTarget{Name: "e1.3", Paths: []WirePath{path("i0", selfI0), path("i1", selfI1)}})
		}, names: []string{"e1.2"}, want: CauseMasked, sev: SeverityCause, next: "aoe mask e1.2 -i i0 --add " + selfI1},
		{name: "masked, other segment", change: func(v *Views) {
			v.Wire.Interfaces = []string{"i0", "i1"}
			v.Wire.Targets[0].Paths[0].Mask = []string{selfI0}
		}},
		{name: "reserved", change: func(v *Views) {
			v.Wire.Targets[0].Paths[0].Reserve = []string{"02:00:00:00:00:0a"}
		}, want: CauseReserved, sev: SeverityCause, next: "aoe reserve e1.2 -i i0 --release --force", detail: "reserved by 02:00:00:00:00:0a"},
		{name: "reserved by self", change: func(v *Views) {
			v.Wire.Targets[0].Paths[0].Reserve = []string{selfI0}
		}},
		{name: "conflict", change: func(v *Views) {
			p := path("i0", selfI0)
			p.MAC, p.Serial = "02:ae:00:00:01:09", "other"
			v.Wire.Targets[0].Paths = append(v.Wire.Targets[0].Paths, p)
			v.Wire.Targets[0].Conflict = true
		}, want: CauseConflict, sev: SeverityCause, next: "aoe ping e1.2 --identify", detail: `02:ae:00:00:01:09 on i0 (serial "other"`},
		{name: "stopped answering after the discovery", change: func(v *Views) {
			p := &v.Wire.Targets[0].Paths[0]
			p.Silent, p.Measured, p.Carried = true, false, 0
			p.Mask, p.MaskErr, p.Reserve, p.ReserveErr = nil, "no reply", nil, "no reply"
		}, want: CauseNoReply, sev: SeverityCause, next: "aoe ping e1.2 -i i0", detail: "answered the discovery, then stopped answering", others: []Cause{}},
		{name: "buffer count", change: func(v *Views) {
			v.Wire.Targets[0].Paths[0].BufferCount = 1
		}, want: CauseBuffers, sev: SeverityCause, next: "vblade -b 16", detail: "buffer count of 1"},
		{name: "mtu: a smaller link between", change: func(v *Views) {
			p := &v.Wire.Targets[0].Paths[0]
			p.LocalMTU, p.SectorsPerFrame, p.Carried = 9000, 17, 2
		}, want: CauseMTU, sev: SeverityCause, next: "ip link set i0 mtu 1500", detail: "8704-byte payloads on i0"},
		{name: "mtu: nothing carried", change: func(v *Views) {
			p := &v.Wire.Targets[0].Paths[0]
			p.Carried = 0
		}, want: CauseMTU, sev: SeverityCause, next: "aoe sancheck -i i0", detail: "no read came back"},
		{name: "mtu: jumbo target", change: func(v *Views) {
			p := &v.Wire.Targets[0].Paths[0]
			p.SectorsPerFrame = 17
		}, want: CauseMTUOneSide, sev: SeverityWarning, next: "ip link set i0 mtu 8740"},
		{name: "mtu: jumbo host", change: func(v *Views) {
			p := &v.Wire.Targets[0].Paths[0]
			p.LocalMTU = 9000
		}, want: CauseMTUOneSide, sev: SeverityWarning, detail: "i0's MTU is 9000 but e1.2"},
		{name: "not discovered", change: func(v *Views) {
			v.Driver.Devices = nil
		}, want: CauseNotDiscovered, sev: SeverityCause, next: "aoe discover --wait e1.2"},
		{name: "down", change: func(v *Views) {
			v.Driver.Devices[0].State = "down"
		}, want: CauseDeviceDown, sev: SeverityCause, next: "aoe revalidate e1.2"},
		{name: "closewait", change: func(v *Views) {
			v.Driver.Devices[0].State = "down,closewait"
		}, want: CauseDeviceDown, sev: SeverityCause, next: "aoe revalidate e1.2", detail: "down,closewait"},
		{name: "kickme", change: func(v *Views) {
			v.Driver.Devices[0].State = "up,kickme"
		}, want: CauseDeviceDown, sev: SeverityCause, next: "aoe revalidate e1.2"},
		{name: "target stopped, device down", change: func(v *Views) {
			v.Driver.Devices[0].State = "down"
			v.Wire.Targets = nil
		}, want: CauseNoReply, sev: SeverityCause, others: []Cause{CauseDeviceDown}},
		{name: "no node", change: func(v *Views) {
			v.Driver.Devices[0].NodeOK = false
		}, want: CauseNoNode, sev: SeverityCause, next: "mknod -m 0660 /dev/etherd/e1.2 b 152 16"},
		{name: "boot off", change: func(v *Views) {
			v.Boot.Wait = map[string][]string{"e1.2": {"boot waits for e1.2p1"}}
		}, want: CauseBoot, sev: SeverityWarning, detail: "AOE_BOOT is not yes"},
		{name: "boot on other interfaces", change: func(v *Views) {
			v.Boot.Boot, v.Boot.Interfaces = true, []string{"i1"}
			v.Boot.Wait = map[string][]string{"e1.2": {"boot waits for e1.2"}}
		}, want: CauseBoot, sev: SeverityWarning, detail: "restricts AoE to i1"},
		{name: "no driver view", change: func(v *Views) {
			v.Driver = DriverView{Missing: "no sysfs"}
		}, want: CauseNoDriverView, sev: SeverityNote, detail: "no sysfs"},
		{name: "no wire view, no such device", change: func(v *Views) {
			v.Wire = WireView{Missing: "no raw socket"}
			v.Driver.Devices = nil
		}, names: []string{"e1.2"}, want: CauseNotDiscovered, sev: SeverityCause, next: "aoe discover --wait e1.2",
			detail: "the driver has no e1.2, and the wire was not seen (no raw socket)", others: []Cause{CauseNoWireView}},
		{name: "neither view", change: func(v *Views) {
			v.Driver = DriverView{Missing: "no sysfs"}
			v.Wire = WireView{Missing: "no raw socket"}
		}, names: []string{"e1.2"}, want: CauseNoWireView, sev: SeverityCause, next: "sudo aoe doctor e1.2",
			detail: "neither the driver's view (no sysfs) nor the wire's (no raw socket) was seen", others: []Cause{}},
		{name: "no wire view", change: func(v *Views) {
			v.Wire = WireView{Missing: "no raw socket"}
		}, want: CauseNoWireView, sev: SeverityNote, detail: "no raw socket"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := healthy()
			tc.change(&v)
			reps := Diagnose(v, tc.names)
			if len(reps) != 1 || reps[0].Device != "e1.2" {
				t.Fatalf("reports %+v", reps)
			}
			r := reps[0]
			if tc.want == "" {
				if len(r.Findings) != 0 || !r.Healthy() || !Healthy(reps) {
					t.Errorf("findings of a healthy device: %v", r.Findings)
				}
				return
			}
			if len(r.Findings) == 0 {
				t.Fatalf("no finding, want %s", tc.want)
			}
			f := r.Findings[0]
			if f.Cause != tc.want || f.Severity != tc.sev || !strings.Contains(string(f.Next), tc.next) || !strings.Contains(f.Detail, tc.detail) {
				t.Errorf("first finding %+v, want %s (%v) next %q detail %q\nall: %v", f, tc.want, tc.sev, tc.next, tc.detail, r.Findings)
			}
			if r.Healthy() != (tc.sev != SeverityCause) {
				t.Errorf("healthy %v with %v", r.Healthy(), r.Findings)
			}
			if tc.sev == SeverityCause && r.Verdict().Cause != tc.want {
				t.Errorf("verdict %v", r.Verdict())
			}
			for _, o := range tc.others {
				found := false
				for _, g := range r.Findings {
					found = found || g.Cause == o
				}
				if !found {
					t.Errorf("no %s among %v", o, r.Findings)
				}
			}
			if tc.others != nil && len(tc.others) == 0 && len(r.Findings) != 1 {
				t.Errorf("more than the one finding: %v", r.Findings)
			}
			for i := 1; i < len(r.Findings); i++ {
				if r.Findings[i].Severity > r.Findings[i-1].Severity {
					t.Errorf("not the causes first: %v", r.Findings)
				}
			}
		})
	}
}

// TestDiagnoseNames: without names, every device of the three views, in
// shelf.slot order; with none known, one report for the host.
func TestDiagnoseNames(t *testing.T) {
	v := healthy()
	v.Wire.Targets = append(v.Wire.Targets, WireTarget{Name: "e10.1", Paths: []WirePath{path("i0", selfI0)}})
	v.Boot.Wait = map[string][]string{"e2.0": {"boot waits for e2.0"}}
	var got []string
	for _, r := range Diagnose(v, nil) {
		got = append(got, r.Device)
	}
	if strings.Join(got, " ") != "e1.2 e2.0 e10.1" {
		t.Errorf("devices %v", got)
	}
	if reps := Diagnose(v, []string{"e2.0", "e1.2", "e2.0"}); len(reps) != 2 || reps[0].Device != "e2.0" || reps[1].Device != "e1.2" {
		t.Errorf("names given twice: %+v", reps)
	}
	reps := Diagnose(Views{Driver: DriverView{Seen: true}}, nil)
	if len(reps) != 1 || reps[0].Device != "" || reps[0].Verdict().Cause != CauseDriverNotLoaded {
		t.Errorf("host report %+v", reps)
	}
	// The driver has no device and no target answers: not ok.
	v = healthy()
	v.Driver.Devices, v.Wire.Targets = nil, nil
	reps = Diagnose(v, nil)
	if len(reps) != 1 || reps[0].Device != "" || reps[0].Healthy() || reps[0].Verdict().Cause != CauseNoReply ||
		reps[0].Verdict().Detail != "no AoE target answered on i0: 10 frames sent, 8 replies seen; is the target running, on this segment, with a MAC mask list that includes this host?" {
		t.Errorf("host report, nothing answered: %+v", reps)
	}
	v.Wire = WireView{Missing: "no raw socket"}
	reps = Diagnose(v, nil)
	if len(reps) != 1 || reps[0].Healthy() || reps[0].Verdict().Cause != CauseNotDiscovered || reps[0].Verdict().Next != "aoe discover" {
		t.Errorf("host report, no device, wire not seen: %+v", reps)
	}
}

func TestBootView(t *testing.T) {
	cfg := boot.Config{Boot: true, Interfaces: []string{"eth0"}, Wait: []string{"e1.2p1", "e1.2", "UUID=abc", "UUID=gone"}, Source: "aoe.conf"}
	resolve := func(s string) (string, bool) { return "/dev/etherd/e3.1p2", s == "UUID=abc" }
	b := bootView(cfg, resolve)
	if !b.Seen || !b.Boot || strings.Join(b.Wait["e1.2"], ";") != "boot waits for e1.2p1;boot waits for e1.2" ||
		strings.Join(b.Wait["e3.1"], ";") != "boot waits for UUID=abc" || len(b.Wait) != 2 {
		t.Errorf("%+v", b)
	}
	names := BootView{Wait: map[string][]string{"e10.1": nil, "e2.0": nil, "e1.2": nil}}.BootNames()
	if strings.Join(names, " ") != "e1.2 e2.0 e10.1" {
		t.Errorf("%v", names)
	}
}
