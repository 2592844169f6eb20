// Package aoectl drives the Linux aoe driver: it writes its control nodes
// (DIR/discover, interfaces, revalidate, flush, sysfs.DefaultDevDir by
// default), sets its interface list, and waits for discovery's result
// (Wait, the one loop of `aoe discover --wait` and `aoe up`).
//
// Reading the driver's state is the sysfs package's; this package is what
// changes it. Like sysfs it takes every root from the caller, so that tests
// point it at fixture trees and record the writes (Control.Writer).
package aoectl

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/goaoe/aoe/sysfs"
	"golang.org/x/sys/unix"
)

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
	if maj != sysfs.Major || min != minor {
		return &NodeError{Path: path, Err: ErrNotAoENode, Major: maj, Minor: min, Want: minor}
	}
	return nil
}

// Control writes to the driver's control nodes in Dir.
type Control struct {
	// Dir is the directory of the nodes, normally sysfs.DefaultDevDir.
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
	return VerifyNode(c.Path(node), sysfs.NodeMinor[node])
}

// Write verifies a node and writes data to it in one write(2): the driver
// takes each write as one command and never accepts part of one.
func (c Control) Write(node string, data []byte) error {
	path := c.Path(node)
	if c.Writer != nil {
		return c.Writer(path, data)
	}
	if err := VerifyNode(path, sysfs.NodeMinor[node]); err != nil {
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
