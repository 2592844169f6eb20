// Package units formats quantities for people: sizes in SI units with three
// significant digits, as disk vendors count them.
package units

import "strconv"

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
