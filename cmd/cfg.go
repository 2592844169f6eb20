package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/goaoe/aoe/discover"
	"github.com/goaoe/aoe/initiator"
	"github.com/goaoe/aoe/sysfs"
	"github.com/olekukonko/tablewriter/tw"
	"github.com/spf13/cobra"
)

type cfgOptions struct {
	*globalOptions
	all     bool
	command string
	str     string
	ifaces  []string
	timeout time.Duration
	json    bool
	// aoecfg's -t (seconds) and -v (accepted, does nothing).
	timeoutSecs int
	verbose     bool
}

// configCommands maps -c names to Query Config sub-commands.
var configCommands = map[string]initiator.ConfigCommand{
	"read": initiator.ConfigRead, "test": initiator.ConfigTest, "prefix": initiator.ConfigTestPrefix,
	"set": initiator.ConfigSet, "fset": initiator.ConfigForceSet,
}

func newCfgCmd(g *globalOptions) *cobra.Command {
	o := &cfgOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "cfg DEV|--all [-c read|test|prefix|set|fset] [-s STRING]",
		Short: "Read and set AoE targets' config strings",
		Long: `Read or set the config string of an AoE target (eSHELF.SLOT) or, with
--all, read every target's, with Query Config on the wire (root or
CAP_NET_RAW). -c picks the sub-command:

    read     print the config string (the default)
    test     answer only if the string equals -s
    prefix   answer only if -s is a prefix of the string
    set      set the string to -s if the target has none
    fset     set the string to -s unconditionally

A set on a target whose string is already something else is refused by the
target; the refusal and the current string are reported (exit 1). A test or
prefix that does not match gets no answer, which is reported as a mismatch
(exit 1). Interfaces: -i, else the driver's aoe_iflist, else every up
Ethernet interface. Every path of a multipath target answers.

Under the name aoecfg it is aoetools' aoecfg:

    aoecfg [-c cmd] [-s cfgstr] [-t timeout] [shelf slot] [netif]

with its output (the string alone when shelf and slot are given, and exit
after the first answer; else "shelf.slot<TAB>string" per answer until the
-t deadline, or until interrupted without -t; *badcfg* and the like for
refusals), its default interface eth0 and exit status 0. Fixed: shelf and
slot are decimal (aoecfg read 010 as 8), frames carry only the string
(aoecfg sent 1056 bytes, the rest stack garbage), replies shorter than 60
bytes are accepted (aoecfg hung on virtual links), and each answer is
printed at once (aoecfg's buffered output was lost when it was killed).` + exitCodesHelp,
		Example: `  aoe cfg --all
  aoe cfg e1.2
  aoe cfg e1.2 -c set -s rack-3
  aoe cfg e1.2 -c test -s rack-3 && echo matches`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runCfg(cmd, o, args)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.command, "command", "c", "read", "read, test, prefix, set or fset")
	f.StringVarP(&o.str, "string", "s", "", "the config string for test, prefix, set and fset")
	if g.classic {
		f.IntVarP(&o.timeoutSecs, "timeout", "t", 0, "seconds to listen (default: until interrupted)")
		f.BoolVarP(&o.verbose, "verbose", "v", false, "accepted for compatibility; does nothing")
		cmd.SetFlagErrorFunc(getoptError(g.argv0, aoecfgUsage))
		cmd.Annotations = map[string]string{ownFlagErrors: "1"}
		return cmd
	}
	f.BoolVar(&o.all, "all", false, "every target (broadcast)")
	f.StringSliceVarP(&o.ifaces, "interface", "i", nil, "interfaces to use (comma separated or repeated)")
	f.DurationVar(&o.timeout, "timeout", 2*time.Second, "how long to wait for answers")
	f.BoolVar(&o.json, "json", false, "print JSON")
	return cmd
}

var (
	unknownShorthand = regexp.MustCompile(`^unknown shorthand flag: '(.)'`)
	needsArgument    = regexp.MustCompile(`^flag needs an argument: '(.)'`)
)

// getoptError makes a classic C tool's flag errors read as getopt's, then
// prints its usage, with exit status 1.
func getoptError(prog, usage string) func(*cobra.Command, error) error {
	return func(cmd *cobra.Command, err error) error {
		msg := err.Error()
		if m := unknownShorthand.FindStringSubmatch(msg); m != nil {
			msg = "invalid option -- '" + m[1] + "'"
		} else if m := needsArgument.FindStringSubmatch(msg); m != nil {
			msg = "option requires an argument -- '" + m[1] + "'"
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "%s: %s\n%s", prog, msg, usage)
		return silentExit(ExitFailure)
	}
}

// cfgAnswer is one target path's answer.
type cfgAnswer struct {
	Device    string `json:"device"`
	MAC       string `json:"mac"`
	Interface string `json:"interface"`
	Config    string `json:"config"`
	// Error is the AoE error of a refusal, such as "config string present".
	Error string `json:"error,omitempty"`
	code  initiator.ErrorCode
	shelf uint16
	slot  uint8
}

