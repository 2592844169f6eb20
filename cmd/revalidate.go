package cmd

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"

	"github.com/goaoe/aoe/sysfs"
	"github.com/spf13/cobra"
)

type revalidateOptions struct {
	*globalOptions
}

func newRevalidateCmd(g *globalOptions) *cobra.Command {
	o := &revalidateOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "revalidate DEV...",
		Short: "Make the aoe driver query a device again",
		Long: `Ask the aoe driver to query each named device (eSHELF.SLOT) again: it resets
the device's timing state, broadcasts a Query Config addressed to it and
re-reads its capacity with ATA IDENTIFY, even while the device is open. Use it
after a target's disk has grown, or to bring back a device that went down.

Each name is checked (shelf 0-65534, slot 0-254) and must be a device the
driver knows. Each device gets its own write of "eX.Y\n": aoetools joined all
arguments into one write, of which the kernel read only the first name.

Under the name aoe-revalidate it is aoetools' aoe-revalidate, with its
messages and exit status (1 on any error).` + exitCodesHelp,
		Example: `  aoe revalidate e1.2
  aoe revalidate e1.2 e1.3`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRevalidate(cmd, o, args)
		},
	}
	return cmd
}

func runRevalidate(cmd *cobra.Command, o *revalidateOptions, args []string) error {
	if len(args) == 0 {
		if o.classic {
			fmt.Fprintf(o.stderr(), "Usage: %s e{major}.{minor}\n", o.prog)
			return silentExit(ExitFailure)
		}
		return usageErrorf("name at least one device (eSHELF.SLOT)")
	}
	if !o.classic {
		for _, a := range args {
			if _, _, err := sysfs.ParseName(a); err != nil {
				return usageErrorf("%v", err)
			}
		}
	}
	if err := o.checkNode(cmd, sysfs.NodeRevalidate, false); err != nil {
		return err
	}
	fs, fserr := sysfs.NewFS(o.sysfsDir(cmd))
	failed := false
	var unknown []string
	for _, a := range args {
		_, _, perr := sysfs.ParseName(a)
		if perr == nil && fserr == nil && fs.Exists(a) {
			continue
		}
		failed = true
		unknown = append(unknown, a)
		if o.classic {
			if perr != nil {
				fmt.Fprintf(o.stderr(), "%s: %v\n", o.prog, perr)
			} else {
				fmt.Fprintf(o.stderr(), "%s: %s: no such AoE device\n", o.prog, a)
			}
		}
	}
	if failed {
		if o.classic {
			fmt.Fprintf(o.stderr(), "%s: revalidate failed\n", o.prog)
			return silentExit(ExitFailure)
		}
		return fmt.Errorf("no such AoE device: %s (see 'aoe stat')", strings.Join(unknown, ", "))
	}
	for _, a := range args {
		if err := o.control().Write(sysfs.NodeRevalidate, []byte(a+"\n")); err != nil {
			var ne *sysfs.NodeError
			if errors.As(err, &ne) {
				return o.nodeError(cmd, err, false)
			}
			if o.classic {
				fmt.Fprintf(o.stderr(), "%s: %s: %v\n%s: revalidate failed\n", o.prog, a, err, o.prog)
				return silentExit(ExitFailure)
			}
			if errors.Is(err, syscall.EINVAL) {
				return fmt.Errorf("revalidate %s: the driver refused it (%w): it no longer knows the device", a, err)
			}
			if errors.Is(err, os.ErrPermission) {
				return fmt.Errorf("revalidate %s: %w; run as root", a, err)
			}
			return fmt.Errorf("revalidate %s: %w", a, err)
		}
	}
	return nil
}
