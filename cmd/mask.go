package cmd

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/goaoe/aoe/discover"
	"github.com/goaoe/aoe/initiator"
	"github.com/goaoe/aoe/initiator/aoeaddr"
	"github.com/goaoe/aoe/internal/safetext"
	"github.com/spf13/cobra"
)

// aclOptions are the flags of aoe mask and aoe reserve.
type aclOptions struct {
	*globalOptions
	add, del, set macList
	release       bool
	force         bool
	ifaces        []string
	timeout       time.Duration
	json          bool
}

const vbladeMaskNote = `
vblade 25 mishandles its mask list: adding a third entry overwrites the
second and leaves a zero entry, deleting compares only the first one or two
entries, and deleting the first entry while fewer than seven exist makes it
abort (a remote crash). Against vblade 25, keep to two entries and do not
delete.`

func newMaskCmd(g *globalOptions) *cobra.Command {
	o := &aclOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "mask DEV [--add MAC]... [--del MAC]...",
		Short: "Show or edit a target's MAC mask list (access control)",
		Long: `Show or edit the Mac Mask List of an AoE target (AoEr11 section 3.3): when
it is not empty, the target answers only the initiators whose MAC is in it.
No aoetools command offers this. Without --add or --del it lists the mask
of every path (target MAC and local interface) of DEV; with them it sends
one edit per path and prints the list the target then holds. A MAC is
xx:xx:xx:xx:xx:xx, 12 hex digits, or "self" for the MAC of the interface
the path is reached on.

An edit that would leave a non-empty list without this host's MAC would
lock this host out (the target ignores it, including further mask
commands): it is refused unless --force. A list that could not be read
(no reply, an error reply, a malformed one) is shown as unknown with the
reason, never as empty (JSON: "list": null), and the exit status is not 0.
A malformed MAC is a usage error, before anything is sent.` + vbladeMaskNote + exitCodesHelp,
		Example: `  aoe mask e1.2
  aoe mask e1.2 --add self --add 52:54:00:12:34:56`,
		Args: argsCheck(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runMask(cmd, o, args[0])
		},
	}
	f := cmd.Flags()
	f.Var(&o.add, "add", "add MACs to the list (comma separated or repeated; self: this host)")
	f.Var(&o.del, "del", "delete MACs from the list")
	o.commonFlags(cmd, "allow a list without this host's MAC")
	return cmd
}

func newReserveCmd(g *globalOptions) *cobra.Command {
	o := &aclOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "reserve DEV [--set MAC... | --release] [--force]",
		Short: "Show, set or release a target's reservation",
		Long: `Show or change the reserve list of an AoE target (AoEr11 section 3.4):
while it is not empty, the target refuses ATA commands (but IDENTIFY) from
initiators not in it, with error 6. No aoetools command offers this.
Without --set or --release it lists the reservation of every path of DEV.
--set MAC... reserves the target for those MACs ("self" is the MAC of the
interface the path is reached on); --release empties the list. The target
accepts the change only when its list is empty or names this host; --force
sends a force set, which takes a reservation over from another host.

A reservation that leaves this host out is refused unless --force. A list
that could not be read is shown as unknown with the reason, never as empty
(JSON: "list": null), and the exit status is not 0.` + exitCodesHelp,
		Example: `  aoe reserve e1.2
  aoe reserve e1.2 --set self
  aoe reserve e1.2 --release
  aoe reserve e1.2 --set self --force   # take it over`,
		Args: argsCheck(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runReserve(cmd, o, args[0])
		},
	}
	f := cmd.Flags()
	f.Var(&o.set, "set", "reserve the target for these MACs (comma separated or repeated; self: this host)")
	f.BoolVar(&o.release, "release", false, "release the reservation (empty the list)")
	o.commonFlags(cmd, "force set: take the reservation over, and allow a list without this host's MAC")
	return cmd
}

func (o *aclOptions) commonFlags(cmd *cobra.Command, force string) {
	f := cmd.Flags()
	f.BoolVar(&o.force, "force", false, force)
	f.StringSliceVarP(&o.ifaces, "interface", "i", nil, "interfaces to use (comma separated or repeated)")
	f.DurationVar(&o.timeout, "timeout", 2*time.Second, "how long to look for the device's paths")
	f.BoolVar(&o.json, "json", false, "print JSON")
}

