package cmd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"

	"github.com/goaoe/aoe/internal/nbd"
	"github.com/spf13/cobra"
)

type nbdOptions struct {
	diskOptions
	socket   string
	listen   string
	readOnly bool
}

func newNBDCmd(g *globalOptions) *cobra.Command {
	o := &nbdOptions{diskOptions: diskOptions{globalOptions: g}}
	cmd := &cobra.Command{
		Use:   "nbd DEV [--socket PATH | --listen ADDR] [--read-only]",
		Short: "Export an AoE disk as a Network Block Device, without the aoe driver",
		Long: `Serve the AoE target DEV (eSHELF.SLOT) to Network Block Device clients, so
that a host whose kernel has no aoe driver (but has nbd) can use the disk:
nbd-client attaches it as /dev/nbdN, and qemu, qemu-img, nbdcopy or nbdfuse
use it directly. The AoE side is 'aoe read' and 'aoe write' (all paths,
retransmission, --deadline); it needs root or CAP_NET_RAW.

The server speaks the fixed newstyle NBD handshake (NBD_OPT_GO, INFO,
LIST, ABORT, and the old EXPORT_NAME); the export is named DEV, and is also
the default export (empty name). It serves READ, WRITE, FLUSH (the target's
FLUSH CACHE) and FUA writes, to several connections at once; TRIM and
structured replies are not offered.

It listens on a Unix socket (--socket PATH), or on TCP (--listen ADDR,
default 127.0.0.1:10809). An address without a host (":10809") is loopback
too: give 0.0.0.0:10809 or [::]:10809 to serve the network, knowing that NBD
has no authentication here.

Unless --read-only, the export is writable and is refused as 'aoe write'
is: when this host's aoe driver has DEV open, mounted or held, or when the
target is reserved for other hosts (--force overrides); --reserve holds a
reservation for this host while serving. It runs until interrupted.` + exitCodesHelp,
		Example: `  aoe nbd e1.2 --socket /run/e1.2.nbd &
  nbd-client -unix /run/e1.2.nbd /dev/nbd0 -N e1.2
  aoe nbd e1.2 --read-only --listen 127.0.0.1:10809 &
  nbdinfo nbd://127.0.0.1/e1.2`,
		Args: argsCheck(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runNBD(cmd, o, args[0])
		},
	}
	o.addFlags(cmd, true)
	f := cmd.Flags()
	f.StringVar(&o.socket, "socket", "", "listen on this Unix socket")
	f.StringVar(&o.listen, "listen", "", "listen on this TCP address (default 127.0.0.1:10809)")
	f.BoolVar(&o.readOnly, "read-only", false, "export read-only")
	return cmd
}

// nbdListener opens the socket the options ask for.
func (o *nbdOptions) nbdListener() (net.Listener, error) {
	if o.socket != "" && o.listen != "" {
		return nil, usageErrorf("--socket and --listen exclude each other")
	}
	if o.socket != "" {
		_ = os.Remove(o.socket) // a stale socket from an earlier run
		return net.Listen("unix", o.socket)
	}
	addr := o.listen
	if addr == "" {
		addr = "127.0.0.1:10809"
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, usageErrorf("--listen %s: %v", addr, err)
	}
	if host == "" {
		host = "127.0.0.1"
	}
	return net.Listen("tcp", net.JoinHostPort(host, port))
}

func runNBD(cmd *cobra.Command, o *nbdOptions, dev string) error {
	l, err := o.nbdListener()
	if err != nil {
		return err
	}
	defer l.Close()
	if o.socket != "" {
		defer os.Remove(o.socket)
	}
	t, closeAll, err := o.open(cmd, dev)
	if err != nil {
		return err
	}
	defer closeAll()
	if !o.readOnly {
		release, err := o.guard(cmd, t)
		if err != nil {
			return fmt.Errorf("%w (or export it with --read-only)", err)
		}
		defer release()
	}
	exp := &nbd.Export{Name: dev, Description: "AoE " + dev, Size: t.Size(), Backend: t, ReadOnly: o.readOnly}
	s := &nbd.Server{Exports: []*nbd.Export{exp}, ErrorLog: func(format string, args ...any) { o.warnf(format, args...) }}
	o.warnf("serving %s (%d bytes%s) on %s", dev, t.Size(), map[bool]string{true: ", read-only"}[o.readOnly], l.Addr())
	err = s.Serve(cmd.Context(), l)
	if err == nil || errors.Is(cmd.Context().Err(), context.Canceled) {
		return closeAll()
	}
	return err
}
