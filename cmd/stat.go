package cmd

import (
	"io"
	"regexp"
	"strconv"
	"strings"

	"github.com/goaoe/aoe/internal/safetext"
	"github.com/goaoe/aoe/internal/units"
	"github.com/goaoe/aoe/sysfs"
	"github.com/spf13/cobra"
)

type statOptions struct {
	*globalOptions
	json  bool
	wide  bool
	regex string
	// aoetools is --classic: aoe-stat's output (runClassicStat).
	aoetools bool
}

func newStatCmd(g *globalOptions) *cobra.Command {
	o := &statOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "stat [REGEX]",
		Short: "Show the AoE devices the aoe driver knows",
		Long: `Show the AoE disks that the kernel's aoe driver has found, from sysfs
(SYSFS/block/etherd!eX.Y): size, local network interfaces, bytes of data
per frame, and state (up, down, down,closewait when held open, ...kickme while
the driver waits for a free frame).

The table is sorted by shelf, then slot. A device that vanishes while it
is read (flushed, or being rediscovered) is left out; an entry of
SYSFS/block that cannot be read (a symlink loop, no permission) is skipped
with a warning on stderr, and the rest is listed. Sizes are in SI units with
three significant digits (999 kB, 1.00 MB, 10.0 MB, 100 MB).

REGEX (Go syntax, unanchored) keeps the devices whose name matches: "^e1[.]"
for shelf 1, "^e1[.]2$" for e1.2 alone.
--wide adds the first path's MAC address, the target's firmware version, the
major:minor numbers and the partitions. On a terminal the table fits its
width ($COLUMNS if set): columns are left out until it fits, FIRMWARE
first, then DEV, MAC, PAYLOAD, PARTITIONS, IFACES and SIZE, and a last line
names them; piped or redirected, every column is printed. --json prints an
array of objects with device, shelf, slot, sectors, bytes, state,
interfaces, payload_bytes, mac, firmware, dev and partitions; an attribute
the kernel does not show is null (the schema: docs/json.md).

Under the name aoe-stat, or with --classic, the output is aoetools 36's
aoe-stat run with LC_ALL=C, byte for byte: the two printf layouts
("%10s %15s %10s %-5s %-14s", or without the payload column for drivers that
have none), the size in GB (512000 * sectors / 10^9, three decimals), (NA)
for a missing attribute, lines sorted as text, REGEX a POSIX basic regular
expression (grep's) matched against the whole line, exit status 1 when no
line is printed, "aoe-stat Error: sysfs is not mounted", and a warning on
stderr for a device node whose minor number differs from sysfs. The sysfs
root is $sysfs_dir when set, as in aoetools.

Fixed aoetools bugs (classic output):

- a letter "p" anywhere in the sysfs path (sysfs_dir=/tmp/sys) hid every
  device; partitions are now told apart by name;
- a device without a payload file shifted its row (the state landed in the
  payload column); it now shows (NA) there;
- sizes above about 9 PB overflowed into negative numbers;
- a REGEX with spaces was split into several grep arguments;
- a size file that is not a number stopped the listing; it shows (NA);
- an entry of SYSFS/block that cannot be read (a symlink loop) printed
  (NA) in every column; it is skipped with a warning on stderr.` + exitCodesHelp,
		Example: `  aoe stat
  aoe stat --wide '^e1[.]'
  aoe stat --json | jq '.[] | select(.state != "up") | .device'
  aoe-stat eth1`,
		Args: argsCheck(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				o.regex = args[0]
			}
			return runStat(cmd, o, len(args) == 1)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.json, "json", false, "print JSON")
	f.BoolVarP(&o.wide, "wide", "w", false, "add MAC, FIRMWARE, DEV and PARTITIONS columns")
	f.BoolVar(&o.aoetools, "classic", false, "print aoetools' aoe-stat output")
	return cmd
}

func runStat(cmd *cobra.Command, o *statOptions, haveRegex bool) error {
	if err := o.checkRootFlags(cmd); err != nil {
		return err
	}
	if o.json && o.aoetools {
		return usageErrorf("--json and --classic exclude each other")
	}
	if o.aoetools {
		return runClassicStat(cmd, o.globalOptions, o.regex, haveRegex)
	}
	var re *regexp.Regexp
	if haveRegex {
		var err error
		if re, err = regexp.Compile(o.regex); err != nil {
			return usageErrorf("bad regular expression: %v", err)
		}
	}
	fs, err := o.openFS(cmd)
	if err != nil {
		return err
	}
	devs, skipped, err := fs.Devices()
	if err != nil {
		return err
	}
	for _, err := range skipped {
		o.warnf("warning: skipped %v", err)
	}
	for _, m := range o.host(cmd).WrongMinors(devs) {
		o.warnf("warning: device node %s has minor %s but the driver says %s; remove it so that udev or devtmpfs recreate it", m.Node, m.Got, m.Want)
	}
	all := len(devs)
	if re != nil {
		kept := devs[:0]
		for _, d := range devs {
			if re.MatchString(d.Name) {
				kept = append(kept, d)
			}
		}
		devs = kept
	}
	if o.json {
		if err := writeStatJSON(o.stdout(), devs); err != nil {
			return err
		}
	} else if len(devs) > 0 {
		if err := writeStatTable(o.stdout(), devs, o.wide, o.tableWidth()); err != nil {
			return err
		}
	}
	if len(devs) > 0 {
		return nil
	}
	switch {
	case !fs.ModuleLoaded():
		return kindErrorf(ErrNoDriver, "the aoe driver is not loaded (no %s); load it with: modprobe aoe", fs.Path("module", "aoe"))
	case all == 0:
		o.warnf("no AoE devices. Run 'aoe discover', check 'aoe interfaces', or check that the targets answer")
	default:
		o.warnf("no AoE device name matches %q (%d devices)", o.regex, all)
	}
	return ErrNothing
}