// aclPath is one path of the device and its list.
type aclPath struct {
	Device    string `json:"device"`
	MAC       string `json:"mac"`
	Interface string `json:"interface"`
	// List is null when it could not be read (Error says why).
	List []string `json:"list"`
	// Error is null when the path's command succeeded.
	Error *string `json:"error"`
}

// aclRun finds the device's paths and runs op on them (discover.Mask or
// discover.Reserve); it prints the lists, and returns the paths' failures
// joined.
func (o *aclOptions) aclRun(cmd *cobra.Command, dev, what, empty string,
	op func(*initiator.Group, aoeaddr.Address) ([]discover.ACLPath, error)) error {
	a, err := addressArg(dev)
	if err != nil {
		return err
	}
	return o.withGroup(cmd, o.ifaces, func(g *initiator.Group) error {
		paths, err := op(g, a)
		return o.aclReport(g, dev, what, empty, paths, err)
	})
}

// aclReport prints the lists of paths that op returned, with its error
// err, and returns the paths' failures joined.
func (o *aclOptions) aclReport(g *initiator.Group, dev, what, empty string, paths []discover.ACLPath, err error) error {
	var lock *discover.LockoutError
	switch {
	case errors.Is(err, discover.ErrNotFound):
		return fmt.Errorf("%s did not answer on %s (see 'aoe discover --probe'); a mask list without this host also hides it", dev, interfaceNames(g))
	case errors.As(err, &lock):
		return fmt.Errorf("refused: %w. Add self too, or use --force", err)
	case err != nil:
		return err
	}
	out := []aclPath{}
	var failed []error
	for _, p := range paths {
		ap := aclPath{Device: dev, MAC: p.Target.MAC.String(), Interface: p.Interface, List: macStrings(p.List)}
		var reserved *discover.ReservedError
		switch {
		case errors.As(p.Err, &reserved):
			ap.Error = nullable("reserved by another host")
			failed = append(failed, fmt.Errorf("%w; --force takes it over", p.Err))
		case p.Err != nil:
			// The list was not read: no list, never an empty one.
			ap.List, ap.Error = nil, nullable(p.Err.Error())
			failed = append(failed, fmt.Errorf("%s list of %s via %s on %s: %w", what, dev, ap.MAC, safetext.String(ap.Interface), p.Err))
		}
		out = append(out, ap)
	}
	if err := o.writeACL(out, what, empty); err != nil {
		return err
	}
	return errors.Join(failed...)
}

func macStrings(list []net.HardwareAddr) []string {
	out := []string{}
	for _, m := range list {
		out = append(out, m.String())
	}
	return out
}

func runMask(cmd *cobra.Command, o *aclOptions, dev string) error {
	change := discover.MaskChange{Add: o.add, Del: o.del, Force: o.force}
	return o.aclRun(cmd, dev, "mask", "every initiator", func(g *initiator.Group, a aoeaddr.Address) ([]discover.ACLPath, error) {
		return discover.Mask(cmd.Context(), g, a, change, discover.Options{Timeout: o.timeout})
	})
}

func runReserve(cmd *cobra.Command, o *aclOptions, dev string) error {
	if len(o.set) > 0 && o.release {
		return usageErrorf("--set and --release exclude each other")
	}
	change := discover.ReserveChange{Set: o.set, Release: o.release, Force: o.force}
	return o.aclRun(cmd, dev, "reserve", "not reserved", func(g *initiator.Group, a aoeaddr.Address) ([]discover.ACLPath, error) {
		return discover.Reserve(cmd.Context(), g, a, change, discover.Options{Timeout: o.timeout})
	})
}

func (o *aclOptions) writeACL(paths []aclPath, what, empty string) error {
	if o.json {
		return writeJSON(o.stdout(), paths)
	}
	w := o.stdout()
	for _, p := range paths {
		list := strings.Join(p.List, " ")
		switch {
		case p.List == nil:
			list = "unknown (not read: " + safetext.String(*p.Error) + ")"
		case list == "":
			list = "(empty: " + empty + ")"
		}
		if p.Error != nil && p.List != nil {
			list += "  [" + safetext.String(*p.Error) + "]"
		}
		fmt.Fprintf(w, "%s via %s on %s: %s %s\n", p.Device, p.MAC, safetext.String(p.Interface), what, list)
	}
	return nil
}
