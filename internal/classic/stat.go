// Package classic formats output exactly as aoetools 36 does, for the
// classic command names (aoe-stat, ...): pure functions over the types of
// the packages that read the state, byte for byte what the aoetools
// commands print with LC_ALL=C.
package classic

import (
	"math/bits"
	"sort"
	"strconv"

	"github.com/goaoe/aoe/sysfs"
)

// NotAvailable is what aoetools prints for an attribute it cannot read.
const NotAvailable = "(NA)"

// StatLines formats devices as aoe-stat does, sorted as LC_ALL=C sort sorts
// them, without newlines: "%10s %15s %10s %-5s %-14s" (name, size, netif,
// payload, state), or "%10s %15s %6s %-14s" when no device has a payload
// file (drivers older than the payload attribute). A missing attribute is
// (NA) in its own column.
func StatLines(devs []sysfs.Device) []string {
	withPayload := false
	for _, d := range devs {
		if d.Payload != nil {
			withPayload = true
			break
		}
	}
	lines := make([]string, 0, len(devs))
	for _, d := range devs {
		size := NotAvailable
		if n, ok := d.Sectors(); ok {
			size = Size(n)
		}
		netif, state := OrNA(d.NetIf), OrNA(d.State)
		l := make([]byte, 0, 64)
		l = padLeft(l, d.Name, 10)
		l = append(l, ' ')
		l = padLeft(l, size, 15)
		l = append(l, ' ')
		if withPayload {
			l = padLeft(l, netif, 10)
			l = append(l, ' ')
			l = padRight(l, OrNA(d.Payload), 5)
		} else {
			l = padLeft(l, netif, 6)
		}
		l = append(l, ' ')
		l = padRight(l, state, 14)
		lines = append(lines, string(l))
	}
	sort.Strings(lines)
	return lines
}

// Size formats sectors as aoe-stat does: 512000*sectors/10^9 whole "MB"
// printed %04d, with a dot before the last three digits, and "GB". The
// product is computed in 128 bits, so no size overflows.
func Size(sectors uint64) string {
	hi, lo := bits.Mul64(sectors, 512)
	mb, _ := bits.Div64(hi, lo, 1000000)
	s := strconv.FormatUint(mb, 10)
	for len(s) < 4 {
		s = "0" + s
	}
	return s[:len(s)-3] + "." + s[len(s)-3:] + "GB"
}

// OrNA returns *s, or (NA) when s is nil.
func OrNA(s *string) string {
	if s == nil {
		return NotAvailable
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
