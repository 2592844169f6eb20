package cmd

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/goaoe/aoe/internal/blockio"
	"github.com/spf13/cobra"
)

type writeOptions struct {
	diskOptions
	offset string
	input  string
}

func newWriteCmd(g *globalOptions) *cobra.Command {
	o := &writeOptions{diskOptions: diskOptions{globalOptions: g}}
	cmd := &cobra.Command{
		Use:   "write DEV [--input FILE] [--offset N]",
		Short: "Write to an AoE disk from userspace (destructive)",
		Long: `Write stdin (or FILE, with --input) to the AoE target DEV (eSHELF.SLOT) at
--offset, over the wire, from userspace: the kernel's aoe driver is not
needed (root or CAP_NET_RAW is). What was on the disk there is lost. The
write ends with FLUSH CACHE, so that the data is on the target's stable
storage when the command succeeds.

It refuses, unless --force is given:
  - when the kernel's aoe driver on this host has DEV open, mounted, or held
    by device-mapper or md (the checks of 'aoe flush DEV');
  - when the target's reserve list names other hosts and not this one.
--reserve makes the target reserved for this host (the MACs of the
interfaces used) while writing, and releases it after.

Paths, frames, retransmissions, --deadline and the one CPU are as for 'aoe
read'. The offset takes dd's sizes (K, M, G powers of 1024; KB, MB, GB
powers of 1000) and need not be sector-aligned: partial sectors are read,
merged and written back. Writing past the end of the disk is the user's
mistake (exit 2): an --offset past the end, or an --input file that does
not fit, is refused before anything is written; stdin, whose size is not
known before, is written up to the end of the disk, flushed, and the rest
refused. A disk that fails mid-write exits 1, a request that no path
answers within --deadline 5. A read-only target (vblade -r) refuses the
write, and the error says so.` + targetHelp + exitCodesHelp,
		Example: `  aoe write e1.2 --input disk.img
  xz -dc disk.img.xz | aoe write e1.2 --reserve
  printf 'hello' | aoe write e1.2 --offset 1M`,
		Args: argsCheck(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runWrite(cmd, o, args[0])
		},
	}
	o.addFlags(cmd, true)
	o.addTargetFlag(cmd)
	f := cmd.Flags()
	f.StringVar(&o.offset, "offset", "0", "where to start writing (bytes; K, M, G, KB, MB, GB suffixes)")
	f.StringVar(&o.input, "input", "", "read the data from FILE instead of stdin")
	f.BoolVar(&o.progress, "progress", false, "show progress on stderr even when it is not a terminal (plain lines: every 10% or 30s)")
	return cmd
}

func runWrite(cmd *cobra.Command, o *writeOptions, dev string) error {
	off, err := blockio.ParseSize(o.offset)
	if err != nil {
		return usageErrorf("--offset: %v", err)
	}
	var r io.Reader = o.env.Stdin
	total := int64(0)
	if o.input != "" && o.input != "-" {
		f, err := os.Open(o.input)
		if err != nil {
			return err
		}
		defer f.Close()
		if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
			total = fi.Size()
		}
		r = f
	}
	t, closeAll, err := o.open(cmd, dev)
	if err != nil {
		return err
	}
	defer closeAll()
	if off > t.Size() {
		return usageErrorf("--offset %d is past the end of %s (%d bytes)", off, dev, t.Size())
	}
	if total > t.Size()-off {
		return usageErrorf("%s is %d bytes: the %d bytes of %s at --offset %d do not fit", dev, t.Size(), total, o.input, off)
	}
	release, err := o.guard(cmd, t)
	if err != nil {
		return err
	}
	p := o.newProgress("write "+dev, total)
	n, err := blockio.WriteFrom(cmd.Context(), t, off, r, p)
	p.Finish()
	// The input going on past the end: what fits was written; flush it
	// all the same, then say so (the user's mistake, exit 2).
	past := errors.Is(err, blockio.ErrOutOfRange)
	if err == nil || past {
		serr := t.Sync()
		if serr == nil && t.FlushUnsupported() {
			o.warnf("%s does not implement FLUSH CACHE: the data is as safe as the target keeps it (vblade: -s writes synchronously)", dev)
		}
		if past && serr == nil {
			err = usageErrorf("%s is %d bytes: the input does not fit at --offset %d; the %d bytes up to the end were written, the rest of the input was not", dev, t.Size(), off, n)
		} else if serr != nil {
			err = serr
		}
	}
	if rerr := release(); rerr != nil {
		err = errors.Join(err, rerr)
	}
	if errors.Is(err, ErrUsage) {
		return err
	}
	if err != nil {
		return diskError(fmt.Errorf("after %d bytes written: %w", n, err))
	}
	return closeAll()
}
