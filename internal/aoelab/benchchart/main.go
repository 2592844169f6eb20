// Command benchchart turns make bench-vm's results (one JSON file per VM,
// written by BenchmarkE2EBlockIO in cmd) into docs/performance.md, its
// tables, and docs/performance.svg, a bar chart of the sequential reads
// against the kernel driver. It is a development tool: nothing of it is
// linked into the aoe binary.
//
//	go run ./internal/aoelab/benchchart -in bin/bench-vm -md docs/performance.md -svg docs/performance.svg
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"html"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
)

// The JSON of one VM (see vmResults in cmd/e2e_blockio_test.go).
type vmResults struct {
	MTU     int    `json:"mtu"`
	CPUs    int    `json:"cpus"`
	ReadMiB int    `json:"read_mib"`
	Startup string `json:"startup"`
	// Note, when set, is printed under the VM's heading (where the
	// results came from, what they lack).
	Note string `json:"note"`
	Runs []struct {
		Name       string  `json:"name"`
		Group      string  `json:"group"`
		MBps       float64 `json:"mb_per_s"`
		Seconds    float64 `json:"seconds"`
		MaxRSSKiB  int64   `json:"max_rss_kib"`
		CtxProc    int64   `json:"ctx_switches"`
		CtxSystem  int64   `json:"ctx_switches_sys"`
		Syscalls   int64   `json:"syscalls"`
		StraceMiB  int     `json:"strace_mib"`
		SyscallSrc string  `json:"syscall_source"`
		Failed     string  `json:"failed"`
	} `json:"runs"`
	Fio []struct {
		Device string  `json:"device"`
		Name   string  `json:"name"`
		Group  string  `json:"group"` // kernel, nbd, ceiling (none before run 11)
		QD     int     `json:"queue_depth"`
		IOPS   float64 `json:"iops"`
	} `json:"fio"`
	RoundMiB int  `json:"round_mib"`
	Reversed bool `json:"rounds_reversed"` // every other round in reverse order (from run 12)
	Rounds   []struct {
		Name  string    `json:"name"`
		Group string    `json:"group"`
		MBps  []float64 `json:"mb_per_s"`
	} `json:"rounds"`
	Bench []struct {
		Name    string `json:"name"`
		Results []struct {
			Test string  `json:"test"`
			QD   int     `json:"queue_depth"`
			MBps float64 `json:"mb_per_s"`
			IOPS float64 `json:"iops"`
		} `json:"results"`
	} `json:"bench"`
}

func (v vmResults) label() string { return fmt.Sprintf("MTU %d, %d vCPU", v.MTU, v.CPUs) }

func (v vmResults) kernelMBps() float64 {
	for _, r := range v.Runs {
		if r.Group == "kernel" {
			return r.MBps
		}
	}
	return 0
}

func main() {
	in := flag.String("in", "bin/bench-vm", "directory of the VMs' JSON results")
	md := flag.String("md", "docs/performance.md", "Markdown page to write")
	svg := flag.String("svg", "docs/performance.svg", "SVG chart to write")
	cmdline := flag.String("command", "make bench-vm", "the command that made the results (quoted on the page)")
	flag.Parse()
	vms, err := load(*in)
	if err != nil {
		fail(err)
	}
	if len(vms) == 0 {
		fail(fmt.Errorf("no results in %s", *in))
	}
	var page, chart strings.Builder
	writeMarkdown(&page, vms, *cmdline, filepath.Base(*svg))
	writeSVG(&chart, vms)
	if err := os.WriteFile(*md, []byte(page.String()), 0o644); err != nil {
		fail(err)
	}
	if err := os.WriteFile(*svg, []byte(chart.String()), 0o644); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "benchchart:", err)
	os.Exit(1)
}

// load reads the results, ordered by vCPUs and then MTU.
func load(dir string) ([]vmResults, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	var vms []vmResults
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var v vmResults
		if err := json.Unmarshal(b, &v); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		vms = append(vms, v)
	}
	sort.Slice(vms, func(i, j int) bool {
		if vms[i].CPUs != vms[j].CPUs {
			return vms[i].CPUs < vms[j].CPUs
		}
		return vms[i].MTU < vms[j].MTU
	})
	return vms, nil
}

func ratio(a, b float64) string {
	if b <= 0 || a <= 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f×", a/b)
}

