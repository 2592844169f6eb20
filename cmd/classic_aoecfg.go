package cmd

import (
	"fmt"
	"time"

	"github.com/goaoe/aoe/initiator"
	"github.com/goaoe/aoe/initiator/aoeaddr"
	"github.com/goaoe/aoe/initiator/wire"
	"github.com/goaoe/aoe/internal/classic"
	"github.com/spf13/cobra"
)

// newAoecfgCmd is aoetools' aoecfg: aoe cfg's page, aoecfg's flags
// (getopt's messages), arguments, output and exit status.
func newAoecfgCmd(g *globalOptions) *cobra.Command {
	o := &cfgOptions{globalOptions: g}
	cmd := classicFrom(newCfgCmd(g), func(cmd *cobra.Command, args []string) error {
		return runAoecfg(cmd, o, args)
	})
	o.addFlags(cmd)
	f := cmd.Flags()
	f.IntVarP(&o.timeoutSecs, "timeout", "t", 0, "seconds to listen (default: until interrupted)")
	f.BoolVarP(&o.verbose, "verbose", "v", false, "accepted for compatibility; does nothing")
	cmd.SetFlagErrorFunc(getoptError(g.argv0, classic.AoecfgUsage))
	cmd.Annotations = map[string]string{ownFlagErrors: "1"}
	return cmd
}

// aoecfgQuery checks aoecfg's arguments ([shelf slot] [netif]) and returns
// its query, the interface, and whether shelf and slot were given. It
// prints aoecfg's messages itself.
func (o *cfgOptions) aoecfgQuery(args []string) (configQuery, string, bool, error) {
	q := broadcastQuery(o.str)
	usage := func() error {
		fmt.Fprint(o.stderr(), classic.AoecfgUsage)
		return silentExit(ExitFailure)
	}
	ccmd, ok := configCommands[o.command]
	if !ok || len(args) > 3 {
		return q, "", false, usage()
	}
	q.arg.Command = ccmd
	netif, both := "eth0", false
	if len(args) >= 2 {
		sh, err1 := aoeaddr.ParseNumber(args[0], aoeaddr.BroadcastShelf)
		sl, err2 := aoeaddr.ParseNumber(args[1], aoeaddr.BroadcastSlot)
		if err1 != nil || err2 != nil {
			fmt.Fprintf(o.stderr(), "aoecfg Error: shelf and slot must be decimal numbers, shelf 0-65535 and slot 0-255 (65535 and 255: every one): %q %q\n", args[0], args[1])
			return q, "", false, usage()
		}
		q.to.Shelf, q.to.Slot, both = uint16(sh), uint8(sl), true
		args = args[2:]
	}
	if len(args) == 1 {
		netif = args[0]
	}
	if netif == "" || (netif[0] >= '0' && netif[0] <= '9') {
		fmt.Fprintf(o.stderr(), "aoecfg Error: \"%s\" is not a valid network interface\n", netif)
		return q, "", false, usage()
	}
	if len(o.str) > wire.MaxConfigString {
		fmt.Fprintf(o.stderr(), "aoecfg Error: config string longer than 1024 bytes\n")
		return q, "", false, usage()
	}
	return q, netif, both, nil
}

// runAoecfg is aoetools' aoecfg: one query, every answer printed as it
// comes, until the -t deadline (or the first answer when shelf and slot are
// given, or an interrupt).
func runAoecfg(cmd *cobra.Command, o *cfgOptions, args []string) error {
	q, netif, both, err := o.aoecfgQuery(args)
	if err != nil {
		return err
	}
	c, err := o.openClient(netif)
	if err != nil {
		fmt.Fprintf(o.stderr(), "aoecfg: %v\n", err)
		return silentExit(ExitFailure)
	}
	defer c.Close()
	timeout := time.Duration(o.timeoutSecs) * time.Second
	if o.timeoutSecs <= 0 {
		timeout = 100 * 365 * 24 * time.Hour // aoecfg: until interrupted
	}
	opts := initiator.CollectOptions{Timeout: timeout, Quiet: timeout, Resend: []time.Duration{}}
	_, err = initiator.NewGroup(c).QueryConfig(cmd.Context(), q.to, &q.arg, opts, func(r initiator.ConfigReply) bool {
		classic.AoecfgAnswer(o.stdout(), r, both)
		return both
	})
	if err != nil {
		fmt.Fprintf(o.stderr(), "aoecfg: %v\n", err)
		return silentExit(ExitFailure)
	}
	return nil
}
