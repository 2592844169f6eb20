package cmd

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"sort"
	"time"

	"github.com/goaoe/aoe/initiator"
	"github.com/goaoe/aoe/internal/boot"
	"github.com/goaoe/aoe/internal/doctor"
	"github.com/goaoe/aoe/internal/safetext"
	"github.com/goaoe/aoe/sysfs"
	"github.com/spf13/cobra"
)

type doctorOptions struct {
	*globalOptions
	ifaces  []string
	timeout time.Duration
	json    bool
	files   boot.Files
}

func newDoctorCmd(g *globalOptions) *cobra.Command {
	o := &doctorOptions{globalOptions: g, files: boot.DefaultFiles()}
	cmd := &cobra.Command{
		Use:   "doctor [DEV...]",
		Short: "Say why an AoE device cannot be seen or used, and what to do",
		Long: `Join what the aoe driver shows (its module, aoe_iflist, the devices in
SYSFS, their state, paths and DEVDIR nodes), what the wire shows (which
interfaces and target MACs answer for each address, their buffer count,
firmware, sectors per frame, the MTU of each side and the frame size each
path really carries, conflicts, mask and reserve lists, frames sent and
replies seen) and what boot will do (aoe.conf, fstab), and say for each
device DEV (eSHELF.SLOT; none: every device the driver, the wire or boot
knows) whether it is ok, else the cause and the next command, the cause
first. With no DEV and no device known anywhere, the host is checked: no
target answering at all is a cause too.

Causes: driver-not-loaded, link-down, bridge-port, vlan,
interface-not-allowed (aoe_iflist), no-reply (with the frames sent and
replies seen), masked (MAC mask list), reserved (by another host),
conflict (different disks on one address), buffer-count (below 2), mtu
(the driver's frames do not get through), not-discovered (the driver
has no such device while the target answers, or the wire was not seen
to tell), device-down
(down, closewait, kickme: aoe revalidate), no-node (no /dev/etherd node).
Warnings: mtu-one-side, path-unused, boot.

Frames are sent only on the interfaces given with -i, else the driver's
aoe_iflist, else every up Ethernet interface; only queries and reads,
never a write or a change of a target's lists. Each frame size is tried
toward the target (a padded IDENTIFY) before a read asks for a reply of
that size, so that a target whose own link is smaller is not sent a
reply it cannot send (vblade exits on that). Without the driver only the
wire is seen, without raw sockets (root or CAP_NET_RAW) only the driver:
the output says which half was not seen.

It exits 0 when every device is ok, 1 when a cause was found, 4 when
neither half could be seen for want of permission; -i naming no
interface, or a non-Ethernet one, is a usage error. --json prints the
views and findings (the schema: docs/json.md).` + exitCodesHelp,
		Example: `  aoe doctor
  aoe doctor e1.2
  aoe doctor e1.2 -i eth0,eth1 --json`,
		RunE: func(cmd *cobra.Command, args []string) error { return runDoctor(cmd, o, args) },
	}
	f := cmd.Flags()
	f.StringSliceVarP(&o.ifaces, "interface", "i", nil, "interfaces to probe (comma separated or repeated)")
	f.DurationVar(&o.timeout, "timeout", 3*time.Second, "how long to probe the wire")
	f.BoolVar(&o.json, "json", false, "print JSON")
	f.StringVar(&o.files.Config, "config", o.files.Config, "the boot configuration file")
	f.StringVar(&o.files.Legacy, "legacy-config", o.files.Legacy, "aoetools' configuration file")
	f.StringVar(&o.files.Fstab, "fstab", o.files.Fstab, "the fstab whose /dev/etherd entries boot waits for")
	return cmd
}

