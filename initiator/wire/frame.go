package wire

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
)

// EtherType is the Ethernet type of AoE frames.
const EtherType = 0x88a2

// version is the AoE protocol version this package sends.
const version = 1

// Lengths of the fixed parts of a frame.
const (
	ethernetHeaderLen = 6 + 6 + 2
	aoeHeaderLen      = 1 + 1 + 2 + 1 + 1 + 4
	// HeaderLen is the Ethernet and AoE header: 24 bytes.
	HeaderLen = ethernetHeaderLen + aoeHeaderLen
	// minFrameLen is the Ethernet minimum frame length without the FCS;
	// frames we send are zero-padded to it.
	minFrameLen = 60
)

// Flag bits of the AoE header's flags nibble (AoEr11, section 2).
const (
	flagResponse = 0x08
	flagError    = 0x04
)

// BroadcastMAC is the Ethernet broadcast address.
var BroadcastMAC = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// Command is an AoE command (AoEr11, section 2.5).
type Command uint8

// AoE commands.
const (
	CommandATA         Command = 0
	CommandQueryConfig Command = 1
	CommandMACMask     Command = 2
	CommandReserve     Command = 3
)

func (c Command) String() string {
	switch c {
	case CommandATA:
		return "ATA"
	case CommandQueryConfig:
		return "Query Config"
	case CommandMACMask:
		return "Mac Mask List"
	case CommandReserve:
		return "Reserve/Release"
	}
	if c >= 0xf0 {
		return fmt.Sprintf("vendor command %#02x", uint8(c))
	}
	return fmt.Sprintf("command %d", uint8(c))
}

// Arg is the command-specific argument of a frame: *ATAArg, *ConfigArg,
// *MaskArg or *ReserveArg, or the undecoded bytes of another command's. It
// is sealed: a frame encodes and
// decodes its argument (Frame.MarshalBinary, AppendBinary and
// UnmarshalBinary), so an argument is never sent without its header.
type Arg interface {
	// appendArg appends the encoded argument to b.
	appendArg(b []byte) ([]byte, error)
	// decodeArg decodes b, the frame after its header.
	decodeArg(b []byte) error
}

// Frame is an AoE frame, Ethernet header included.
//
//	off size field
//	 0   6   destination MAC
//	 6   6   source MAC
//	12   2   EtherType 0x88a2
//	14   1   version (high nibble) | flags: R 0x08, E 0x04 (low nibble)
//	15   1   error code (meaningful when E is set)
//	16   2   major: shelf, big-endian
//	18   1   minor: slot
//	19   1   command
//	20   4   tag, big-endian (opaque to the target, echoed)
//	24   ..  argument, by command
type Frame struct {
	Destination net.HardwareAddr
	Source      net.HardwareAddr
	// Version is the protocol version nibble; 0 is sent as 1.
	Version uint8
	// Response is the R flag: set by targets on every reply.
	Response bool
	// Error is the E flag; Err then says what went wrong.
	Error   bool
	Err     ErrorCode
	Shelf   uint16
	Slot    uint8
	Command Command
	Tag     uint32
	// Arg is *ATAArg, *ConfigArg, *MaskArg or *ReserveArg by Command;
	// for other commands and for error replies whose argument does not
	// parse, an Arg of this package's that keeps the bytes undecoded (a
	// target echoes it).
	Arg Arg
	// Unpadded, when set, sends the frame as vblade does on virtual
	// links: not zero-padded to minFrameLen (test targets): 60 bytes, the Ethernet minimum. Decoding
	// leaves it false.
	Unpadded bool
}

// MarshalBinary encodes the frame, zero-padded to minFrameLen unless
// Unpadded.
func (f *Frame) MarshalBinary() ([]byte, error) {
	n := minFrameLen
	if a, ok := f.Arg.(*ATAArg); ok {
		n = max(n, HeaderLen+ataArgLen+len(a.Data))
	}
	return f.AppendBinary(make([]byte, 0, n))
}

