package inuse

import (
	"errors"
	"fmt"
	"strings"
)

// The errors of this package: sentinels are ErrXxx, matched with
// errors.Is; types are XxxError (here Error, the package's one), matched
// with errors.As.

// ErrInUse is returned (as an *Error) when a device is in use: the
// driver would remove it under its users if it were flushed.
var ErrInUse = errors.New("device is in use")

// Error says which device is in use and why. It matches ErrInUse with
// errors.Is.
type Error struct {
	Device string // "e1.2"
	Reason Reason
	// State is the device's state, for HeldOpen ("down,closewait").
	State string
	// Holders are the holders' names, for Held ("dm-0").
	Holders []string
	// MountPoint is where it is mounted, for Mounted ("/srv/data"), as
	// mountinfo escapes it.
	MountPoint string
	// Node is the device node opened with O_EXCL, for Exclusive.
	Node string
	// Openers are the processes, for OpenByPID.
	Openers []Opener
}

// Why says in a few words what holds the device ("mounted on /srv/data").
func (e *Error) Why() string {
	switch e.Reason {
	case HeldOpen:
		return "held open while down: state " + e.State
	case Held:
		return "held by " + strings.Join(e.Holders, ", ")
	case Mounted:
		return "mounted on " + e.MountPoint
	case Exclusive:
		return e.Node + " is open exclusively (mounted or swap)"
	case OpenByPID:
		var s []string
		for _, o := range e.Openers {
			s = append(s, fmt.Sprintf("pid %d (%s)", o.PID, o.Comm))
		}
		return "open by " + strings.Join(s, ", ")
	}
	return "in use"
}

func (e *Error) Error() string { return e.Device + " is in use (" + e.Why() + ")" }

// Is makes errors.Is(err, ErrInUse) true.
func (e *Error) Is(target error) bool { return target == ErrInUse }