// statJSON is one device of `aoe stat --json`. Attributes the kernel does
// not show are null.
type statJSON struct {
	Device     string   `json:"device"`
	Shelf      int      `json:"shelf"`
	Slot       int      `json:"slot"`
	Sectors    *uint64  `json:"sectors"`
	Bytes      *uint64  `json:"bytes"`
	State      *string  `json:"state"`
	Interfaces []string `json:"interfaces"`
	Payload    *int64   `json:"payload_bytes"`
	MAC        *string  `json:"mac"`
	Firmware   *string  `json:"firmware"`
	Dev        *string  `json:"dev"`
	Partitions []string `json:"partitions"`
}

func toStatJSON(d sysfs.Device) statJSON {
	j := statJSON{
		Device:     d.Name,
		Shelf:      int(d.Addr.Shelf),
		Slot:       int(d.Addr.Slot),
		State:      trimmed(d.State),
		Interfaces: d.NetIfs(),
		Firmware:   trimmed(d.Firmware),
		Dev:        trimmed(d.Dev),
		Partitions: []string{},
	}
	if n, ok := d.Sectors(); ok {
		j.Sectors = &n
	}
	if n, ok := d.Bytes(); ok {
		j.Bytes = &n
	}
	if n, ok := d.PayloadBytes(); ok {
		j.Payload = &n
	}
	if m, ok := d.MACAddr(); ok {
		j.MAC = &m
	}
	for _, p := range d.Partitions {
		j.Partitions = append(j.Partitions, p.Name)
	}
	return j
}

func trimmed(s *string) *string {
	if s == nil {
		return nil
	}
	t := strings.TrimSpace(*s)
	return &t
}

func writeStatJSON(w interface{ Write([]byte) (int, error) }, devs []sysfs.Device) error {
	out := make([]statJSON, 0, len(devs))
	for _, d := range devs {
		out = append(out, toStatJSON(d))
	}
	return writeJSON(w, out)
}

// statColumns are the columns of the stat table; on a narrow terminal
// FIRMWARE goes first, then DEV, MAC, PAYLOAD, PARTITIONS, IFACES, SIZE.
var statColumns = []column{
	{header: "DEVICE"}, {header: "SIZE", right: true, drop: 7}, {header: "IFACES", drop: 6},
	{header: "PAYLOAD", right: true, drop: 4}, {header: "STATE"},
}

// statWideColumns are the columns --wide adds.
var statWideColumns = []column{
	{header: "MAC", drop: 3}, {header: "FIRMWARE", drop: 1}, {header: "DEV", drop: 2}, {header: "PARTITIONS", drop: 5},
}

func writeStatTable(w io.Writer, devs []sysfs.Device, wide bool, width int) error {
	cols := statColumns
	if wide {
		cols = append(append([]column{}, statColumns...), statWideColumns...)
	}
	rows := make([][]string, 0, len(devs))
	for _, d := range devs {
		j := toStatJSON(d)
		size := "-"
		if j.Sectors != nil {
			size = units.Sectors(*j.Sectors)
		}
		ifaces := "-"
		if len(j.Interfaces) > 0 {
			ifaces = strings.Join(j.Interfaces, ",")
		}
		payload := "-"
		if j.Payload != nil {
			payload = strconv.FormatInt(*j.Payload, 10)
		}
		row := []string{d.Name, size, ifaces, payload, orDash(j.State)}
		if wide {
			parts := "-"
			if len(j.Partitions) > 0 {
				parts = strings.Join(j.Partitions, ",")
			}
			row = append(row, orDash(j.MAC), orDash(j.Firmware), orDash(j.Dev), parts)
		}
		for k := range row {
			row[k] = safetext.String(row[k])
		}
		rows = append(rows, row)
	}
	return table{cols: cols, rows: rows}.render(w, width)
}

func orDash(s *string) string {
	if s == nil || *s == "" {
		return "-"
	}
	return *s
}