func runDoctor(cmd *cobra.Command, o *doctorOptions, args []string) error {
	if err := checkDeviceArgs("", args); err != nil {
		return err
	}
	if o.timeout <= 0 {
		return usageErrorf("--timeout %v: must be positive", o.timeout)
	}
	var given []string
	for _, i := range o.ifaces {
		given = append(given, sysfs.ParseInterfaceList(i)...)
	}
	sys := o.sysfsDir(cmd)
	var v doctor.Views
	v.Driver = doctor.GatherDriver(sys, o.devDir)
	v.Boot = doctor.GatherBoot(o.files)
	ifs, err := o.interfaces()
	if err != nil {
		return err
	}
	// As every command that takes -i: a name that is no interface, or no
	// Ethernet one, is a usage error (a down one is a finding).
	for _, n := range given {
		i := slices.IndexFunc(ifs, func(ifi net.Interface) bool { return ifi.Name == n })
		switch {
		case i < 0:
			return usageErrorf("-i %s: no such network interface (see 'ip link')", safetext.String(n))
		case !isEthernet(ifs[i]):
			return usageErrorf("-i %s: not an Ethernet interface; AoE runs on Ethernet only", safetext.String(n))
		}
	}
	v.Links = doctor.GatherLinks(ifs, sys)
	names, named, source := doctorInterfaces(given, v.Driver, ifs)
	var denied bool
	v.Wire, denied = o.probe(cmd, names, source)
	v.Wire.Named = named
	if v.Wire.Named == nil {
		v.Wire.Named = []string{}
	}
	reps := doctor.Diagnose(v, args)
	if o.json {
		err = writeJSON(o.stdout(), struct {
			doctor.Views
			Devices []doctor.Report `json:"devices"`
			Healthy bool            `json:"healthy"`
		}{v, reps, doctor.Healthy(reps)})
	} else {
		err = doctor.Render(o.stdout(), v, reps)
	}
	if err != nil {
		return err
	}
	if !v.Driver.Seen && !v.Wire.Seen && denied {
		// Nothing could be seen, for want of permission.
		return silentExit(ExitPermission)
	}
	if !doctor.Healthy(reps) {
		return silentExit(ExitFailure)
	}
	return nil
}

// doctorInterfaces chooses the interfaces to probe: those given (-i), else
// the driver's aoe_iflist, else every up Ethernet interface; only the up
// ones are probed (a down one is a finding).
func doctorInterfaces(given []string, d doctor.DriverView, ifs []net.Interface) (probe, named []string, source string) {
	names, source := given, doctor.SourceGiven
	if len(names) == 0 && d.Loaded && len(d.IfList) > 0 {
		names, source = d.IfList, doctor.SourceIflist
	}
	named = names
	var out []string
	for _, ifi := range ifs {
		up := ifi.Flags&net.FlagUp != 0 && isEthernet(ifi)
		if up && (len(names) == 0 || slices.Contains(names, ifi.Name)) {
			out = append(out, ifi.Name)
		}
	}
	if len(names) == 0 {
		source = doctor.SourceAll
	}
	sort.Strings(out)
	if out == nil {
		out = []string{}
	}
	return out, named, source
}

// probe opens a client on each interface and gathers the wire's view; no
// raw socket (denied) or no interface leaves the wire unseen.
func (o *doctorOptions) probe(cmd *cobra.Command, names []string, source string) (v doctor.WireView, denied bool) {
	unseen := func(why string) doctor.WireView {
		return doctor.WireView{Missing: doctor.Text(why), Interfaces: names, Source: source, Frames: []doctor.FrameCount{}, Targets: []doctor.WireTarget{}}
	}
	if len(names) == 0 {
		return unseen("no up Ethernet interface to probe"), false
	}
	var clients []*initiator.Client
	for _, n := range names {
		c, err := o.openClient(n)
		if err != nil {
			initiator.NewGroup(clients...).Close()
			if errors.Is(err, ErrPermission) {
				return unseen("no raw socket (run as root, or with CAP_NET_RAW)"), true
			}
			return unseen(fmt.Sprintf("%s: %v", n, err)), false
		}
		clients = append(clients, c)
	}
	grp := initiator.NewGroup(clients...)
	grp.RTTClock = o.now
	defer grp.Close()
	return doctor.GatherWire(cmd.Context(), grp, doctor.WireOptions{Timeout: o.timeout, Source: source}), false
}
