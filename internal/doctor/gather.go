package doctor

import (
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/goaoe/aoe/initiator/aoeaddr"
	"github.com/goaoe/aoe/internal/boot"
	"github.com/goaoe/aoe/internal/safetext"
	"github.com/goaoe/aoe/sysfs"
	"golang.org/x/sys/unix"
)

// GatherDriver reads the driver's view from the sysfs tree at sysfsRoot
// and the block nodes in devDir. Strings from sysfs are escaped for
// terminals and JSON.
func GatherDriver(sysfsRoot, devDir string) DriverView {
	v := DriverView{DevDir: devDir, IfList: []string{}, Devices: []DriverDevice{}}
	fs, err := sysfs.NewFS(sysfsRoot)
	if err != nil {
		v.Missing = Text(err.Error())
		return v
	}
	v.Seen = true
	v.Loaded = fs.ModuleLoaded()
	if !v.Loaded {
		return v
	}
	if ver, err := fs.ModuleVersion(); err == nil {
		v.Version = Text(safetext.String(ver))
	}
	if list, err := fs.InterfaceList(); err == nil {
		v.IfListKnown = true
		for _, n := range list {
			v.IfList = append(v.IfList, safetext.String(n))
		}
	}
	if b, err := os.ReadFile(fs.Path("module", "aoe", "parameters", "aoe_dyndevs")); err == nil {
		v.Dyndevs = Text(safetext.String(strings.TrimSpace(string(b))))
	}
	devs, _, _ := fs.Devices()
	names := byNames(devDir)
	for _, d := range devs {
		dd := DriverDevice{Name: d.Name, NetIfs: []string{}, Partitions: []string{}, Node: filepath.Join(devDir, d.Name)}
		if d.State != nil {
			dd.State = Text(safetext.String(strings.TrimSpace(*d.State)))
		}
		if m, ok := d.MACAddr(); ok {
			dd.MAC = Text(safetext.String(m))
		}
		for _, n := range d.NetIfs() {
			dd.NetIfs = append(dd.NetIfs, safetext.String(n))
		}
		if d.Firmware != nil {
			dd.Firmware = Text(safetext.String(strings.TrimSpace(*d.Firmware)))
		}
		if n, ok := d.PayloadBytes(); ok {
			dd.Payload = &n
		}
		if n, ok := d.Sectors(); ok {
			dd.Sectors = &n
		}
		if d.Dev != nil {
			dd.Dev = Text(safetext.String(strings.TrimSpace(*d.Dev)))
		}
		for _, p := range d.Partitions {
			dd.Partitions = append(dd.Partitions, p.Name)
		}
		dd.NodeOK = isBlockDevice(dd.Node)
		dd.Names = names[d.Name]
		if dd.Names == nil {
			dd.Names = []string{}
		}
		v.Devices = append(v.Devices, dd)
	}
	return v
}

// byNames maps each disk ("e1.2") to the /dev/disk/by-* links (beside
// devDir) that lead to it or its partitions.
func byNames(devDir string) map[string][]string {
	out := map[string][]string{}
	root := filepath.Join(filepath.Dir(filepath.Clean(devDir)), "disk")
	dirs, _ := filepath.Glob(filepath.Join(root, "by-*"))
	for _, dir := range dirs {
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			link := filepath.Join(dir, e.Name())
			target, err := os.Readlink(link)
			if err != nil {
				continue
			}
			if !filepath.IsAbs(target) {
				target = filepath.Join(dir, target)
			}
			rel, err := filepath.Rel(filepath.Clean(devDir), filepath.Clean(target))
			if err != nil || strings.Contains(rel, "/") || strings.HasPrefix(rel, ".") {
				continue
			}
			addr, _, err := aoeaddr.ParseDevice(rel)
			if err != nil {
				continue
			}
			disk := addr.String()
			name := safetext.String(filepath.Base(dir) + "/" + e.Name())
			if rel != disk {
				name += " -> " + rel
			}
			out[disk] = append(out[disk], name)
		}
	}
	return out
}

