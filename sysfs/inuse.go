package sysfs

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// DefaultProcRoot is where procfs is mounted on a running system.
const DefaultProcRoot = "/proc"

// Host is the machine the aoe driver runs on, seen through its three roots,
// as procfs.FS carries its mount points: sysfs (Sys, "/sys"), the directory
// of the driver's device nodes (Dev, "/dev/etherd") and procfs (Proc,
// "/proc"). Tests point them at fixture trees.
type Host struct {
	Sys string
	Dev string
	// Proc is where the mount table (Proc/self/mountinfo) and the
	// processes' open files (Proc/PID/fd) are looked up; empty: they are
	// not.
	Proc string
}

// DefaultHost returns the roots of the running system.
func DefaultHost() Host {
	return Host{Sys: DefaultRoot, Dev: DefaultDevDir, Proc: DefaultProcRoot}
}

// ErrInUse is returned (as an *InUseError) when a device is in use: the
// driver would remove it under its users if it were flushed.
var ErrInUse = errors.New("device is in use")

// InUseReason says what keeps a device in use.
type InUseReason int

// The reasons, in the order Host.InUse checks them.
const (
	HeldOpen  InUseReason = iota + 1 // state closewait: held open while down
	Held                             // a holder (device-mapper, md) on the disk or a partition
	Mounted                          // the disk or a partition is mounted
	Exclusive                        // the node cannot be opened with O_EXCL (mount, swap, other namespace)
	OpenByPID                        // a process has the disk or a partition open
)

// Opener is a process that has a device open.
type Opener struct {
	PID  int
	Comm string // the process's name, from Proc/PID/comm
}

