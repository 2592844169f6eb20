package sysfs

import "errors"

// The errors of this package: sentinels are ErrXxx, matched with
// errors.Is; types are XxxError, matched with errors.As.

// ErrNotMounted reports that the root has no block directory, which is what
// aoetools calls "sysfs is not mounted".
var ErrNotMounted = errors.New("sysfs is not mounted")

// ErrNoRoot is returned by NewFS for an empty root.
var ErrNoRoot = errors.New("no sysfs root given")

// ErrNotRegular is returned (wrapped in an *os.PathError) when an attribute
// is not a regular file, such as a FIFO planted in a fixture tree.
var ErrNotRegular = errors.New("not a regular file")

// DeviceError is an entry of root/block that looks like an AoE disk but
// cannot be read (a symlink loop, a permission problem...). Devices skips
// such entries and reports them.
type DeviceError struct {
	Name string // "e1.2"
	Path string // root/block/etherd!e1.2
	Err  error  // os.ErrPermission, unix.ELOOP...
}

func (e *DeviceError) Error() string { return e.Path + ": " + e.Err.Error() }

func (e *DeviceError) Unwrap() error { return e.Err }
