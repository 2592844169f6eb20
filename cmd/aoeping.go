package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/goaoe/aoe/initiator"
	"github.com/spf13/cobra"
)

type aoepingOptions struct {
	*globalOptions
	verbose, dump, fields, help bool
	timeout                     int
	smart                       string
	tag                         uint32
}

const aoepingUsageFmt = `usage:	%s [options] {shelf} {slot} {netif}
options:
	-i	do ATA device identify dump as raw hex
	-I	do ATA device identify print fields
	-v	be verbose
	-h	show this usage summary
options taking arguments:
	-s	timeout in seconds
	-S	perform SMART command
	-t	specify number for starting AoE tag
`

// smartCommands are aoeping's SMART sub-commands: feature register, and
// whether data comes back (in) or goes out (out).
var smartCommands = map[string]struct {
	feature uint8
	in, out bool
}{
	"read_data": {0xd0, true, false}, "offline_immediate": {0xd4, false, false},
	"read_log": {0xd5, true, false}, "write_log": {0xd6, false, true},
	"enable": {0xd8, false, false}, "disable": {0xd9, false, false}, "return_status": {0xda, false, false},
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
the AoE header; shelf and slot must be decimal numbers.`,
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
		f := getoptError(g.argv0, "")
		_ = f(c, err)
		if m := unknownShorthand.FindStringSubmatch(err.Error()); m != nil {
			fmt.Fprintf(o.stderr(), "aoeping Error: unrecognized option: %s\n", m[1])
		}
		fmt.Fprintf(o.stderr(), aoepingUsageFmt, baseName(g.argv0))
		return silentExit(ExitFailure)
	})
	cmd.Annotations = map[string]string{ownFlagErrors: "1"}
	cmd.SetHelpFunc(func(*cobra.Command, []string) { // -h: usage on stderr, exit 0
		fmt.Fprintf(o.stderr(), aoepingUsageFmt, baseName(g.argv0))
	})
	return cmd
}

func baseName(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[i+1:]
	}
	return p
}

// hexLines writes bytes as aoeping does: "%02x " each, a newline after
// every 16, and one more at the end.
func hexLines(w io.Writer, b []byte) {
	var s strings.Builder
	for i, c := range b {
		fmt.Fprintf(&s, "%02x ", c)
		if i%16 == 15 {
			s.WriteByte('\n')
		}
	}
	s.WriteByte('\n')
	io.WriteString(w, s.String())
}

// rawField is an IDENTIFY string as aoeping prints it: byte-swapped words,
// up to the first NUL or unprintable byte, trailing blanks kept.
func rawField(data []byte, from, to int) string {
	var b []byte
	for i := from; i < to; i++ {
		b = append(b, data[2*i+1], data[2*i])
	}
	for i, c := range b {
		if c == 0 || c < 0x20 || c > 0x7e {
			return string(b[:i])
		}
	}
	return string(b)
}

func runAoeping(cmd *cobra.Command, o *aoepingOptions, args []string) error {
	usage := func(code int) error {
		fmt.Fprintf(o.stderr(), aoepingUsageFmt, baseName(o.argv0))
		return silentExit(code)
	}
	if o.help {
		return usage(ExitOK)
	}
	if len(args) != 3 {
		return usage(ExitFailure)
	}
	if cmd.Flags().Changed("timeout") && o.timeout < 1 {
		fmt.Fprintf(o.stderr(), "aoeping Error: timeout seconds must be one or more\n")
		return silentExit(ExitFailure)
	}
	shelf, err1 := parseClassicNumber(args[0], initiator.BroadcastShelf)
	slot, err2 := parseClassicNumber(args[1], initiator.BroadcastSlot)
	if err1 != nil || err2 != nil {
		fmt.Fprintf(o.stderr(), "aoeping Error: shelf and slot must be decimal numbers: %q %q\n", args[0], args[1])
		return usage(ExitFailure)
	}
	netif := args[2]
	tag := initiator.TagUserspace | o.tag
	if o.verbose {
		fmt.Fprintf(o.stdout(), "tag: %x\neth: %s\nshelf: %d\nslot: %d\n", tag, netif, shelf, slot)
	}
	c, err := initiator.Listen(netif)
	if err != nil {
		fmt.Fprintf(o.stderr(), "aoeping: %v\n", err)
		return silentExit(ExitFailure)
	}
	defer c.Close()
	ctx := cmd.Context()
	if o.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(o.timeout)*time.Second)
		defer cancel()
	}
	name := initiator.DeviceName(uint16(shelf), uint8(slot))
	timedOut := func() error {
		fmt.Fprintf(o.stderr(), "aoeping: timeout: no answer from %s on %s after %d s\n", name, netif, o.timeout)
		return silentExit(ExitFailure)
	}

	// 1. Query Config, first reply.
	replies, _, stop, err := c.Broadcast(&initiator.Frame{Shelf: uint16(shelf), Slot: uint8(slot), Tag: tag,
		Command: initiator.CommandQueryConfig, Arg: &initiator.ConfigArg{}})
	if err != nil {
		fmt.Fprintf(o.stderr(), "aoeping: %v\n", err)
		return silentExit(ExitFailure)
	}
	var cfg *initiator.Frame
	select {
	case cfg = <-replies:
	case <-ctx.Done():
		stop()
		return timedOut()
	}
	stop()
	if o.verbose {
		// The reply as the Ethernet minimum pads it (aoeping saw 60 bytes).
		raw, _ := cfg.MarshalBinary()
		fmt.Fprint(o.stdout(), "config query response:\n")
		hexLines(o.stdout(), raw)
		fmt.Fprintf(o.stdout(), "found %s with mac %s\n", name, strings.ReplaceAll(cfg.Source.String(), ":", ""))
	}
	if cfg.Error {
		fmt.Fprintf(o.stderr(), "aoeping: %s answered with an error: %v\n", name, cfg.Err)
		return silentExit(ExitFailure)
	}
	if !o.dump && !o.fields && o.smart == "" {
		return nil
	}

	// 2. IDENTIFY.
	tag++
	id, err := c.Request(ctx, &initiator.Frame{Destination: cfg.Source, Shelf: uint16(shelf), Slot: uint8(slot), Tag: tag,
		Command: initiator.CommandATA, Arg: initiator.NewIdentify()})
	if err != nil {
		if ctx.Err() != nil {
			return timedOut()
		}
		fmt.Fprintf(o.stderr(), "aoeping: IDENTIFY: %v\n", err)
		return silentExit(ExitFailure)
	}
	arg := id.Arg.(*initiator.ATAArg)
	if arg.Failed() || len(arg.Data) < 512 {
		fmt.Fprintf(o.stderr(), "aoeping: IDENTIFY failed: ATA status %#02x, error %#02x\n", arg.CmdStatus, arg.FeatureErr)
		return silentExit(ExitFailure)
	}
	data := arg.Data[:512]
	if o.dump {
		fmt.Fprint(o.stdout(), "device identify response:\n")
		var s strings.Builder
		for i, b := range data {
			fmt.Fprintf(&s, "%02x ", b)
			if i%16 == 15 {
				s.WriteByte('\n')
			}
		}
		io.WriteString(o.stdout(), s.String())
	}
	if o.fields {
		fmt.Fprint(o.stdout(), "device identify fields:\n")
		for i := 0; i < 3; i++ {
			w := uint16(data[14+2*i])<<8 | uint16(data[15+2*i])
			fmt.Fprintf(o.stdout(), "vendor_specific_%d: 0x%X\n", i, w)
		}
		fmt.Fprintf(o.stdout(), "serial_number: %s\nfirmware_rev: %s\nmodel: %s\n", rawField(data, 10, 20), rawField(data, 23, 27), rawField(data, 27, 47))
	}
	if o.smart == "" {
		return nil
	}

	// 3. SMART.
	if data[164]&1 == 0 { // word 82 bit 0
		fmt.Fprintf(o.stderr(), "Error: %s does not support SMART\n", name)
		return silentExit(ExitFailure)
	}
	sub, param, _ := strings.Cut(o.smart, ":")
	sc, ok := smartCommands[sub]
	if !ok {
		fmt.Fprintf(o.stderr(), "aoeping Error: no such SMART command: %s\n", sub)
		return silentExit(ExitFailure)
	}
	low := uint64(0)
	if param != "" {
		v, err := strconv.ParseUint(param, 0, 8)
		if err != nil {
			fmt.Fprintf(o.stderr(), "aoeping Error: bad SMART argument: %s\n", param)
			return silentExit(ExitFailure)
		}
		low = v
	}
	sarg := &initiator.ATAArg{FeatureErr: sc.feature, CmdStatus: initiator.ATASmart}
	sarg.LBA = [6]byte{byte(low), 0x4f, 0xc2, 0xa0, 0, 0}
	if sc.in || sc.out {
		sarg.SectorCount = 1
	}
	if sc.out {
		buf := make([]byte, 512)
		in := o.env.Stdin
		if in == nil {
			in = strings.NewReader("")
		}
		if _, err := io.ReadFull(in, buf); err != nil {
			fmt.Fprintf(o.stderr(), "aoeping Error: write_log needs 512 bytes on standard input: %v\n", err)
			return silentExit(ExitFailure)
		}
		sarg.Write, sarg.Data = true, buf
	}
	tag++
	rep, err := c.Request(ctx, &initiator.Frame{Destination: cfg.Source, Shelf: uint16(shelf), Slot: uint8(slot), Tag: tag,
		Command: initiator.CommandATA, Arg: sarg})
	var ec initiator.ErrorCode
	if err != nil && !errors.As(err, &ec) {
		if ctx.Err() != nil {
			return timedOut()
		}
		fmt.Fprintf(o.stderr(), "aoeping: SMART: %v\n", err)
		return silentExit(ExitFailure)
	}
	if err != nil {
		fmt.Fprintf(o.stderr(), "aoeping: SMART: %s answered with an error: %v\n", name, ec)
		return silentExit(ExitFailure)
	}
	r := rep.Arg.(*initiator.ATAArg)
	if r.FeatureErr&initiator.ATAErrAbort != 0 {
		fmt.Fprint(o.stdout(), "SMART command aborted on target.\n")
		return silentExit(ExitFailure)
	}
	fmt.Fprint(o.stdout(), "ATA registers:\n")
	for _, reg := range []struct {
		name string
		v    uint8
	}{{"Features", r.FeatureErr}, {"Sector Count", r.SectorCount}, {"LBA Low", r.LBA[0]}, {"LBA Mid", r.LBA[1]}, {"LBA High", r.LBA[2]}, {"Status", r.CmdStatus}} {
		fmt.Fprintf(o.stdout(), "%20s: 0x%02x\n", reg.name, reg.v)
	}
	if sc.in {
		fmt.Fprint(o.stdout(), "SMART data:\n")
		d := r.Data
		if len(d) > 512 {
			d = d[:512]
		}
		hexLines(o.stdout(), d)
	}
	return nil
}
