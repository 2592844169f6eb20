package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/goaoe/aoe/discover"
	"github.com/goaoe/aoe/initiator"
	"github.com/olekukonko/tablewriter/tw"
	"github.com/spf13/cobra"
)

type sancheckOptions struct {
	*globalOptions
	ifaces  []string
	verbose bool
	timeout time.Duration
	json    bool
}

func newSancheckCmd(g *globalOptions) *cobra.Command {
	o := &sancheckOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "sancheck",
		Short: "Check the SAN: interfaces, paths, MTUs and the frames that get through",
		Long: `Check the AoE SAN from this host, on the wire (root or CAP_NET_RAW; the
driver is not needed): list the interfaces (state, MTU, PCI id) and the
targets (MACs, payload, local interfaces), and measure for every path the
largest frame that actually gets through, by sending IDENTIFY requests
padded to decreasing sizes. It warns when a target has a different number
of MACs than local interfaces reach it, when a path carries only smaller
frames than its MTU allows, when an MTU is too small for the payload the
target can take, when a target's interfaces have different MTUs, and when
different disks answer for one address. -v lists every path.

Interfaces: -i, else every Ethernet interface (down ones are listed, not
probed). It ends as soon as the answers are in.

Under the name aoe-sancheck it prints aoetools' report layout (exit 0).
Fixed: any interface names (aoe-sancheck probed at most 32, and Debian's
only eth*), no fixed 5 s wait, and the payload check uses the same 36 bytes
of headers as the probes (aoe-sancheck used 32 there: false warnings for
MTUs 32-35 above a multiple of 512).` + exitCodesHelp,
		Example: `  aoe sancheck
  aoe sancheck -v -i eth2,eth3
  aoe sancheck --json`,
		Args: argsCheck(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSancheck(cmd, o)
		},
	}
	if g.classic {
		// aoe-sancheck honours exactly one argument, -v, and ignores the rest.
		cmd.Args = cobra.ArbitraryArgs
		cmd.DisableFlagParsing = true
		cmd.RunE = func(cmd *cobra.Command, args []string) error {
			o.verbose = len(args) == 1 && args[0] == "-v"
			return runSancheck(cmd, o)
		}
		return cmd
	}
	f := cmd.Flags()
	f.StringSliceVarP(&o.ifaces, "interface", "i", nil, "interfaces to check (comma separated or repeated)")
	f.BoolVarP(&o.verbose, "verbose", "v", false, "list every path")
	f.DurationVar(&o.timeout, "timeout", 5*time.Second, "the longest the check takes")
	f.BoolVar(&o.json, "json", false, "print JSON")
	return cmd
}

// sanIface is an interface of the report.
type sanIface struct {
	Name  string `json:"name"`
	Up    bool   `json:"up"`
	MTU   int    `json:"mtu"`
	PCIID string `json:"pci_id"`
}

// sanPath is one path and what got through it.
type sanPath struct {
	Device    string `json:"-"`
	MAC       string `json:"mac"`
	Interface string `json:"interface"`
	MTU       int    `json:"mtu"`
	// Sectors is the target's sector count per ATA frame (config).
	Sectors int `json:"sectors_per_frame"`
	// MaxSectors is the largest IDENTIFY padding, in sectors, answered.
	MaxSectors int `json:"max_sectors"`
	shelf      uint16
	slot       uint8
	mac        net.HardwareAddr
	identity   *initiator.Identity
	arrival    int
}

// sanDevice is a target of the report.
type sanDevice struct {
	Device     string    `json:"device"`
	MACs       int       `json:"macs"`
	Payload    int       `json:"payload"`
	Interfaces []string  `json:"interfaces"`
	Paths      []sanPath `json:"paths"`
	Conflict   bool      `json:"conflict"`
	Warnings   []string  `json:"warnings"`
	shelf      uint16
	slot       uint8
}