// AppendBinary appends the encoded frame, zero-padded to minFrameLen
// unless Unpadded, to b (encoding.BinaryAppender). The argument is encoded
// in place, without an intermediate buffer: the send path of a request
// costs no allocation when b has room.
func (f *Frame) AppendBinary(b []byte) ([]byte, error) {
	if len(f.Destination) != 6 || len(f.Source) != 6 {
		return nil, errBadAddress
	}
	start := len(b)
	b = append(b, f.Destination...)
	b = append(b, f.Source...)
	v := f.Version
	if v == 0 {
		v = version
	}
	b = binary.BigEndian.AppendUint16(b, EtherType)
	b = append(b, v<<4|f.flags(), uint8(f.Err))
	b = binary.BigEndian.AppendUint16(b, f.Shelf)
	b = append(b, f.Slot, uint8(f.Command))
	b = binary.BigEndian.AppendUint32(b, f.Tag)
	if f.Arg != nil {
		var err error
		if b, err = f.Arg.appendArg(b); err != nil {
			return nil, err
		}
	}
	if n := minFrameLen - (len(b) - start); !f.Unpadded && n > 0 {
		b = append(b, make([]byte, n)...) // cleared at once, not a byte at a time (no allocation)
	}
	return b, nil
}

func (f *Frame) flags() uint8 {
	var fl uint8
	if f.Response {
		fl |= flagResponse
	}
	if f.Error {
		fl |= flagError
	}
	return fl
}

// UnmarshalBinary decodes a frame. It fails with io.ErrUnexpectedEOF when b
// is shorter than the header or than the argument's length fields say,
// with an error for another EtherType (bytes 12-13: a receiver tells
// another protocol's frame from them), and with ErrBadArgument for an
// argument value AoEr11 does not define (a Mac Mask List sub-command
// other than read and edit). When the argument does not parse, the header is
// decoded and Arg keeps the argument's bytes undecoded: an error reply
// then decodes without error, and a target can answer a request that
// failed with ErrBadArgument with that error, echoing it.
func (f *Frame) UnmarshalBinary(b []byte) error {
	if len(b) < HeaderLen {
		return io.ErrUnexpectedEOF
	}
	if binary.BigEndian.Uint16(b[12:14]) != EtherType {
		return errNotAoE
	}
	*f = Frame{
		Destination: append(net.HardwareAddr(nil), b[0:6]...),
		Source:      append(net.HardwareAddr(nil), b[6:12]...),
		Version:     b[14] >> 4,
		Response:    b[14]&flagResponse != 0,
		Error:       b[14]&flagError != 0,
		Err:         ErrorCode(b[15]),
		Shelf:       binary.BigEndian.Uint16(b[16:18]),
		Slot:        b[18],
		Command:     Command(b[19]),
		Tag:         binary.BigEndian.Uint32(b[20:24]),
	}
	rest := b[HeaderLen:]
	var arg Arg
	switch f.Command {
	case CommandATA:
		arg = new(ATAArg)
	case CommandQueryConfig:
		arg = new(ConfigArg)
	case CommandMACMask:
		arg = new(MaskArg)
	case CommandReserve:
		arg = new(ReserveArg)
	default:
		arg = new(rawArg)
	}
	if err := arg.decodeArg(rest); err != nil {
		f.Arg = &rawArg{Data: append([]byte(nil), rest...)}
		if !f.Error {
			return err
		}
		return nil
	}
	f.Arg = arg
	return nil
}

// rawArg is an argument this package does not decode: the argument of a
// command it does not know, or one that does not parse.
type rawArg struct {
	Data []byte
}

// appendArg appends the bytes.
func (a *rawArg) appendArg(b []byte) ([]byte, error) { return append(b, a.Data...), nil }

// decodeArg keeps a copy of b.
func (a *rawArg) decodeArg(b []byte) error {
	a.Data = append([]byte(nil), b...)
	return nil
}
