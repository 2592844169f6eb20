package wire

import (
	"encoding/binary"
	"fmt"
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

// Addressing limits: LBA28 commands carry 28 bits of sector address,
// LBA48 commands 48. IDENTIFY words 60-61 are 32 bits wide and words
// 100-103 64, so a target can claim more than it can be asked for; such
// a claim is not a capacity.
const (
	maxLBA28Sectors = 1 << 28 // 128 GiB
	maxLBA48Sectors = 1 << 48 // 128 PiB
)

// Capacity returns the sectors a Disk can address: the claim (Sectors),
// capped by the addressing mode, 2^48 with LBA48 and 2^28 without;
// clamped reports that the claim was larger, and sectors is then the
// limit. A Disk never sends a sector number at or past it. Show a clamped
// claim as claimed (Sectors), with the limit, never as a byte count: the
// claim can reach 2^64 sectors.
func (id Identity) Capacity() (sectors uint64, clamped bool) {
	limit := uint64(maxLBA28Sectors)
	if id.LBA48 {
		limit = maxLBA48Sectors
	}
	n := id.Sectors()
	if n > limit {
		return limit, true
	}
	return n, false
}

// Differs names what tells two IDENTIFY answers apart as disks, such as
// `serial "A" vs "B"`: serial, model, claimed capacity and LBA48 support
// (the firmware revision is not compared: one disk may be exported by
// two target versions). Empty means the same disk. Two targets that claim
// one AoE address with different disks are a misconfiguration; one disk
// seen through several MACs is multipath. Discovery and a Disk's paths
// use this one rule.
func (id Identity) Differs(other Identity) []string {
	var d []string
	if id.Serial != other.Serial {
		d = append(d, fmt.Sprintf("serial %q vs %q", id.Serial, other.Serial))
	}
	if id.Model != other.Model {
		d = append(d, fmt.Sprintf("model %q vs %q", id.Model, other.Model))
	}
	if id.Sectors() != other.Sectors() {
		d = append(d, fmt.Sprintf("capacity %d vs %d sectors", id.Sectors(), other.Sectors()))
	}
	if id.LBA48 != other.LBA48 {
		d = append(d, fmt.Sprintf("LBA48 %v vs %v", id.LBA48, other.LBA48))
	}
	return d
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
