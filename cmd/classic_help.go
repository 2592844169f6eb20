package cmd

import (
	"strings"

	"github.com/spf13/cobra"
)

// classicHelp is the help of a command run under an aoetools name: that
// name's own syntax and examples, not those of the aoe subcommand (which
// offers flags, such as --json, that the classic name does not take).
type classicHelp struct {
	use     string // the usage line, starting with the name
	long    string // what it does, in aoetools' terms
	example string
}

var classicHelps = map[string]classicHelp{
	"aoe-stat": {
		use: "aoe-stat [REGEX]",
		long: `Print aoetools' table of the AoE disks the aoe driver has found, from
SYSFS/block/etherd!eX.Y: device, size, interfaces, data bytes per frame and
state, in aoetools 36's layout byte for byte. REGEX (a grep basic
regular expression) keeps the lines that match it.`,
		example: `  aoe-stat
  aoe-stat '^ *e1[.]2 '
  aoe-stat eth1`,
	},
	"aoe-discover": {
		use: "aoe-discover",
		long: `Ask the aoe driver to look for AoE targets, by writing to
DEVDIR/discover. Arguments are ignored.`,
		example: `  aoe-discover`,
	},
	"aoe-interfaces": {
		use: "aoe-interfaces [-c] [IFACE...]",
		long: `Without arguments print the interfaces the aoe driver is restricted to (the
aoe_iflist module parameter, root only). With names, restrict it to them;
-c allows every interface again.`,
		example: `  aoe-interfaces
  aoe-interfaces eth2 eth3
  aoe-interfaces -c`,
	},
	"aoe-revalidate": {
		use: "aoe-revalidate eSHELF.SLOT",
		long: `Make the aoe driver query a device again and re-read its size, even while it
is open (after the target's disk has grown).`,
		example: `  aoe-revalidate e1.2`,
	},
	"aoe-flush": {
		use: "aoe-flush [-a] [eSHELF.SLOT...]",
		long: `Make the aoe driver forget devices: without arguments the ones that are down
and unused, with -a every unused one, or the named ones (exactly those:
e1.1 no longer also removes e1.10).`,
		example: `  aoe-flush
  aoe-flush -a
  aoe-flush e1.2`,
	},
	"aoe-version": {
		use:     "aoe-version",
		long:    `Print the version of the tools and of the installed and running aoe driver.`,
		example: `  aoe-version`,
	},
	"aoe-sancheck": {
		use: "aoe-sancheck [-v]",
		long: `Probe every interface for AoE targets from userspace and report, per
target, the local interfaces that reach it, their MTUs and the frame sizes
that get through. -v prints more.`,
		example: `  aoe-sancheck
  aoe-sancheck -v`,
	},
	"aoecfg": {
		use: "aoecfg [-c read|test|prefix|set|fset] [-s CFGSTR] [-t SECS] [SHELF SLOT] [NETIF]",
		long: `Read or set the config string of AoE targets with a Query Config broadcast
on NETIF (default eth0), or sent to SHELF SLOT.`,
		example: `  aoecfg 1 2 eth0
  aoecfg -c set -s rack-3 1 2 eth0
  aoecfg -t 3 eth1`,
	},
}

// applyClassicHelp gives cmd, run under the classic name, that name's
// usage line and examples, and puts its description first in the help. The
// rest of the page (what was fixed, exit status) is kept.
func applyClassicHelp(cmd *cobra.Command, name string) {
	h, ok := classicHelps[name]
	if !ok {
		return
	}
	cmd.Use = h.use
	cmd.Example = h.example
	rest := strings.Replace(cmd.Long, exitCodesHelp, exitCodesTable, 1)
	if i := strings.Index(rest, "Under the name "+name); i >= 0 {
		rest = rest[i:]
	} else if i := strings.Index(rest, "\n\nExit status:"); i >= 0 {
		rest = strings.TrimPrefix(rest[i:], "\n\n")
	}
	cmd.Long = h.long + "\n\n" + rest + "\n\nThe aoe command does more: see aoe(8)."
}
