package wire

import (
	"encoding/binary"
	"fmt"
	"io"
)

// Query Config sub-commands (ConfigArg.Command; AoEr11, section 3.2).
const (
	// ConfigRead asks for the target's configuration.
	ConfigRead = 0
	// ConfigTest: the target answers only if its string equals ours.
	ConfigTest = 1
	// ConfigTestPrefix: it answers only if ours is a prefix of its string.
	ConfigTestPrefix = 2
	// ConfigSet sets the string if the target has none (else error 4).
	ConfigSet = 3
	// ConfigForceSet sets the string unconditionally.
	ConfigForceSet = 4
)

// MaxConfigString is the longest config string AoEr11 allows.
const MaxConfigString = 1024

// configArgLen is the fixed part of the argument.
const configArgLen = 2 + 2 + 1 + 1 + 2

// ConfigArg is the argument of Query Config.
//
//	off size field (from the start of the argument, frame offset 24)
//	 0   2   buffer count: frames the target queues (0 in requests)
//	 2   2   firmware version (0 in requests)
//	 4   1   sector count: most sectors per ATA command; 0 means 2
//	 5   1   AoE version (high nibble) | config command (low nibble)
//	 6   2   config string length n, big-endian, <= 1024
//	 8   n   config string
type ConfigArg struct {
	BufferCount     uint16
	FirmwareVersion uint16
	SectorCount     uint8
	// Version is the AoE version nibble; 0 is sent as 1.
	Version uint8
	Command uint8 // ConfigRead, ConfigTest... (4 bits)
	String  []byte
}

// appendArg appends the encoded argument to b.
func (a *ConfigArg) appendArg(b []byte) ([]byte, error) {
	if len(a.String) > MaxConfigString {
		return nil, ErrConfigStringTooLong
	}
	if a.Command > 0x0f {
		return nil, fmt.Errorf("aoe: config command %d does not fit in 4 bits", a.Command)
	}
	v := a.Version
	if v == 0 {
		v = version
	}
	b = binary.BigEndian.AppendUint16(b, a.BufferCount)
	b = binary.BigEndian.AppendUint16(b, a.FirmwareVersion)
	b = append(b, a.SectorCount, v<<4|a.Command)
	b = binary.BigEndian.AppendUint16(b, uint16(len(a.String)))
	return append(b, a.String...), nil
}

// decodeArg decodes the argument; bytes after the string (padding)
// are ignored. A length field larger than 1024 or than the frame fails.
func (a *ConfigArg) decodeArg(b []byte) error {
	if len(b) < configArgLen {
		return io.ErrUnexpectedEOF
	}
	n := int(binary.BigEndian.Uint16(b[6:8]))
	if n > MaxConfigString {
		return ErrConfigStringTooLong
	}
	if len(b) < configArgLen+n {
		return io.ErrUnexpectedEOF
	}
	*a = ConfigArg{
		BufferCount:     binary.BigEndian.Uint16(b[0:2]),
		FirmwareVersion: binary.BigEndian.Uint16(b[2:4]),
		SectorCount:     b[4],
		Version:         b[5] >> 4,
		Command:         b[5] & 0x0f,
		String:          append([]byte(nil), b[8:8+n]...),
	}
	return nil
}

// Sectors returns the sector count the target can take per ATA command,
// with AoEr11's rule that 0 means 2.
func (a *ConfigArg) Sectors() int {
	if a.SectorCount == 0 {
		return 2
	}
	return int(a.SectorCount)
}

// PayloadForMTU returns the data bytes per ATA frame the Linux driver uses
// for this target on an interface of the given MTU: as many sectors as fit
// after the 36 bytes of headers, at most the target's sector count.
func (a *ConfigArg) PayloadForMTU(mtu int) int {
	n := (mtu - 36) / 512
	if n > a.Sectors() {
		n = a.Sectors()
	}
	if n <= 0 {
		return 1024
	}
	return n * 512
}
