package cmd

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/goaoe/aoe/initiator"
	"github.com/goaoe/aoe/internal/safetext"
	"github.com/goaoe/aoe/sysfs"
	"github.com/spf13/cobra"
)

// interfaces lists the network interfaces (Env.Interfaces).
func (g *globalOptions) interfaces() ([]net.Interface, error) {
	if g.env.Interfaces != nil {
		return g.env.Interfaces()
	}
	return net.Interfaces()
}

// now reads the clock (Env.Now).
func (g *globalOptions) now() time.Time {
	if g.env.Now != nil {
		return g.env.Now()
	}
	return time.Now()
}

// openClient opens an AoE client on one interface (Env.OpenClient); a
// missing capability is a permission error (exit 4).
func (g *globalOptions) openClient(name string) (*initiator.Client, error) {
	open := g.env.OpenClient
	if open == nil {
		open = func(name string) (*initiator.Client, error) {
			return initiator.NewClient(name, &initiator.Config{Receive: g.receive})
		}
	}
	c, err := open(name)
	if errors.Is(err, initiator.ErrPermission) {
		return nil, kindErrorf(ErrPermission, "%v", initiator.ErrPermission)
	}
	return c, err
}

// isEthernet reports whether an interface can carry AoE.
func isEthernet(ifi net.Interface) bool {
	return ifi.Flags&net.FlagLoopback == 0 && len(ifi.HardwareAddr) == 6
}

// wireInterfaces chooses the interfaces for raw AoE: those given (-i), else
// the driver's aoe_iflist when set, else every up, non-loopback Ethernet
// interface.
func (g *globalOptions) wireInterfaces(cmd *cobra.Command, given []string) ([]string, error) {
	var names []string
	for _, i := range given {
		names = append(names, sysfs.ParseInterfaceList(i)...)
	}
	explicit := len(names) > 0
	// The flag the names came from, for the messages: the exporter's is
	// --probe.interface.
	flag := "-i"
	if cmd.Flags().Lookup("probe.interface") != nil {
		flag = "--probe.interface"
	}
	if !explicit {
		if fs, err := sysfs.NewFS(g.sysfsDir(cmd)); err == nil {
			if list, err := fs.InterfaceList(); err == nil {
				names = list
			}
		}
	}
	all, err := g.interfaces()
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		for _, ifi := range all {
			if ifi.Flags&net.FlagUp != 0 && isEthernet(ifi) {
				names = append(names, ifi.Name)
			}
		}
		slices.Sort(names)
		if len(names) == 0 {
			return nil, fmt.Errorf("no up Ethernet interface to probe; name one with %s", flag)
		}
		return names, nil
	}
	byName := map[string]net.Interface{}
	for _, ifi := range all {
		byName[ifi.Name] = ifi
	}
	var up []string
	for _, n := range names {
		ifi, ok := byName[n]
		shown := safetext.String(n) // from the command line or sysfs
		switch {
		case !ok:
			if explicit {
				return nil, usageErrorf("%s %s: no such network interface (see 'ip link')", flag, shown)
			}
			g.warnf("%s (from aoe_iflist) does not exist; skipped", shown)
		case ifi.Flags&net.FlagUp == 0:
			g.warnf("%s is down; skipped (ip link set %s up)", shown, shown)
		case !isEthernet(ifi) && explicit:
			return nil, usageErrorf("%s %s: not an Ethernet interface; AoE runs on Ethernet only", flag, shown)
		case !isEthernet(ifi):
			g.warnf("%s is not an Ethernet interface; skipped", shown)
		default:
			up = append(up, n)
		}
	}
	if len(up) == 0 {
		return nil, fmt.Errorf("none of %s can be probed", safetext.String(strings.Join(names, ", ")))
	}
	return up, nil
}

// openGroup opens a client on each chosen interface (see wireInterfaces).
// Close the group when done.
func (g *globalOptions) openGroup(cmd *cobra.Command, given []string) (*initiator.Group, error) {
	names, err := g.wireInterfaces(cmd, given)
	if err != nil {
		return nil, err
	}
	return g.openNames(names)
}

// openNames opens a group on exactly these interfaces.
func (g *globalOptions) openNames(names []string) (*initiator.Group, error) {
	var clients []*initiator.Client
	for _, name := range names {
		c, err := g.openClient(name)
		if err != nil {
			initiator.NewGroup(clients...).Close()
			return nil, err
		}
		clients = append(clients, c)
	}
	grp := initiator.NewGroup(clients...)
	grp.RTTClock = g.now
	return grp, nil
}

// withGroup opens the group of the interfaces given (see openGroup), runs
// fn on it and closes it.
func (g *globalOptions) withGroup(cmd *cobra.Command, given []string, fn func(*initiator.Group) error) error {
	grp, err := g.openGroup(cmd, given)
	if err != nil {
		return err
	}
	defer grp.Close()
	return fn(grp)
}

// interfaceNames lists the group's interfaces for a message: "eth0, eth1".
func interfaceNames(g *initiator.Group) string {
	var names []string
	for _, c := range g.Clients() {
		names = append(names, c.Interface().Name)
	}
	return strings.Join(names, ", ")
}

// showAnswers ends a wire search that may stop short: an error other than
// an *initiator.IncompleteError returns at once, printing nothing; else
// show prints what answered, and an incomplete search then fails, saying
// that the list (what: "list", "report") above is not complete.
func showAnswers(err error, what string, show func() error) error {
	incomplete := errors.As(err, new(*initiator.IncompleteError))
	if err != nil && !incomplete {
		return err
	}
	if serr := show(); serr != nil {
		return serr
	}
	if incomplete {
		return fmt.Errorf("%w; the %s above is not complete", err, what)
	}
	return nil
}

// jsonOrTable prints the answers with asJSON (--json), else their table
// when there are any (n): nothing at all, not even a header, for none.
func jsonOrTable(asJSON bool, n int, asJSONFunc, tableFunc func() error) error {
	switch {
	case asJSON:
		return asJSONFunc()
	case n > 0:
		return tableFunc()
	}
	return nil
}
