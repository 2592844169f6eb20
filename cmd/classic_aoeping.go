package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/goaoe/aoe/initiator"
	"github.com/goaoe/aoe/initiator/aoeaddr"
	"github.com/goaoe/aoe/initiator/wire"
	"github.com/goaoe/aoe/internal/classic"
	"github.com/spf13/cobra"
)

type aoepingOptions struct {
	*globalOptions
	verbose, dump, fields, help bool
	timeout                     int
	smart                       string
	tag                         uint32
}

// newAoepingCmd is aoetools' aoeping.
func newAoepingCmd(g *globalOptions) *cobra.Command {
	o := &aoepingOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "aoeping [-hviI] [-s SECS] [-S CMD[:ARG]] [-t TAG] SHELF SLOT NETIF",
		Short: "Query an AoE target like aoetools' aoeping",
		Long: `aoetools' aoeping: a Query Config to SHELF.SLOT on NETIF, then with -i the
512 bytes of ATA IDENTIFY in hex, with -I its serial, firmware and model
fields, with -S a SMART command (read_data, offline_immediate, read_log,
write_log, enable, disable, return_status; an argument after a colon sets
the LBA low register); -v shows the tag, the reply frame and the target MAC.
Output, messages and exit status are aoeping's.

Fixed: replies shorter than 60 bytes are accepted (aoeping hung on virtual
links); the E flag and the ATA status are checked; -s expiry prints
"aoeping: timeout: no answer from eX.Y on NETIF after N s" and exits 1
instead of dying by SIGALRM (status 142); write_log sends a real write (W
in the ATA flags, 512 bytes from standard input) where aoeping set a bit of
the AoE header; shelf and slot must be decimal numbers (shelf 0-65535,
slot 0-255); interrupted (Ctrl-C) before an answer it says
"aoeping: interrupted: no answer from eX.Y on NETIF" and exits 130.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runAoeping(cmd, o, args)
		},
	}
	cmd.Flags().BoolVarP(&o.verbose, "verbose", "v", false, "be verbose")
	cmd.Flags().BoolVarP(&o.dump, "identify-dump", "i", false, "do ATA device identify dump as raw hex")
	cmd.Flags().BoolVarP(&o.fields, "identify", "I", false, "do ATA device identify print fields")
	cmd.Flags().IntVarP(&o.timeout, "timeout", "s", 0, "timeout in seconds")
	cmd.Flags().StringVarP(&o.smart, "smart", "S", "", "perform SMART command")
	cmd.Flags().Uint32VarP(&o.tag, "tag", "t", 0, "specify number for starting AoE tag")
	cmd.Flags().BoolVarP(&o.help, "help", "h", false, "show this usage summary")
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		msg, unknown := getoptMessage(err)
		fmt.Fprintf(o.stderr(), "%s: %s\n", g.argv0, msg)
		if unknown != "" {
			fmt.Fprintf(o.stderr(), "aoeping Error: unrecognized option: %s\n", unknown)
		}
		fmt.Fprint(o.stderr(), classic.AoepingUsage(baseName(g.argv0)))
		return silentExit(ExitFailure)
	})
	cmd.Annotations = map[string]string{ownFlagErrors: "1"}
	cmd.SetHelpFunc(func(*cobra.Command, []string) { // -h: usage on stderr, exit 0
		fmt.Fprint(o.stderr(), classic.AoepingUsage(baseName(g.argv0)))
	})
	return cmd
}

func baseName(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[i+1:]
	}
	return p
}

// aoepingRun is one aoeping invocation once its arguments are checked.
type aoepingRun struct {
	*aoepingOptions
	c      *initiator.Client
	target initiator.Target
	netif  string
}

func (o *aoepingOptions) fail(format string, args ...any) error {
	fmt.Fprintf(o.stderr(), format, args...)
	return silentExit(ExitFailure)
}

func (o *aoepingOptions) usage(code int) error {
	fmt.Fprint(o.stderr(), classic.AoepingUsage(baseName(o.argv0)))
	return silentExit(code)
}

func runAoeping(cmd *cobra.Command, o *aoepingOptions, args []string) error {
	if o.help {
		return o.usage(ExitOK)
	}
	if len(args) != 3 {
		return o.usage(ExitFailure)
	}
	if cmd.Flags().Changed("timeout") && o.timeout < 1 {
		return o.fail("aoeping Error: timeout seconds must be one or more\n")
	}
	shelf, err1 := aoeaddr.ParseNumber(args[0], aoeaddr.BroadcastShelf)
	slot, err2 := aoeaddr.ParseNumber(args[1], aoeaddr.BroadcastSlot)
	if err1 != nil || err2 != nil {
		fmt.Fprintf(o.stderr(), "aoeping Error: shelf and slot must be decimal numbers, shelf 0-65535 and slot 0-255 (65535 and 255: every one): %q %q\n", args[0], args[1])
		return o.usage(ExitFailure)
	}
	// Bit 31 set: the requests carry this tag, not a fresh one
	// (initiator.Target.Tag).
	r := &aoepingRun{aoepingOptions: o, netif: args[2],
		target: initiator.Target{Shelf: uint16(shelf), Slot: uint8(slot), Tag: 1<<31 | o.tag}}
	if o.verbose {
		classic.AoepingHeader(o.stdout(), r.target.Tag, r.netif, r.target.Address())
	}
	c, err := o.openClient(r.netif)
	if err != nil {
		return o.fail("aoeping: %v\n", err)
	}
	defer c.Close()
	r.c = c
	ctx := cmd.Context()
	if o.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(o.timeout)*time.Second)
		defer cancel()
	}
	return r.run(ctx)
}

// run is aoeping's exchange: Query Config, then IDENTIFY (-i, -I, -S),
// then SMART (-S); each request with the next tag.
func (r *aoepingRun) run(ctx context.Context) error {
	cfg, err := r.query(ctx)
	if err != nil || (!r.dump && !r.fields && r.smart == "") {
		return err
	}
	r.target.MAC = cfg.Target.MAC
	r.target.Tag++
	_, data, err := r.c.Identify(ctx, r.target, 0)
	var ae *wire.ATAError
	switch {
	case err != nil && ctx.Err() != nil:
		return r.timedOut(ctx)
	case errors.As(err, &ae):
		return r.fail("aoeping: IDENTIFY failed: ATA status %#02x, error %#02x\n", ae.Status, ae.Err)
	case err != nil:
		return r.fail("aoeping: IDENTIFY: %v\n", err)
	}
	if r.dump {
		classic.IdentifyDump(r.stdout(), data)
	}
	if r.fields {
		classic.IdentifyFields(r.stdout(), data)
	}
	if r.smart == "" {
		return nil
	}
	if id, _ := wire.ParseIdentify(data); !id.SMART {
		return r.fail("Error: %s does not support SMART\n", r.target.Address().String())
	}
	return r.runSMART(ctx)
}

// timedOut reports the end of the wait: -t ran out, or the user
// interrupted aoeping (exit 130, as a shell reports SIGINT).
func (r *aoepingRun) timedOut(ctx context.Context) error {
	if errors.Is(ctx.Err(), context.Canceled) {
		fmt.Fprintf(r.stderr(), "aoeping: interrupted: no answer from %s on %s\n", r.target.Address().String(), r.netif)
		return silentExit(ExitCanceled)
	}
	return r.fail("aoeping: timeout: no answer from %s on %s after %d s\n", r.target.Address().String(), r.netif, r.timeout)
}

// query sends aoeping's Query Config and waits for the first answer.
func (r *aoepingRun) query(ctx context.Context) (*initiator.ConfigReply, error) {
	t := r.target
	forever := initiator.CollectOptions{Timeout: 100 * 365 * 24 * time.Hour, Quiet: 100 * 365 * 24 * time.Hour, Resend: []time.Duration{}}
	got, err := initiator.NewGroup(r.c).QueryConfig(ctx, t, &wire.ConfigArg{}, forever,
		func(initiator.ConfigReply) bool { return true })
	if err != nil && !(len(got) > 0 && errors.As(err, new(*initiator.IncompleteError))) { // aoeping wants one answer
		return nil, r.fail("aoeping: %v\n", err)
	}
	if len(got) == 0 {
		return nil, r.timedOut(ctx)
	}
	cfg := &got[0]
	if r.verbose {
		classic.AoepingConfig(r.stdout(), *cfg)
	}
	if cfg.Err != nil {
		return nil, r.fail("aoeping: %s answered with an error: %v\n", t.Address().String(), cfg.Err)
	}
	return cfg, nil
}

// runSMART sends the -S command.
func (r *aoepingRun) runSMART(ctx context.Context) error {
	sc, err := classic.ParseSMART(r.smart)
	if err != nil {
		return r.fail("%s", classic.SMARTMessage(r.smart, err))
	}
	var data []byte
	if sc.Out {
		data = make([]byte, 512)
		in := r.env.Stdin
		if in == nil {
			in = strings.NewReader("")
		}
		if _, err := io.ReadFull(in, data); err != nil {
			return r.fail("aoeping Error: write_log needs 512 bytes on standard input: %v\n", err)
		}
	}
	r.target.Tag++
	rep, err := r.c.ATA(ctx, r.target, sc.Arg(data))
	var ec wire.ErrorCode
	var ae *wire.ATAError
	switch {
	case errors.As(err, &ec):
		return r.fail("aoeping: SMART: %s answered with an error: %v\n", r.target.Address().String(), ec)
	case errors.As(err, &ae): // the registers say what happened
	case err != nil && ctx.Err() != nil:
		return r.timedOut(ctx)
	case err != nil:
		return r.fail("aoeping: SMART: %v\n", err)
	}
	if !classic.SMARTResult(r.stdout(), sc, rep) {
		return silentExit(ExitFailure)
	}
	return nil
}
