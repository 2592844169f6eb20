package sysfs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// DefaultDevDir is where the driver's character devices appear (the aoe
// class devnode callback names them etherd/NAME).
const DefaultDevDir = "/dev/etherd"

// The driver's character devices, all of major 152 (drivers/block/aoe/aoechr.c).
const (
	NodeErr        = "err"
	NodeDiscover   = "discover"
	NodeInterfaces = "interfaces"
	NodeRevalidate = "revalidate"
	NodeFlush      = "flush"
)

// Major is the block and character major number of the aoe driver.
const Major = 152

// NodeMinor gives the minor number of each control node.
var NodeMinor = map[string]uint32{
	NodeErr:        2,
	NodeDiscover:   3,
	NodeInterfaces: 4,
	NodeRevalidate: 5,
	NodeFlush:      6,
}

// Errors of VerifyNode. The first two are the checks aoetools makes, in its
// order; the third is ours.
var (
	// ErrNodeNotWritable: the node does not exist or cannot be written.
	ErrNodeNotWritable = errors.New("does not exist or is not writeable")
	// ErrNotCharDevice: the node exists but is not a character device.
	ErrNotCharDevice = errors.New("is not a character device file")
	// ErrNotAoENode: a character device, but not the aoe driver's node.
	ErrNotAoENode = errors.New("is not the aoe driver's control device")
)

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
		return fmt.Sprintf("%s %v (it is %d:%d, want %d:%d)", e.Path, e.Err, e.Major, e.Minor, Major, e.Want)
	}
	return fmt.Sprintf("%s %v", e.Path, e.Err)
}

func (e *NodeError) Unwrap() error { return e.Err }

// VerifyNode checks that path is a writable character device with the aoe
// driver's major number and the given minor.
func VerifyNode(path string, minor uint32) error {
	if err := unix.Access(path, unix.W_OK); err != nil {
		return &NodeError{Path: path, Err: ErrNodeNotWritable, Want: minor}
	}
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return &NodeError{Path: path, Err: ErrNodeNotWritable, Want: minor}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFCHR {
		return &NodeError{Path: path, Err: ErrNotCharDevice, Want: minor}
	}
	rdev := uint64(st.Rdev)
	maj, min := unix.Major(rdev), unix.Minor(rdev)
	if maj != Major || min != minor {
		return &NodeError{Path: path, Err: ErrNotAoENode, Major: maj, Minor: min, Want: minor}
	}
	return nil
}

// Control writes to the driver's control nodes in Dir.
type Control struct {
	// Dir is the directory of the nodes, normally DefaultDevDir.
	Dir string
	// Writer, when set, replaces the check and the write of a node: tests
	// record what would be written. Production leaves it nil.
	Writer func(path string, data []byte) error
}

// Path returns the path of a node.
func (c Control) Path(node string) string { return filepath.Join(c.Dir, node) }

// Check verifies a node without writing to it.
func (c Control) Check(node string) error {
	if c.Writer != nil {
		return nil
	}
	return VerifyNode(c.Path(node), NodeMinor[node])
}

// Write verifies a node and writes data to it in one write(2): the driver
// takes each write as one command and never accepts part of one.
func (c Control) Write(node string, data []byte) error {
	path := c.Path(node)
	if c.Writer != nil {
		return c.Writer(path, data)
	}
	if err := VerifyNode(path, NodeMinor[node]); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	n, err := f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && n != len(data) {
		err = fmt.Errorf("write %s: short write (%d of %d bytes)", path, n, len(data))
	}
	return err
}
