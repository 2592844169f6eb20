package cmd

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/goaoe/aoe/discover"
	"github.com/goaoe/aoe/initiator"
	"github.com/goaoe/aoe/internal/safetext"
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
		Short: "Check the SAN: interfaces, paths, MTUs, frames that get through",
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
probed; naming a non-Ethernet one is an error). It ends once no new path
has answered for 300ms (a slower target may be missing; -v says so on
stderr); a given --timeout is waited out, so that every target that
answers within it is listed. At most 4096 paths are kept: more make a
truncated report, said on stderr, and exit 1 (so do replies lost in a full
receive buffer). A path that answers Query Config but no IDENTIFY is marked
unverified: anything on the segment can answer for any address. On a
terminal the tables fit its width ($COLUMNS if set), leaving out columns
and naming them; --json has every field (the schema: docs/json.md).

Under the name aoe-sancheck it prints aoetools' report layout (exit 0).
Fixed: any interface names (aoe-sancheck probed at most 32, and Debian's
only eth*), -v lists paths in a stable order (by address and MAC), and
the payload check uses the same 36 bytes of headers as the probes
(aoe-sancheck used 32 there: false warnings for MTUs 32-35 above a
multiple of 512).` + exitCodesHelp,
		Example: `  aoe sancheck
  aoe sancheck -v -i eth2,eth3
  aoe sancheck --json`,
		Args: argsCheck(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSancheck(cmd, o)
		},
	}
	f := cmd.Flags()
	f.StringSliceVarP(&o.ifaces, "interface", "i", nil, "interfaces to check (comma separated or repeated)")
	f.BoolVarP(&o.verbose, "verbose", "v", false, "list every path")
	f.DurationVar(&o.timeout, "timeout", 5*time.Second, "the longest the check takes")
	f.BoolVar(&o.json, "json", false, "print JSON")
	return cmd
}

// sanPath is one path of the JSON report.
type sanPath struct {
	MAC       string `json:"mac"`
	Interface string `json:"interface"`
	MTU       int    `json:"mtu"`
	// Sectors is the target's sector count per ATA frame (config).
	Sectors int `json:"sectors_per_frame"`
	// MaxSectors is the largest IDENTIFY padding, in sectors, answered:
	// the largest frame that got through.
	MaxSectors int `json:"max_sectors_per_frame"`
	// Unverified: no IDENTIFY answered on this path.
	Unverified bool `json:"unverified"`
}

// sanInterface is a local interface of the JSON report.
type sanInterface struct {
	Name  string  `json:"name"`
	Up    bool    `json:"up"`
	MTU   int     `json:"mtu"`
	PCIID *string `json:"pci_id"` // vendor:device, null when not PCI or unknown
}

// sanDevice is a target of the JSON report.
type sanDevice struct {
	Device     string    `json:"device"`
	MACs       int       `json:"macs"`
	Payload    int       `json:"payload_bytes"`
	Interfaces []string  `json:"interfaces"`
	Paths      []sanPath `json:"paths"`
	Conflict   bool      `json:"conflict"`
	// Unverified: a path answered no IDENTIFY; its disk is unknown.
	Unverified bool     `json:"unverified"`
	Warnings   []string `json:"warnings"`
}

func toSanDevice(d discover.Device) sanDevice {
	j := sanDevice{Device: d.Name(), MACs: d.MACs, Payload: d.Payload, Interfaces: append([]string{}, d.Interfaces...), Paths: []sanPath{}, Conflict: d.Conflict, Unverified: d.Unverified(), Warnings: []string{}}
	for _, p := range d.Paths {
		j.Paths = append(j.Paths, sanPath{MAC: p.Target.MAC.String(), Interface: p.Interface, MTU: p.MTU, Sectors: p.Sectors, MaxSectors: p.MaxSectors, Unverified: p.Unverified()})
	}
	for _, w := range d.Warnings {
		j.Warnings = append(j.Warnings, w.String())
	}
	return j
}

// sanInterfaces lists Ethernet interfaces, sorted by name, restricted to
// given when it is not empty.
func (o *sancheckOptions) sanInterfaces(cmd *cobra.Command, given []string) ([]discover.Interface, error) {
	var want map[string]bool
	if len(given) > 0 {
		want = map[string]bool{}
		for _, g := range given {
			for _, n := range strings.Split(g, ",") {
				want[n] = true
			}
		}
	}
	all, err := o.interfaces()
	if err != nil {
		return nil, err
	}
	var out []discover.Interface
	for _, ifi := range all {
		if want != nil && !want[ifi.Name] {
			continue
		}
		delete(want, ifi.Name)
		if !isEthernet(ifi) {
			if want != nil {
				return nil, usageErrorf("-i %s: not an Ethernet interface; AoE runs on Ethernet only", safetext.String(ifi.Name))
			}
			continue
		}
		out = append(out, discover.Interface{Name: ifi.Name, Up: ifi.Flags&net.FlagUp != 0, MTU: ifi.MTU, PCIID: o.pciID(cmd, ifi.Name)})
	}
	for n := range want {
		return nil, usageErrorf("-i %s: no such network interface (see 'ip link')", n)
	}
	slices.SortFunc(out, func(a, b discover.Interface) int { return strings.Compare(a.Name, b.Name) })
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

func runSancheck(cmd *cobra.Command, o *sancheckOptions) error {
	full := cmd.Flags().Changed("timeout")
	if o.timeout <= 0 {
		return usageErrorf("--timeout %v: must be positive", o.timeout)
	}
	opts := discover.CheckOptions{Timeout: o.timeout}
	if full {
		opts.Quiet = o.timeout // waited out: slow targets are listed
	}
	rep, up, err := o.check(cmd, opts, nil)
	if err := showAnswers(err, "report", func() error { return o.writeReport(rep, up, full) }); err != nil {
		return err
	}
	if !full && len(rep.Devices) > 0 && o.verbose {
		o.warnf("the search for paths ended once no new one answered for %v; a slower target may be missing (--timeout %v waits that long)", discover.DefaultQuiet, o.timeout)
	}
	return nil
}

// check runs discover.Check on the interfaces (-i, else every Ethernet
// one) and returns its report and the names of those that are up. A group
// that cannot be opened is passed to openFailed when not nil.
func (o *sancheckOptions) check(cmd *cobra.Command, opts discover.CheckOptions, openFailed func(error) error) (*discover.Report, []string, error) {
	ifaces, err := o.sanInterfaces(cmd, o.ifaces)
	if err != nil {
		return nil, nil, err
	}
	var up []string
	for _, i := range ifaces {
		if i.Up {
			up = append(up, i.Name)
		}
	}
	var g *initiator.Group
	if len(up) > 0 {
		if g, err = o.openGroup(cmd, up); err != nil {
			if openFailed != nil {
				return nil, nil, openFailed(err)
			}
			return nil, nil, err
		}
		defer g.Close()
	}
	rep, err := discover.Check(cmd.Context(), g, ifaces, opts)
	return rep, up, err
}

// writeReport prints the report in the chosen format.
func (o *sancheckOptions) writeReport(rep *discover.Report, up []string, full bool) error {
	devs := []sanDevice{}
	for _, d := range rep.Devices {
		devs = append(devs, toSanDevice(d))
	}
	switch {
	case o.json:
		ifaces := []sanInterface{}
		for _, i := range rep.Interfaces {
			si := sanInterface{Name: i.Name, Up: i.Up, MTU: i.MTU}
			if i.PCIID != "" {
				id := i.PCIID
				si.PCIID = &id
			}
			ifaces = append(ifaces, si)
		}
		if err := writeJSON(o.stdout(), struct {
			Interfaces []sanInterface `json:"interfaces"`
			Devices    []sanDevice    `json:"devices"`
		}{ifaces, devs}); err != nil {
			return err
		}
	default:
		if err := writeSancheck(o.stdout(), rep, o.verbose, o.tableWidth()); err != nil {
			return err
		}
	}
	switch {
	case len(devs) > 0:
	case len(up) == 0:
		return errors.New("no Ethernet interface is up to check (ip link set IFACE up)")
	default:
		hint := ""
		if !full {
			hint = fmt.Sprintf("; a slower target may be missing (--timeout %v waits that long)", o.timeout)
		}
		return fmt.Errorf("no AoE target answered on %s%s", safetext.String(strings.Join(up, ", ")), hint)
	}
	return nil
}

func writeSancheck(w io.Writer, rep *discover.Report, verbose bool, width int) error {
	var rows [][]string
	for _, i := range rep.Interfaces {
		state := "DOWN"
		if i.Up {
			state = "UP"
		}
		rows = append(rows, []string{safetext.String(i.Name), state, strconv.Itoa(i.MTU), orDashS(i.PCIID)})
	}
	ifCols := []column{{header: "INTERFACE"}, {header: "STATE"}, {header: "MTU", right: true, drop: 2}, {header: "PCI ID", drop: 1}}
	if err := (table{cols: ifCols, rows: rows}).render(w, width); err != nil {
		return err
	}
	fmt.Fprintln(w)
	rows = nil
	for _, d := range rep.Devices {
		state := "ok"
		switch {
		case d.Conflict:
			state = "CONFLICT"
		case d.Unverified():
			state = "unverified"
		case len(d.Warnings) > 0:
			state = "WARNING"
		}
		rows = append(rows, []string{d.Name(), strconv.Itoa(d.MACs), strconv.Itoa(d.Payload), strconv.Itoa(d.Tested()), safetext.String(strings.Join(d.Interfaces, ",")), state})
	}
	devCols := []column{{header: "DEVICE"}, {header: "MACS", right: true, drop: 2}, {header: "PAYLOAD", right: true, drop: 3},
		{header: "TESTED", right: true, drop: 4}, {header: "IFACES", drop: 1}, {header: "STATE"}}
	if err := (table{cols: devCols, rows: rows}).render(w, width); err != nil {
		return err
	}
	if verbose {
		if err := writeSanPaths(w, rep, width); err != nil {
			return err
		}
	}
	first := true
	for _, d := range rep.Devices {
		for _, m := range d.Warnings {
			if first {
				fmt.Fprintln(w)
				first = false
			}
			fmt.Fprintln(w, "warning: "+d.Name()+": "+m.String())
		}
	}
	return nil
}

// writeSanPaths is the -v table: every path.
func writeSanPaths(w io.Writer, rep *discover.Report, width int) error {
	fmt.Fprintln(w)
	var rows [][]string
	for _, d := range rep.Devices {
		for _, p := range d.Paths {
			rows = append(rows, []string{d.Name(), p.Target.MAC.String(), safetext.String(p.Interface), strconv.Itoa(p.MTU), strconv.Itoa(p.Sectors * 512), strconv.Itoa(p.MaxSectors * 512)})
		}
	}
	cols := []column{{header: "DEVICE"}, {header: "MAC", drop: 1}, {header: "IFACE", drop: 2},
		{header: "MTU", right: true, drop: 3}, {header: "PAYLOAD", right: true, drop: 4}, {header: "TESTED", right: true, drop: 5}}
	return table{cols: cols, rows: rows}.render(w, width)
}

func orDashS(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