// sanInterfaces lists Ethernet interfaces without NOARP, sorted by name,
// restricted to given when it is not empty.
func (o *sancheckOptions) sanInterfaces(cmd *cobra.Command, given []string) ([]sanIface, error) {
	var want map[string]bool
	if len(given) > 0 {
		want = map[string]bool{}
		for _, g := range given {
			for _, n := range strings.Split(g, ",") {
				want[n] = true
			}
		}
	}
	all, err := net.Interfaces()
	if err != nil {
		return nil, err
	}
	var out []sanIface
	for _, ifi := range all {
		if want != nil && !want[ifi.Name] {
			continue
		}
		delete(want, ifi.Name)
		if ifi.Flags&net.FlagLoopback != 0 || len(ifi.HardwareAddr) != 6 {
			continue
		}
		out = append(out, sanIface{Name: ifi.Name, Up: ifi.Flags&net.FlagUp != 0, MTU: ifi.MTU, PCIID: o.pciID(cmd, ifi.Name)})
	}
	for n := range want {
		return nil, usageErrorf("-i %s: no such network interface (see 'ip link')", n)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// pciID reads vendor:device of an interface's PCI device, or "".
func (o *sancheckOptions) pciID(cmd *cobra.Command, name string) string {
	dir := filepath.Join(o.sysfsDir(cmd), "class", "net", name, "device")
	read := func(f string) string {
		b, err := os.ReadFile(filepath.Join(dir, f))
		s := strings.TrimSpace(string(b))
		if err != nil || len(s) < 6 {
			return ""
		}
		return s[2:6]
	}
	v, d := read("vendor"), read("device")
	if v == "" || d == "" {
		return ""
	}
	return v + ":" + d
}

// probePaths finds every path with Query Config and measures each with
// IDENTIFY requests padded to (MTU-36) rounded down to 512 bytes, then
// smaller; the largest answered is the path's frame size.
// onSendFail, if set, is called for each probe that could not be sent.
func probePaths(ctx context.Context, clients []*initiator.Client, timeout time.Duration, onSendFail func()) ([]*sanPath, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var mu sync.Mutex
	var wg sync.WaitGroup
	var paths []*sanPath
	_, err := discover.Collect(ctx, clients, discover.QueryConfig(), discover.Options{Timeout: timeout}, func(r discover.Response) {
		arg, ok := r.Frame.Arg.(*initiator.ConfigArg)
		if !ok || r.Frame.Error {
			return
		}
		ifi := r.Client.Interface()
		p := &sanPath{Device: r.Frame.Name(), MAC: r.Frame.Source.String(), Interface: ifi.Name, MTU: ifi.MTU,
			Sectors: arg.Sectors(), shelf: r.Frame.Shelf, slot: r.Frame.Slot, mac: r.Frame.Source}
		mu.Lock()
		p.arrival = len(paths)
		paths = append(paths, p)
		mu.Unlock()
		r.Client.SetWindow(r.Frame.Source, int(arg.BufferCount))
		for n := (ifi.MTU - 36) / 512; n >= 1; n-- {
			wg.Add(1)
			go func(n int) {
				defer wg.Done()
				id := initiator.NewIdentify()
				id.Data = make([]byte, 512*n)
				f, err := r.Client.Request(ctx, &initiator.Frame{Destination: p.mac, Shelf: p.shelf, Slot: p.slot, Command: initiator.CommandATA, Arg: id})
				if err != nil {
					if errors.Is(err, initiator.ErrSend) && onSendFail != nil {
						mu.Lock()
						onSendFail()
						mu.Unlock()
					}
					return
				}
				a, ok := f.Arg.(*initiator.ATAArg)
				if !ok || a.Failed() {
					return
				}
				ident, perr := initiator.ParseIdentify(a.Data)
				mu.Lock()
				if n > p.MaxSectors {
					p.MaxSectors = n
				}
				if p.identity == nil && perr == nil {
					p.identity = &ident
				}
				mu.Unlock()
			}(n)
		}
	})
	wg.Wait()
	return paths, err
}

// sanReport groups paths into devices and adds the warnings.
func sanReport(paths []*sanPath, ifaces []sanIface) []sanDevice {
	byDev := map[string]*sanDevice{}
	var devs []*sanDevice
	mtu := map[string]int{}
	for _, i := range ifaces {
		mtu[i.Name] = i.MTU
	}
	for _, p := range paths {
		d, ok := byDev[p.Device]
		if !ok {
			d = &sanDevice{Device: p.Device, shelf: p.shelf, slot: p.slot, Payload: p.Sectors * 512, Interfaces: []string{}, Warnings: []string{}}
			byDev[p.Device] = d
			devs = append(devs, d)
		}
		d.Paths = append(d.Paths, *p)
	}
	out := make([]sanDevice, 0, len(devs))
	for _, d := range devs {
		macs, locals := map[string]bool{}, map[string]bool{}
		var first *initiator.Identity
		for _, p := range d.Paths {
			macs[p.MAC] = true
			if !locals[p.Interface] {
				locals[p.Interface] = true
				d.Interfaces = append(d.Interfaces, p.Interface)
			}
			if p.identity != nil {
				if first == nil {
					first = p.identity
				} else if !p.identity.SameDisk(*first) {
					d.Conflict = true
				}
			}
		}
		sort.Strings(d.Interfaces)
		sort.Slice(d.Paths, func(i, j int) bool {
			if d.Paths[i].Interface != d.Paths[j].Interface {
				return d.Paths[i].Interface < d.Paths[j].Interface
			}
			return d.Paths[i].MAC < d.Paths[j].MAC
		})
		d.MACs = len(macs)
		if len(macs) != len(locals) {
			d.Warnings = append(d.Warnings, "Mismatched number of local vs remote interfaces")
		}
		for _, p := range d.Paths {
			if p.MaxSectors < (p.MTU-36)/512 {
				d.Warnings = append(d.Warnings, fmt.Sprintf("The path %s->%s is only capable of %d byte payloads", p.Interface, strings.ReplaceAll(p.MAC, ":", ""), p.MaxSectors*512))
			}
		}
		for _, i := range d.Interfaces {
			if mtu[i] < d.Payload+36 {
				d.Warnings = append(d.Warnings, fmt.Sprintf("%s: MTU (%d) not set optimally for device's capable payload", i, mtu[i]))
			}
		}
		for _, i := range d.Interfaces[1:] {
			if mtu[i] != mtu[d.Interfaces[0]] {
				d.Warnings = append(d.Warnings, fmt.Sprintf("%s: MTU different from other interfaces (%d vs. %d)", i, mtu[i], mtu[d.Interfaces[0]]))
			}
		}
		if d.Conflict {
			d.Warnings = append(d.Warnings, "Different disks answer for "+d.Device+" (address conflict)")
		}
		out = append(out, *d)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].shelf != out[j].shelf {
			return out[i].shelf < out[j].shelf
		}
		return out[i].slot < out[j].slot
	})
	return out
}

