package cmd

import (
	"errors"
	"fmt"

	"github.com/goaoe/aoe/internal/aoectl"
	"github.com/goaoe/aoe/internal/inuse"
	"github.com/goaoe/aoe/sysfs"
	"github.com/spf13/cobra"
)

// newClassicFlushCmd is aoetools' aoe-flush: aoe flush's checks (exact
// names, in-use devices refused), aoetools' messages (an unknown device is
// reported on stdout), exit status 1 on any error.
func newClassicFlushCmd(g *globalOptions) *cobra.Command {
	o := &flushOptions{globalOptions: g}
	cmd := classicFrom(newFlushCmd(g), func(cmd *cobra.Command, args []string) error {
		return runClassicFlush(cmd, o, args)
	})
	o.addFlags(cmd)
	return cmd
}

func runClassicFlush(cmd *cobra.Command, o *flushOptions, args []string) error {
	if err := o.checkRootFlags(cmd); err != nil {
		return err
	}
	switch {
	case o.all && len(args) > 0:
		fmt.Fprintf(o.stderr(), "%s Error: -a takes no device names\n", o.prog)
		return silentExit(ExitFailure)
	case o.force && len(args) == 0:
		fmt.Fprintf(o.stderr(), "%s Error: --force is for named devices\n", o.prog)
		return silentExit(ExitFailure)
	}
	if err := o.checkClassicNode(sysfs.NodeFlush, true); err != nil {
		return err
	}
	switch {
	case o.all:
		return o.classicWrite([]byte("all"))
	case len(args) == 0:
		return o.classicWrite([]byte("\n"))
	}
	c := inuse.CheckFlush(o.host(cmd), args, o.force)
	if len(c.Unknown) > 0 {
		for _, a := range c.Unknown {
			// aoetools prints this on stdout.
			fmt.Fprintf(o.stdout(), "%s Error: \"%s\" is not an aoe device\n", o.prog, a)
		}
		return silentExit(ExitFailure)
	}
	if len(c.Busy) > 0 {
		for _, e := range c.Busy {
			fmt.Fprintf(o.stdout(), "%s Error: %v; not flushed\n", o.prog, e)
		}
		fmt.Fprintf(o.stdout(), "%s: release the devices first, or use --force (their pending I/O then fails)\n", o.prog)
		return silentExit(ExitFailure)
	}
	failed, err := flushDevices(o.control(), c.Devices, func(string, error) {
		fmt.Fprintf(o.stderr(), "%s: flush failed\n", o.prog)
	})
	switch {
	case err != nil:
		return o.classicNodeError(err, true)
	case failed:
		return silentExit(ExitFailure)
	}
	return nil
}

// classicWrite writes data to the flush node, with aoetools' messages.
func (o *flushOptions) classicWrite(data []byte) error {
	if err := o.control().Write(sysfs.NodeFlush, data); err != nil {
		var ne *aoectl.NodeError
		if errors.As(err, &ne) {
			return o.classicNodeError(err, true)
		}
		fmt.Fprintf(o.stderr(), "%s: flush failed\n", o.prog)
		return silentExit(ExitFailure)
	}
	return nil
}
