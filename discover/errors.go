package discover

import (
	"errors"
	"fmt"
	"net"

	"github.com/goaoe/aoe/initiator/wire"
)

// The errors of discover. One naming rule: sentinel values are ErrX
// (errors.Is), error types XError (errors.As). The wire's and the
// transport's errors come through unchanged (initiator.ErrTimeout,
// initiator.ErrSend, wire.ErrorCode...).

// ErrBadMAC is returned by ParseMAC for a string that is no MAC address.
var ErrBadMAC = errors.New("not a MAC address (xx:xx:xx:xx:xx:xx, 12 hex digits, or self)")

// ErrNotFound is returned by Paths, Mask and Reserve when the device
// answered on no interface.
var ErrNotFound = errors.New("the device did not answer")

// errNotAsked is the IdentifyErr of a path whose IDENTIFY the probe had no
// time to send.
var errNotAsked = errors.New("no time left to send IDENTIFY")

// LockoutError is returned by Mask and Reserve when the change would leave
// a non-empty list without this host's MAC (the target would then ignore
// or refuse it), and Force is not set. Nothing was changed.
type LockoutError struct {
	Path    ACLPath
	List    []net.HardwareAddr
	Reserve bool
}

func (e *LockoutError) Error() string {
	dev := e.Path.Target.Address().String()
	if e.Reserve {
		return fmt.Sprintf("reserving %s for %s would leave this host (%s) out", dev, joinMACs(e.List, ", "), e.Path.Self)
	}
	return fmt.Sprintf("the mask list of %s (%s on %s) would become %s, without this host (%s): the target would then ignore it",
		dev, e.Path.Target.MAC, e.Path.Interface, joinMACs(e.List, ", "), e.Path.Self)
}

// ReservedError is a path's error when the target is reserved by another
// host; it wraps wire.ErrTargetReserved.
type ReservedError struct {
	Path ACLPath
}

func (e *ReservedError) Error() string {
	return fmt.Sprintf("%s on %s is reserved by %s", e.Path.Target.MAC, e.Path.Interface, joinMACs(e.Path.List, ", "))
}

// Unwrap returns wire.ErrTargetReserved.
func (e *ReservedError) Unwrap() error { return wire.ErrTargetReserved }
