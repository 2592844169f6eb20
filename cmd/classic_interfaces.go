package cmd

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/goaoe/aoe/internal/aoectl"
	"github.com/goaoe/aoe/sysfs"
	"github.com/spf13/cobra"
)

// newClassicInterfacesCmd is aoetools' aoe-interfaces: its messages and
// exit status; empty arguments (aoe-interfaces ”) print the list.
func newClassicInterfacesCmd(g *globalOptions) *cobra.Command {
	o := &interfacesOptions{globalOptions: g}
	cmd := classicFrom(newInterfacesCmd(g), func(cmd *cobra.Command, args []string) error {
		return runClassicInterfaces(cmd, o, args)
	})
	cmd.Flags().BoolVarP(&o.clear, "clear", "c", false, "allow every interface")
	return cmd
}

func runClassicInterfaces(cmd *cobra.Command, o *interfacesOptions, args []string) error {
	if err := o.checkRootFlags(cmd); err != nil {
		return err
	}
	if !o.clear && strings.Join(args, " ") == "" {
		args = nil // aoetools: test -z "$*" shows the list
	}
	if o.clear && len(args) > 0 {
		fmt.Fprintf(o.stderr(), "%s Error: -c flag takes no arguments\n", o.prog)
		return silentExit(ExitFailure)
	}
	if !o.clear && len(args) == 0 {
		// aoetools: cat the parameter, or exit 1 silently.
		b, err := sysfs.ReadAttr(filepath.Join(o.sysfsDir(cmd), "module", "aoe", "parameters", "aoe_iflist"))
		if err != nil {
			return silentExit(ExitFailure)
		}
		_, err = o.stdout().Write(b)
		return err
	}
	names, err := o.interfaceNames(args)
	if err != nil {
		return err
	}
	err = aoectl.SetInterfaces(o.host(cmd), o.control(), names)
	var long *aoectl.ListTooLongError
	var unknown *aoectl.UnknownInterfacesError
	var param *aoectl.ParamError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &long):
		fmt.Fprintf(o.stderr(), "%s Error: %v\n", o.prog, long)
	case errors.As(err, &unknown):
		for _, n := range unknown.Names {
			fmt.Fprintf(o.stderr(), "%s Error: \"%s\" is not a network interface\n", o.prog, n)
		}
	case errors.As(err, &param):
		fmt.Fprintf(o.stderr(), "%s: %v\n", o.prog, param.Err)
	default:
		return o.classicNodeError(err, true)
	}
	return silentExit(ExitFailure)
}
