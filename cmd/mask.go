package cmd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/goaoe/aoe/discover"
	"github.com/goaoe/aoe/initiator"
	"github.com/goaoe/aoe/sysfs"
	"github.com/spf13/cobra"
)

// aclOptions are the flags of aoe mask and aoe reserve.
type aclOptions struct {
	*globalOptions
	add, del, set []string
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
commands): it is refused unless --force.` + vbladeMaskNote + exitCodesHelp,
		Example: `  aoe mask e1.2
  aoe mask e1.2 --add self --add 52:54:00:12:34:56`,
		Args: argsCheck(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runMask(cmd, o, args[0])
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&o.add, "add", nil, "add MACs to the list (comma separated or repeated)")
	f.StringSliceVar(&o.del, "del", nil, "delete MACs from the list")
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

A reservation that leaves this host out is refused unless --force.` + exitCodesHelp,
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
	f.StringSliceVar(&o.set, "set", nil, "reserve the target for these MACs (comma separated or repeated)")
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

// parseMACs parses MACs, "self" standing for self.
func parseMACs(list []string, self net.HardwareAddr) ([]net.HardwareAddr, error) {
	var out []net.HardwareAddr
	for _, s := range list {
		if s == "self" {
			out = append(out, self)
			continue
		}
		if len(s) == 12 && !strings.Contains(s, ":") {
			s = s[0:2] + ":" + s[2:4] + ":" + s[4:6] + ":" + s[6:8] + ":" + s[8:10] + ":" + s[10:12]
		}
		m, err := net.ParseMAC(s)
		if err != nil || len(m) != 6 {
			return nil, usageErrorf("%q is not a MAC address (xx:xx:xx:xx:xx:xx, 12 hex digits, or self)", s)
		}
		out = append(out, m)
	}
	return out, nil
}

// aclPath is one path of the device and its list.
type aclPath struct {
	Device    string   `json:"device"`
	MAC       string   `json:"mac"`
	Interface string   `json:"interface"`
	List      []string `json:"list"`
	Error     string   `json:"error,omitempty"`
}

// devicePaths finds the paths of shelf.slot with a Query Config.
func (o *aclOptions) devicePaths(cmd *cobra.Command, dev string) ([]*initiator.Client, []discover.Response, error) {
	shelf, slot, err := sysfs.ParseName(dev)
	if err != nil {
		return nil, nil, usageErrorf("%v", err)
	}
	clients, names, err := o.openClients(cmd, o.ifaces)
	if err != nil {
		return nil, nil, err
	}
	req := &initiator.Frame{Shelf: uint16(shelf), Slot: uint8(slot), Command: initiator.CommandQueryConfig, Arg: &initiator.ConfigArg{}}
	found, err := discover.Collect(cmd.Context(), clients, req, discover.Options{Timeout: o.timeout}, nil)
	if err == nil && len(found) == 0 {
		err = fmt.Errorf("%s did not answer on %s (see 'aoe discover --probe'); a mask list without this host also hides it", dev, strings.Join(names, ", "))
	}
	if err != nil {
		closeClients(clients)
		return nil, nil, err
	}
	return clients, found, nil
}

func macStrings(list []net.HardwareAddr) []string {
	out := []string{}
	for _, m := range list {
		out = append(out, m.String())
	}
	return out
}

// lockout says whether list would shut out self: not empty, without self.
func lockout(list []net.HardwareAddr, self net.HardwareAddr) bool {
	if len(list) == 0 {
		return false
	}
	for _, m := range list {
		if bytes.Equal(m, self) {
			return false
		}
	}
	return true
}

// maskRequest sends one Mac Mask List request along a path.
func maskRequest(ctx context.Context, r discover.Response, arg *initiator.MaskArg) (*initiator.MaskArg, error) {
	f, err := r.Client.Request(ctx, &initiator.Frame{Destination: r.Frame.Source, Shelf: r.Frame.Shelf, Slot: r.Frame.Slot,
		Command: initiator.CommandMACMask, Arg: arg})
	if err != nil {
		return nil, err
	}
	rep, ok := f.Arg.(*initiator.MaskArg)
	if !ok {
		return nil, errors.New("reply without a mask list")
	}
	if rep.Error != initiator.MaskOK {
		return rep, fmt.Errorf("directive %d: %w", rep.FailedIndex+1, rep.Error)
	}
	return rep, nil
}

func directiveMACs(ds []initiator.Directive) []net.HardwareAddr {
	var out []net.HardwareAddr
	for _, d := range ds {
		out = append(out, d.MAC)
	}
	return out
}

