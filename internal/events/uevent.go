package events

import (
	"bytes"
	"context"
	"errors"
	"strings"

	"golang.org/x/sys/unix"
)

// Uevent is a kernel uevent: "ACTION@DEVPATH" then KEY=VALUE pairs.
type Uevent struct {
	Action    string
	DevPath   string
	Subsystem string
	DevName   string
	Env       map[string]string
}

// ParseUevent parses one kernel uevent datagram: NUL-separated strings, the
// first "ACTION@DEVPATH", the others KEY=VALUE. It returns false for a
// datagram that is not one (libudev's, which starts "libudev").
func ParseUevent(b []byte) (Uevent, bool) {
	parts := bytes.Split(b, []byte{0})
	if len(parts) == 0 {
		return Uevent{}, false
	}
	action, path, ok := strings.Cut(string(parts[0]), "@")
	if !ok || action == "" {
		return Uevent{}, false
	}
	u := Uevent{Action: action, DevPath: path, Env: map[string]string{}}
	for _, p := range parts[1:] {
		if k, v, ok := strings.Cut(string(p), "="); ok {
			u.Env[k] = v
		}
	}
	u.Subsystem, u.DevName = u.Env["SUBSYSTEM"], u.Env["DEVNAME"]
	if a := u.Env["ACTION"]; a != "" {
		u.Action = a
	}
	return u, true
}

// AoE reports whether the uevent concerns the aoe driver: an etherd block
// device (disk or partition) or the aoe module.
func (u Uevent) AoE() bool {
	switch u.Subsystem {
	case "block":
		return strings.HasPrefix(u.DevName, "etherd/") || strings.Contains(u.DevPath, "/etherd!")
	case "module":
		return u.DevPath == "/module/aoe"
	}
	return false
}

// uevents listens to the kernel's uevents and calls fn for those of the aoe
// driver until ctx is done. It fails when the netlink socket cannot be
// opened. Only messages from the kernel (sender port 0) are taken.
func uevents(ctx context.Context, fn func(Uevent)) error {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.NETLINK_KOBJECT_UEVENT)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: 1}); err != nil {
		return err
	}
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 1<<20)
	buf := make([]byte, 64*1024)
	for ctx.Err() == nil {
		// Wake at least every 200ms to notice ctx.
		if _, err := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, 200); err != nil && !errors.Is(err, unix.EINTR) {
			return err
		}
		n, from, err := unix.Recvfrom(fd, buf, 0)
		switch {
		case errors.Is(err, unix.EAGAIN), errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.ENOBUFS):
			fn(Uevent{Action: "overflow"}) // lost some: rescan anyway
			continue
		case err != nil:
			return err
		}
		if nl, ok := from.(*unix.SockaddrNetlink); !ok || nl.Pid != 0 {
			continue
		}
		if u, ok := ParseUevent(buf[:n]); ok && u.AoE() {
			fn(u)
		}
	}
	return nil
}
