package wire

import (
	"encoding/binary"
	"io"

	"github.com/goaoe/aoe/internal/ata"
)

// AFlags bits of the ATA argument.
const (
	aflagExtended = 0x40
	aflagDevice   = 0x10
	aflagAsync    = 0x02
	aflagWrite    = 0x01
)

// ataArgLen is the fixed part of the ATA argument.
const ataArgLen = 12

// The device register (LBA byte 3 of an LBA28 command): the two obsolete
// bits and the LBA bit set, device 0; its low nibble is LBA bits 24-27.
const (
	devLBA28 = 0xe0
	devLBA   = 0x40
)

// ATAArg is the argument of an ATA command (AoEr11, section 3.1).
//
//	off size field (from the start of the argument, frame offset 24)
//	 0   1   AFlags: E 0x40 (LBA48), D 0x10, A 0x02 (async), W 0x01 (write)
//	 1   1   request: features register; reply: error register
//	 2   1   sector count (reply: sectors remaining)
//	 3   1   request: command opcode; reply: status register
//	 4   6   LBA, little-endian byte order (lba0 first); for LBA28
//	         commands byte 3 is the device register (0xe0 | LBA 24-27,
//	         0xa0 with NoLBA) and bytes 4-5 are zero
//	10   2   reserved, zero
//	12   ..  data: writes carry it in the request, reads in the reply
type ATAArg struct {
	Extended bool // LBA48 command
	Device   bool // the D flag; sent as false
	Async    bool
	Write    bool
	// FeatureErr is the features register in a request, the error
	// register in a reply.
	FeatureErr uint8
	// SectorCount is the number of sectors to transfer in a request, the
	// sectors remaining in a reply.
	SectorCount uint8
	// CmdStatus is the command opcode in a request, the status register in
	// a reply.
	CmdStatus uint8
	// LBA is the sector address: 48 bits for an Extended command, else
	// 28 (the frame's bits above are not kept when decoding, not sent when
	// encoding).
	LBA uint64
	// NoLBA, for a command that is not Extended, clears the LBA bit of
	// the device register: 0xa0 is sent instead of 0xe0, as IDENTIFY and
	// SMART, which address no sector, are sent. Decoding sets it from
	// that bit.
	NoLBA bool
	// Data is what follows the argument. In a reply it runs to the end of
	// the frame, padding included: the caller knows how much it asked for.
	Data []byte
}

// appendArg appends the encoded argument to b; it cannot fail.
func (a *ATAArg) appendArg(b []byte) ([]byte, error) {
	n := len(b)
	b = append(b, make([]byte, ataArgLen)...)
	a.PutHeader(b[n:])
	return append(b, a.Data...), nil
}

// PutHeader writes the argument's fixed part, the 12 bytes before Data,
// into b[:12] as AppendBinary encodes it. A sender of many ATA requests
// on one path encodes a frame's header once and then writes, per frame,
// only the tag (the header's last 4 bytes, big-endian) and this: nothing
// is allocated or appended. It panics when b is shorter than 12 bytes.
func (a *ATAArg) PutHeader(b []byte) {
	_ = b[ataArgLen-1]
	var fl uint8
	if a.Extended {
		fl |= aflagExtended
	}
	if a.Device {
		fl |= aflagDevice
	}
	if a.Async {
		fl |= aflagAsync
	}
	if a.Write {
		fl |= aflagWrite
	}
	b[0], b[1], b[2], b[3] = fl, a.FeatureErr, a.SectorCount, a.CmdStatus
	binary.LittleEndian.PutUint32(b[4:8], uint32(a.LBA))
	binary.LittleEndian.PutUint16(b[8:10], uint16(a.LBA>>32))
	if !a.Extended {
		dev := byte(devLBA28)
		if a.NoLBA {
			dev &^= devLBA
		}
		b[7] = dev | b[7]&0x0f
		b[8], b[9] = 0, 0
	}
	b[10], b[11] = 0, 0 // reserved
}

// decodeArg decodes the argument. Reserved bytes are not checked.
func (a *ATAArg) decodeArg(b []byte) error {
	if len(b) < ataArgLen {
		return io.ErrUnexpectedEOF
	}
	a.decodeHeader(b)
	a.Data = append([]byte(nil), b[ataArgLen:]...)
	return nil
}

// decodeHeader sets every field but Data from the fixed part of the
// argument, b[:ataArgLen].
func (a *ATAArg) decodeHeader(b []byte) {
	*a = ATAArg{
		Extended:    b[0]&aflagExtended != 0,
		Device:      b[0]&aflagDevice != 0,
		Async:       b[0]&aflagAsync != 0,
		Write:       b[0]&aflagWrite != 0,
		FeatureErr:  b[1],
		SectorCount: b[2],
		CmdStatus:   b[3],
	}
	var lba [8]byte
	copy(lba[:6], b[4:10])
	a.LBA = binary.LittleEndian.Uint64(lba[:])
	if !a.Extended {
		a.LBA &= 0x0fffffff
		a.NoLBA = b[7]&devLBA == 0
	}
}

// NewIdentify returns the argument of an ATA IDENTIFY DEVICE request.
func NewIdentify() *ATAArg {
	return &ATAArg{SectorCount: 1, CmdStatus: ata.Identify, NoLBA: true}
}

// NewRead returns the argument of a READ SECTORS (EXT) request.
func NewRead(lba uint64, sectors uint8, extended bool) *ATAArg {
	a := &ATAArg{Extended: extended, SectorCount: sectors, CmdStatus: ata.ReadSectors, LBA: lba}
	if extended {
		a.CmdStatus = ata.ReadSectorsExt
	}
	return a
}

// SectorSize is the ATA sector size AoE targets use.
const SectorSize = 512
