// Package ata is the part of the ATA command set AoE carries: the opcodes
// this module sends or serves, and the bits of the status and error
// registers it reads. These are ATA's vocabulary, not AoE's: the public
// initiator/wire package carries the register bytes in wire.ATAArg
// (CmdStatus, FeatureErr) and reports a failed command as a
// *wire.ATAError; the opcodes and bits themselves stay inside the module.
package ata

// Command opcodes (the command register of a request, ATAArg.CmdStatus).
const (
	ReadSectors     = 0x20 // READ SECTORS, LBA28
	ReadSectorsExt  = 0x24 // READ SECTORS EXT, LBA48
	WriteSectors    = 0x30 // WRITE SECTORS, LBA28
	WriteSectorsExt = 0x34 // WRITE SECTORS EXT, LBA48
	Identify        = 0xec // IDENTIFY DEVICE
	FlushCache      = 0xe7 // FLUSH CACHE
	FlushCacheExt   = 0xea // FLUSH CACHE EXT, the LBA48 form
	Smart           = 0xb0 // SMART (feature register: the sub-command)
)

// Status register bits (ATAArg.CmdStatus of a reply).
const (
	StatusErr  = 0x01 // ERR: the error register says why
	StatusDRQ  = 0x08 // DRQ: data request
	StatusDF   = 0x20 // DF: device fault
	StatusDRDY = 0x40 // DRDY: device ready
	StatusBSY  = 0x80 // BSY: busy
	// StatusFailed are the bits that mark a failed command, as the Linux
	// driver checks them.
	StatusFailed = StatusBSY | StatusDF | StatusDRQ | StatusErr
)

// Error register bits (ATAArg.FeatureErr of a reply).
const (
	ErrAbort = 0x04 // ABRT: command aborted
	ErrIDNF  = 0x10 // IDNF: address out of range
)
