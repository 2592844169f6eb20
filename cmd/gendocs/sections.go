package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
)

// The man pages get the sections a sysadmin looks for that cobra does not
// write: EXIT STATUS, ENVIRONMENT and FILES. The help text ends each
// command's description with its exit status (the table on aoe --help and
// under the classic names, two lines on the subcommands); here that part
// leaves DESCRIPTION and the full table becomes EXIT STATUS.

// exitTable is the exit status of every page (the codes of cmd/exit.go).
var exitTable = []struct{ code, meaning string }{
	{"0", "success"},
	{"1", "failure, or nothing found to show"},
	{"2", "bad flags or arguments"},
	{"3", "the aoe driver is not loaded, or its control nodes are missing"},
	{"4", "permission denied (run as root, or with CAP_NET_RAW for the wire commands)"},
	{"5", "timed out: the awaited devices or answers did not come in time"},
	{"130", "interrupted (SIGINT)"},
	{"143", "terminated (SIGTERM)"},
}

// tables are the pages of commands whose tables fit the terminal.
var tables = map[string]bool{"aoe-stat": true, "aoe-discover": true, "aoe-sancheck": true, "aoe-cfg": true}

// files lists, by page (the command path with dashes), the files a
// command reads or writes. SYSFS and DEVDIR are explained on every page.
var files = map[string][]struct{ path, what string }{
	"aoe-stat": {
		{"SYSFS/block/etherd!eX.Y/", "each device's state, mac, netif, fwver, payload and size"},
		{"SYSFS/module/aoe/", "whether the aoe driver is loaded"},
	},
	"aoe-discover": {
		{"DEVDIR/discover", "written to make the driver broadcast a Query Config"},
		{"SYSFS/block/etherd!eX.Y/state", "read by --wait"},
	},
	"aoe-interfaces": {
		{"DEVDIR/interfaces", "written with the interfaces the driver may use"},
		{"SYSFS/module/aoe/parameters/aoe_iflist", "the interfaces the driver was loaded with"},
	},
	"aoe-revalidate": {{"DEVDIR/revalidate", "written with the device to revalidate"}},
	"aoe-flush": {
		{"DEVDIR/flush", "written with the devices to forget"},
		{"/proc/self/mountinfo, /proc/PID/fd/", "looked up to refuse flushing a device in use"},
	},
	"aoe-events": {
		{"SYSFS/block/etherd!eX.Y/", "read every --interval"},
		{"DEVDIR/err", "the driver's messages, when readable"},
	},
	"aoe-up": {
		{"/etc/aoe/aoe.conf", "what boot does: AOE_BOOT, AOE_INTERFACES, AOE_WAIT, AOE_FSTAB, AOE_TIMEOUT, AOE_INITRAMFS (see aoe.conf(5))"},
		{"/etc/default/aoetools", "aoetools' settings (INTERFACES, AOEMOUNTS), honoured while aoe.conf does not set AOE_BOOT"},
		{"/etc/fstab", "its /dev/etherd entries are waited for"},
		{"DEVDIR/discover, DEVDIR/interfaces", "written to discover targets on the chosen interfaces"},
	},
	"aoe-down": {
		{"/etc/aoe/aoe.conf", "see aoe.conf(5)"},
		{"DEVDIR/flush", "written with the devices that are not in use"},
	},
	"aoe-exporter": {
		{"SYSFS/block/etherd!eX.Y/, SYSFS/module/aoe/", "read at every scrape"},
	},
	"aoe-nbd":     {{"the --socket path", "a Unix socket; only a stale socket there is replaced"}},
	"aoe-version": {{"SYSFS/module/aoe/version", "the driver's version"}},
}

// environment lists the variables read, by page; every page with the
// --sysfs flag honours sysfs_dir.
const sysfsDirEnv = "sysfs_dir"

// splitExit takes the exit status part out of a command's description.
func splitExit(c *cobra.Command) {
	if i := strings.Index(c.Long, "\n\nExit status:"); i >= 0 {
		rest := c.Long[i:]
		c.Long = c.Long[:i]
		if j := strings.Index(rest, "\n\nSYSFS is"); j >= 0 {
			c.Long += rest[j:]
		}
	}
	for _, s := range c.Commands() {
		splitExit(s)
	}
}

