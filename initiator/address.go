package initiator

import (
	"errors"
	"fmt"
	"strings"
)

// Address limits: shelf 0xffff and slot 0xff are the broadcast values and
// never name a device.
const (
	MaxShelf = BroadcastShelf - 1 // 65534
	MaxSlot  = BroadcastSlot - 1  // 254
)

// ErrBadAddressName is returned by ParseAddress and Address.Set when a string
// is not a canonical eSHELF.SLOT name.
var ErrBadAddressName = errors.New("not an AoE address (want eSHELF.SLOT in decimal without leading zeros, shelf 0-65534, slot 0-254)")

// ErrBadNumber is returned by ParseDecimal when a string is not a decimal
// number in range.
var ErrBadNumber = errors.New("not a decimal number in range")

// Address is a target's AoE address, shelf.slot. It is a pflag.Value: a
// command line flag or argument of the form eSHELF.SLOT.
type Address struct {
	Shelf uint16
	Slot  uint8
}

// String returns the device name, "e1.2".
func (a Address) String() string { return DeviceName(a.Shelf, a.Slot) }

// Type names the flag type in help.
func (a *Address) Type() string { return "eSHELF.SLOT" }

// Set parses s with ParseAddress.
func (a *Address) Set(s string) error {
	v, err := ParseAddress(s)
	if err != nil {
		return err
	}
	*a = v
	return nil
}

// ParseAddress parses a device name such as "e1.2": "e", the shelf (0 to
// 65534) and the slot (0 to 254) in canonical decimal (no sign, no leading
// zero). It fails with an error wrapping ErrBadAddressName.
func ParseAddress(s string) (Address, error) {
	rest, ok := strings.CutPrefix(s, "e")
	sh, sl, ok2 := strings.Cut(rest, ".")
	if ok && ok2 {
		shelf, err1 := ParseDecimal(sh, MaxShelf, true)
		slot, err2 := ParseDecimal(sl, MaxSlot, true)
		if err1 == nil && err2 == nil {
			return Address{Shelf: uint16(shelf), Slot: uint8(slot)}, nil
		}
	}
	return Address{}, fmt.Errorf("%q: %w", s, ErrBadAddressName)
}

// ParseDecimal parses a non-empty string of decimal digits no larger than
// max; canonical also refuses leading zeros ("07"). It is the one number
// parser of AoE addresses (aoetools' classic tools take shelf and slot as
// separate numbers, where leading zeros are allowed). It fails with
// ErrBadNumber.
func ParseDecimal(s string, max int, canonical bool) (int, error) {
	if s == "" || len(s) > 6 || (canonical && len(s) > 1 && s[0] == '0') {
		return 0, ErrBadNumber
	}
	n := 0
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return 0, ErrBadNumber
		}
		n = n*10 + int(c-'0')
	}
	if n > max {
		return 0, ErrBadNumber
	}
	return n, nil
}
