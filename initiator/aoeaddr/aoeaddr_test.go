package aoeaddr

import (
	"errors"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name        string
		shelf, slot int
		ok          bool
	}{
		{"e0.0", 0, 0, true},
		{"e1.2", 1, 2, true},
		{"e65534.254", 65534, 254, true},
		{"e10.1", 10, 1, true},
		{"e010.01", 0, 0, false}, // leading zeros: never a device's name
		{"e01.2", 0, 0, false},
		{"e1.02", 0, 0, false},
		{"e0.00", 0, 0, false},
		{"e65535.0", 0, 0, false},
		{"e65535.1", 0, 0, false},
		{"e1.255", 0, 0, false},
		{"e1", 0, 0, false},
		{"e", 0, 0, false},
		{"e1.", 0, 0, false},
		{"e.1", 0, 0, false},
		{"1.2", 0, 0, false},
		{"E1.2", 0, 0, false},
		{"e-1.2", 0, 0, false},
		{"e+1.2", 0, 0, false},
		{"e1.2p1", 0, 0, false},
		{"e1.2\n", 0, 0, false},
		{"e1.2 ", 0, 0, false},
		{"/dev/etherd/e1.2", 0, 0, false},
		{"e1.2.3", 0, 0, false},
		{"e999999.1", 0, 0, false},
		{"", 0, 0, false},
	}
	for _, tt := range tests {
		a, err := Parse(tt.name)
		if ok := err == nil; ok != tt.ok || int(a.Shelf) != tt.shelf || int(a.Slot) != tt.slot {
			t.Errorf("Parse(%q) = %v, %v; want e%d.%d, ok=%v", tt.name, a, err, tt.shelf, tt.slot, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrBadName) {
			t.Errorf("Parse(%q): error %v is not ErrBadName", tt.name, err)
		}
		if err == nil && a.String() != tt.name {
			t.Errorf("Parse(%q).String() = %q", tt.name, a)
		}
	}
	if _, err := Parse("e01.2"); err == nil || err.Error() != `"e01.2" is not a canonical AoE device name: write e1.2` {
		t.Errorf("leading zero: %v", err)
	}
	var a Address
	if err := a.Set("e7.3"); err != nil || a != (Address{7, 3}) {
		t.Errorf("Set: %v %v", a, err)
	}
}

func TestParseDevice(t *testing.T) {
	for s, want := range map[string]int{"e1.2": 0, "e1.2p1": 1, "e1.2p255": 255} {
		a, part, err := ParseDevice(s)
		if err != nil || a != (Address{1, 2}) || part != want {
			t.Errorf("ParseDevice(%q) = %v %d %v", s, a, part, err)
		}
	}
	for _, s := range []string{"e1.2p0", "e1.2p01", "e1.2p256", "e1.2p", "e1.2p+1", "e1.2p1x", "e01.2p1", "sda1", "e1.2p99999999999999999999", "e1.99999999999999999999"} {
		if _, _, err := ParseDevice(s); !errors.Is(err, ErrBadName) {
			t.Errorf("ParseDevice(%q): %v", s, err)
		}
	}
}

func TestParseNumber(t *testing.T) {
	if n, err := ParseNumber("010", 255); err != nil || n != 10 {
		t.Errorf("classic decimal: %d %v", n, err)
	}
	for _, s := range []string{"", "256", "-1", "+1", "1 ", "1234567", "0x1"} {
		if _, err := ParseNumber(s, 255); err == nil {
			t.Errorf("ParseNumber(%q) accepted", s)
		}
	}
}

// FuzzParse: what parses is canonical and formats back to itself.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"e1.2", "e65535.255", "e01.2", "e1.02", "e1.", "e.1", "e1.2.3", "e99999.1", "ee1.2", "e1.256", "e1.2p3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := Parse(s)
		if err != nil {
			return
		}
		if a.Shelf > maxShelf || a.Slot > maxSlot || a.String() != s {
			t.Fatalf("%q parsed as %v", s, a)
		}
	})
}
