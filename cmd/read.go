package cmd

import (
	"fmt"
	"io"
	"os"

	"github.com/goaoe/aoe/internal/blockio"
	"github.com/spf13/cobra"
)

type readOptions struct {
	diskOptions
	offset, length string
	output         string
}

func newReadCmd(g *globalOptions) *cobra.Command {
	o := &readOptions{diskOptions: diskOptions{globalOptions: g}}
	cmd := &cobra.Command{
		Use:   "read DEV [--offset N] [--length N] [-o FILE]",
		Short: "Read an AoE disk from userspace, without the aoe driver",
		Long: `Read the AoE target DEV (eSHELF.SLOT) over the wire, from userspace: the
kernel's aoe driver is not needed (root or CAP_NET_RAW is). The data goes
to stdout, or to FILE with -o.

The target's paths are found with a Query Config on the interfaces (-i,
else the driver's aoe_iflist, else every up Ethernet interface); reads are
spread over all of them, as many ATA sectors per frame as each path's MTU
and the target allow (jumbo frames when both sides do), at most the
target's buffer count of frames outstanding. Lost frames are sent again
after a timeout computed from each path's round-trip times; a request that
no path answers within --deadline fails the read (exit 5). The command
runs on one CPU, as with GOMAXPROCS=1 (set $GOMAXPROCS to change it): its
data path is one event loop, and more processors would only add wake-ups.

--offset and --length take dd's sizes: K, M, G, T are powers of 1024, KB,
MB, GB, TB powers of 1000, b 512-byte sectors; any offset and length, not
only whole sectors. Without --length the read goes to the end of the disk.
An --offset past the end, or a --length that passes it, is refused before
anything is read (exit 2, as every offset or length outside the disk in
read, write, bench and nbd); a disk that fails mid-read exits 1, a request
that no path answers within --deadline 5: the output then holds the bytes
read before, and never a byte the disk did not return. Progress (bytes,
rate, ETA) goes to stderr when it is a terminal, or with --progress.` + targetHelp + exitCodesHelp,
		Example: `  aoe read e1.2 -o e1.2.img
  aoe read e1.2 --offset 1M --length 4K | hexdump -C
  aoe read e1.2 -i eth1,eth2 | sha256sum`,
		Args: argsCheck(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRead(cmd, o, args[0])
		},
	}
	o.addFlags(cmd, false)
	o.addTargetFlag(cmd)
	f := cmd.Flags()
	f.StringVar(&o.offset, "offset", "0", "where to start reading (bytes; K, M, G, KB, MB, GB suffixes)")
	f.StringVar(&o.length, "length", "", "how much to read (default: to the end of the disk)")
	f.StringVarP(&o.output, "output", "o", "", "write to FILE instead of stdout")
	f.BoolVar(&o.progress, "progress", false, "show progress on stderr even when it is not a terminal (plain lines: every 10% or 30s)")
	return cmd
}

func runRead(cmd *cobra.Command, o *readOptions, dev string) error {
	off, err := blockio.ParseSize(o.offset)
	if err != nil {
		return usageErrorf("--offset: %v", err)
	}
	length := int64(-1)
	if o.length != "" {
		if length, err = blockio.ParseSize(o.length); err != nil {
			return usageErrorf("--length: %v", err)
		}
	}
	t, closeAll, err := o.open(cmd, dev)
	if err != nil {
		return err
	}
	defer closeAll()
	if length < 0 {
		length = max(0, t.Size()-off) // an offset past the end fails below
	}
	if err := checkRange(dev, t.Size(), off, length, "--length"); err != nil {
		return err
	}
	var w io.Writer = o.stdout()
	if o.output != "" {
		f, err := os.Create(o.output)
		if err != nil {
			return err
		}
		defer f.Close()
		w = f
	}
	p := o.newProgress("read "+dev, length)
	n, err := blockio.ReadTo(cmd.Context(), t, off, length, w, p)
	p.Finish()
	if err != nil {
		return diskError(fmt.Errorf("after %d bytes: %w", n, err))
	}
	if f, ok := w.(*os.File); ok && o.output != "" {
		return f.Close()
	}
	return nil
}
