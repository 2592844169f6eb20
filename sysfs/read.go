package sysfs

import (
	"encoding/binary"
	"os"

	"golang.org/x/sys/unix"
)

// Reading sysfs with plain system calls. os.Open costs several more system
// calls per file than open/read/close (it registers every descriptor with
// the runtime's poller), which dominates a listing of thousands of devices.
// Every attribute is opened with O_NONBLOCK, so that a FIFO or a device node
// planted in place of an attribute can never block the reader, and only
// regular files are read: anything else is unreadable.

// maxAttrSize bounds how much of an attribute file is read. sysfs attributes
// are at most a page.
const maxAttrSize = 4096

const (
	openAttrFlags = unix.O_RDONLY | unix.O_CLOEXEC | unix.O_NONBLOCK | unix.O_NOFOLLOW
	openDirFlags  = unix.O_RDONLY | unix.O_CLOEXEC | unix.O_DIRECTORY | unix.O_NONBLOCK
)

// openat opens name relative to dirfd, retrying on EINTR.
func openat(dirfd int, name string, flags int) (int, error) {
	for {
		fd, err := unix.Openat(dirfd, name, flags, 0)
		if err != unix.EINTR {
			return fd, err
		}
	}
}

// readFD reads up to len(buf) bytes of fd. A short read ends it: regular
// files and sysfs attributes return all they have in one read.
func readFD(fd int, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := unix.Read(fd, buf[n:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return n, err
		}
		if m == 0 {
			break
		}
		n += m
		if n < len(buf) {
			break
		}
	}
	return n, nil
}

// ReadAttr reads at most 4,096 bytes of the attribute file at path. It
// fails with an *os.PathError wrapping ErrNotRegular when path is not a
// regular file, or the open or read error (os.ErrNotExist,
// os.ErrPermission...). It never blocks on a FIFO.
func ReadAttr(path string) ([]byte, error) {
	fd, err := openat(unix.AT_FDCWD, path, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NONBLOCK)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, &os.PathError{Op: "stat", Path: path, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, &os.PathError{Op: "read", Path: path, Err: ErrNotRegular}
	}
	buf := make([]byte, maxAttrSize)
	n, err := readFD(fd, buf)
	if err != nil {
		return nil, &os.PathError{Op: "read", Path: path, Err: err}
	}
	return buf[:n], nil
}

// readAttr is ReadAttr.
func readAttr(path string) ([]byte, error) { return ReadAttr(path) }

// dirent is one directory entry: its name and its type (unix.DT_*).
type dirent struct {
	name string
	typ  uint8
}

// readDirents lists the open directory fd with getdents64, without "." and
// "..". Entries whose type the file system does not report are typed with
// fstatat.
func readDirents(fd int, buf []byte) ([]dirent, error) {
	var out []dirent
	for {
		n, err := unix.Getdents(fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return out, err
		}
		if n <= 0 {
			break
		}
		// struct linux_dirent64: u64 ino, s64 off, u16 reclen, u8 type,
		// then the NUL-terminated name.
		for b := buf[:n]; len(b) >= 19; {
			reclen := int(binary.NativeEndian.Uint16(b[16:18]))
			if reclen < 19 || reclen > len(b) {
				break
			}
			typ := b[18]
			name := b[19:reclen]
			for i, c := range name {
				if c == 0 {
					name = name[:i]
					break
				}
			}
			b = b[reclen:]
			if s := string(name); s != "." && s != ".." {
				if typ == unix.DT_UNKNOWN {
					typ = statType(fd, s)
				}
				out = append(out, dirent{name: s, typ: typ})
			}
		}
	}
	return out, nil
}

// statType returns the DT_ type of name in dirfd, without following a
// symlink, or DT_UNKNOWN.
func statType(dirfd int, name string) uint8 {
	var st unix.Stat_t
	if unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW) != nil {
		return unix.DT_UNKNOWN
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
		return unix.DT_REG
	case unix.S_IFDIR:
		return unix.DT_DIR
	case unix.S_IFLNK:
		return unix.DT_LNK
	}
	return unix.DT_UNKNOWN
}

// listDirAt returns the names in dir (relative to dirfd), or nil when it is
// missing or empty.
func listDirAt(dirfd int, dir string, buf []byte) []string {
	fd, err := openat(dirfd, dir, openDirFlags)
	if err != nil {
		return nil
	}
	defer unix.Close(fd)
	ents, _ := readDirents(fd, buf)
	var names []string
	for _, e := range ents {
		names = append(names, e.name)
	}
	return names
}

// attrReader reads attributes with one scratch buffer (one per worker).
type attrReader struct {
	buf  []byte // attribute contents
	dbuf []byte // getdents records
}

func newAttrReader() *attrReader {
	return &attrReader{buf: make([]byte, maxAttrSize), dbuf: make([]byte, 8192)}
}

// readAt reads the attribute name in dirfd with trailing newlines removed.
// It returns nil when the attribute cannot be read, and gone when it was
// removed (ENOENT) since its directory was listed.
func (r *attrReader) readAt(dirfd int, name string) (s *string, gone bool) {
	fd, err := openat(dirfd, name, openAttrFlags)
	if err != nil {
		return nil, err == unix.ENOENT
	}
	n, err := readFD(fd, r.buf)
	unix.Close(fd)
	if err != nil {
		return nil, false
	}
	for n > 0 && r.buf[n-1] == '\n' {
		n--
	}
	v := string(r.buf[:n])
	return &v, false
}
