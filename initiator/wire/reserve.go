package wire

import (
	"io"
	"net"
)

// Reserve/Release sub-commands (ReserveArg.Command; AoEr11, section 3.4).
const (
	ReserveRead     = 0 // read the reserve list
	ReserveSet      = 1 // set it, if empty or we are in it
	ReserveForceSet = 2 // set it unconditionally
)

// reserveArgLen is the fixed part of the argument.
const reserveArgLen = 2

// ReserveArg is the argument of Reserve/Release. An empty list releases.
//
//	off size field (from the start of the argument, frame offset 24)
//	 0   1   command: 0 read, 1 set, 2 force set
//	 1   1   number of MACs n
//	 2  6*n  MAC addresses
type ReserveArg struct {
	Command uint8 // ReserveRead, ReserveSet or ReserveForceSet
	MACs    []net.HardwareAddr
}

// appendArg appends the encoded argument to b.
func (a *ReserveArg) appendArg(b []byte) ([]byte, error) {
	if len(a.MACs) > 255 {
		return nil, errTooManyDirectives
	}
	b = append(b, a.Command, uint8(len(a.MACs)))
	for _, m := range a.MACs {
		if len(m) != 6 {
			return nil, errBadAddress
		}
		b = append(b, m...)
	}
	return b, nil
}

// decodeArg decodes the argument; bytes after the list are ignored.
func (a *ReserveArg) decodeArg(b []byte) error {
	if len(b) < reserveArgLen {
		return io.ErrUnexpectedEOF
	}
	n := int(b[1])
	if len(b) < reserveArgLen+6*n {
		return io.ErrUnexpectedEOF
	}
	*a = ReserveArg{Command: b[0]}
	for i := range n {
		o := reserveArgLen + 6*i
		a.MACs = append(a.MACs, append(net.HardwareAddr(nil), b[o:o+6]...))
	}
	return nil
}
