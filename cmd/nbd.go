package cmd

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"strconv"
	"syscall"
	"time"

	"github.com/goaoe/aoe/initiator"
	"github.com/goaoe/aoe/internal/blockio"
	"github.com/goaoe/aoe/internal/nbd"
	"github.com/spf13/cobra"
)

type nbdOptions struct {
	diskOptions
	socket           string
	listen           string
	readOnly         bool
	maxInflight      string
	maxConns         int
	handshakeTimeout time.Duration
	replyTimeout     time.Duration
}

func newNBDCmd(g *globalOptions) *cobra.Command {
	o := &nbdOptions{diskOptions: diskOptions{globalOptions: g}}
	cmd := &cobra.Command{
		Use:   "nbd DEV [--socket PATH | --listen ADDR] [--read-only]",
		Short: "Export an AoE disk as an NBD device, without the aoe driver",
		Long: `Serve the AoE target DEV (eSHELF.SLOT) to Network Block Device clients, so
that a host whose kernel has no aoe driver (but has nbd) can use the disk:
nbd-client attaches it as /dev/nbdN, and qemu, qemu-img, nbdcopy or nbdfuse
use it directly. The AoE side is 'aoe read' and 'aoe write' (all paths,
retransmission, --deadline, one CPU); it needs root or CAP_NET_RAW.

The server speaks the fixed newstyle NBD handshake (NBD_OPT_GO, INFO,
LIST, ABORT, and the old EXPORT_NAME); the export is named DEV, and is also
the default export (empty name). It serves READ, WRITE, FLUSH (the target's
FLUSH CACHE) and FUA writes, to several connections at once, which may
share a client's requests (NBD_FLAG_CAN_MULTI_CONN: nbd-client -C N,
nbdcopy -C N); TRIM and structured replies are not offered. The block
sizes advertised are 512 (minimum), a power of two holding a whole frame's
data, at least 4096 (preferred), and the largest request accepted.

It listens on a Unix socket (--socket PATH), or on TCP (--listen ADDR,
default 127.0.0.1:10809). An address without a host (":10809") is loopback
too: give 0.0.0.0:10809 or [::]:10809 to serve the network, knowing that NBD
has no authentication here. A socket left at PATH by an earlier run that
nobody answers on any more is replaced; anything else at PATH (a file, a
directory, a socket a server answers on) is refused and left alone.

Its memory is bounded. The data of the requests in flight, all
connections together (writes until the target has them, reads until the
client has them), is at most --max-inflight-bytes (default 128M), and
one connection's at most half of that: a client whose next request does
not fit is not read from until earlier requests complete, which holds it
back without failing it. The largest request the server accepts,
advertised to clients as the maximum block size, is 32M or half
--max-inflight-bytes if smaller; a write over it fails with EINVAL, a read
with EOVERFLOW. Each connection adds about 300 KiB of
buffers, and at most --max-conns connections (default 128) are served at
once: more are closed as soon as accepted, with a line on stderr (one a
second at most). A client that has not chosen an export within
--handshake-timeout (default 10s), or that leaves a reply unread for
--reply-timeout (default 60s), is disconnected; idle connections are kept.

Unless --read-only, the export is writable and is refused as 'aoe write'
is: when this host's aoe driver has DEV open, mounted or held, or when the
target is reserved for other hosts (--force overrides); --reserve holds a
reservation for this host while serving. It runs until interrupted.` + targetHelp + exitCodesHelp,
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
	o.addTargetFlag(cmd)
	f := cmd.Flags()
	f.StringVar(&o.socket, "socket", "", "listen on this Unix socket")
	f.StringVar(&o.listen, "listen", "", "listen on this TCP address (default 127.0.0.1:10809)")
	f.BoolVar(&o.readOnly, "read-only", false, "export read-only")
	f.StringVar(&o.maxInflight, "max-inflight-bytes", "128M", "the most request data held in memory at once, all connections together (K, M, G suffixes; at least 4M)")
	f.IntVar(&o.maxConns, "max-conns", nbd.DefaultMaxConns, "the most connections served at once")
	f.DurationVar(&o.handshakeTimeout, "handshake-timeout", nbd.DefaultHandshakeTimeout, "disconnect a client that has not chosen an export by then")
	f.DurationVar(&o.replyTimeout, "reply-timeout", nbd.DefaultReplyTimeout, "disconnect a client that leaves a reply unread this long")
	return cmd
}

// minInflight is the smallest --max-inflight-bytes. The maximum block size
// is half the budget at most, and below 2 MiB requests that clients
// commonly send (the kernel's up to max_sectors_kb, often 1280 KiB) would
// be refused.
const minInflight = 4 << 20

// server checks the limits' flags and returns the server they ask for.
func (o *nbdOptions) server() (*nbd.Server, error) {
	inflight, err := blockio.ParseSize(o.maxInflight)
	if err != nil {
		return nil, usageErrorf("--max-inflight-bytes: %v", err)
	}
	if inflight < minInflight {
		return nil, usageErrorf("--max-inflight-bytes %s: at least 4M", o.maxInflight)
	}
	if o.maxConns < 1 {
		return nil, usageErrorf("--max-conns %d: at least 1", o.maxConns)
	}
	if o.handshakeTimeout <= 0 {
		return nil, usageErrorf("--handshake-timeout %v: must be positive", o.handshakeTimeout)
	}
	if o.replyTimeout <= 0 {
		return nil, usageErrorf("--reply-timeout %v: must be positive", o.replyTimeout)
	}
	return &nbd.Server{
		MaxInflightBytes: inflight,
		MaxConns:         o.maxConns,
		HandshakeTimeout: o.handshakeTimeout,
		ReplyTimeout:     o.replyTimeout,
		Logger:           slog.New(warnHandler{o.globalOptions}),
	}, nil
}

// tcpAddr checks --listen and returns the address to listen on.
func (o *nbdOptions) tcpAddr() (string, error) {
	addr := o.listen
	if addr == "" {
		addr = "127.0.0.1:10809"
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", usageErrorf("--listen %s: %v", addr, err)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return "", usageErrorf("--listen %s: the port is a number, 0 to 65535", addr)
	}
	if host == "" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port), nil
}

