// Package aoeaddr is the AoE address, shelf.slot, and its one name form,
// eSHELF.SLOT ("e1.2"), as the Linux aoe driver names its devices.
//
// It is a leaf: the wire format (initiator/wire), the driver's view
// (sysfs), boot's configuration and the commands all use this one type and
// parser, and it imports nothing of the project.
package aoeaddr

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Broadcast values (AoEr11 section 2): a frame to shelf 0xffff or slot 0xff
// is for every shelf or slot. They never name a device.
const (
	BroadcastShelf = 0xffff
	BroadcastSlot  = 0xff
)

// The largest shelf and slot of a device.
const (
	maxShelf = BroadcastShelf - 1 // 65534
	maxSlot  = BroadcastSlot - 1  // 254
)

// ErrBadName is matched (errors.Is) by every error of Parse, ParseDevice
// and Address.Set.
var ErrBadName = errors.New("not an AoE device name (want eSHELF.SLOT, shelf 0-65534, slot 0-254)")

// errBadNumber is ParseNumber's error.
var errBadNumber = errors.New("not a decimal number in range")

// Address is a target's AoE address. It is a flag.Value: a command line
// flag of the form eSHELF.SLOT.
type Address struct {
	Shelf uint16
	Slot  uint8
}

// String returns the device name, "e1.2".
func (a Address) String() string {
	return "e" + strconv.Itoa(int(a.Shelf)) + "." + strconv.Itoa(int(a.Slot))
}

// Set parses s with Parse.
func (a *Address) Set(s string) error {
	v, err := Parse(s)
	if err != nil {
		return err
	}
	*a = v
	return nil
}

// nonCanonical is Parse's error for a name with leading zeros ("e01.2"): the
// driver names its devices without them, so such a name never matches a
// device.
type nonCanonical struct{ name, canonical string }

func (e *nonCanonical) Error() string {
	return fmt.Sprintf("%q is not a canonical AoE device name: write %s", e.name, e.canonical)
}

func (e *nonCanonical) Is(target error) bool { return target == ErrBadName }

// Parse parses a device name such as "e1.2": "e", the shelf (0 to 65534)
// and the slot (0 to 254) in decimal digits, no sign, no blanks, no
// "/dev/etherd/". Leading zeros ("e01.2") are refused with an error that
// names the canonical form. Every error matches ErrBadName.
func Parse(s string) (Address, error) {
	rest, ok := strings.CutPrefix(s, "e")
	sh, sl, ok2 := strings.Cut(rest, ".")
	if ok && ok2 {
		shelf, err1 := ParseNumber(sh, maxShelf)
		slot, err2 := ParseNumber(sl, maxSlot)
		if err1 == nil && err2 == nil {
			a := Address{Shelf: uint16(shelf), Slot: uint8(slot)}
			if c := a.String(); c != s {
				return Address{}, &nonCanonical{name: s, canonical: c}
			}
			return a, nil
		}
	}
	return Address{}, fmt.Errorf("%q: %w", s, ErrBadName)
}

// ParseDevice parses the name of a disk or of one of its partitions:
// "e1.2" (part 0) or "e1.2p1" (part 1 to 255, canonical decimal). Every
// error matches ErrBadName.
func ParseDevice(s string) (a Address, part int, err error) {
	disk, p, hasPart := strings.Cut(s, "p")
	if hasPart {
		part, err = ParseNumber(p, 255)
		if err != nil || part == 0 || p[0] == '0' {
			return Address{}, 0, fmt.Errorf("%q: %w", s, ErrBadName)
		}
	}
	if a, err = Parse(disk); err != nil {
		return Address{}, 0, fmt.Errorf("%q: %w", s, ErrBadName)
	}
	return a, part, nil
}

// ParseNumber parses a non-empty string of at most 6 decimal digits, no
// sign, no larger than max. Leading zeros are allowed: aoetools' classic
// tools take shelf and slot as separate numbers ("aoeping 01 2"); Parse
// refuses them in a name.
func ParseNumber(s string, max int) (int, error) {
	if s == "" || len(s) > 6 {
		return 0, errBadNumber
	}
	n := 0
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return 0, errBadNumber
		}
		n = n*10 + int(c-'0')
	}
	if n > max {
		return 0, errBadNumber
	}
	return n, nil
}
