package cmd

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
)

// aoe-mkdevs and aoe-mkshelf (newMkdevsCmd, newMkshelfCmd) make static
// /dev/etherd nodes, as aoetools 36 does, for systems with neither udev nor
// devtmpfs and a driver with static minor numbers (aoe_dyndevs=0). They
// refuse when the driver uses dynamic minors or udev runs: the nodes would
// be wrong, or made already.

// The aoe driver's major number (char and block) and the minors of its
// control nodes.
const aoeMajor = 152

var controlNodes = []struct {
	name  string
	minor uint32
	mode  uint32
}{
	{"err", 2, 0o400},
	{"discover", 3, 0o200},
	{"interfaces", 4, 0o200},
	{"revalidate", 5, 0o200},
	{"flush", 6, 0o200},
}

// mknod makes a device node (tests replace it).
var mknod = func(path string, mode uint32, major, minor uint32) error {
	if err := unix.Mknod(path, mode, int(unix.Mkdev(major, minor))); err != nil {
		return err
	}
	return os.Chmod(path, os.FileMode(mode&0o7777))
}

// udevDetected reports whether udev runs (tests replace it): aoetools looks
// for a process named like udevd, /dev/.udev, and on Debian /run/udev.
var udevDetected = func() bool {
	for _, p := range []string{"/dev/.udev", "/run/udev"} {
		if _, err := os.Stat(p); err == nil {
			return true
		}
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		if b, err := os.ReadFile(p); err == nil && strings.Contains(string(b), "udevd") {
			return true
		}
	}
	return false
}

func newMkdevsCmd(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "aoe-mkdevs DIR",
		Short: "Make static AoE device nodes (for systems without udev)",
		Long: `Make the aoe driver's device nodes in DIR, for a system with neither udev nor
devtmpfs and the driver loaded with aoe_dyndevs=0: the control nodes (err,
discover, interfaces, revalidate, flush) and, for shelves 0 to n_shelves-1
(default 10), what aoe-mkshelf makes. It refuses when the driver uses
dynamic minor numbers or udev runs: the kernel makes the nodes then.`,
		Example:            `  n_shelves=2 aoe-mkdevs /dev/etherd`,
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				fmt.Fprintf(g.stderr(), "Usage: %s {dir}\n       n_partitions=16 %s {dir}\n", g.prog, g.prog)
				return silentExit(ExitFailure)
			}
			if err := mkRefuse(cmd, g); err != nil {
				return err
			}
			shelves, parts, err := mkCounts(g, true)
			if err != nil {
				return err
			}
			dir := args[0]
			if err := os.MkdirAll(dir, 0o755); err != nil {
				fmt.Fprintf(g.stderr(), "mkdir: %s\n", errText(err))
				return silentExit(ExitFailure)
			}
			for _, n := range controlNodes {
				if err := mkNode(g, filepath.Join(dir, n.name), unix.S_IFCHR|n.mode, n.minor); err != nil {
					return err
				}
			}
			for shelf := 0; shelf < shelves; shelf++ {
				if err := mkShelf(g, dir, shelf, parts); err != nil {
					return err
				}
			}
			return nil
		},
	}
}

func newMkshelfCmd(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "aoe-mkshelf DIR SHELF",
		Short: "Make static AoE device nodes for one shelf",
		Long: `Make the block device nodes of AoE shelf SHELF in DIR (which must exist): slots
0 to 15, each with n_partitions-1 partitions (n_partitions, default 16,
counts the whole disk), minor (16*SHELF+SLOT)*n_partitions+PART, for a
driver loaded with aoe_dyndevs=0 on a system without udev. It refuses when
the driver uses dynamic minor numbers or udev runs.`,
		Example:            `  aoe-mkshelf /dev/etherd 7`,
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) != 2 {
				fmt.Fprintf(g.stderr(), "Usage: %s {dir} {shelfaddress}\n       n_partitions=16 %s {dir} {shelfaddress}\n", g.prog, g.prog)
				return silentExit(ExitFailure)
			}
			if err := mkRefuse(cmd, g); err != nil {
				return err
			}
			_, parts, err := mkCounts(g, false)
			if err != nil {
				return err
			}
			shelf, err := strconv.Atoi(args[1])
			if err != nil || shelf < 0 || shelf > 4095 {
				fmt.Fprintf(g.stderr(), "%s Error: %q is not a shelf address (0 to 4095)\n", g.prog, args[1])
				return silentExit(ExitFailure)
			}
			return mkShelf(g, args[0], shelf, parts)
		},
	}
}

// mkRefuse refuses, with aoetools' three lines, when the driver uses
// dynamic minors or udev runs.
func mkRefuse(cmd *cobra.Command, g *globalOptions) error {
	why := ""
	b, err := os.ReadFile(filepath.Join(g.sysfsDir(cmd), "module/aoe/parameters/aoe_dyndevs"))
	switch {
	case err == nil && strings.TrimSpace(string(b)) == "1":
		why = "aoe module is using dynamic devices."
	case udevDetected():
		why = "udev detected.  You shouldn't need to use " + g.prog + "."
	default:
		return nil
	}
	fmt.Fprintf(g.stderr(), "%s Error: %s\n%s: Please see the %s manpage.\n%s: Exiting.\n", g.prog, why, g.prog, g.prog, g.prog)
	return silentExit(ExitFailure)
}

// mkCounts reads n_shelves (with shelves) and n_partitions.
func mkCounts(g *globalOptions, shelves bool) (int, int, error) {
	get := func(name string, def, max int) (int, error) {
		v := g.env.Getenv(name)
		if v == "" {
			return def, nil
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > max {
			fmt.Fprintf(g.stderr(), "%s Error: %s=%q: want a number from 1 to %d\n", g.prog, name, v, max)
			return 0, silentExit(ExitFailure)
		}
		return n, nil
	}
	s := 0
	if shelves {
		var err error
		if s, err = get("n_shelves", 10, 4096); err != nil {
			return 0, 0, err
		}
	}
	p, err := get("n_partitions", 16, 256)
	return s, p, err
}

// mkShelf makes slots 0..15 of shelf: eS.L and eS.LpN for N < parts.
func mkShelf(g *globalOptions, dir string, shelf, parts int) error {
	for slot := 0; slot < 16; slot++ {
		for part := 0; part < parts; part++ {
			name := fmt.Sprintf("e%d.%d", shelf, slot)
			if part > 0 {
				name += fmt.Sprintf("p%d", part)
			}
			minor := uint32((16*shelf+slot)*parts + part)
			if err := mkNode(g, filepath.Join(dir, name), unix.S_IFBLK|0o660, minor); err != nil {
				return err
			}
		}
	}
	return nil
}

// mkNode replaces path with a device node, as rm -f and mknod -m do.
func mkNode(g *globalOptions, path string, mode, minor uint32) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		fmt.Fprintf(g.stderr(), "rm: cannot remove '%s': %s\n", path, errText(err))
		return silentExit(ExitFailure)
	}
	if err := mknod(path, mode, aoeMajor, minor); err != nil {
		fmt.Fprintf(g.stderr(), "mknod: %s: %s\n", path, errText(err))
		return silentExit(ExitFailure)
	}
	return nil
}

// errText is an error's system message as the C tools print it: "No such
// file or directory".
func errText(err error) string {
	var errno unix.Errno
	if errors.As(err, &errno) {
		s := errno.Error()
		return strings.ToUpper(s[:1]) + s[1:]
	}
	return err.Error()
}