// checkSocket refuses a --socket path where a stale socket could not be
// replaced (see removeStaleSocket), touching nothing.
func checkSocket(path string) error {
	_, err := staleSocket(path)
	return err
}

// staleSocket tells what is at path, where the server's socket is to be
// made: nothing is fine; a Unix socket nobody listens on (connecting is
// refused) is left from an earlier run (stale is true). Anything else is
// refused: a regular file, a directory or a symbolic link is a usage error
// (exit 2: the path names something that is not a socket, and never will
// be while it is there); a socket a server answers on, or one that cannot
// be tried, is a failure (exit 1, as a TCP address in use is: the same
// command works once the other server is gone).
func staleSocket(path string) (stale bool, err error) {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("--socket %s: %w", path, err)
	}
	if fi.Mode().Type() != fs.ModeSocket {
		what := "a regular file"
		switch {
		case fi.IsDir():
			what = "a directory"
		case fi.Mode().Type() == fs.ModeSymlink:
			what = "a symbolic link"
		case !fi.Mode().IsRegular():
			what = "something other than a socket"
		}
		return false, usageErrorf("--socket %s: %s is there; give a path that does not exist (or an old socket of aoe nbd)", path, what)
	}
	c, err := net.DialTimeout("unix", path, time.Second)
	if err == nil {
		c.Close()
		return false, fmt.Errorf("--socket %s: a server is listening on it", path)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return false, fmt.Errorf("--socket %s: cannot tell whether a server listens on it: %w", path, err)
	}
	return true, nil
}

// listenUnix listens on path, in place of a stale socket there; anything
// else there is refused and left alone.
func listenUnix(path string) (net.Listener, error) {
	stale, err := staleSocket(path)
	if err != nil {
		return nil, err
	}
	if stale {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("--socket %s: removing the stale socket: %w", path, err)
		}
	}
	return net.Listen("unix", path)
}

func runNBD(cmd *cobra.Command, o *nbdOptions, dev string) error {
	s, err := o.server()
	if err != nil {
		return err
	}
	if _, err := addressArg(dev); err != nil {
		return err
	}
	// Every check before anything is sent or touched. A TCP address is
	// taken at once (in use: fail before the target is asked); a Unix
	// socket's path is checked now, and a stale socket there is replaced
	// only once the target is open, so that a command that fails removes
	// nothing.
	var l net.Listener
	switch {
	case o.socket != "" && o.listen != "":
		return usageErrorf("--socket and --listen exclude each other")
	case o.socket != "":
		if err := checkSocket(o.socket); err != nil {
			return err
		}
	default:
		addr, err := o.tcpAddr()
		if err != nil {
			return err
		}
		if l, err = net.Listen("tcp", addr); err != nil {
			return fmt.Errorf("--listen %s: %w", addr, err)
		}
		defer l.Close()
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
	if l == nil {
		if l, err = listenUnix(o.socket); err != nil {
			return err
		}
		// Closing the listener removes the socket it made (and only
		// that).
		defer l.Close()
	}
	exp := &nbd.Export{Name: dev, Description: "AoE " + dev, Size: t.Size(), Backend: t, ReadOnly: o.readOnly,
		PreferredBlock: preferredBlock(t.PathStats())}
	s.Exports = []*nbd.Export{exp}
	o.warnf("serving %s (%d bytes%s) on %s", dev, t.Size(), map[bool]string{true: ", read-only"}[o.readOnly], l.Addr())
	err = s.Serve(cmd.Context(), l)
	if err == nil || errors.Is(cmd.Context().Err(), context.Canceled) {
		return closeAll()
	}
	return err
}

// preferredBlock is the preferred block size the export advertises: the
// smallest power of two (the protocol wants one) that is at least 4 KiB
// and holds a whole frame's data on the path with the smallest frames: a
// multiple of it at MTU 1500 (2 sectors a frame), 16 KiB at 9000 (17).
func preferredBlock(paths []initiator.PathStats) uint32 {
	sectors := 0
	for _, p := range paths {
		if p.Sectors > 0 && (sectors == 0 || p.Sectors < sectors) {
			sectors = p.Sectors
		}
	}
	b := uint32(4096)
	for b < uint32(sectors)*512 {
		b *= 2
	}
	return b
}

// warnHandler prints the NBD server's log records as the command's other
// warnings ("aoe: " and the message; the records' attributes repeat the
// message's parts, and are left out).
type warnHandler struct{ g *globalOptions }

func (h warnHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h warnHandler) Handle(_ context.Context, r slog.Record) error {
	h.g.warnf("%s", r.Message)
	return nil
}

func (h warnHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h warnHandler) WithGroup(string) slog.Handler      { return h }
