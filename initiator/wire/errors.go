package wire

import "fmt"

// ErrorCode is the error field of an AoE reply whose E flag is set (AoEr11,
// section 2.4). It implements error.
type ErrorCode uint8

// AoE error codes.
const (
	ErrUnrecognizedCommand ErrorCode = 1 // the target does not know the command
	ErrBadArgument         ErrorCode = 2 // an argument is out of range
	ErrDeviceUnavailable   ErrorCode = 3 // the target can no longer take ATA commands
	ErrConfigStringPresent ErrorCode = 4 // Query Config "set": a string is already set
	ErrUnsupportedVersion  ErrorCode = 5 // the target does not speak this version
	ErrTargetReserved      ErrorCode = 6 // reserved by another initiator
)

var errorText = map[ErrorCode]string{
	ErrUnrecognizedCommand: "unrecognized command code",
	ErrBadArgument:         "bad argument parameter",
	ErrDeviceUnavailable:   "device unavailable",
	ErrConfigStringPresent: "config string present",
	ErrUnsupportedVersion:  "unsupported version",
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

// String is Error.
func (e ErrorCode) String() string { return e.Error() }
