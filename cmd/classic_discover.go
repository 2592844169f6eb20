package cmd

import (
	"github.com/goaoe/aoe/sysfs"
	"github.com/spf13/cobra"
)

// newClassicDiscoverCmd is aoetools' aoe-discover: it asks the driver to
// discover, ignoring its arguments, flags included; aoetools' messages,
// exit status 1 on any error.
func newClassicDiscoverCmd(g *globalOptions) *cobra.Command {
	cmd := classicFrom(newDiscoverCmd(g), func(cmd *cobra.Command, args []string) error {
		if err := g.checkRootFlags(cmd); err != nil {
			return err
		}
		if err := g.checkClassicNode(sysfs.NodeDiscover, true); err != nil {
			return err
		}
		if err := g.control().Write(sysfs.NodeDiscover, []byte("\n")); err != nil {
			return g.classicNodeError(err, true)
		}
		return nil
	})
	cmd.FParseErrWhitelist.UnknownFlags = true
	return cmd
}
