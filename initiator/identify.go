package initiator

import (
	"encoding/binary"
	"io"
	"strings"
)

// Identity is what ATA IDENTIFY DEVICE says about a disk (ATA/ATAPI-8
// words as used by the Linux aoe driver).
type Identity struct {
	Model    string // words 27-46
	Serial   string // words 10-19
	Firmware string // words 23-26
	// LBA28Sectors is words 60-61; LBA48Sectors words 100-103.
	LBA28Sectors uint32
	LBA48Sectors uint64
	LBA48        bool // word 83 bit 10
	Flush        bool // word 83 bit 12
	SMART        bool // word 82 bit 0
}

// ParseIdentify decodes the 512 bytes of IDENTIFY DEVICE data. Strings are
// byte-swapped per 16-bit word, as ATA stores them, and trimmed.
func ParseIdentify(b []byte) (Identity, error) {
	if len(b) < 512 {
		return Identity{}, io.ErrUnexpectedEOF
	}
	w := func(i int) uint16 { return binary.LittleEndian.Uint16(b[2*i:]) }
	id := Identity{
		Serial:       ataString(b, 10, 20),
		Firmware:     ataString(b, 23, 27),
		Model:        ataString(b, 27, 47),
		LBA28Sectors: uint32(w(60)) | uint32(w(61))<<16,
		LBA48:        w(83)&(1<<10) != 0,
		Flush:        w(83)&(1<<12) != 0,
		SMART:        w(82)&1 != 0,
	}
	for i := 3; i >= 0; i-- {
		id.LBA48Sectors = id.LBA48Sectors<<16 | uint64(w(100+i))
	}
	return id, nil
}

// Sectors returns the capacity in 512-byte sectors, as the Linux driver
// takes it: words 100-103 when LBA48 is supported, else words 60-61.
func (id Identity) Sectors() uint64 {
	if id.LBA48 {
		return id.LBA48Sectors
	}
	return uint64(id.LBA28Sectors)
}

// SameDisk reports whether two IDENTIFY answers describe the same disk:
// same serial, model and capacity. Two targets that claim one AoE address
// with different disks are a misconfiguration; one disk seen through
// several MACs is multipath.
func (id Identity) SameDisk(other Identity) bool {
	return id.Serial == other.Serial && id.Model == other.Model && id.Sectors() == other.Sectors()
}

// ataString reads words [from, to) as an ATA string.
func ataString(b []byte, from, to int) string {
	s := make([]byte, 0, 2*(to-from))
	for i := from; i < to; i++ {
		s = append(s, b[2*i+1], b[2*i])
	}
	if i := strings.IndexByte(string(s), 0); i >= 0 {
		s = s[:i]
	}
	return strings.TrimSpace(strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e {
			return -1
		}
		return r
	}, string(s)))
}