// queryConfig sends a Query Config and collects the answers, sorted.
func queryConfig(ctx context.Context, clients []*initiator.Client, shelf uint16, slot uint8, ccmd initiator.ConfigCommand, s []byte, opts discover.Options, onAnswer func(cfgAnswer)) ([]cfgAnswer, error) {
	req := &initiator.Frame{Shelf: shelf, Slot: slot, Command: initiator.CommandQueryConfig,
		Arg: &initiator.ConfigArg{Command: ccmd, String: s}}
	var answers []cfgAnswer
	_, err := discover.Collect(ctx, clients, req, opts, func(r discover.Response) {
		a, ok := toCfgAnswer(r)
		if !ok {
			return
		}
		answers = append(answers, a)
		if onAnswer != nil {
			onAnswer(a)
		}
	})
	sort.SliceStable(answers, func(i, j int) bool {
		a, b := answers[i], answers[j]
		if a.shelf != b.shelf {
			return a.shelf < b.shelf
		}
		if a.slot != b.slot {
			return a.slot < b.slot
		}
		if a.Interface != b.Interface {
			return a.Interface < b.Interface
		}
		return a.MAC < b.MAC
	})
	return answers, err
}

func toCfgAnswer(r discover.Response) (cfgAnswer, bool) {
	f := r.Frame
	arg, ok := f.Arg.(*initiator.ConfigArg)
	if f.Shelf == initiator.BroadcastShelf || f.Slot == initiator.BroadcastSlot {
		return cfgAnswer{}, false
	}
	a := cfgAnswer{Device: f.Name(), MAC: f.Source.String(), Interface: r.Client.Interface().Name, shelf: f.Shelf, slot: f.Slot}
	if ok {
		a.Config = string(arg.String)
	}
	if f.Error {
		a.code = f.Err
		a.Error = strings.TrimPrefix(f.Err.Error(), "aoe: ")
	}
	return a, ok || f.Error
}

func runCfg(cmd *cobra.Command, o *cfgOptions, args []string) error {
	if o.classic {
		return runAoecfg(cmd, o, args)
	}
	ccmd, ok := configCommands[o.command]
	if !ok {
		return usageErrorf("-c %s: want read, test, prefix, set or fset", o.command)
	}
	if len(o.str) > initiator.MaxConfigString {
		return usageErrorf("-s: %d bytes; a config string has at most 1024", len(o.str))
	}
	shelf, slot := uint16(initiator.BroadcastShelf), uint8(initiator.BroadcastSlot)
	switch {
	case o.all && len(args) > 0, !o.all && len(args) != 1:
		return usageErrorf("name one device (eSHELF.SLOT) or --all")
	case o.all && (ccmd == initiator.ConfigSet || ccmd == initiator.ConfigForceSet):
		return usageErrorf("-c %s changes a target: name the device", o.command)
	case len(args) == 1:
		sh, sl, err := sysfs.ParseName(args[0])
		if err != nil {
			return usageErrorf("%v", err)
		}
		shelf, slot = uint16(sh), uint8(sl)
	}
	if ccmd != initiator.ConfigRead && !cmd.Flags().Changed("string") {
		return usageErrorf("-c %s needs -s STRING", o.command)
	}
	clients, names, err := o.openClients(cmd, o.ifaces)
	if err != nil {
		return err
	}
	defer closeClients(clients)
	opts := discover.Options{Timeout: o.timeout}
	if ccmd == initiator.ConfigSet || ccmd == initiator.ConfigForceSet {
		opts.Resend = []time.Duration{} // a change is sent once
	}
	answers, err := queryConfig(cmd.Context(), clients, shelf, slot, ccmd, []byte(o.str), opts, nil)
	if err != nil {
		return err
	}
	if o.json {
		if err := writeJSON(o.stdout(), append([]cfgAnswer{}, answers...)); err != nil {
			return err
		}
	} else if len(answers) > 0 {
		if err := writeCfgTable(o.stdout(), answers); err != nil {
			return err
		}
	}
	on := strings.Join(names, ", ")
	switch {
	case len(answers) > 0:
	case ccmd == initiator.ConfigTest || ccmd == initiator.ConfigTestPrefix:
		if o.all {
			return fmt.Errorf("no target on %s has a config string that matches %q (%s)", on, o.str, o.command)
		}
		return fmt.Errorf("%s did not answer on %s: its config string does not match %q (%s), or it is unreachable", args[0], on, o.str, o.command)
	case o.all:
		return fmt.Errorf("no target answered on %s within %v", on, o.timeout)
	default:
		return fmt.Errorf("%s did not answer on %s within %v (see 'aoe discover --probe')", args[0], on, o.timeout)
	}
	var refused []string
	for _, a := range answers {
		if a.code == initiator.ErrConfigStringPresent {
			refused = append(refused, fmt.Sprintf("%s (%s) refused: its config string is already %q; use -c fset to replace it", a.Device, a.MAC, a.Config))
		} else if a.Error != "" {
			refused = append(refused, fmt.Sprintf("%s (%s) refused: %s", a.Device, a.MAC, a.Error))
		}
	}
	if len(refused) > 0 {
		return errors.New(strings.Join(refused, "; "))
	}
	return nil
}

