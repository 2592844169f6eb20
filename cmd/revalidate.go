package cmd

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"

	"github.com/goaoe/aoe/internal/aoectl"
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

Names are canonical (e1.2, not e01.2); a name given twice is written once.

Under the name aoe-revalidate it is aoetools' aoe-revalidate, with its
messages and exit status: aoetools wrote all names in one write, of which
the driver read only the first, so the first name decides. A bad or unknown
first name fails (exit 1, nothing written); a bad or unknown later name is
reported on stderr and skipped, and the others are revalidated.` + exitCodesHelp,
		Example: `  aoe revalidate e1.2
  aoe revalidate e1.2 e1.3`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRevalidate(cmd, o, args)
		},
	}
	return cmd
}

func runRevalidate(cmd *cobra.Command, o *revalidateOptions, args []string) error {
	if err := o.checkRootFlags(cmd); err != nil {
		return err
	}
	if len(args) == 0 {
		return usageErrorf("name at least one device (eSHELF.SLOT)")
	}
	if err := checkDeviceArgs("", args); err != nil {
		return err
	}
	if err := o.checkNode(cmd, sysfs.NodeRevalidate); err != nil {
		return err
	}
	fs, err := o.openFS(cmd)
	if err != nil {
		return err
	}
	var unknown []string
	for _, a := range args {
		if !fs.Exists(a) {
			unknown = append(unknown, a)
		}
	}
	if len(unknown) > 0 {
		return fmt.Errorf("no such AoE device: %s (see 'aoe stat')", strings.Join(unknown, ", "))
	}
	for _, a := range dedupe(args) {
		if err := o.control().Write(sysfs.NodeRevalidate, []byte(a+"\n")); err != nil {
			var ne *aoectl.NodeError
			switch {
			case errors.As(err, &ne):
				return o.nodeError(cmd, err)
			case errors.Is(err, syscall.EINVAL):
				return fmt.Errorf("revalidate %s: the driver refused it (%w): it no longer knows the device", a, err)
			case errors.Is(err, os.ErrPermission):
				return fmt.Errorf("revalidate %s: %w; run as root", a, err)
			}
			return fmt.Errorf("revalidate %s: %w", a, err)
		}
	}
	return nil
}

// dedupe returns names without repetitions, in their first order.
func dedupe(names []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, n := range names {
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}
