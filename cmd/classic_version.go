package cmd

import (
	"fmt"

	"github.com/spf13/cobra"
)

// newClassicVersionCmd is aoetools' aoe-version: three lines of
// printf "%22s:\t%s\n", arguments ignored.
func newClassicVersionCmd(g *globalOptions) *cobra.Command {
	cmd := classicFrom(newVersionCmd(g), func(cmd *cobra.Command, args []string) error {
		if err := g.checkRootFlags(cmd); err != nil {
			return err
		}
		v := readVersions(cmd, g)
		installed, running := v.words()
		for _, l := range [][2]string{{"aoetools", "goaoe " + v.tool}, {"installed aoe driver", installed}, {"running aoe driver", running}} {
			fmt.Fprintf(g.stdout(), "%22s:\t%s\n", l[0], l[1])
		}
		return nil
	})
	cmd.Args = cobra.ArbitraryArgs // aoetools ignores arguments
	return cmd
}
