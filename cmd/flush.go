package cmd

import (
	"errors"
	"fmt"
	"strings"

	"github.com/goaoe/aoe/internal/aoectl"
	"github.com/goaoe/aoe/internal/inuse"
	"github.com/goaoe/aoe/sysfs"
	"github.com/spf13/cobra"
)

type flushOptions struct {
	*globalOptions
	all   bool
	force bool
}

func newFlushCmd(g *globalOptions) *cobra.Command {
	o := &flushOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "flush [-a|--all] [--force] [DEV...]",
		Short: "Make the aoe driver forget devices",
		Long: `Make the aoe driver forget devices (they come back at the next discovery if
their targets still answer):

    aoe flush          every device that is down and not open
    aoe flush -a       every device that is not open, up or down
    aoe flush DEV...   exactly the named devices (eSHELF.SLOT)

The driver removes a named device even while it is up, open or mounted, and
pending I/O to it fails; after that, closing the device can hang the kernel.
So a named device that is in use is refused: state closewait (held open while
down), a holder (device-mapper, md) on it or a partition, a mount of it or of
a partition, a process that has it open (found in /proc/PID/fd, as fuser
does), or an exclusive open (mount or swap, also in another mount
namespace, seen by opening DEVDIR/eX.Y with O_EXCL). --force flushes it
anyway.

The driver compares a written name only as far as it is written, so
aoetools' "aoe-flush e1.1" also removed e1.10 and e1.11, even while they were
up. Each name is written with a terminating NUL byte, which makes the
comparison exact on every driver version; a name given twice is flushed
once. Names are canonical: e1.2, not e01.2.

Under the name aoe-flush it is aoetools' aoe-flush, with its messages (an
unknown device is reported on stdout) and exit status (1 on any error);
fixed: exact names, the in-use check, and -a followed by names is an error
instead of flushing everything.` + exitCodesHelp,
		Example: `  aoe flush
  aoe flush -a
  aoe flush e1.1 e7.0`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runFlush(cmd, o, args)
		},
	}
	o.addFlags(cmd)
	return cmd
}

// addFlags adds the flags aoe flush and aoe-flush share.
func (o *flushOptions) addFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.BoolVarP(&o.all, "all", "a", false, "flush every device that is not open")
	f.BoolVar(&o.force, "force", false, "flush named devices even when they are in use")
}

func runFlush(cmd *cobra.Command, o *flushOptions, args []string) error {
	if err := o.checkRootFlags(cmd); err != nil {
		return err
	}
	if err := o.checkFlushArgs(args); err != nil {
		return err
	}
	if err := o.checkNode(cmd, sysfs.NodeFlush); err != nil {
		return err
	}
	switch {
	case o.all:
		return o.write(cmd, []byte("all"))
	case len(args) == 0:
		return o.write(cmd, []byte("\n"))
	}
	if _, err := o.openFS(cmd); err != nil {
		return err
	}
	c := inuse.CheckFlush(o.host(cmd), args, o.force)
	if err := o.reportFlushCheck(c); err != nil {
		return err
	}
	failed, err := flushDevices(o.control(), c.Devices, func(name string, err error) {
		o.warnf("flush %s: %v", name, err)
	})
	switch {
	case err != nil:
		return o.nodeError(cmd, err)
	case failed:
		return errors.New("flush failed")
	}
	return nil
}

// flushDevices writes each device's name to the flush node, with a NUL
// that makes the driver's comparison exact ("e1.1\0" does not match
// "e1.10"). A write that fails is passed to failed and the others go on;
// it returns whether one failed, or, at once, a *aoectl.NodeError (the node
// itself is wrong).
func flushDevices(c aoectl.Control, devs []sysfs.Device, failed func(name string, err error)) (bool, error) {
	some := false
	for _, d := range devs {
		if err := c.Write(sysfs.NodeFlush, []byte(d.Name+"\x00")); err != nil {
			var ne *aoectl.NodeError
			if errors.As(err, &ne) {
				return some, err
			}
			some = true
			failed(d.Name, err)
		}
	}
	return some, nil
}

// checkFlushArgs rejects the combinations of flags and names that make no
// sense, and bad device names.
func (o *flushOptions) checkFlushArgs(args []string) error {
	if o.all && len(args) > 0 {
		return usageErrorf("-a flushes every unused device; it takes no device names")
	}
	if o.force && len(args) == 0 {
		return usageErrorf("--force is for named devices")
	}
	return checkDeviceArgs("", args)
}

// reportFlushCheck prints the busy devices of a named flush and returns
// the error that stops it, if any.
func (o *flushOptions) reportFlushCheck(c inuse.FlushCheck) error {
	if len(c.Unknown) > 0 {
		var problems []string
		for _, a := range c.Unknown {
			problems = append(problems, a+" is not an AoE device (see 'aoe stat')")
		}
		return errors.New(strings.Join(problems, "; ") + "; nothing flushed")
	}
	if len(c.Busy) == 0 {
		return nil
	}
	for _, e := range c.Busy {
		o.warnf("%v", e)
	}
	return errors.New("nothing flushed: release the devices first, or use --force (their pending I/O then fails)")
}

func (o *flushOptions) write(cmd *cobra.Command, data []byte) error {
	if err := o.control().Write(sysfs.NodeFlush, data); err != nil {
		var ne *aoectl.NodeError
		if errors.As(err, &ne) {
			return o.nodeError(cmd, err)
		}
		return fmt.Errorf("flush: %w", err)
	}
	return nil
}