func runMask(cmd *cobra.Command, o *aclOptions, dev string) error {
	clients, paths, err := o.devicePaths(cmd, dev)
	if err != nil {
		return err
	}
	defer closeClients(clients)
	ctx := cmd.Context()
	edit := len(o.add)+len(o.del) > 0
	var out []aclPath
	var failed []string
	for _, p := range paths {
		self := p.Client.Interface().MAC
		ap := aclPath{Device: dev, MAC: p.Frame.Source.String(), Interface: p.Client.Interface().Name, List: []string{}}
		cur, err := maskRequest(ctx, p, &initiator.MaskArg{Command: initiator.MaskRead})
		if err == nil && edit {
			add, err1 := parseMACs(o.add, self)
			del, err2 := parseMACs(o.del, self)
			if err := errors.Join(err1, err2); err != nil {
				return err
			}
			result := directiveMACs(cur.Directives)
			var ds []initiator.Directive
			for _, m := range add {
				ds = append(ds, initiator.Directive{Command: initiator.DirectiveAdd, MAC: m})
				if !containsHW(result, m) {
					result = append(result, m)
				}
			}
			for _, m := range del {
				ds = append(ds, initiator.Directive{Command: initiator.DirectiveDelete, MAC: m})
				result = removeHW(result, m)
			}
			if lockout(result, self) && !o.force {
				return fmt.Errorf("refused: the mask list of %s (%s on %s) would become %s, without this host (%s): the target would then ignore it. Add self too, or use --force",
					dev, ap.MAC, ap.Interface, strings.Join(macStrings(result), ", "), self)
			}
			cur, err = maskRequest(ctx, p, &initiator.MaskArg{Command: initiator.MaskEdit, Directives: ds})
		}
		if err != nil {
			ap.Error = err.Error()
			failed = append(failed, fmt.Sprintf("%s on %s: %v", ap.MAC, ap.Interface, err))
		} else {
			ap.List = macStrings(directiveMACs(cur.Directives))
		}
		out = append(out, ap)
	}
	if err := o.writeACL(out, "mask", "every initiator"); err != nil {
		return err
	}
	if len(failed) > 0 {
		return fmt.Errorf("mask list of %s: %s", dev, strings.Join(failed, "; "))
	}
	return nil
}

func runReserve(cmd *cobra.Command, o *aclOptions, dev string) error {
	if len(o.set) > 0 && o.release {
		return usageErrorf("--set and --release exclude each other")
	}
	clients, paths, err := o.devicePaths(cmd, dev)
	if err != nil {
		return err
	}
	defer closeClients(clients)
	ctx := cmd.Context()
	var out []aclPath
	var failed []string
	for _, p := range paths {
		self := p.Client.Interface().MAC
		ap := aclPath{Device: dev, MAC: p.Frame.Source.String(), Interface: p.Client.Interface().Name, List: []string{}}
		arg := &initiator.ReserveArg{Command: initiator.ReserveRead}
		if len(o.set) > 0 || o.release {
			macs, err := parseMACs(o.set, self)
			if err != nil {
				return err
			}
			if lockout(macs, self) && !o.force {
				return fmt.Errorf("refused: reserving %s for %s would leave this host (%s) out. Add self too, or use --force",
					dev, strings.Join(macStrings(macs), ", "), self)
			}
			arg = &initiator.ReserveArg{Command: initiator.ReserveSet, MACs: macs}
			if o.force {
				arg.Command = initiator.ReserveForceSet
			}
		}
		f, err := p.Client.Request(ctx, &initiator.Frame{Destination: p.Frame.Source, Shelf: p.Frame.Shelf, Slot: p.Frame.Slot,
			Command: initiator.CommandReserve, Arg: arg})
		if rep, ok := reserveList(f); ok {
			ap.List = macStrings(rep)
		}
		switch {
		case errors.Is(err, initiator.ErrTargetReserved):
			ap.Error = "reserved by another host"
			failed = append(failed, fmt.Sprintf("%s on %s is reserved by %s; --force takes it over", ap.MAC, ap.Interface, strings.Join(ap.List, ", ")))
		case err != nil:
			ap.Error = err.Error()
			failed = append(failed, fmt.Sprintf("%s on %s: %v", ap.MAC, ap.Interface, err))
		}
		out = append(out, ap)
	}
	if err := o.writeACL(out, "reserve", "not reserved"); err != nil {
		return err
	}
	if len(failed) > 0 {
		return fmt.Errorf("reservation of %s: %s", dev, strings.Join(failed, "; "))
	}
	return nil
}

func reserveList(f *initiator.Frame) ([]net.HardwareAddr, bool) {
	if f == nil {
		return nil, false
	}
	a, ok := f.Arg.(*initiator.ReserveArg)
	if !ok {
		return nil, false
	}
	return a.MACs, true
}

func (o *aclOptions) writeACL(paths []aclPath, what, empty string) error {
	if o.json {
		return writeJSON(o.stdout(), paths)
	}
	w := o.stdout()
	for _, p := range paths {
		list := strings.Join(p.List, " ")
		if list == "" {
			list = "(empty: " + empty + ")"
		}
		if p.Error != "" {
			list += "  [" + p.Error + "]"
		}
		fmt.Fprintf(w, "%s via %s on %s: %s %s\n", p.Device, p.MAC, p.Interface, what, list)
	}
	return nil
}

func containsHW(list []net.HardwareAddr, m net.HardwareAddr) bool {
	for _, x := range list {
		if bytes.Equal(x, m) {
			return true
		}
	}
	return false
}

func removeHW(list []net.HardwareAddr, m net.HardwareAddr) []net.HardwareAddr {
	var out []net.HardwareAddr
	for _, x := range list {
		if !bytes.Equal(x, m) {
			out = append(out, x)
		}
	}
	return out
}