func writeMarkdown(w io.Writer, vms []vmResults, cmdline, svg string) {
	fmt.Fprintf(w, `# Performance

Measured by `+"`%s`"+` (BenchmarkE2EBlockIO in cmd/e2e_blockio_test.go; this
page and its chart are made from its results by internal/aoelab/benchchart).
A Debian 12 kernel (6.1) boots in qemu under TCG (no KVM: every system call
and every emulated e1000 frame is expensive), with one vblade target on a
bridge; the kernel aoe driver, the floors (internal/aoelab/floor: the least
a userspace reader can do, one thread, no retransmission; in Go, and in C
as floor/cfloor), `+"`aoe read`"+`,
`+"`aoe nbd`"+` with the kernel's nbd driver, fio and `+"`aoe bench`"+` read the
same disk in the same VM, one after another. Compare ratios within one VM:
absolute figures depend on the host's load. Why the readers stand where
they do, measured: [performance-analysis.md](performance-analysis.md).

![sequential reads, MB/s, against the kernel driver](%s)

`, cmdline, svg)
	for _, v := range vms {
		k := v.kernelMBps()
		fmt.Fprintf(w, "## %s\n\n", v.label())
		if v.Note != "" {
			fmt.Fprintf(w, "%s\n\n", v.Note)
		}
		fmt.Fprintf(w, "Sequential reads of %d MiB (1 MiB blocks, O_DIRECT for the block devices). Context switches per MiB: of the command (busybox `time -v`), and of the whole guest (/proc/stat). System calls per MiB: `strace -c -f` over 16 MiB (the kernel's row counts dd's, the driver's own work is not system calls), or the floor's own count. RSS: the command's peak (`aoe nbd`: the server's VmHWM; the floor copies round a 4 MiB buffer).\n\n", v.ReadMiB)
		fmt.Fprintln(w, "| reader | MB/s | vs kernel | RSS (KiB) | ctx sw./MiB | guest ctx sw./MiB | syscalls/MiB |")
		fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|")
		for _, r := range v.Runs {
			sc := "–"
			if r.StraceMiB > 0 && r.Syscalls > 0 {
				sc = fmt.Sprintf("%.0f", float64(r.Syscalls)/float64(r.StraceMiB))
			}
			mbps := fmt.Sprintf("%.2f", r.MBps)
			if r.Failed != "" {
				mbps = "failed"
			}
			fmt.Fprintf(w, "| %s | %s | %s | %d | %.1f | %.1f | %s |\n", r.Name, mbps, ratio(r.MBps, k), r.MaxRSSKiB,
				float64(r.CtxProc)/float64(v.ReadMiB), float64(r.CtxSystem)/float64(v.ReadMiB), sc)
		}
		fmt.Fprintln(w)
		writeRounds(w, v)
		kfio, ceiling := map[int]float64{}, map[int]float64{}
		for _, f := range v.Fio {
			switch {
			case f.Group == "kernel" || f.Group == "" && strings.HasPrefix(f.Device, "/dev/etherd"):
				kfio[f.QD] = f.IOPS
			case f.Group == "ceiling":
				ceiling[f.QD] = f.IOPS
			}
		}
		fmt.Fprintln(w, "fio, random 4 KiB reads (libaio, O_DIRECT, 3 s):")
		fmt.Fprintln(w)
		if len(ceiling) > 0 {
			fmt.Fprintln(w, "The NBD ceiling is the nbd driver with qemu-nbd serving a file in RAM: no network, no AoE, nothing for the server to do but copy from memory. `/dev/nbd0` against it: how near `aoe nbd` comes to it; the ceiling against the kernel's aoe driver: the most any NBD server could reach here.")
			fmt.Fprintln(w)
		}
		fmt.Fprintln(w, "| device | queue depth | IOPS | vs kernel | vs NBD ceiling |")
		fmt.Fprintln(w, "|---|---:|---:|---:|---:|")
		for _, f := range v.Fio {
			fmt.Fprintf(w, "| %s | %d | %.0f | %s | %s |\n", f.Name, f.QD, f.IOPS, ratio(f.IOPS, kfio[f.QD]), ratio(f.IOPS, ceiling[f.QD]))
		}
		fmt.Fprintln(w)
		fmt.Fprintln(w, "`aoe bench` (the same tests on each; `--file` for the block devices):")
		fmt.Fprintln(w)
		fmt.Fprintln(w, "| reader | test | queue depth | MB/s | IOPS |")
		fmt.Fprintln(w, "|---|---|---:|---:|---:|")
		for _, bn := range v.Bench {
			for _, x := range bn.Results {
				fmt.Fprintf(w, "| %s | %s | %d | %.1f | %.0f |\n", bn.Name, x.Test, x.QD, x.MBps, x.IOPS)
			}
		}
		fmt.Fprintf(w, "\n`aoe read` of 1 MiB (start-up and path discovery, included above): %s\n\n", v.Startup)
	}
}

