package cmd

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/goaoe/aoe/internal/aoectl"
	"github.com/goaoe/aoe/internal/safetext"
	"github.com/goaoe/aoe/sysfs"
	"github.com/spf13/cobra"
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
the driver's parameter: at most 1,023 bytes (a usage error otherwise).
Every name is checked against SYSFS/class/net and all bad ones are
reported before anything is changed.
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
	f.BoolVar(&o.json, "json", false, "print the list as JSON")
	return cmd
}

func runInterfaces(cmd *cobra.Command, o *interfacesOptions, args []string) error {
	if err := o.checkRootFlags(cmd); err != nil {
		return err
	}
	if o.clear && len(args) > 0 {
		return usageErrorf("-c takes no interface names")
	}
	if !o.clear && len(args) == 0 {
		return o.showInterfaces(cmd)
	}
	if o.json {
		return usageErrorf("--json is for reading the list")
	}
	names, err := o.interfaceNames(args)
	if err != nil {
		return err
	}
	if _, err := o.openFS(cmd); err != nil {
		return err
	}
	return o.setError(cmd, aoectl.SetInterfaces(o.host(cmd), o.control(), names))
}

// interfaceNames returns the names of the interface lists in args (none
// with -c); none without -c is a usage error.
func (o *interfacesOptions) interfaceNames(args []string) ([]string, error) {
	var names []string
	for _, a := range args {
		names = append(names, sysfs.ParseInterfaceList(a)...)
	}
	if !o.clear && len(names) == 0 {
		return nil, usageErrorf("no interface names in %q", strings.Join(args, " "))
	}
	return names, nil
}

// setError reports an error of SetInterfaces.
func (o *interfacesOptions) setError(cmd *cobra.Command, err error) error {
	var long *aoectl.ListTooLongError
	var unknown *aoectl.UnknownInterfacesError
	var param *aoectl.ParamError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &long):
		return usageErrorf("%v", long)
	case errors.As(err, &unknown):
		for _, n := range unknown.Names {
			o.warnf("%q is not a network interface (see 'ip link')", n)
		}
		return silentExit(ExitFailure)
	case errors.As(err, &param):
		return param
	}
	return o.nodeError(cmd, err)
}

func (o *interfacesOptions) showInterfaces(cmd *cobra.Command) error {
	fs, err := o.openFS(cmd)
	if err != nil {
		return err
	}
	path := fs.InterfaceListPath()
	b, err := sysfs.ReadAttr(path)
	if err != nil {
		switch {
		case !fs.ModuleLoaded():
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
		fmt.Fprintln(o.stdout(), safetext.String(n))
	}
	return nil
}
