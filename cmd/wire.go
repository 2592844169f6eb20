package cmd

import (
	"errors"
	"fmt"
	"net"
	"sort"
	"strings"

	"github.com/goaoe/aoe/initiator"
	"github.com/goaoe/aoe/sysfs"
	"github.com/spf13/cobra"
)

// wireInterfaces chooses the interfaces for raw AoE: those given (-i), else the driver's aoe_iflist
// when set, else every up, non-loopback Ethernet interface.
func (g *globalOptions) wireInterfaces(cmd *cobra.Command, given []string) ([]string, error) {
	var names []string
	for _, i := range given {
		names = append(names, sysfs.ParseInterfaceList(i)...)
	}
	explicit := len(names) > 0
	if !explicit {
		if fs, err := sysfs.NewFS(g.sysfsDir(cmd)); err == nil {
			if list, err := fs.InterfaceList(); err == nil {
				names = list
			}
		}
	}
	if len(names) == 0 {
		all, err := net.Interfaces()
		if err != nil {
			return nil, err
		}
		for _, ifi := range all {
			if ifi.Flags&net.FlagUp != 0 && ifi.Flags&net.FlagLoopback == 0 && len(ifi.HardwareAddr) == 6 {
				names = append(names, ifi.Name)
			}
		}
		sort.Strings(names)
		if len(names) == 0 {
			return nil, errors.New("no up Ethernet interface to probe; name one with -i")
		}
		return names, nil
	}
	var up []string
	for _, n := range names {
		ifi, err := net.InterfaceByName(n)
		switch {
		case err != nil:
			if explicit {
				return nil, usageErrorf("-i %s: no such network interface (see 'ip link')", n)
			}
			g.warnf("%s (from aoe_iflist) does not exist; skipped", n)
		case ifi.Flags&net.FlagUp == 0:
			g.warnf("%s is down; skipped (ip link set %s up)", n, n)
		case len(ifi.HardwareAddr) != 6:
			g.warnf("%s is not an Ethernet interface; skipped", n)
		default:
			up = append(up, n)
		}
	}
	if len(up) == 0 {
		return nil, fmt.Errorf("none of %s can be probed", strings.Join(names, ", "))
	}
	return up, nil
}

// openClients opens a raw AoE client on each chosen interface (see
// wireInterfaces). Close them with closeClients.
func (g *globalOptions) openClients(cmd *cobra.Command, given []string) ([]*initiator.Client, []string, error) {
	names, err := g.wireInterfaces(cmd, given)
	if err != nil {
		return nil, nil, err
	}
	var clients []*initiator.Client
	for _, name := range names {
		c, err := initiator.Listen(name)
		if err != nil {
			closeClients(clients)
			if errors.Is(err, initiator.ErrPermission) {
				return nil, nil, kindErrorf(ErrPermission, "%v", initiator.ErrPermission)
			}
			return nil, nil, err
		}
		clients = append(clients, c)
	}
	return clients, names, nil
}

func closeClients(clients []*initiator.Client) {
	for _, c := range clients {
		c.Close()
	}
}