// median is the median of xs, 0 if one is 0 (a failed round) or there
// is none.
func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s) == 0 || s[0] <= 0 {
		return 0
	}
	if n := len(s); n%2 == 0 {
		return (s[n/2-1] + s[n/2]) / 2
	}
	return s[len(s)/2]
}

// writeRounds writes the table of the alternated rounds, if any: each
// reader's MB/s in each round, the median, and the medians' ratios to
// aoe read's over one path, to the best floor's and, when the kernel
// driver took part in the rounds, to the driver's.
func writeRounds(w io.Writer, v vmResults) {
	if len(v.Rounds) == 0 {
		return
	}
	var read, floor, kernel float64
	for _, r := range v.Rounds {
		m := median(r.MBps)
		switch {
		case r.Name == "aoe read (1 path)":
			read = m
		case r.Group == "floor":
			floor = max(floor, m)
		case r.Group == "kernel":
			kernel = m
		}
	}
	who := "The userspace readers"
	head, rule := "| reader | MB/s in each round | median | vs aoe read (1 path) | vs best floor |", "|---|---|---:|---:|---:|"
	if kernel > 0 {
		who = "The readers, the kernel driver among them (loaded for its round, unloaded after),"
		head, rule = head+" vs kernel |", rule+"---:|"
	}
	order := "one after another in each round"
	if v.Reversed {
		order = "one after another in each round, every other round in reverse order so that a load that drifts favours no place in the order"
	}
	fmt.Fprintf(w, "%s again, in %d rounds of %d MiB, %s (the ratios of medians that the host's load moves least):\n\n", who, len(v.Rounds[0].MBps), v.RoundMiB, order)
	fmt.Fprintln(w, head)
	fmt.Fprintln(w, rule)
	for _, r := range v.Rounds {
		each := make([]string, len(r.MBps))
		for i, x := range r.MBps {
			each[i] = fmt.Sprintf("%.2f", x)
			if x <= 0 {
				each[i] = "failed"
			}
		}
		m := median(r.MBps)
		med := "–"
		if m > 0 {
			med = fmt.Sprintf("%.2f", m)
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s |", r.Name, strings.Join(each, ", "), med, ratio(m, read), ratio(m, floor))
		if kernel > 0 {
			fmt.Fprintf(w, " %s |", ratio(m, kernel))
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w)
}

// writeSVG draws, for each VM, a bar per reader: its sequential MB/s as a
// fraction of the kernel driver's (the dashed line at 1.0).
func writeSVG(w io.Writer, vms []vmResults) {
	const (
		left, barH, gap, width = 300, 14, 4, 420
		scaleMax               = 2.0 // ratio at the right edge
	)
	rows := 0
	for _, v := range vms {
		rows += len(v.Runs) + 2
	}
	height := rows*(barH+gap) + 60
	fmt.Fprintf(w, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="11">
<rect width="100%%" height="100%%" fill="white"/>
<text x="10" y="18" font-size="13" font-weight="bold">Sequential reads in the guest, MB/s as a fraction of the kernel aoe driver's</text>
`, left+width+80, height)
	colors := map[string]string{"kernel": "#555555", "floor": "#9ecae1", "engine": "#3182bd", "nbd": "#e6550d"}
	y := 36
	for _, v := range vms {
		k := v.kernelMBps()
		fmt.Fprintf(w, "<text x=\"10\" y=\"%d\" font-weight=\"bold\">%s (kernel: %.1f MB/s)</text>\n", y+barH-2, html.EscapeString(v.label()), k)
		y += barH + gap
		for _, r := range v.Runs {
			f := 0.0
			if k > 0 {
				f = r.MBps / k
			}
			bw := int(min(f, scaleMax) / scaleMax * width)
			fmt.Fprintf(w, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">%s</text>\n", left-6, y+barH-3, html.EscapeString(r.Name))
			fmt.Fprintf(w, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"%s\"/>\n", left, y, bw, barH, colors[r.Group])
			label := fmt.Sprintf("%.2f× (%.1f MB/s)", f, r.MBps)
			if r.Failed != "" {
				label = "failed"
			}
			fmt.Fprintf(w, "<text x=\"%d\" y=\"%d\">%s</text>\n", left+bw+4, y+barH-3, label)
			y += barH + gap
		}
		y += barH + gap
	}
	x1 := left + int(1/scaleMax*width)
	fmt.Fprintf(w, "<line x1=\"%d\" y1=\"30\" x2=\"%d\" y2=\"%d\" stroke=\"black\" stroke-dasharray=\"4 3\"/>\n", x1, x1, height-20)
	fmt.Fprintf(w, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">1.0× = the kernel driver</text>\n", x1, height-6)
	fmt.Fprintln(w, "</svg>")
}
