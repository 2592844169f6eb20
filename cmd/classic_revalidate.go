package cmd

import (
	"errors"
	"fmt"

	"github.com/goaoe/aoe/initiator/aoeaddr"
	"github.com/goaoe/aoe/internal/aoectl"
	"github.com/goaoe/aoe/sysfs"
	"github.com/spf13/cobra"
)

// newClassicRevalidateCmd is aoetools' aoe-revalidate.
func newClassicRevalidateCmd(g *globalOptions) *cobra.Command {
	return classicFrom(newRevalidateCmd(g), func(cmd *cobra.Command, args []string) error {
		return runClassicRevalidate(cmd, g, args)
	})
}

// runClassicRevalidate is aoetools' aoe-revalidate, whose exit status the first name
// decides: aoetools wrote all names in one write, of which the driver read
// only the first. A bad or unknown first name fails (nothing written); a
// bad or unknown later name is reported and skipped.
func runClassicRevalidate(cmd *cobra.Command, o *globalOptions, args []string) error {
	if err := o.checkRootFlags(cmd); err != nil {
		return err
	}
	if len(args) == 0 {
		fmt.Fprintf(o.stderr(), "Usage: %s e{major}.{minor}\n", o.prog)
		return silentExit(ExitFailure)
	}
	if err := o.checkClassicNode(sysfs.NodeRevalidate, false); err != nil {
		return err
	}
	fs, fserr := sysfs.NewFS(o.sysfsDir(cmd))
	var known []string
	for i, a := range args {
		_, perr := aoeaddr.Parse(a)
		switch {
		case perr != nil:
			fmt.Fprintf(o.stderr(), "%s: %v\n", o.prog, perr)
		case fserr != nil || !fs.Exists(a):
			fmt.Fprintf(o.stderr(), "%s: %s: no such AoE device\n", o.prog, a)
		default:
			known = append(known, a)
			continue
		}
		if i == 0 {
			defer fmt.Fprintf(o.stderr(), "%s: revalidate failed\n", o.prog)
		}
	}
	if len(known) == 0 || known[0] != args[0] {
		return silentExit(ExitFailure)
	}
	for _, a := range dedupe(known) {
		if err := o.control().Write(sysfs.NodeRevalidate, []byte(a+"\n")); err != nil {
			var ne *aoectl.NodeError
			if errors.As(err, &ne) {
				return o.classicNodeError(err, false)
			}
			fmt.Fprintf(o.stderr(), "%s: %s: %v\n%s: revalidate failed\n", o.prog, a, err, o.prog)
			return silentExit(ExitFailure)
		}
	}
	return nil
}
