package wire

import (
	"io"
)

// ATA command opcodes used here.
const (
	ATAReadSectors     = 0x20
	ATAReadSectorsExt  = 0x24
	ATAWriteSectors    = 0x30
	ATAWriteSectorsExt = 0x34
	ATAIdentify        = 0xec
	ATAFlushCache      = 0xe7
	ATAFlushCacheExt   = 0xea // FLUSH CACHE EXT, the LBA48 form
	ATASmart           = 0xb0
)

// ATA status register bits.
const (
	ATAStatusErr  = 0x01
	ATAStatusDRQ  = 0x08
	ATAStatusDF   = 0x20
	ATAStatusDRDY = 0x40
	ATAStatusBSY  = 0x80
	// ATAStatusFailed are the bits that mark a failed command, as the
	// Linux driver checks them.
	ATAStatusFailed = ATAStatusBSY | ATAStatusDF | ATAStatusDRQ | ATAStatusErr
)

// ATA error register bits.
const (
	ATAErrAbort = 0x04 // ABRT: command aborted
	ATAErrIDNF  = 0x10 // IDNF: address out of range
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

// ATAArg is the argument of an ATA command (AoEr11, section 3.1).
//
//	off size field (from the start of the argument, frame offset 24)
//	 0   1   AFlags: E 0x40 (LBA48), D 0x10, A 0x02 (async), W 0x01 (write)
//	 1   1   request: features register; reply: error register
//	 2   1   sector count (reply: sectors remaining)
//	 3   1   request: command opcode; reply: status register
//	 4   6   LBA, little-endian byte order (lba0 first); for LBA28
//	         commands byte 3 is the device register (0xe0 | LBA 24-27)
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
	// LBA holds the six LBA bytes as sent (lba0 first).
	LBA [6]byte
	// Data is what follows the argument. In a reply it runs to the end of
	// the frame, padding included: the caller knows how much it asked for.
	Data []byte
}

// appendArg appends the encoded argument to b; it cannot fail.
func (a *ATAArg) appendArg(b []byte) ([]byte, error) {
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
	b = append(b, fl, a.FeatureErr, a.SectorCount, a.CmdStatus)
	b = append(b, a.LBA[:]...)
	b = append(b, 0, 0) // reserved
	return append(b, a.Data...), nil
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
	copy(a.LBA[:], b[4:10])
}

// SetLBA stores lba: all 48 bits for an extended command, else 28 bits with
// the device register (0xe0 | bits 24-27) in the fourth byte.
func (a *ATAArg) SetLBA(lba uint64) {
	for i := range 6 {
		a.LBA[i] = byte(lba >> (8 * i))
	}
	if !a.Extended {
		a.LBA[3] = 0xe0 | byte(lba>>24)&0x0f
		a.LBA[4], a.LBA[5] = 0, 0
	}
}

// Address returns the LBA: 48 bits for an extended command, else 28.
func (a *ATAArg) Address() uint64 {
	var lba uint64
	for i := range 6 {
		lba |= uint64(a.LBA[i]) << (8 * i)
	}
	if !a.Extended {
		lba &= 0x0fffffff
	}
	return lba
}

// NewIdentify returns the argument of an ATA IDENTIFY DEVICE request.
func NewIdentify() *ATAArg {
	a := &ATAArg{SectorCount: 1, CmdStatus: ATAIdentify}
	a.LBA[3] = 0xa0
	return a
}

// NewRead returns the argument of a READ SECTORS (EXT) request.
func NewRead(lba uint64, sectors uint8, extended bool) *ATAArg {
	a := &ATAArg{Extended: extended, SectorCount: sectors, CmdStatus: ATAReadSectors}
	if extended {
		a.CmdStatus = ATAReadSectorsExt
	}
	a.SetLBA(lba)
	return a
}

// SectorSize is the ATA sector size AoE targets use.
const SectorSize = 512
