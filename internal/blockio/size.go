package blockio

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// ErrBadSize is returned by ParseSize for what is not a size.
var ErrBadSize = errors.New("not a size")

// sizeUnits are dd's multiplicative suffixes: K, M, G... are powers of
// 1024 (KiB, MiB... also accepted), KB, MB, GB... powers of 1000, b is
// 512 and c is 1.
var sizeUnits = map[string]int64{
	"": 1, "c": 1, "b": 512,
	"k": 1 << 10, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40, "P": 1 << 50,
	"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40, "PiB": 1 << 50,
	"kB": 1e3, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12, "PB": 1e15,
}

// ParseSize reads a byte count as dd does: a number and an optional
// suffix (K, M, G, T, P: powers of 1024; KB, MB, GB, TB, PB: powers of
// 1000; b: 512-byte blocks). It fails with an error wrapping ErrBadSize.
func ParseSize(s string) (int64, error) {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, fmt.Errorf("%q: %w (a number with an optional K, M, G, KB, MB, GB suffix)", s, ErrBadSize)
	}
	n, err := strconv.ParseInt(s[:i], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q: %w", s, ErrBadSize)
	}
	unit, ok := sizeUnits[strings.TrimSpace(s[i:])]
	if !ok {
		return 0, fmt.Errorf("%q: %w: unknown suffix %q (K, M, G, T = powers of 1024; KB, MB, GB, TB = powers of 1000)", s, ErrBadSize, s[i:])
	}
	if n > math.MaxInt64/unit {
		return 0, fmt.Errorf("%q: %w: too large", s, ErrBadSize)
	}
	return n * unit, nil
}
