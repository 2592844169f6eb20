package cmd

import (
	"cmp"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/goaoe/aoe/initiator/aoeaddr"
	"github.com/goaoe/aoe/sysfs"
	"github.com/spf13/cobra"
)

// Shell completion: attachCompletions walks a built command tree (the aoe
// root or a classic command) and gives each command that takes AoE device
// names or interface names a completion function. Candidates come from
// sysfs, the cheap source: the devices the driver knows (for the wire
// commands too: their shelf.slot is the same) and SYSFS/class/net.

// deviceArgCommands take AoE device names (eX.Y) as arguments.
var deviceArgCommands = map[string]bool{
	"stat": true, "flush": true, "revalidate": true, "ping": true, "cfg": true,
	"mask": true, "reserve": true, "doctor": true,
	"aoe-stat": true, "aoe-flush": true, "aoe-revalidate": true,
}

// oneDeviceCommands take one AoE device name, then nothing.
var oneDeviceCommands = map[string]bool{"read": true, "write": true, "bench": true, "nbd": true}

// interfaceArgCommands take interface names as arguments.
var interfaceArgCommands = map[string]bool{"interfaces": true, "aoe-interfaces": true}

// noArgCommands take no arguments: nothing to complete (not even files).
var noArgCommands = map[string]bool{
	"discover": true, "sancheck": true, "version": true, "up": true, "down": true,
	"aoe-discover": true, "aoe-version": true, "aoe-sancheck": true,
}

func attachCompletions(root *cobra.Command, g *globalOptions) {
	walk(root, func(c *cobra.Command) {
		name := c.Name()
		switch {
		case deviceArgCommands[name]:
			c.ValidArgsFunction = g.completeDevices
		case oneDeviceCommands[name]:
			c.ValidArgsFunction = g.completeOneDevice
		case interfaceArgCommands[name]:
			c.ValidArgsFunction = g.completeInterfaces
		case noArgCommands[name]:
			c.ValidArgsFunction = cobra.NoFileCompletions
		case name == "aoeping":
			c.ValidArgsFunction = g.completeShelfSlotNetif(3)
		case name == "aoecfg":
			c.ValidArgsFunction = g.completeShelfSlotNetif(3)
		}
		registerFlag(c, "interface", g.completeInterfaces)
		registerFlag(c, "probe.interface", g.completeInterfaces)
		registerFlag(c, "wait", g.completeDeviceList)
		registerFlag(c, "sysfs", dirsOnly)
		registerFlag(c, "devdir", dirsOnly)
		for _, f := range []string{"config", "legacy-config", "fstab"} {
			registerFlag(c, f, cobra.FixedCompletions(nil, cobra.ShellCompDirectiveDefault))
		}
		registerFlag(c, "command", cobra.FixedCompletions([]string{"read", "test", "prefix", "set", "fset"}, cobra.ShellCompDirectiveNoFileComp))
	})
}

func walk(c *cobra.Command, fn func(*cobra.Command)) {
	fn(c)
	for _, sub := range c.Commands() {
		walk(sub, fn)
	}
}

// registerFlag attaches fn to the flag name of c (its own flags only: a
// persistent flag is registered once, where it is defined).
func registerFlag(c *cobra.Command, name string, fn func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective)) {
	if c.LocalNonPersistentFlags().Lookup(name) == nil && c.PersistentFlags().Lookup(name) == nil {
		return
	}
	if _, ok := c.GetFlagCompletionFunc(name); ok {
		return
	}
	_ = c.RegisterFlagCompletionFunc(name, fn)
}

func dirsOnly(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return nil, cobra.ShellCompDirectiveFilterDirs
}

// completionFS is the sysfs tree completion reads (--sysfs, $sysfs_dir or
// /sys, as the command would).
func (g *globalOptions) completionFS(cmd *cobra.Command) (sysfs.FS, bool) {
	fs, err := sysfs.NewFS(g.sysfsDir(cmd))
	return fs, err == nil
}

