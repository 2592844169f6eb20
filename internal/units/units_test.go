package units

import (
	"math"
	"testing"
)

func TestSectors(t *testing.T) {
	tests := []struct {
		sectors uint64
		want    string
	}{
		{0, "0 B"},
		{1, "512 B"},
		{2, "1.02 kB"},
		{19, "9.73 kB"},
		{20, "10.2 kB"},
		{195, "99.8 kB"},
		{1953, "1.00 MB"},       // 999,936 bytes: not "1000 kB"
		{1952, "999 kB"},        // 999,424 bytes
		{19531, "10.0 MB"},      // 9,999,872 bytes: not "10.00 MB"
		{19530, "10.0 MB"},      // 9,999,360 bytes
		{19520, "9.99 MB"},      // 9,994,240 bytes
		{195312, "100 MB"},      // 99,999,744 bytes: not "100.0 MB"
		{1953124, "1.00 GB"},    // 999,999,488 bytes: not "1000 MB"
		{2097152, "1.07 GB"},    // 1 GiB
		{1048576, "537 MB"},     // 512 MiB
		{204800, "105 MB"},      // 100 MiB
		{20971520, "10.7 GB"},   // 10 GiB
		{1 << 40, "563 TB"},     // 2^49 bytes
		{1<<64 - 1, "9.44 ZB"},  // the largest size file
		{1953125000, "1.00 TB"}, // exactly 10^12 bytes
	}
	for _, tt := range tests {
		if got := Sectors(tt.sectors); got != tt.want {
			t.Errorf("Sectors(%d) = %q, want %q", tt.sectors, got, tt.want)
		}
	}
}

// TestBytesSignificantDigits: every size from 1 kB to 10 GB, on a
// logarithmic sweep, has exactly three significant digits and a number
// below 1000.
func TestBytesSignificantDigits(t *testing.T) {
	for n := 1000.0; n < 1e10; n *= 1.0007 {
		s := Bytes(n)
		digits := 0
		var num float64
		for i, c := range s {
			if c == ' ' {
				num = parse(t, s[:i])
				break
			}
			if c >= '0' && c <= '9' {
				digits++
			}
		}
		if digits != 3 || num >= 1000 || num < 1 {
			t.Fatalf("Bytes(%.0f) = %q", n, s)
		}
	}
}

func parse(t *testing.T, s string) float64 {
	var v float64
	var frac float64
	for _, c := range s {
		switch {
		case c == '.':
			frac = 1
		case frac > 0:
			frac /= 10
			v += float64(c-'0') * frac
		default:
			v = v*10 + float64(c-'0')
		}
	}
	return v
}

func TestIEC(t *testing.T) {
	for n, want := range map[int64]string{
		0: "0 B", 1023: "1023 B", 4096: "4.0 KiB", 1 << 20: "1.0 MiB", 3 << 30: "3.00 GiB",
		1 << 40: "1.00 TiB", 1 << 57: "128.00 PiB", math.MaxInt64: "8192.00 PiB",
		1536: "1.5 KiB", 1<<30 - 1: "1024.0 MiB",
	} {
		if got := IEC(n); got != want {
			t.Errorf("IEC(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestExactIEC(t *testing.T) {
	for n, want := range map[uint64]string{
		0: "0 bytes", 1000: "1000 bytes", 1024: "1 KiB", 128 << 30: "128 GiB",
		3 << 20: "3 MiB", 1<<40 + 512: "1099511628288 bytes", 1 << 60: "1024 PiB", 6 << 39: "3 TiB",
	} {
		if got := ExactIEC(n); got != want {
			t.Errorf("ExactIEC(%d) = %q, want %q", n, got, want)
		}
	}
}
