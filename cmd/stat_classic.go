package cmd

import (
	"fmt"
	"io"
	"math/bits"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/goaoe/aoe/sysfs"
	"github.com/spf13/cobra"
)

// notAvailable is what aoetools prints for an attribute it cannot read.
const notAvailable = "(NA)"

// runClassicStat is aoetools 36's aoe-stat, as run with LC_ALL=C.
func runClassicStat(cmd *cobra.Command, o *statOptions, haveRegex bool) error {
	re := regexp.MustCompile(".")
	if haveRegex && o.regex != "" {
		var err error
		if re, err = compileBRE(o.regex); err != nil {
			fmt.Fprintf(o.stderr(), "%s: bad regular expression %q: %v\n", o.prog, o.regex, err)
			return silentExit(ExitUsage)
		}
	}
	fs, err := sysfs.NewFS(o.sysfsDir(cmd))
	if err != nil {
		fmt.Fprintf(o.stderr(), "%s Error: sysfs is not mounted\n", o.prog)
		return silentExit(ExitFailure)
	}
	names, err := fs.DeviceNames()
	if err != nil {
		return err
	}
	devs := make([]sysfs.Device, 0, len(names))
	for _, name := range names {
		d, err := fs.Device(name)
		if err != nil {
			continue // gone since the listing
		}
		devs = append(devs, d)
	}
	o.warnWrongMinors(devs, func(d sysfs.Device, node, want, got string) {
		fmt.Fprintf(o.stderr(), "%s Warning: device node %s has wrong minor device number\n", o.prog, node)
	})
	lines := classicStatLines(devs)
	printed := 0
	var b strings.Builder
	for _, l := range lines {
		if re.MatchString(l) {
			b.WriteString(l)
			b.WriteByte('\n')
			printed++
		}
	}
	if _, err := io.WriteString(o.stdout(), b.String()); err != nil {
		return err
	}
	if printed == 0 {
		return silentExit(ExitFailure)
	}
	return nil
}

// classicStatLines formats devices as aoe-stat does, sorted as LC_ALL=C sort
// sorts them, without newlines.
func classicStatLines(devs []sysfs.Device) []string {
	withPayload := false
	for _, d := range devs {
		if d.Payload != nil {
			withPayload = true
			break
		}
	}
	lines := make([]string, 0, len(devs))
	for _, d := range devs {
		size := notAvailable
		if n, ok := d.Sectors(); ok {
			size = classicSize(n)
		}
		netif, state := orNA(d.NetIf), orNA(d.State)
		var l []byte
		l = padLeft(l, d.Name, 10)
		l = append(l, ' ')
		l = padLeft(l, size, 15)
		l = append(l, ' ')
		if withPayload {
			// "%10s %15s %10s %-5s %-14s"
			l = padLeft(l, netif, 10)
			l = append(l, ' ')
			l = padRight(l, orNA(d.Payload), 5)
		} else {
			// "%10s %15s %6s %-14s"
			l = padLeft(l, netif, 6)
		}
		l = append(l, ' ')
		l = padRight(l, state, 14)
		lines = append(lines, string(l))
	}
	sort.Strings(lines)
	return lines
}

// classicSize formats sectors as aoe-stat does: 512000*sectors/10^9 whole
// "MB" printed %04d, with a dot before the last three digits, and "GB". The
// product is computed in 128 bits, so no size overflows.
func classicSize(sectors uint64) string {
	hi, lo := bits.Mul64(sectors, 512)
	mb, _ := bits.Div64(hi, lo, 1000000)
	s := strconv.FormatUint(mb, 10)
	for len(s) < 4 {
		s = "0" + s
	}
	return s[:len(s)-3] + "." + s[len(s)-3:] + "GB"
}

func orNA(s *string) string {
	if s == nil {
		return notAvailable
	}
	return *s
}

// padLeft appends s right-aligned in width bytes (printf %Ns with LC_ALL=C).
func padLeft(b []byte, s string, width int) []byte {
	for i := len(s); i < width; i++ {
		b = append(b, ' ')
	}
	return append(b, s...)
}

// padRight appends s left-aligned in width bytes (printf %-Ns).
func padRight(b []byte, s string, width int) []byte {
	b = append(b, s...)
	for i := len(s); i < width; i++ {
		b = append(b, ' ')
	}
	return b
}
