// Package units formats quantities for people: sizes in SI units with three
// significant digits, as disk vendors count them (Bytes, Sectors), and in
// binary units for transfers and exact sizes (IEC, ExactIEC).
package units

import (
	"fmt"
	"strconv"
)

// siUnits are the SI prefixes of bytes, from kilo up.
var siUnits = []string{"kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"}

// Bytes formats a size in bytes with SI units and three significant digits:
// "512 B", "1.02 kB", "537 MB", "1.07 GB". A value that rounds to 1000 of
// a unit rolls over to the next one (999,936 bytes is "1.00 MB", never
// "1000 kB"), and the number of decimals follows the rounded value (9,999,872
// bytes is "10.0 MB", never "10.00 MB").
func Bytes(n float64) string {
	if n < 1000 {
		return strconv.FormatFloat(n, 'f', 0, 64) + " B"
	}
	v := n
	for i, u := range siUnits {
		v /= 1000
		for prec, limit := 2, 10.0; prec >= 0; prec, limit = prec-1, limit*10 {
			s := strconv.FormatFloat(v, 'f', prec, 64)
			if r, _ := strconv.ParseFloat(s, 64); r < limit || (prec == 0 && i == len(siUnits)-1) {
				return s + " " + u
			}
		}
	}
	return strconv.FormatFloat(n, 'e', 2, 64) + " B" // unreachable: YB takes all
}

// Sectors formats a size given in 512-byte sectors, as Bytes does.
func Sectors(sectors uint64) string {
	return Bytes(float64(sectors) * 512)
}

// iecUnits are the binary prefixes of bytes, from the largest down.
var iecUnits = []struct {
	shift uint
	name  string
}{{50, "PiB"}, {40, "TiB"}, {30, "GiB"}, {20, "MiB"}, {10, "KiB"}}

// IEC formats a byte count in the largest binary unit it reaches, with
// two decimals from GiB up and one below ("4.0 KiB", "3.00 GiB"), or in
// bytes below 1 KiB ("1023 B"): the progress of a copy, a block size.
func IEC(n int64) string {
	for _, u := range iecUnits {
		if n >= 1<<u.shift {
			prec := 2
			if u.shift < 30 {
				prec = 1
			}
			return strconv.FormatFloat(float64(n)/float64(uint64(1)<<u.shift), 'f', prec, 64) + " " + u.name
		}
	}
	return fmt.Sprintf("%d B", n)
}

// ExactIEC formats n bytes in the largest binary unit that divides it
// ("128 GiB"), else in bytes ("1000 bytes").
func ExactIEC(n uint64) string {
	for _, u := range iecUnits {
		if n >= 1<<u.shift && n%(1<<u.shift) == 0 {
			return fmt.Sprintf("%d %s", n>>u.shift, u.name)
		}
	}
	return fmt.Sprintf("%d bytes", n)
}
