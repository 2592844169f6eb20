package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestChart: the page and the chart from a VM's results: ratios to the
// kernel driver, a failed run shown as failed, per-MiB figures.
func TestChart(t *testing.T) {
	vms, err := load("testdata")
	if err != nil || len(vms) != 1 {
		t.Fatalf("load: %v, %d results", err, len(vms))
	}
	var md, svg strings.Builder
	writeMarkdown(&md, vms, "make bench-vm", "performance.svg")
	writeSVG(&svg, vms)
	for _, want := range []string{
		"## MTU 1500, 1 vCPU",
		"| aoe read (1 path) | 6.00 | 0.50× | 20000 | 10.0 | 20.0 | 1000 |",
		"| floor ring-v3 | failed | – |",
		"| aoe nbd + /dev/nbd0 (1 path, nbd-client -C 1) | 1 | 300 | 0.50× | 0.75× |",
		// The NBD ceiling, and the kernel's row of a run before it had
		// groups.
		"| nbd.ko + qemu-nbd, a file in RAM (no network) | 1 | 400 | 0.67× | 1.00× |",
		"| kernel aoe /dev/etherd/e1.2 | 1 | 600 | 1.00× | 1.50× |",
		"| aoe bench (userspace) | rand-read | 32 | 8.2 | 2000 |",
		"![sequential reads, MB/s, against the kernel driver](performance.svg)",
		"every other round in reverse order",
		// Medians of the rounds (a failed round leaves none), and their
		// ratios to aoe read's, to the best floor's (the C floor's here)
		// and to the kernel driver's, which took part.
		"the kernel driver among them",
		"in 3 rounds of 32 MiB",
		"| aoe read (1 path) | 6.00, 9.00, 7.00 | 7.00 | 1.00× | 0.70× | 0.50× |",
		"| floor socket | 10.00, 8.00, 11.00 | 10.00 | 1.43× | 1.00× | 0.71× |",
		"| floor c-socket | 9.00, 12.00, 10.00 | 10.00 | 1.43× | 1.00× | 0.71× |",
		"| floor ring-v3 | 12.00, failed, 13.00 | – | – | – | – |",
		"| aoe nbd + /dev/nbd0 (1 path, nbd-client -C 1) | 5.00, 7.00, 6.00, 6.50 | 6.25 | 0.89× | 0.62× | 0.45× |",
		"| kernel aoe /dev/etherd/e1.2 | 14.00, 12.00, 16.00 | 14.00 | 2.00× | 1.40× | 1.00× |",
	} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("the page lacks %q:\n%s", want, md.String())
		}
	}
	for _, want := range []string{"<svg ", "0.83× (10.0 MB/s)", "MTU 1500, 1 vCPU (kernel: 12.0 MB/s)", "</svg>"} {
		if !strings.Contains(svg.String(), want) {
			t.Errorf("the chart lacks %q:\n%s", want, svg.String())
		}
	}
}

// TestNotInBinary: the aoe binary does not import the chart's package.
func TestNotInBinary(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "../../../cmd/aoe").Output()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "internal/aoelab") {
		t.Error("the aoe binary imports internal/aoelab")
	}
}
