package blockio

import (
	"errors"
	"math"
	"testing"
)

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{
		"0": 0, "17": 17, "1K": 1024, "1k": 1024, "2M": 2 << 20, "3G": 3 << 30, "1T": 1 << 40,
		"9223372036854775807": math.MaxInt64, "8589934591G": 8589934591 << 30, "8191P": 8191 << 50,
		"1KB": 1000, "1kB": 1000, "5MB": 5e6, "2GB": 2e9, "4b": 2048, "1MiB": 1 << 20, "9c": 9,
	} {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "K", "-1", "1X", "1.5M", "99999999999P", "1 K B",
		// Never a wrapped value: too large for an int64, or no such unit.
		"1E", "8E", "1EB", "99999999999G", "8796093022208T", "9223372036854775808", "9223372036854775807K", "18446744073709551617", "+5", "0x10"} {
		if _, err := ParseSize(in); !errors.Is(err, ErrBadSize) {
			t.Errorf("ParseSize(%q): %v", in, err)
		}
	}
}