// completeDevices offers the AoE devices in sysfs not already given.
func (g *globalOptions) completeDevices(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	fs, ok := g.completionFS(cmd)
	if !ok {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	names, _ := fs.DeviceNames()
	sysfs.SortNames(names)
	return filterCandidates(names, args, toComplete), cobra.ShellCompDirectiveNoFileComp
}

// completeOneDevice offers the AoE devices for the first argument only.
func (g *globalOptions) completeOneDevice(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	return g.completeDevices(cmd, args, toComplete)
}

// completeDeviceList offers the AoE devices after the last comma of a
// comma-separated list (--wait e1.2,e1.3).
func (g *globalOptions) completeDeviceList(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	fs, ok := g.completionFS(cmd)
	if !ok {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	names, _ := fs.DeviceNames()
	sysfs.SortNames(names)
	return afterComma(names, nil, toComplete), cobra.ShellCompDirectiveNoFileComp
}

// afterComma completes the last item of a comma-separated list from names,
// leaving out the items already given.
func afterComma(names, args []string, toComplete string) []string {
	prefix := ""
	if i := strings.LastIndexByte(toComplete, ','); i >= 0 {
		prefix, toComplete = toComplete[:i+1], toComplete[i+1:]
	}
	var out []string
	for _, n := range filterCandidates(names, append(args, strings.Split(prefix, ",")...), toComplete) {
		out = append(out, prefix+n)
	}
	return out
}

// completeInterfaces offers the network interfaces in SYSFS/class/net,
// after the last comma of a comma-separated list.
func (g *globalOptions) completeInterfaces(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	fs, ok := g.completionFS(cmd)
	if !ok {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	return afterComma(netInterfaces(fs), args, toComplete), cobra.ShellCompDirectiveNoFileComp
}

// netInterfaces lists the interfaces that are up (IFF_UP in their
// flags): AoE cannot use the others, nor the loopback.
func netInterfaces(fs sysfs.FS) []string {
	entries, _ := os.ReadDir(fs.Path("class", "net"))
	var names []string
	for _, e := range entries {
		if n := e.Name(); n != "lo" && printableName(n) && interfaceUp(fs, n) {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names
}

// interfaceUp reports whether SYSFS/class/net/NAME/flags has IFF_UP; an
// interface whose flags cannot be read is offered (a fixture tree, an
// older kernel).
func interfaceUp(fs sysfs.FS, name string) bool {
	b, err := os.ReadFile(fs.Path("class", "net", name, "flags"))
	if err != nil {
		return true
	}
	v, err := strconv.ParseUint(strings.TrimPrefix(strings.TrimSpace(string(b)), "0x"), 16, 32)
	return err != nil || v&1 != 0
}

// completeShelfSlotNetif completes aoetools' "SHELF SLOT NETIF"
// arguments: shelves of known devices, then their slots, then interfaces.
func (g *globalOptions) completeShelfSlotNetif(max int) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		fs, ok := g.completionFS(cmd)
		if !ok || len(args) >= max {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		if len(args) == 2 {
			return filterCandidates(netInterfaces(fs), nil, toComplete), cobra.ShellCompDirectiveNoFileComp
		}
		names, _ := fs.DeviceNames()
		sysfs.SortNames(names)
		seen := map[string]bool{}
		var out []string
		for _, n := range names {
			a, err := aoeaddr.Parse(n)
			if err != nil {
				continue
			}
			shelf, slot := int(a.Shelf), int(a.Slot)
			v := strconv.Itoa(shelf)
			if len(args) == 1 {
				if args[0] != v {
					continue
				}
				v = strconv.Itoa(slot)
			}
			if !seen[v] {
				seen[v] = true
				out = append(out, v)
			}
		}
		slices.SortFunc(out, func(a, b string) int { x, _ := strconv.Atoi(a); y, _ := strconv.Atoi(b); return cmp.Compare(x, y) })
		return filterCandidates(out, nil, toComplete), cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveKeepOrder
	}
}

// filterCandidates keeps the names that start with prefix, are not in
// used, and are safe to hand to a shell (no control bytes or blanks).
func filterCandidates(names, used []string, prefix string) []string {
	var out []string
	for _, n := range names {
		if !strings.HasPrefix(n, prefix) || !printableName(n) || slices.Contains(used, n) {
			continue
		}
		out = append(out, n)
	}
	return out
}

// printableName rejects names from sysfs with control bytes, blanks or
// non-ASCII bytes, which must not reach a terminal raw.
func printableName(n string) bool {
	for i := 0; i < len(n); i++ {
		if c := n[i]; c <= ' ' || c >= 0x7f {
			return false
		}
	}
	return n != "" && filepath.Base(n) == n
}