// pageCommands maps page file names to the commands of the tree, as
// doc.GenManTree names them.
func pageCommands(c *cobra.Command, section string, out map[string]*cobra.Command) {
	out[strings.ReplaceAll(c.CommandPath(), " ", "-")+"."+section] = c
	for _, s := range c.Commands() {
		if s.IsAvailableCommand() && !s.IsAdditionalHelpTopicCommand() {
			pageCommands(s, section, out)
		}
	}
}

// roffEscape escapes text for a roff line.
func roffEscape(s string) string {
	s = strings.ReplaceAll(s, `\`, `\e`)
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
		s = `\&` + s
	}
	return strings.ReplaceAll(s, "-", `\-`)
}

// pageEnv are the variables a classic tool of its own reads, by page.
var pageEnv = map[string][][2]string{
	"aoe-mkdevs":  {nShelves, nPartitions},
	"aoe-mkshelf": {nPartitions},
}

var (
	nShelves    = [2]string{"n_shelves", "how many shelves get nodes: 0 to n_shelves-1 (default 10), as aoetools."}
	nPartitions = [2]string{"n_partitions", "nodes per disk, the whole disk counted (default 16), as aoetools."}
)

// sections returns the roff of EXIT STATUS, ENVIRONMENT and FILES for the
// page of c.
func sections(page string, c *cobra.Command) string {
	var b strings.Builder
	b.WriteString(".SH EXIT STATUS\n")
	for _, e := range exitTable {
		fmt.Fprintf(&b, ".TP\n.B %s\n%s\n", e.code, roffEscape(e.meaning))
	}
	b.WriteString(".PP\nUnder a classic aoetools name (aoe\\-stat, aoe\\-discover, aoeping, ...) the exit status is aoetools': 0 or 1\n" +
		"(aoe\\-stat: 2 for a bad regular expression or extra arguments), and 130 or 143 when a signal ends it.\n")
	name := strings.TrimSuffix(page, filepath.Ext(page))
	b.WriteString(".SH ENVIRONMENT\n")
	if c.Flag("sysfs") != nil && name != "aoeping" && name != "aoecfg" { // the classic wire tools read no sysfs
		fmt.Fprintf(&b, ".TP\n.B %s\nthe sysfs root when \\-\\-sysfs is not given (aoetools' aoe\\-stat honours it too); default /sys.\n", sysfsDirEnv)
	}
	for _, v := range pageEnv[name] {
		fmt.Fprintf(&b, ".TP\n.B %s\n%s\n", v[0], roffEscape(v[1]))
	}
	if tables[name] {
		b.WriteString(".TP\n.B COLUMNS\n" + roffEscape("when stdout is a terminal, the width tables fit instead of the terminal's (columns that do not fit are left out, and a last line names them); ignored when stdout is not a terminal, where every column is printed.") + "\n")
	}
	b.WriteString(".TP\n.B LC_ALL, LC_CTYPE, LANG\n" + roffEscape("the first that is set selects the character set: unless it is UTF-8 (C, POSIX, no locale), the tool's own symbols are printed in ASCII (... for the ellipsis, us for microseconds).") + "\n")
	if fs := files[name]; len(fs) > 0 {
		b.WriteString(".SH FILES\n")
		for _, f := range fs {
			fmt.Fprintf(&b, ".TP\n.I %s\n%s\n", roffEscape(f.path), roffEscape(f.what))
		}
	}
	return b.String()
}

// addSections writes the sections into every page of the tree of root in
// dir, before SEE ALSO.
func addSections(root *cobra.Command, section, dir string) error {
	pages := map[string]*cobra.Command{}
	pageCommands(root, section, pages)
	for page, c := range pages {
		p := filepath.Join(dir, page)
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		s, add := string(b), sections(page, c)
		if i := strings.Index(s, ".SH SEE ALSO"); i >= 0 {
			s = s[:i] + add + s[i:]
		} else {
			s += add
		}
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			return err
		}
	}
	return nil
}