// InUseError says which device is in use and why. It matches ErrInUse with
// errors.Is.
type InUseError struct {
	Device string // "e1.2"
	Reason InUseReason
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
func (e *InUseError) Why() string {
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

func (e *InUseError) Error() string { return e.Device + " is in use (" + e.Why() + ")" }

// Is makes errors.Is(err, ErrInUse) true.
func (e *InUseError) Is(target error) bool { return target == ErrInUse }

// InUse checks whether d is in use: held open while down, held by another
// block device, mounted (Proc/self/mountinfo), open exclusively (an O_EXCL
// open of Dev/NAME fails with EBUSY, which also sees mounts in other mount
// namespaces), or open by a process (Proc/PID/fd, as fuser looks). It
// returns nil, or an *InUseError for the first reason found. Files that
// cannot be read count as saying nothing.
func (h Host) InUse(d Device) error {
	e := &InUseError{Device: d.Name}
	if d.Open() {
		e.Reason, e.State = HeldOpen, strings.TrimSpace(*d.State)
		return e
	}
	if len(d.Holders) > 0 {
		e.Reason, e.Holders = Held, d.Holders
		return e
	}
	nums := d.DevNumbers()
	if mounts, err := h.Mounts(); err == nil {
		for _, num := range nums {
			if mp, ok := mounts[num]; ok {
				e.Reason, e.MountPoint = Mounted, mp
				return e
			}
		}
	}
	if node := h.node(d.Name); h.busyExclusive(node, d) {
		e.Reason, e.Node = Exclusive, node
		return e
	}
	if procs := h.Openers(nums); len(procs) > 0 {
		e.Reason, e.Openers = OpenByPID, procs
		return e
	}
	return nil
}

// node returns the path of a device's block node in Dev.
func (h Host) node(name string) string {
	return strings.TrimRight(h.Dev, "/") + "/" + name
}

// Mounts maps "major:minor" to the first mount point of that device in
// Proc/self/mountinfo. Without Proc it returns an empty map.
func (h Host) Mounts() (map[string]string, error) {
	if h.Proc == "" {
		return map[string]string{}, nil
	}
	b, err := os.ReadFile(filepath.Join(h.Proc, "self", "mountinfo"))
	if err != nil {
		return nil, err
	}
	m := map[string]string{}
	for _, mi := range parseMountInfo(b) {
		if _, ok := m[mi.Dev]; !ok {
			m[mi.Dev] = mi.MountPoint
		}
	}
	return m, nil
}

// mountInfo is the part of a mountinfo line that matters here.
type mountInfo struct {
	Dev        string // "152:17" (field 3)
	MountPoint string // "/srv/data" (field 5), escaped as the kernel writes it
}

// parseMountInfo parses the lines of a /proc/PID/mountinfo file:
//
//	36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
//	(1)(2)(3)   (4)   (5)      (6)      (7)   (8) (9)   (10)         (11)
//
// Lines with fewer than five fields are skipped.
func parseMountInfo(b []byte) []mountInfo {
	var out []mountInfo
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		f := strings.Fields(string(line))
		if len(f) < 5 {
			continue
		}
		out = append(out, mountInfo{Dev: f[2], MountPoint: f[4]})
	}
	return out
}

// Openers lists the processes that have a block device with one of the
// "major:minor" numbers open, from Proc/PID/fd, as fuser does (the driver
// does not show an up device's open count). The calling process is left
// out. Without Proc it returns nil.
func (h Host) Openers(devs []string) []Opener {
	if h.Proc == "" || len(devs) == 0 {
		return nil
	}
	want := map[string]bool{}
	for _, d := range devs {
		want[d] = true
	}
	pids, err := os.ReadDir(h.Proc)
	if err != nil {
		return nil
	}
	self := os.Getpid()
	var out []Opener
	for _, p := range pids {
		pid, err := strconv.Atoi(p.Name())
		if err != nil || pid == self || pid <= 0 {
			continue
		}
		if h.hasOpen(p.Name(), want) {
			comm, _ := ReadAttr(filepath.Join(h.Proc, p.Name(), "comm"))
			out = append(out, Opener{PID: pid, Comm: strings.TrimSpace(string(comm))})
		}
	}
	return out
}

// hasOpen reports whether process pid has one of the wanted block devices
// open.
func (h Host) hasOpen(pid string, want map[string]bool) bool {
	dir := filepath.Join(h.Proc, pid, "fd")
	fds, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, fd := range fds {
		var st unix.Stat_t
		if unix.Stat(filepath.Join(dir, fd.Name()), &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFBLK {
			continue
		}
		rdev := uint64(st.Rdev)
		if want[strconv.FormatUint(uint64(unix.Major(rdev)), 10)+":"+strconv.FormatUint(uint64(unix.Minor(rdev)), 10)] {
			return true
		}
	}
	return false
}

// busyExclusive reports whether node, the device's block node, cannot be
// opened with O_EXCL because a mount, swap or holder has it.
func (h Host) busyExclusive(node string, d Device) bool {
	var st unix.Stat_t
	if err := unix.Stat(node, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFBLK {
		return false
	}
	if d.Dev == nil || fmt.Sprintf("%d:%d", unix.Major(uint64(st.Rdev)), unix.Minor(uint64(st.Rdev))) != strings.TrimSpace(*d.Dev) {
		return false
	}
	if !d.Up() {
		return false // opening a down device fails anyway
	}
	fd, err := unix.Open(node, unix.O_RDONLY|unix.O_EXCL|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return errors.Is(err, unix.EBUSY)
	}
	unix.Close(fd)
	return false
}

// FlushCheck is what a named flush found before writing anything.
type FlushCheck struct {
	// Devices are the named devices that exist, in the order named,
	// each once.
	Devices []Device
	// Unknown are the names that are not devices of the tree.
	Unknown []string
	// Busy are the devices in use, each an *InUseError (empty with force).
	Busy []*InUseError
}

// CheckFlush reads the named devices ("e1.2") of the sysfs tree at h.Sys and,
// unless force is set, checks that none is in use (see InUse). A name given
// twice is taken once. A missing or unreadable tree makes every name
// unknown.
func (h Host) CheckFlush(names []string, force bool) FlushCheck {
	var c FlushCheck
	fs, fserr := NewFS(h.Sys)
	seen := map[string]bool{}
	for _, name := range names {
		if seen[name] {
			continue
		}
		seen[name] = true
		var d Device
		err := fserr
		if err == nil {
			d, err = fs.Device(name)
		}
		if err != nil {
			c.Unknown = append(c.Unknown, name)
			continue
		}
		c.Devices = append(c.Devices, d)
	}
	if force || len(c.Unknown) > 0 {
		return c
	}
	for _, d := range c.Devices {
		var e *InUseError
		if errors.As(h.InUse(d), &e) {
			c.Busy = append(c.Busy, e)
		}
	}
	return c
}

// MinorMismatch is a device whose node in Dev is a block device with
// another minor number than sysfs gives (a stale node from an older driver
// or aoe-mkdevs): opening it opens another disk.
type MinorMismatch struct {
	Device    Device
	Node      string // Dev/e1.2
	Want, Got string // minor numbers: sysfs's, the node's
}

// WrongMinors returns the devices whose node in Dev has the wrong minor
// number. Devices without a node, or whose node is not a block device, are
// fine.
func (h Host) WrongMinors(devs []Device) []MinorMismatch {
	var out []MinorMismatch
	for _, d := range devs {
		if d.Dev == nil {
			continue
		}
		_, want, _ := strings.Cut(strings.TrimSpace(*d.Dev), ":")
		node := h.node(d.Name)
		var st unix.Stat_t
		if err := unix.Stat(node, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFBLK {
			continue
		}
		got := strconv.FormatUint(uint64(unix.Minor(uint64(st.Rdev))), 10)
		if got != want {
			out = append(out, MinorMismatch{Device: d, Node: node, Want: want, Got: got})
		}
	}
	return out
}
