package cmd

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/goaoe/aoe/discover"
	"github.com/goaoe/aoe/initiator"
	"github.com/goaoe/aoe/initiator/aoeaddr"
	"github.com/goaoe/aoe/initiator/wire"
	"github.com/goaoe/aoe/internal/safetext"
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
var configCommands = map[string]uint8{
	"read": wire.ConfigRead, "test": wire.ConfigTest, "prefix": wire.ConfigTestPrefix,
	"set": wire.ConfigSet, "fset": wire.ConfigForceSet,
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
Ethernet interface. Every path of a multipath target answers. Without
--timeout the search ends once no new answer has come for 300ms (a slower
target may be missing); a given --timeout is waited out. --timeout must be
positive, and -s goes with test, prefix, set and fset only. At most 4096
answers are kept: more, or answers lost in a full receive buffer, make
exit 1 with the reason on stderr. The table shows each config string
whole, with control bytes and bytes that are not UTF-8 escaped as \xNN
(and a backslash doubled), so that no byte is lost or reaches the terminal
raw; on a narrow terminal IFACE, then MAC, are left out, and a last line
says so. --json has the exact string (with C1 and bidi controls as \uXXXX
escapes; the schema: docs/json.md).

Under the name aoecfg it is aoetools' aoecfg:

    aoecfg [-c cmd] [-s cfgstr] [-t timeout] [shelf slot] [netif]

with its output (the string alone when shelf and slot are given, and exit
after the first answer; else "shelf.slot<TAB>string" per answer until the
-t deadline, or until interrupted without -t; *badcfg* and the like for
refusals), its default interface eth0 and exit status 0. Fixed: shelf and
slot are decimal (aoecfg read 010 as 8), frames carry only the string
(aoecfg sent 1056 bytes, the rest stack garbage), replies shorter than 60
bytes are accepted (aoecfg hung on virtual links), each answer is printed
at once (aoecfg's buffered output was lost when it was killed), and a
config string of the full 1,024 bytes is printed whole (aoecfg printed only
its first 1,016 bytes), and control bytes, bytes that are not UTF-8 and
invisible characters in a config string are printed escaped as \xNN
(aoecfg wrote them raw: a target could drive the terminal, or forge
"shelf.slot" lines with a newline); printable strings are unchanged.` + exitCodesHelp,
		Example: `  aoe cfg --all
  aoe cfg e1.2
  aoe cfg e1.2 -c set -s rack-3
  aoe cfg e1.2 -c test -s rack-3 && echo matches`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runCfg(cmd, o, args)
		},
	}
	o.addFlags(cmd)
	f := cmd.Flags()
	f.BoolVar(&o.all, "all", false, "every target (broadcast)")
	f.StringSliceVarP(&o.ifaces, "interface", "i", nil, "interfaces to use (comma separated or repeated)")
	f.DurationVar(&o.timeout, "timeout", 2*time.Second, "how long to wait for answers")
	f.BoolVar(&o.json, "json", false, "print JSON")
	return cmd
}

// addFlags adds the flags aoe cfg and aoecfg share.
func (o *cfgOptions) addFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVarP(&o.command, "command", "c", "read", "read, test, prefix, set or fset")
	f.StringVarP(&o.str, "string", "s", "", "the config string for test, prefix, set and fset")
}

// cfgAnswer is one target path's answer.
type cfgAnswer struct {
	Device    string `json:"device"`
	MAC       string `json:"mac"`
	Interface string `json:"interface"`
	Config    string `json:"config"`
	// Error is the AoE error of a refusal, such as "config string
	// present"; null for an answer.
	Error *string `json:"error"`
}

func toCfgAnswer(r initiator.ConfigReply) cfgAnswer {
	a := cfgAnswer{Device: r.Target.Address().String(), MAC: r.Target.MAC.String(), Interface: r.Interface.Name, Config: string(r.Config.String)}
	var ec wire.ErrorCode
	if errors.As(r.Err, &ec) {
		d := ec.Description()
		a.Error = &d
	}
	return a
}

// sortConfigReplies orders answers by address, interface and target MAC.
func sortConfigReplies(answers []initiator.ConfigReply) {
	slices.SortStableFunc(answers, func(x, y initiator.ConfigReply) int {
		a, b := x.Target, y.Target
		return cmp.Or(cmp.Compare(a.Shelf, b.Shelf), cmp.Compare(a.Slot, b.Slot),
			strings.Compare(x.Interface.Name, y.Interface.Name), bytes.Compare(a.MAC, b.MAC))
	})
}

// configQuery is the Query Config of aoe cfg or aoecfg: the address asked
// (the broadcast values: every target) and the argument.
type configQuery struct {
	to  initiator.Target
	arg wire.ConfigArg
}

// broadcastQuery returns a query of s to every target.
func broadcastQuery(s string) configQuery {
	return configQuery{to: initiator.Target{Shelf: aoeaddr.BroadcastShelf, Slot: aoeaddr.BroadcastSlot}, arg: wire.ConfigArg{String: []byte(s)}}
}

// cfgQuery checks the arguments of aoe cfg and returns its query.
func (o *cfgOptions) cfgQuery(cmd *cobra.Command, args []string) (configQuery, error) {
	q := broadcastQuery(o.str)
	ccmd, ok := configCommands[o.command]
	q.arg.Command = ccmd
	switch {
	case !ok:
		return q, usageErrorf("-c %s: want read, test, prefix, set or fset", o.command)
	case len(o.str) > wire.MaxConfigString:
		return q, usageErrorf("-s: %d bytes; a config string has at most 1024", len(o.str))
	case o.all && len(args) > 0, !o.all && len(args) != 1:
		return q, usageErrorf("name one device (eSHELF.SLOT) or --all")
	case o.all && (ccmd == wire.ConfigSet || ccmd == wire.ConfigForceSet):
		return q, usageErrorf("-c %s changes a target: name the device", o.command)
	case len(args) == 1:
		a, err := addressArg(args[0])
		if err != nil {
			return q, err
		}
		q.to.Shelf, q.to.Slot = a.Shelf, a.Slot
	}
	if ccmd != wire.ConfigRead && !cmd.Flags().Changed("string") {
		return q, usageErrorf("-c %s needs -s STRING", o.command)
	}
	if ccmd == wire.ConfigRead && cmd.Flags().Changed("string") {
		return q, usageErrorf("-s goes with -c test, prefix, set or fset, not read")
	}
	if o.timeout <= 0 {
		return q, usageErrorf("--timeout %v: must be positive", o.timeout)
	}
	return q, nil
}

func runCfg(cmd *cobra.Command, o *cfgOptions, args []string) error {
	q, err := o.cfgQuery(cmd, args)
	if err != nil {
		return err
	}
	return o.withGroup(cmd, o.ifaces, func(g *initiator.Group) error {
		return o.queryConfig(cmd, g, q, args)
	})
}

// queryConfig sends the query of aoe cfg on g and prints the answers.
func (o *cfgOptions) queryConfig(cmd *cobra.Command, g *initiator.Group, q configQuery, args []string) error {
	opts := initiator.CollectOptions{Timeout: o.timeout}
	full := cmd.Flags().Changed("timeout")
	if full {
		opts.Quiet = o.timeout // a given --timeout is waited out: slow targets answer
	}
	if q.arg.Command == wire.ConfigSet || q.arg.Command == wire.ConfigForceSet {
		opts.Resend = []time.Duration{} // a change is sent once
	}
	replies, err := g.QueryConfig(cmd.Context(), q.to, &q.arg, opts, nil)
	if cerr := cmd.Context().Err(); cerr != nil {
		return cerr // interrupted: no list, which would look complete
	}
	sortConfigReplies(replies)
	answers := []cfgAnswer{}
	for _, r := range replies {
		answers = append(answers, toCfgAnswer(r))
	}
	if err := showAnswers(err, "list", func() error {
		return jsonOrTable(o.json, len(answers),
			func() error { return writeJSON(o.stdout(), answers) },
			func() error { return writeCfgTable(o.stdout(), answers, o.tableWidth()) })
	}); err != nil {
		return err
	}
	return o.cfgOutcome(q, args, interfaceNames(g), replies, full)
}

// refusal is a target's refusal of a config command; it wraps the AoE
// error code.
type refusal struct {
	msg  string
	code error
}

func (e refusal) Error() string { return e.msg }
func (e refusal) Unwrap() error { return e.code }

// cfgOutcome is the error of aoe cfg: no answer, or the refusals.
func (o *cfgOptions) cfgOutcome(q configQuery, args []string, on string, replies []initiator.ConfigReply, full bool) error {
	within := fmt.Sprintf("within %v", o.timeout)
	if !full {
		within = fmt.Sprintf("(the search ended after %v without an answer; a slower target may be missing: --timeout %v waits that long)", discover.DefaultQuiet, o.timeout)
	}
	switch {
	case len(replies) > 0:
	case q.arg.Command == wire.ConfigTest || q.arg.Command == wire.ConfigTestPrefix:
		if o.all {
			return fmt.Errorf("no target on %s has a config string that matches %q (%s)", on, o.str, o.command)
		}
		return fmt.Errorf("%s did not answer on %s: its config string does not match %q (%s), or it is unreachable", args[0], on, o.str, o.command)
	case o.all:
		return fmt.Errorf("no target answered on %s %s", on, within)
	default:
		return fmt.Errorf("%s did not answer on %s %s; see 'aoe discover --probe'", args[0], on, within)
	}
	var refused []error
	for _, r := range replies {
		a := toCfgAnswer(r)
		switch {
		case errors.Is(r.Err, wire.ErrConfigStringPresent):
			refused = append(refused, refusal{fmt.Sprintf("%s (%s) refused: its config string is already %q; use -c fset to replace it", a.Device, a.MAC, a.Config), r.Err})
		case r.Err != nil:
			why := r.Err.Error()
			if a.Error != nil {
				why = *a.Error
			}
			refused = append(refused, refusal{fmt.Sprintf("%s (%s) refused: %s", a.Device, a.MAC, why), r.Err})
		}
	}
	return errors.Join(refused...)
}

func writeCfgTable(w io.Writer, answers []cfgAnswer, width int) error {
	var rows [][]string
	for _, a := range answers {
		c := "-"
		if a.Config != "" {
			c = safetext.Bytes([]byte(a.Config))
		}
		if a.Error != nil {
			c = "REFUSED (" + *a.Error + "): " + c
		}
		rows = append(rows, []string{a.Device, a.MAC, safetext.String(a.Interface), c})
	}
	// On a narrow terminal IFACE goes first, then MAC; the config string
	// is shown whole.
	cols := []column{{header: "DEVICE"}, {header: "MAC", drop: 2}, {header: "IFACE", drop: 1}, {header: "CONFIG"}}
	return table{cols: cols, rows: rows}.render(w, width)
}
