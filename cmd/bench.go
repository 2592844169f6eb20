package cmd

import (
	"fmt"
	"time"

	"github.com/goaoe/aoe/internal/blockio"
	"github.com/goaoe/aoe/internal/units"
	"github.com/olekukonko/tablewriter/tw"
	"github.com/spf13/cobra"
)

type benchOptions struct {
	diskOptions
	duration time.Duration
	write    bool
	span     string
	json     bool
	file     bool
}

func newBenchCmd(g *globalOptions) *cobra.Command {
	o := &benchOptions{diskOptions: diskOptions{globalOptions: g}}
	cmd := &cobra.Command{
		Use:   "bench DEV [--duration D] [--write]",
		Short: "Measure an AoE disk's throughput, IOPS and latency from userspace",
		Long: `Measure the AoE target DEV (eSHELF.SLOT) over the wire, from userspace (no
aoe driver needed; root or CAP_NET_RAW): sequential reads of 1 MiB blocks
(MB/s, 4 at a time), then random 4 KiB reads at queue depths 1 and 32
(IOPS), each for --duration; latency p50, p99 and max per test, and each
path's share: MB/s, retransmissions, bad replies (BAD: replies dropped
unused because they did not answer their request: short, another LBA,
sectors remaining), its window (the frames it keeps outstanding now, which
adapts to loss, of the target's buffer count) and smoothed RTT. The JSON
has every path counter (congestion_window, window, bad_replies...); durations
are in seconds (the schema: docs/json.md). Paths, frames and the one CPU
are as for 'aoe read'.

--span N uses only the first N bytes of the disk: at least a block of the
sequential tests (1M), at most the disk's size (else exit 2, as every
offset or length outside the disk).

--write adds the same tests for writes. Before them the bench reads the
region they use (the span's first 64 MiB at most), all of it or the bench
fails before any write; the writes then put back, block by block, what
was read there, so the disk's content is unchanged unless another host
writes meanwhile, even when the bench is interrupted or fails. Different
disks answering for DEV are refused (see below), so that the data of one
is never written to another. The write tests are refused as 'aoe write'
is (device in use here, target reserved for others) unless --force.

With --file, DEV is a local block device or file instead (read tests only,
O_DIRECT): /dev/etherd/eX.Y of the kernel aoe driver, or /dev/nbdN of an
'aoe nbd' export, measured the same way for comparison.` + targetHelp + exitCodesHelp,
		Example: `  aoe bench e1.2
  aoe bench e1.2 --duration 10s --write --json
  aoe bench --file /dev/etherd/e1.2`,
		Args: argsCheck(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runBench(cmd, o, args[0])
		},
	}
	o.addFlags(cmd, true)
	o.addTargetFlag(cmd)
	f := cmd.Flags()
	f.DurationVar(&o.duration, "duration", 5*time.Second, "how long each test runs")
	f.BoolVar(&o.write, "write", false, "also measure writes (content-preserving, see above)")
	f.StringVar(&o.span, "span", "", "use only the first N bytes of the disk (at least 1M; K, M, G suffixes)")
	f.BoolVar(&o.json, "json", false, "print JSON")
	f.BoolVar(&o.file, "file", false, "DEV is a local block device or file (read tests only)")
	f.BoolVar(&o.progress, "progress", false, "name each test on stderr even when it is not a terminal")
	return cmd
}

func runBench(cmd *cobra.Command, o *benchOptions, dev string) error {
	var span int64
	if o.span != "" {
		var err error
		if span, err = blockio.ParseSize(o.span); err != nil {
			return usageErrorf("--span: %v", err)
		}
		if span < blockio.MinSpan {
			return usageErrorf("--span %s is smaller than a block: it must be at least %d bytes (1M, the sequential tests' block)", o.span, blockio.MinSpan)
		}
	}
	if o.file {
		if o.write {
			return usageErrorf("--write does not go with --file")
		}
		if o.target.mac != nil {
			return usageErrorf("--target does not go with --file")
		}
		f, err := blockio.OpenFile(dev)
		if err != nil {
			return err
		}
		defer f.Close()
		return o.benchAndRender(cmd, dev, f, span)
	}
	t, closeAll, err := o.open(cmd, dev)
	if err != nil {
		return err
	}
	defer closeAll()
	if o.write {
		release, err := o.guard(cmd, t)
		if err != nil {
			return err
		}
		defer release()
	}
	return o.benchAndRender(cmd, dev, t, span)
}

