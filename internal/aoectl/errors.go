package aoectl

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/goaoe/aoe/sysfs"
)

// The errors of this package: sentinels are ErrXxx, matched with
// errors.Is; types are XxxError, matched with errors.As, and each says in
// its comment which sentinel (if any) it matches.

// Errors of VerifyNode, wrapped in a *NodeError. The first two are the
// checks aoetools makes, in its order; the third is ours.
var (
	// ErrNodeNotWritable: the node does not exist or cannot be written.
	ErrNodeNotWritable = errors.New("does not exist or is not writeable")
	// ErrNotCharDevice: the node exists but is not a character device.
	ErrNotCharDevice = errors.New("is not a character device file")
	// ErrNotAoENode: a character device, but not the aoe driver's node.
	ErrNotAoENode = errors.New("is not the aoe driver's control device")
)

// ErrTimeout is matched by the *TimeoutError of Wait: what was awaited was
// not all there before the timeout.
var ErrTimeout = errors.New("timed out")

// NodeError is a problem with a control node.
type NodeError struct {
	Path string
	Err  error
	// Major and Minor are the numbers found, for ErrNotAoENode.
	Major, Minor uint32
	// Want is the minor number the node should have.
	Want uint32
}

func (e *NodeError) Error() string {
	if errors.Is(e.Err, ErrNotAoENode) {
		return fmt.Sprintf("%s %v (it is %d:%d, want %d:%d)", e.Path, e.Err, e.Major, e.Minor, sysfs.Major, e.Want)
	}
	return fmt.Sprintf("%s %v", e.Path, e.Err)
}

func (e *NodeError) Unwrap() error { return e.Err }

// TimeoutError is returned by Wait when the timeout runs out, with what
// was not ready. It matches ErrTimeout.
type TimeoutError struct {
	After   time.Duration
	Missing []Missing
}

func (e *TimeoutError) Error() string {
	s := make([]string, len(e.Missing))
	for i, m := range e.Missing {
		s[i] = m.String()
	}
	return fmt.Sprintf("timed out after %v waiting for %s", e.After, strings.Join(s, ", "))
}

// Unwrap returns ErrTimeout.
func (e *TimeoutError) Unwrap() error { return ErrTimeout }

// ListTooLongError is returned by SetInterfaces for a list longer than
// MaxInterfaceList bytes.
type ListTooLongError struct {
	Len int // bytes of the list, names joined by blanks
}

func (e *ListTooLongError) Error() string {
	return fmt.Sprintf("the interface list is %d bytes; the aoe driver takes at most %d", e.Len, MaxInterfaceList)
}

// UnknownInterfacesError is returned by SetInterfaces when names are not
// network interfaces (Sys/class/net/NAME).
type UnknownInterfacesError struct {
	Names []string
}

func (e *UnknownInterfacesError) Error() string {
	return fmt.Sprintf("not network interfaces: %s", strings.Join(e.Names, ", "))
}

// ParamError is a failed write of the aoe_iflist module parameter.
type ParamError struct {
	Path string
	Err  error
}

func (e *ParamError) Error() string { return "setting aoe_iflist: " + e.Err.Error() }

func (e *ParamError) Unwrap() error { return e.Err }
