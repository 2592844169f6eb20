package blockio

import (
	"io"
	"os"

	"github.com/goaoe/aoe/initiator"
	"golang.org/x/sys/unix"
)

// File is a local disk or file opened for measuring with Bench: a block
// device such as /dev/etherd/e1.2 (the kernel aoe driver) or /dev/nbd0, so
// that the driver's figures can be set beside the userspace ones. It is
// opened with O_DIRECT when the file system allows it, so that the page
// cache does not answer.
type File struct {
	*os.File
	size int64
}

// OpenFile opens path read-only (O_DIRECT when possible) and finds its
// size. It returns the open error.
func OpenFile(path string) (*File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_DIRECT, 0)
	if err != nil {
		if f, err = os.Open(path); err != nil {
			return nil, err
		}
	}
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		f.Close()
		return nil, err
	}
	return &File{File: f, size: size}, nil
}

// Size returns the size in bytes.
func (f *File) Size() int64 { return f.size }

// PathStats returns nothing: a local file has no AoE paths.
func (f *File) PathStats() []initiator.PathStats { return nil }