func (o *benchOptions) benchAndRender(cmd *cobra.Command, dev string, d blockio.Benchable, span int64) error {
	// A span past the end is the user's mistake (exit 2); a disk smaller
	// than a block cannot be measured (exit 1).
	if span > d.Size() {
		return usageErrorf("--span %s (%d bytes) is more than %s has (%d bytes)", o.span, span, dev, d.Size())
	}
	if span == 0 && d.Size() < blockio.MinSpan {
		return fmt.Errorf("%s is %d bytes, smaller than a block: bench needs at least %d bytes (1 MiB, the sequential tests' block)", dev, d.Size(), blockio.MinSpan)
	}
	var progress func(string, int)
	if o.showProgress() {
		progress = func(test string, qd int) { o.warnf("%s, queue depth %d, %v...", test, qd, o.duration) }
	}
	res, err := blockio.Bench(cmd.Context(), d, blockio.BenchOptions{Duration: o.duration, Write: o.write, Span: span}, progress)
	if err != nil {
		return diskError(err)
	}
	if o.json {
		return writeJSON(o.stdout(), res)
	}
	return writeBenchTable(o, res)
}

func writeBenchTable(o *benchOptions, res []blockio.BenchResult) error {
	// BAD: replies dropped unused because they did not answer their
	// request (short, another LBA, sectors remaining); the window is
	// each path's adaptive window now, of the target's buffer count.
	header := []string{"TEST", "BS", "QD", "PATH", "MB/S", "IOPS", "P50", "P99", "MAX", "RETRANS", "BAD"}
	var rows [][]string
	for _, r := range res {
		var retrans, bad uint64
		for _, p := range r.Paths {
			retrans += p.Retransmits
			bad += p.BadReplies
		}
		rows = append(rows, []string{r.Test, units.IEC(int64(r.BlockSize)), fmt.Sprint(r.QueueDepth), "total",
			fmt.Sprintf("%.1f", r.MBps), fmt.Sprintf("%.0f", r.IOPS), latencyCell(r.LatencyP50Seconds), latencyCell(r.LatencyP99Seconds), latencyCell(r.LatencyMaxSeconds), fmt.Sprint(retrans), fmt.Sprint(bad)})
		for _, p := range r.Paths {
			srtt := "-"
			if p.SRTT > 0 {
				// "µs" is "us" under a locale that is not UTF-8.
				srtt = o.charset().Text(p.SRTT.Round(time.Microsecond).String())
			}
			path := fmt.Sprintf("%s>%s (mtu %d, %d sect, window %d/%d, srtt %s)", p.Interface, p.MAC, p.MTU, p.Sectors, p.CongestionWindow, p.Window, srtt)
			switch {
			case p.IdentityMismatch:
				path += " ANOTHER DISK"
			case p.Dead:
				path += " DEAD"
			}
			if p.LastBadReply != "" {
				path += " last bad: " + p.LastBadReply
			}
			rows = append(rows, []string{"", "", "", path, fmt.Sprintf("%.1f", p.MBps), "", "", "", "", fmt.Sprint(p.Retransmits), fmt.Sprint(p.BadReplies)})
		}
	}
	aligns := []tw.Align{tw.AlignLeft, tw.AlignRight, tw.AlignRight, tw.AlignLeft, tw.AlignRight, tw.AlignRight, tw.AlignRight, tw.AlignRight, tw.AlignRight, tw.AlignRight, tw.AlignRight}
	return writeTable(o.stdout(), header, rows, aligns)
}

// latencyCell prints a latency in milliseconds, "-" when there is none (no
// I/O completed).
func latencyCell(sec *float64) string {
	if sec == nil {
		return "-"
	}
	return fmt.Sprintf("%.2fms", *sec*1e3)
}
