// Package inuse tells whether an AoE device is in use on this host, as the
// flush command and the write guard must know before they take it away or
// write under its users: held open while down, held by device-mapper or md,
// mounted, open exclusively, or open by a process, found by scanning
// procfs for the processes that have it open (as fuser does).
//
// Like package sysfs it takes every root from the caller (a sysfs.Host),
// so that tests point it at fixture trees.
package inuse

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/goaoe/aoe/sysfs"
	"golang.org/x/sys/unix"
)

// Reason says what keeps a device in use.
type Reason int

// The reasons, in the order Check checks them.
const (
	HeldOpen  Reason = iota + 1 // state closewait: held open while down
	Held                        // a holder (device-mapper, md) on the disk or a partition
	Mounted                     // the disk or a partition is mounted
	Exclusive                   // the node cannot be opened with O_EXCL (mount, swap, other namespace)
	OpenByPID                   // a process has the disk or a partition open
)

// Opener is a process that has a device open.
type Opener struct {
	PID  int
	Comm string // the process's name, from Proc/PID/comm
}

// Check is the one in-use check: it says whether d is in use on host h,
// held open while down, held by another block device, mounted
// (Proc/self/mountinfo), open exclusively (an O_EXCL open of Dev/NAME fails
// with EBUSY, which also sees mounts in other mount namespaces), or open by
// a process (Proc/PID/fd, as fuser looks). It returns nil, or an *Error for
// the first reason found, in that order. Files that cannot be read count as
// saying nothing.
func Check(h sysfs.Host, d sysfs.Device) error {
	mounts, _ := Mounts(h.Proc) // unreadable: nothing is mounted
	if e := Seen(d, mounts); e != nil {
		return e
	}
	if node := h.Node(d.Name); busyExclusive(node, d) {
		return &Error{Device: d.Name, Reason: Exclusive, Node: node}
	}
	if procs := Openers(h.Proc, d.DevNumbers()); len(procs) > 0 {
		return &Error{Device: d.Name, Reason: OpenByPID, Openers: procs}
	}
	return nil
}

// Seen is the part of Check that sysfs and the mount table tell, without
// opening the device or scanning the processes: held open while down,
// held by a holder (device-mapper, md) on the disk or a partition, or
// mounted (mounts maps the "major:minor" of mounted devices, see Mounts).
// It returns nil or an *Error. A process holding an up device open is not
// seen: the driver does not export an open count.
func Seen(d sysfs.Device, mounts map[string]string) *Error {
	if d.Open() {
		return &Error{Device: d.Name, Reason: HeldOpen, State: strings.TrimSpace(*d.State)}
	}
	if len(d.Holders) > 0 {
		return &Error{Device: d.Name, Reason: Held, Holders: d.Holders}
	}
	for _, num := range d.DevNumbers() {
		if mp, ok := mounts[num]; ok {
			return &Error{Device: d.Name, Reason: Mounted, MountPoint: mp}
		}
	}
	return nil
}

// Mounts maps "major:minor" to the first mount point of that device in
// proc/self/mountinfo (proc is procfs's root, "/proc"). Without proc it
// returns an empty map.
func Mounts(proc string) (map[string]string, error) {
	if proc == "" {
		return map[string]string{}, nil
	}
	b, err := os.ReadFile(filepath.Join(proc, "self", "mountinfo"))
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
// "major:minor" numbers open, from proc/PID/fd, as fuser does (the driver
// does not show an up device's open count); proc is procfs's root,
// "/proc". The calling process is left out. Without proc it returns nil.
func Openers(proc string, devs []string) []Opener {
	if proc == "" || len(devs) == 0 {
		return nil
	}
	want := map[string]bool{}
	for _, d := range devs {
		want[d] = true
	}
	pids, err := os.ReadDir(proc)
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
		if hasOpen(proc, p.Name(), want) {
			comm, _ := sysfs.ReadAttr(filepath.Join(proc, p.Name(), "comm"))
			out = append(out, Opener{PID: pid, Comm: strings.TrimSpace(string(comm))})
		}
	}
	return out
}

// hasOpen reports whether process pid has one of the wanted block devices
// open.
func hasOpen(proc, pid string, want map[string]bool) bool {
	dir := filepath.Join(proc, pid, "fd")
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
func busyExclusive(node string, d sysfs.Device) bool {
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
	Devices []sysfs.Device
	// Unknown are the names that are not devices of the tree.
	Unknown []string
	// Busy are the devices in use, each an *Error (empty with force).
	Busy []*Error
}

// CheckFlush reads the named devices ("e1.2") of the sysfs tree at h.Sys and,
// unless force is set, checks that none is in use (see Check). A name given
// twice is taken once. A missing or unreadable tree makes every name
// unknown.
func CheckFlush(h sysfs.Host, names []string, force bool) FlushCheck {
	var c FlushCheck
	fs, fserr := sysfs.NewFS(h.Sys)
	seen := map[string]bool{}
	for _, name := range names {
		if seen[name] {
			continue
		}
		seen[name] = true
		var d sysfs.Device
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
		var e *Error
		if errors.As(Check(h, d), &e) {
			c.Busy = append(c.Busy, e)
		}
	}
	return c
}
