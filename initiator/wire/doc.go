// Package wire is the AoE wire format (ATA over Ethernet, protocol
// revision 11): frames, the arguments of the four commands (ATA, Query
// Config, Mac Mask List, Reserve/Release), IDENTIFY DEVICE data, and the
// AoE error codes. It knows nothing of sockets: package initiator sends
// and receives these frames, and initiator/aoetest serves them in memory.
//
// The ATA command set is not AoE's and is not exported here: an ATAArg
// carries the ATA register bytes (CmdStatus, FeatureErr, SectorCount) as
// numbers and the LBA as one, which the codec lays out as the addressing
// mode says (48 bits, or LBA28 with the device register); NewRead and
// NewIdentify build the requests a caller needs, and a failed command is
// reported as an *ATAError (Aborted says whether the target refused it).
// The opcodes and register bits live in the module's internal/ata.
//
// The sub-command and error fields of the other arguments are the wire's
// bytes too (uint8), with named constants (ConfigRead..., ReserveRead...,
// DirectiveAdd..., MaskListFull...); a Mac Mask List request is a read or
// an edit (MaskArg.Edit). A refused mask directive is a *DirectiveError,
// an AoE error flag an ErrorCode.
//
// The codec receives liberally and sends strictly: it accepts frames shorter
// than the Ethernet minimum (vblade's replies are unpadded on virtual links),
// trailing padding, and a version nibble of 0 (vblade's start-up
// announcement); it never reads past a length field or the frame; it pads
// what it sends to 60 bytes.
//
// This package is a public library of module github.com/goaoe/aoe, kept
// stable with initiator (see its documentation): its exported names, the
// byte layouts they encode, and its errors change only compatibly.
package wire

import "encoding"

// The frame encodes and decodes itself and its argument; every argument
// is an Arg.
var (
	_ encoding.BinaryMarshaler   = (*Frame)(nil)
	_ encoding.BinaryUnmarshaler = (*Frame)(nil)
	_ encoding.BinaryAppender    = (*Frame)(nil)
	_ Arg                        = (*ATAArg)(nil)
	_ Arg                        = (*ConfigArg)(nil)
	_ Arg                        = (*MaskArg)(nil)
	_ Arg                        = (*ReserveArg)(nil)
	_ Arg                        = (*rawArg)(nil)
)
