package cmd

import (
	"errors"
	"fmt"
	"time"

	"github.com/goaoe/aoe/discover"
	"github.com/goaoe/aoe/initiator"
	"github.com/goaoe/aoe/internal/classic"
	"github.com/spf13/cobra"
)

// newClassicSancheckCmd is aoetools' aoe-sancheck: its report layout, exit
// 0; it honours exactly one argument, -v, and ignores the rest.
func newClassicSancheckCmd(g *globalOptions) *cobra.Command {
	o := &sancheckOptions{globalOptions: g}
	cmd := classicFrom(newSancheckCmd(g), func(cmd *cobra.Command, args []string) error {
		o.verbose = len(args) == 1 && args[0] == "-v"
		return runClassicSancheck(cmd, o)
	})
	cmd.Args = cobra.ArbitraryArgs
	cmd.DisableFlagParsing = true
	return cmd
}

func runClassicSancheck(cmd *cobra.Command, o *sancheckOptions) error {
	fmt.Fprint(o.stdout(), classic.SancheckProbing)
	o.timeout = 5 * time.Second // aoe-sancheck listens 5 s
	opts := discover.CheckOptions{Timeout: o.timeout, Quiet: o.timeout}
	opts.OnSendFail = func() { fmt.Fprint(o.stdout(), classic.SancheckWriteFailed) }
	rep, _, err := o.check(cmd, opts, func(err error) error {
		fmt.Fprintln(o.stdout())
		fmt.Fprintf(o.stderr(), "aoe-sancheck: %v\n", err)
		return silentExit(ExitFailure)
	})
	incomplete := errors.As(err, new(*initiator.IncompleteError))
	if err != nil && !incomplete {
		return err
	}
	classic.Sancheck(o.stdout(), rep, o.verbose)
	if incomplete {
		fmt.Fprintf(o.stderr(), "aoe-sancheck: %v\n", err)
		return silentExit(ExitFailure)
	}
	return nil
}
