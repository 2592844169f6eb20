package sysfs

import (
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
	// Proc is where the in-use check (internal/inuse) looks up the
	// mount table (Proc/self/mountinfo) and the processes' open files
	// (Proc/PID/fd); empty: they are not.
	Proc string
}

// DefaultHost returns the roots of the running system.
func DefaultHost() Host {
	return Host{Sys: DefaultRoot, Dev: DefaultDevDir, Proc: DefaultProcRoot}
}

// ModuleLoaded reports whether the aoe driver is present in the sysfs tree
// at Sys (Sys/module/aoe exists), as FS.ModuleLoaded, without requiring the
// tree to be mounted.
func (h Host) ModuleLoaded() bool { return moduleLoaded(h.Sys) }

// Node returns the path of a device's block node in Dev ("/dev/etherd/e1.2").
func (h Host) Node(name string) string {
	return strings.TrimRight(h.Dev, "/") + "/" + name
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
		node := h.Node(d.Name)
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
