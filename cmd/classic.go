package cmd

import (
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/goaoe/aoe/internal/aoectl"
	"github.com/spf13/cobra"
)

// classics are the aoetools names the binary answers to, and the command
// each is. Each lives in its own file (classic_*.go), and takes its page
// from the `aoe` subcommand it stands for (classicFrom).
var classics = map[string]func(*globalOptions) *cobra.Command{
	"aoe-stat":       newClassicStatCmd,
	"aoe-discover":   newClassicDiscoverCmd,
	"aoe-interfaces": newClassicInterfacesCmd,
	"aoe-revalidate": newClassicRevalidateCmd,
	"aoe-flush":      newClassicFlushCmd,
	"aoe-version":    newClassicVersionCmd,
	"aoecfg":         newAoecfgCmd,
	"aoeping":        newAoepingCmd,
	"aoe-sancheck":   newClassicSancheckCmd,
	"aoe-mkdevs":     newMkdevsCmd,
	"aoe-mkshelf":    newMkshelfCmd,
}

// ClassicNames lists the aoetools names the binary answers to, sorted.
func ClassicNames() []string {
	return slices.Sorted(maps.Keys(classics))
}

// classicFrom makes a classic command with the page (use, texts, argument
// check) of the `aoe` subcommand it stands for, and run as its RunE; the
// subcommand's flags are not taken: the classic command adds its own.
func classicFrom(modern *cobra.Command, run func(*cobra.Command, []string) error) *cobra.Command {
	return &cobra.Command{
		Use:     modern.Use,
		Short:   modern.Short,
		Long:    modern.Long,
		Example: modern.Example,
		Args:    modern.Args,
		RunE:    run,
	}
}

// checkClassicNode verifies a control node before it is used, with
// aoetools' messages (see classicNodeError).
func (g *globalOptions) checkClassicNode(node string, period bool) error {
	if err := g.control().Check(node); err != nil {
		return g.classicNodeError(err, period)
	}
	return nil
}

// classicNodeError reports a failed check or write of a control node as
// aoetools does (period says whether the "not writeable" message ends with
// a period: aoe-revalidate's does not), and exits 1.
func (g *globalOptions) classicNodeError(err error, period bool) error {
	var ne *aoectl.NodeError
	if !errors.As(err, &ne) {
		fmt.Fprintf(g.stderr(), "%s: %v\n", g.prog, err)
		return silentExit(ExitFailure)
	}
	switch {
	case errors.Is(ne.Err, aoectl.ErrNodeNotWritable):
		dot := "."
		if !period {
			dot = ""
		}
		fmt.Fprintf(g.stderr(), "%s: %s does not exist or is not writeable%s\n", g.prog, ne.Path, dot)
	case errors.Is(ne.Err, aoectl.ErrNotCharDevice):
		fmt.Fprintf(g.stderr(), "%s: %s is not a character device file\n%s: use udev or aoe-mkdevs to create it\n", g.prog, ne.Path, g.prog)
	default:
		fmt.Fprintf(g.stderr(), "%s: %v\n", g.prog, ne)
	}
	return silentExit(ExitFailure)
}
