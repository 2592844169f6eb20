package cmd

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"

	"github.com/goaoe/aoe/sysfs"
	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
)

type interfacesOptions struct {
	*globalOptions
	clear bool
	json  bool
}

func newInterfacesCmd(g *globalOptions) *cobra.Command {
	o := &interfacesOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "interfaces [-c] [IFACE...]",
		Short: "Show or restrict the network interfaces AoE uses",
		Long: `Without arguments, print the network interfaces the aoe driver is restricted
to (the aoe_iflist module parameter, readable by root only), one per line.
An empty list means every interface is allowed; it is then said on stderr.

With interface names (separated by blanks or commas), restrict the driver to
them; -c clears the restriction. The list, names joined by blanks, must fit
the driver's parameter: at most 1,023 bytes (a usage error otherwise). Every name is checked against
SYSFS/class/net and all bad ones are reported before anything is changed.
The list is written to the module parameter when it is writable, else to
DEVDIR/interfaces. Devices and paths already known are kept; run
'aoe discover' to look for targets on newly allowed interfaces.

Under the name aoe-interfaces it is aoetools' aoe-interfaces, with its
messages and exit status; empty arguments (aoe-interfaces '') print the
list, as aoetools does; fixed: comma-separated lists (eth0,eth1), which the
kernel accepts, are accepted.` + exitCodesHelp,
		Example: `  aoe interfaces
  aoe interfaces eth2 eth3
  aoe interfaces eth2,eth3 && aoe discover
  aoe interfaces -c`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runInterfaces(cmd, o, args)
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&o.clear, "clear", "c", false, "allow every interface")
	if !g.classic {
		f.BoolVar(&o.json, "json", false, "print the list as JSON")
	}
	return cmd
}

// maxIfList is the longest interface list the driver takes: aoe_iflist is
// a 1,024-byte string, its terminating NUL included.
const maxIfList = 1023

func runInterfaces(cmd *cobra.Command, o *interfacesOptions, args []string) error {
	if err := o.checkRootFlags(cmd); err != nil {
		return err
	}
	if o.classic && !o.clear && strings.Join(args, " ") == "" {
		args = nil // aoetools: test -z "$*" shows the list
	}
	if o.clear && len(args) > 0 {
		if o.classic {
			fmt.Fprintf(o.stderr(), "%s Error: -c flag takes no arguments\n", o.prog)
			return silentExit(ExitFailure)
		}
		return usageErrorf("-c takes no interface names")
	}
	if !o.clear && len(args) == 0 {
		return o.showInterfaces(cmd)
	}
	if o.json {
		return usageErrorf("--json is for reading the list")
	}
	var names []string
	for _, a := range args {
		names = append(names, sysfs.ParseInterfaceList(a)...)
	}
	if !o.clear && len(names) == 0 {
		return usageErrorf("no interface names in %q", strings.Join(args, " "))
	}
	list := strings.Join(names, " ")
	if len(list) > maxIfList {
		if o.classic {
			fmt.Fprintf(o.stderr(), "%s Error: the interface list is %d bytes; the aoe driver takes at most %d\n", o.prog, len(list), maxIfList)
			return silentExit(ExitFailure)
		}
		return usageErrorf("the interface list is %d bytes; the aoe driver takes at most %d", len(list), maxIfList)
	}
	root := o.sysfsDir(cmd)
	fs := sysfs.FS{}
	if f, err := sysfs.NewFS(root); err == nil {
		fs = f
	}
	var bad []string
	for _, n := range names {
		if fs.Root() == "" || !fs.NetInterfaceExists(n) {
			bad = append(bad, n)
			if o.classic {
				fmt.Fprintf(o.stderr(), "%s Error: \"%s\" is not a network interface\n", o.prog, n)
			} else {
				o.warnf("%q is not a network interface (see 'ip link')", n)
			}
		}
	}
	if len(bad) > 0 {
		return silentExit(ExitFailure)
	}
	value := []byte(list + "\x00")
	param := filepathOrEmpty(fs)
	if param != "" && unix.Access(param, unix.W_OK) == nil {
		if err := writeParam(param, value); err != nil {
			if o.classic {
				fmt.Fprintf(o.stderr(), "%s: %v\n", o.prog, err)
				return silentExit(ExitFailure)
			}
			return fmt.Errorf("setting aoe_iflist: %w", err)
		}
		return nil
	}
	if err := o.checkNode(cmd, sysfs.NodeInterfaces, true); err != nil {
		return err
	}
	if err := o.control().Write(sysfs.NodeInterfaces, value); err != nil {
		return o.nodeError(cmd, err, true)
	}
	return nil
}

func filepathOrEmpty(fs sysfs.FS) string {
	if fs.Root() == "" {
		return ""
	}
	return fs.InterfaceListPath()
}

// writeParam writes a module parameter in one write, as `printf > file`.
func writeParam(path string, value []byte) error {
	// O_NONBLOCK: a FIFO in place of the parameter cannot block the write.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC|syscall.O_NONBLOCK, 0)
	if err != nil {
		return err
	}
	_, err = f.Write(value)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func (o *interfacesOptions) showInterfaces(cmd *cobra.Command) error {
	root := o.sysfsDir(cmd)
	fs, fserr := sysfs.NewFS(root)
	path := sysfs.FS{}.InterfaceListPath()
	if fserr == nil {
		path = fs.InterfaceListPath()
	}
	b, err := sysfs.ReadAttr(path)
	if o.classic {
		// aoetools: cat the parameter, or exit 1 silently.
		if err != nil {
			return silentExit(ExitFailure)
		}
		_, err = o.stdout().Write(b)
		return err
	}
	if err != nil {
		switch {
		case fserr == nil && !fs.ModuleLoaded():
			return kindErrorf(ErrNoDriver, "the aoe driver is not loaded (no %s); load it with: modprobe aoe", fs.Path("module", "aoe"))
		case errors.Is(err, os.ErrPermission):
			return kindErrorf(ErrPermission, "%s is readable by root only; run as root", path)
		}
		return err
	}
	names := sysfs.ParseInterfaceList(string(b))
	if o.json {
		return writeJSON(o.stdout(), struct {
			Interfaces []string `json:"interfaces"`
			Restricted bool     `json:"restricted"`
		}{Interfaces: append([]string{}, names...), Restricted: len(names) > 0})
	}
	if len(names) == 0 {
		o.warnf("no restriction: AoE is used on every interface")
		return nil
	}
	for _, n := range names {
		fmt.Fprintln(o.stdout(), escapeControl(n))
	}
	return nil
}