func writeCfgTable(w io.Writer, answers []cfgAnswer) error {
	var rows [][]string
	for _, a := range answers {
		c := configCell([]byte(a.Config))
		if len(a.Config) > 32 && !strings.HasSuffix(c, "…") {
			c = a.Config
		}
		if a.Error != "" {
			c = "REFUSED (" + a.Error + "): " + c
		}
		rows = append(rows, []string{a.Device, a.MAC, a.Interface, c})
	}
	return writeTable(w, []string{"DEVICE", "MAC", "IFACE", "CONFIG"}, rows, []tw.Align{tw.AlignLeft, tw.AlignLeft, tw.AlignLeft, tw.AlignLeft})
}

// aoecfgErrors are aoecfg's words for AoE error codes (index = code).
var aoecfgErrors = []string{"*GOK*", "*badcmd*", "*badarg*", "*baddev*", "*badcfg*", "*badvers*", "*GOK*"}

const aoecfgUsage = "usage: aoecfg [-c cmd] [-s cfgstr] [-t timeout] [shelf slot] [net]\n"

// runAoecfg is aoetools' aoecfg.
func runAoecfg(cmd *cobra.Command, o *cfgOptions, args []string) error {
	usage := func() error {
		fmt.Fprint(o.stderr(), aoecfgUsage)
		return silentExit(ExitFailure)
	}
	ccmd, ok := configCommands[o.command]
	if !ok || len(args) > 3 {
		return usage()
	}
	shelf, slot := uint16(initiator.BroadcastShelf), uint8(initiator.BroadcastSlot)
	netif := "eth0"
	both := false
	if len(args) >= 2 {
		sh, err1 := parseClassicNumber(args[0], initiator.BroadcastShelf)
		sl, err2 := parseClassicNumber(args[1], initiator.BroadcastSlot)
		if err1 != nil || err2 != nil {
			fmt.Fprintf(o.stderr(), "aoecfg Error: shelf and slot must be decimal numbers: %q %q\n", args[0], args[1])
			return usage()
		}
		shelf, slot, both = uint16(sh), uint8(sl), true
		args = args[2:]
	}
	if len(args) == 1 {
		netif = args[0]
	}
	if netif == "" || (netif[0] >= '0' && netif[0] <= '9') {
		fmt.Fprintf(o.stderr(), "aoecfg Error: \"%s\" is not a valid network interface\n", netif)
		return usage()
	}
	if len(o.str) > initiator.MaxConfigString {
		fmt.Fprintf(o.stderr(), "aoecfg Error: config string longer than 1024 bytes\n")
		return usage()
	}
	c, err := initiator.Listen(netif)
	if err != nil {
		fmt.Fprintf(o.stderr(), "aoecfg: %v\n", err)
		return silentExit(ExitFailure)
	}
	defer c.Close()
	ctx, cancel := context.WithCancel(cmd.Context())
	defer cancel()
	timeout := time.Duration(o.timeoutSecs) * time.Second
	if o.timeoutSecs <= 0 {
		timeout = 100 * 365 * 24 * time.Hour // aoecfg: until interrupted
	}
	// One query, as aoecfg sends; every answer is printed as it comes.
	opts := discover.Options{Timeout: timeout, Quiet: timeout, Resend: []time.Duration{}}
	_, err = queryConfig(ctx, []*initiator.Client{c}, shelf, slot, ccmd, []byte(o.str), opts, func(a cfgAnswer) {
		text := a.Config
		if i := strings.IndexByte(text, 0); i >= 0 {
			text = text[:i]
		}
		if a.Error != "" {
			text = aoecfgErrors[0]
			if int(a.code) < len(aoecfgErrors) {
				text = aoecfgErrors[a.code]
			}
		}
		if both {
			fmt.Fprintf(o.stdout(), "%s\n", text)
			cancel()
			return
		}
		fmt.Fprintf(o.stdout(), "%d.%d\t%s\n", a.shelf, a.slot, text)
	})
	if err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintf(o.stderr(), "aoecfg: %v\n", err)
		return silentExit(ExitFailure)
	}
	return nil
}

// parseClassicNumber parses a shelf or slot number in decimal.
func parseClassicNumber(s string, max int) (int, error) {
	n, ok := parseUint(s)
	if !ok || n > max {
		return 0, fmt.Errorf("bad number %q", s)
	}
	return n, nil
}

func parseUint(s string) (int, bool) {
	if s == "" || len(s) > 6 {
		return 0, false
	}
	n := 0
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}
