package wire

// The wire format's errors. One naming rule: sentinel values are ErrX
// (errors.Is), error types XError (errors.As); the codes a target puts in
// an AoE reply's error field are values of ErrorCode (named ErrX after
// AoEr11), those of the Mac Mask List's error field MaskX constants,
// reported as a *DirectiveError.

import (
	"errors"
	"fmt"

	"github.com/goaoe/aoe/internal/ata"
)

// ErrorCode is the error field of an AoE reply whose E flag is set (AoEr11,
// section 2.4). It implements error.
type ErrorCode uint8

// AoE error codes.
const (
	ErrUnrecognizedCommand ErrorCode = 1 // the target does not know the command
	ErrBadArgument         ErrorCode = 2 // an argument is out of range
	errDeviceUnavailable   ErrorCode = 3 // the target can no longer take ATA commands
	ErrConfigStringPresent ErrorCode = 4 // Query Config "set": a string is already set
	errUnsupportedVersion  ErrorCode = 5 // the target does not speak this version
	ErrTargetReserved      ErrorCode = 6 // reserved by another initiator
)

var errorText = map[ErrorCode]string{
	ErrUnrecognizedCommand: "unrecognized command code",
	ErrBadArgument:         "bad argument parameter",
	errDeviceUnavailable:   "device unavailable",
	ErrConfigStringPresent: "config string present",
	errUnsupportedVersion:  "unsupported version",
	ErrTargetReserved:      "target is reserved",
}

// Error returns the AoEr11 name of the code, prefixed "aoe: ".
func (e ErrorCode) Error() string { return "aoe: " + e.Description() }

// Description returns the AoEr11 name of the code, such as "config string
// present", or "error code N" for a code AoEr11 does not name.
func (e ErrorCode) Description() string {
	if s, ok := errorText[e]; ok {
		return s
	}
	return fmt.Sprintf("error code %d", uint8(e))
}

// Errors of the codec.
var (
	// errNotAoE: the EtherType is not 0x88a2 (the receiver checks the
	// EtherType itself to tell another protocol's frame).
	errNotAoE = errors.New("aoe: not an AoE frame")
	// errBadAddress: a MAC address is not 6 bytes.
	errBadAddress = errors.New("aoe: MAC address must be 6 bytes")
)

// ErrConfigStringTooLong: a config string longer than MaxConfigString.
var ErrConfigStringTooLong = errors.New("aoe: config string longer than 1024 bytes")

// errTooManyDirectives: more than 255 directives (or MACs) in one request.
var errTooManyDirectives = errors.New("aoe: more than 255 mask directives")

// Mac Mask List errors (MaskArg.Error of a reply, DirectiveError.Code);
// 0 is none. A directive error is not an AoE error: the E flag stays
// clear.
const (
	maskUnspecified  = 1
	MaskBadDirective = 2
	MaskListFull     = 3
)

// DirectiveError is returned by Client.Mask when the target refuses a
// directive: Index is the directive (0-based), Code the Mac Mask List
// error (MaskBadDirective, MaskListFull...).
type DirectiveError struct {
	Index int
	Code  uint8
}

func (e *DirectiveError) Error() string {
	var why string
	switch e.Code {
	case 0:
		why = "aoe: mask list: no error"
	case maskUnspecified:
		why = "aoe: mask list: unspecified error"
	case MaskBadDirective:
		why = "aoe: mask list: bad directive"
	case MaskListFull:
		why = "aoe: mask list full"
	default:
		why = fmt.Sprintf("aoe: mask list error %d", e.Code)
	}
	return fmt.Sprintf("directive %d: %s", e.Index+1, why)
}

// ATAError is returned when the target answered an ATA command with a
// failed status (ERR, DF, BSY or DRQ). Aborted is the usual case: the
// target refused the command (a read-only vblade -r refuses writes so).
type ATAError struct {
	Device  string
	Command uint8 // the ATA opcode
	LBA     uint64
	Status  uint8 // status register
	Err     uint8 // error register
}

func (e *ATAError) Error() string {
	what := fmt.Sprintf("ATA command %#02x", e.Command)
	switch e.Command {
	case ata.ReadSectors, ata.ReadSectorsExt:
		what = "read"
	case ata.WriteSectors, ata.WriteSectorsExt:
		what = "write"
	case ata.FlushCache, ata.FlushCacheExt:
		what = "flush cache"
	}
	why := ""
	switch {
	case e.Err&ata.ErrIDNF != 0:
		why = ": address out of range"
	case e.Err&ata.ErrAbort != 0 && (e.Command == ata.WriteSectors || e.Command == ata.WriteSectorsExt):
		why = ": aborted by the target (is it read-only, e.g. vblade -r?)"
	case e.Err&ata.ErrAbort != 0:
		why = ": aborted by the target"
	}
	at := ""
	switch e.Command {
	case ata.ReadSectors, ata.ReadSectorsExt, ata.WriteSectors, ata.WriteSectorsExt:
		at = fmt.Sprintf(" at sector %d", e.LBA)
	}
	return fmt.Sprintf("%s: %s%s failed (ATA status %#02x, error %#02x)%s", e.Device, what, at, e.Status, e.Err, why)
}

// Aborted reports whether the target aborted the command (ABRT).
func (e *ATAError) Aborted() bool { return e.Err&ata.ErrAbort != 0 }
