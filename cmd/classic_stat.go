package cmd

import (
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/goaoe/aoe/internal/classic"
	"github.com/goaoe/aoe/sysfs"
	"github.com/spf13/cobra"
)

// newClassicStatCmd is aoetools' aoe-stat: aoe stat's page, no flags of
// its own, the output of `aoe stat --classic`.
func newClassicStatCmd(g *globalOptions) *cobra.Command {
	return classicFrom(newStatCmd(g), func(cmd *cobra.Command, args []string) error {
		regex := ""
		if len(args) == 1 {
			regex = args[0]
		}
		if err := g.checkRootFlags(cmd); err != nil {
			return err
		}
		return runClassicStat(cmd, g, regex, len(args) == 1)
	})
}

// runClassicStat is aoetools 36's aoe-stat, as run with LC_ALL=C.
func runClassicStat(cmd *cobra.Command, o *globalOptions, regex string, haveRegex bool) error {
	re := regexp.MustCompile(".")
	if haveRegex && regex != "" {
		var err error
		if re, err = classic.CompileBRE(regex); err != nil {
			fmt.Fprintf(o.stderr(), "%s: bad regular expression %q: %v\n", o.prog, regex, err)
			return silentExit(ExitUsage)
		}
	}
	fs, err := sysfs.NewFS(o.sysfsDir(cmd))
	if err != nil {
		fmt.Fprintf(o.stderr(), "%s Error: sysfs is not mounted\n", o.prog)
		return silentExit(ExitFailure)
	}
	devs, skipped, err := fs.Devices()
	if err != nil {
		return err
	}
	for _, err := range skipped {
		fmt.Fprintf(o.stderr(), "%s Warning: skipped %v\n", o.prog, err)
	}
	for _, m := range o.host(cmd).WrongMinors(devs) {
		fmt.Fprintf(o.stderr(), "%s Warning: device node %s has wrong minor device number\n", o.prog, m.Node)
	}
	var b strings.Builder
	printed := 0
	for _, l := range classic.StatLines(devs) {
		if re.MatchString(l) {
			b.WriteString(l)
			b.WriteByte('\n')
			printed++
		}
	}
	if _, err := io.WriteString(o.stdout(), b.String()); err != nil {
		return err
	}
	if printed == 0 {
		return silentExit(ExitFailure)
	}
	return nil
}