func isBlockDevice(path string) bool {
	var st unix.Stat_t
	return unix.Stat(path, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFBLK
}

// GatherLinks describes the interfaces ifs (net.Interfaces of the
// namespace), with their bridge master and VLAN nature read from
// sysfsRoot/class/net when it has them.
func GatherLinks(ifs []net.Interface, sysfsRoot string) []Link {
	out := make([]Link, 0, len(ifs))
	for _, ifi := range ifs {
		l := Link{Name: safetext.String(ifi.Name), MTU: ifi.MTU, Up: ifi.Flags&net.FlagUp != 0, Carrier: ifi.Flags&net.FlagRunning != 0,
			Loopback: ifi.Flags&net.FlagLoopback != 0}
		if len(ifi.HardwareAddr) == 6 {
			l.MAC = Text(ifi.HardwareAddr.String())
		}
		dir := filepath.Join(sysfsRoot, "class", "net", ifi.Name)
		if t, err := os.Readlink(filepath.Join(dir, "master")); err == nil {
			l.Master = Text(filepath.Base(t))
		}
		if b, err := os.ReadFile(filepath.Join(dir, "uevent")); err == nil {
			l.VLAN = strings.Contains("\n"+string(b), "\nDEVTYPE=vlan\n")
		}
		out = append(out, l)
	}
	return out
}

// GatherBoot reads boot's configuration as aoe up does. Each awaited item
// (AOE_WAIT, fstab) is filed under its disk ("e1.2p1" under "e1.2"; an
// fstab source under the AoE disk it resolves to, if any).
func GatherBoot(files boot.Files) BootView {
	v := BootView{Interfaces: []string{}, Wait: map[string][]string{}}
	cfg, err := boot.Load(files)
	if err != nil {
		v.Missing = Text(err.Error())
		return v
	}
	return bootView(cfg, files.Resolve)
}

func bootView(cfg boot.Config, resolve boot.Resolver) BootView {
	v := BootView{Seen: true, Source: cfg.Source, Boot: cfg.Boot, AllInterfaces: cfg.AllInterfaces,
		Interfaces: append([]string{}, cfg.Interfaces...), Wait: map[string][]string{}}
	if v.Source == "" {
		v.Source = "defaults"
	}
	for _, item := range cfg.Wait {
		name := item
		if boot.IsFstabSource(item) {
			if resolve == nil {
				continue
			}
			dev, ok := resolve(item)
			if !ok {
				continue
			}
			if name, ok = boot.AoEName(dev); !ok {
				continue
			}
		}
		addr, _, err := aoeaddr.ParseDevice(name)
		if err != nil {
			continue
		}
		disk := addr.String()
		v.Wait[disk] = append(v.Wait[disk], "boot waits for "+safetext.String(item))
	}
	return v
}

// BootNames returns the disks boot waits for, sorted.
func (b BootView) BootNames() []string {
	var out []string
	for n := range b.Wait {
		out = append(out, n)
	}
	sort.Strings(out)
	sortNames(out)
	return out
}

// CheckBoot is aoe up --check's share of the doctor: the driver's view
// (sysfs, devDir) and the links, joined with boot's configuration, for the
// devices boot waits for. No frame is sent. The driver not being loaded
// is no finding: aoe up loads it.
func CheckBoot(sysfsRoot, devDir string, ifs []net.Interface, cfg boot.Config, resolve boot.Resolver) []Finding {
	v := Views{Driver: GatherDriver(sysfsRoot, devDir), Boot: bootView(cfg, resolve), Links: GatherLinks(ifs, sysfsRoot)}
	v.Wire = WireView{Missing: "aoe up --check sends no frame", Named: v.Boot.Interfaces}
	names := v.Boot.BootNames()
	if len(names) == 0 || !cfg.Boot {
		return nil
	}
	var out []Finding
	for _, r := range Diagnose(v, names) {
		for _, f := range r.Findings {
			if f.Severity >= SeverityWarning && f.Cause != CauseDriverNotLoaded {
				out = append(out, f)
			}
		}
	}
	return out
}
