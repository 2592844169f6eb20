package wire

import (
	"io"
	"net"
)

// Mac Mask List sub-commands (AoEr11, section 3.3): MaskArg.Edit.
const (
	maskRead = 0
	maskEdit = 1
)

// Directive commands (Directive.Command).
const (
	DirectiveNone   = 0 // no change (replies list entries so)
	DirectiveAdd    = 1
	DirectiveDelete = 2
)

// Directive is one entry of a Mac Mask List.
type Directive struct {
	Command uint8 // DirectiveNone, DirectiveAdd or DirectiveDelete
	MAC     net.HardwareAddr
}

// maskArgLen is the fixed part of the argument; directiveLen one directive.
const (
	maskArgLen   = 4
	directiveLen = 8
)

// MaskArg is the argument of Mac Mask List. A request with Edit false
// reads the list; with Edit true it applies the directives. Replies echo
// the sub-command. Decoding a sub-command other than read and edit fails
// with ErrBadArgument, the error a target answers it with.
//
//	off size field (from the start of the argument, frame offset 24)
//	 0   1   reserved
//	 1   1   command: 0 read, 1 edit
//	 2   1   error (replies): 0 ok, 1 unspecified, 2 bad directive, 3 full
//	 3   1   directive count n; in a reply with an error, the index of the
//	         failing directive, and no directives follow
//	 4  8*n  directives: reserved, command (0 none, 1 add, 2 delete), MAC
type MaskArg struct {
	Edit bool // the sub-command: edit (1), else read (0)
	// Error is a reply's error field: 0, or MaskBadDirective,
	// MaskListFull... (Client.Mask returns it as a *DirectiveError).
	Error      uint8
	Directives []Directive
	// FailedIndex is the directive count field of a reply with an error:
	// which directive failed.
	FailedIndex uint8
}

// appendArg appends the encoded argument to b.
func (a *MaskArg) appendArg(b []byte) ([]byte, error) {
	if len(a.Directives) > 255 {
		return nil, errTooManyDirectives
	}
	n := uint8(len(a.Directives))
	if a.Error != 0 {
		// A reply with an error carries the failing directive's index.
		n = a.FailedIndex
	}
	cmd := uint8(maskRead)
	if a.Edit {
		cmd = maskEdit
	}
	b = append(b, 0, cmd, a.Error, n)
	for _, d := range a.Directives {
		if len(d.MAC) != 6 {
			return nil, errBadAddress
		}
		b = append(b, 0, d.Command)
		b = append(b, d.MAC...)
	}
	return b, nil
}

// decodeArg decodes the argument; bytes after the directives are
// ignored.
func (a *MaskArg) decodeArg(b []byte) error {
	if len(b) < maskArgLen {
		return io.ErrUnexpectedEOF
	}
	if b[1] != maskRead && b[1] != maskEdit {
		return ErrBadArgument
	}
	*a = MaskArg{Edit: b[1] == maskEdit, Error: b[2]}
	n := int(b[3])
	if a.Error != 0 {
		a.FailedIndex = b[3]
		return nil
	}
	if len(b) < maskArgLen+directiveLen*n {
		return io.ErrUnexpectedEOF
	}
	for i := range n {
		o := maskArgLen + directiveLen*i
		a.Directives = append(a.Directives, Directive{
			Command: b[o+1],
			MAC:     append(net.HardwareAddr(nil), b[o+2:o+8]...),
		})
	}
	return nil
}