func runSancheck(cmd *cobra.Command, o *sancheckOptions) error {
	if o.classic {
		fmt.Fprint(o.stdout(), "Probing...")
		o.timeout = 5 * time.Second
	}
	ifaces, err := o.sanInterfaces(cmd, o.ifaces)
	if err != nil {
		return err
	}
	var up []string
	for _, i := range ifaces {
		if i.Up {
			up = append(up, i.Name)
		}
	}
	var paths []*sanPath
	if len(up) > 0 {
		clients, _, err := o.openClients(cmd, up)
		if err != nil {
			if o.classic {
				fmt.Fprintln(o.stdout())
				fmt.Fprintf(o.stderr(), "aoe-sancheck: %v\n", err)
				return silentExit(ExitFailure)
			}
			return err
		}
		defer closeClients(clients)
		var onSendFail func()
		if o.classic {
			onSendFail = func() { fmt.Fprint(o.stdout(), "write failed\n") } // as aoe-sancheck
		}
		if paths, err = probePaths(cmd.Context(), clients, o.timeout, onSendFail); err != nil {
			return err
		}
	}
	devs := sanReport(paths, ifaces)
	switch {
	case o.classic:
		writeAoeSancheck(o.stdout(), ifaces, devs, paths, o.verbose)
		return nil
	case o.json:
		if err := writeJSON(o.stdout(), struct {
			Interfaces []sanIface  `json:"interfaces"`
			Devices    []sanDevice `json:"devices"`
		}{append([]sanIface{}, ifaces...), devs}); err != nil {
			return err
		}
	default:
		if err := writeSancheck(o.stdout(), ifaces, devs, o.verbose); err != nil {
			return err
		}
	}
	if len(devs) == 0 {
		return fmt.Errorf("no AoE target answered on %s", strings.Join(up, ", "))
	}
	return nil
}

func writeSancheck(w io.Writer, ifaces []sanIface, devs []sanDevice, verbose bool) error {
	var rows [][]string
	for _, i := range ifaces {
		state := "DOWN"
		if i.Up {
			state = "UP"
		}
		rows = append(rows, []string{i.Name, state, strconv.Itoa(i.MTU), orDashS(i.PCIID)})
	}
	if err := writeTable(w, []string{"INTERFACE", "STATE", "MTU", "PCI ID"}, rows, []tw.Align{tw.AlignLeft, tw.AlignLeft, tw.AlignRight, tw.AlignLeft}); err != nil {
		return err
	}
	fmt.Fprintln(w)
	rows = nil
	for _, d := range devs {
		frame := 0
		for i, p := range d.Paths {
			if i == 0 || p.MaxSectors*512 < frame {
				frame = p.MaxSectors * 512
			}
		}
		state := "ok"
		if d.Conflict {
			state = "CONFLICT"
		} else if len(d.Warnings) > 0 {
			state = "WARNING"
		}
		rows = append(rows, []string{d.Device, strconv.Itoa(d.MACs), strconv.Itoa(d.Payload), strconv.Itoa(frame), strings.Join(d.Interfaces, ","), state})
	}
	if err := writeTable(w, []string{"DEVICE", "MACS", "PAYLOAD", "TESTED", "IFACES", "STATE"}, rows,
		[]tw.Align{tw.AlignLeft, tw.AlignRight, tw.AlignRight, tw.AlignRight, tw.AlignLeft, tw.AlignLeft}); err != nil {
		return err
	}
	if verbose {
		fmt.Fprintln(w)
		rows = nil
		for _, d := range devs {
			for _, p := range d.Paths {
				rows = append(rows, []string{d.Device, p.MAC, p.Interface, strconv.Itoa(p.MTU), strconv.Itoa(p.Sectors * 512), strconv.Itoa(p.MaxSectors * 512)})
			}
		}
		if err := writeTable(w, []string{"DEVICE", "MAC", "IFACE", "MTU", "PAYLOAD", "TESTED"}, rows,
			[]tw.Align{tw.AlignLeft, tw.AlignLeft, tw.AlignLeft, tw.AlignRight, tw.AlignRight, tw.AlignRight}); err != nil {
			return err
		}
	}
	var warnings []string
	for _, d := range devs {
		for _, m := range d.Warnings {
			warnings = append(warnings, d.Device+": "+m)
		}
	}
	if len(warnings) > 0 {
		fmt.Fprintln(w)
		for _, m := range warnings {
			fmt.Fprintln(w, "warning: "+m)
		}
	}
	return nil
}

func orDashS(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// writeAoeSancheck prints aoe-sancheck's report ("Probing..." is already
// out).
func writeAoeSancheck(w io.Writer, ifaces []sanIface, devs []sanDevice, paths []*sanPath, verbose bool) {
	var b strings.Builder
	rule := "==========================================\n"
	b.WriteString("done.\n" + rule + "INTERFACE SUMMARY\n" + rule + "Name\tStatus\tMTU\tPCI ID\n")
	for _, i := range ifaces {
		state := "DN"
		if i.Up {
			state = "UP"
		}
		fmt.Fprintf(&b, "%s\t%s\t%d\t%s\n", i.Name, state, i.MTU, i.PCIID)
	}
	b.WriteString(rule + "DEVICE SUMMARY\n" + rule + "Device\tMacs\tPayload\tLocal Interfaces\n")
	for _, d := range devs {
		fmt.Fprintf(&b, "%s\t%4d\t%d\t%s\n", d.Device, d.MACs, d.Payload, strings.Join(d.Interfaces, ","))
		for _, m := range d.Warnings {
			b.WriteString("   " + m + "\n")
		}
	}
	if verbose {
		for _, i := range ifaces {
			fmt.Fprintf(&b, "%s:\n", i.Name)
			// aoe-sancheck lists an interface's paths newest first.
			for k := len(paths) - 1; k >= 0; k-- {
				if p := paths[k]; p.Interface == i.Name {
					fmt.Fprintf(&b, "%s %s %d\n", p.Device, strings.ReplaceAll(p.MAC, ":", ""), p.MaxSectors)
				}
			}
			b.WriteString("\n")
		}
	}
	io.WriteString(w, b.String())
}
