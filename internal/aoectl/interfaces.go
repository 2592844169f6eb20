package aoectl

import (
	"os"
	"strings"

	"github.com/goaoe/aoe/sysfs"
	"golang.org/x/sys/unix"
)

// MaxInterfaceList is the longest interface list the driver takes: aoe_iflist
// is a 1,024-byte string, its terminating NUL included.
const MaxInterfaceList = 1023

// SetInterfaces restricts the driver of h to the named network interfaces (none:
// every interface). It checks the length of the list and every name
// against Sys/class/net before it changes anything, then writes the names,
// joined by blanks and ended by a NUL, in one write: to the aoe_iflist
// module parameter when it is writable, else to ctl's interfaces node.
//
// It returns a *ListTooLongError, an *UnknownInterfacesError (every bad
// name), a *ParamError, or the error of ctl.Write (a *NodeError when the
// node is missing or wrong).
func SetInterfaces(h sysfs.Host, ctl Control, names []string) error {
	list := strings.Join(names, " ")
	if len(list) > MaxInterfaceList {
		return &ListTooLongError{Len: len(list)}
	}
	fs, fserr := sysfs.NewFS(h.Sys)
	var bad []string
	for _, n := range names {
		if fserr != nil || !fs.NetInterfaceExists(n) {
			bad = append(bad, n)
		}
	}
	if len(bad) > 0 {
		return &UnknownInterfacesError{Names: bad}
	}
	value := []byte(list + "\x00")
	if fserr == nil {
		if param := fs.InterfaceListPath(); unix.Access(param, unix.W_OK) == nil {
			if err := writeParam(param, value); err != nil {
				return &ParamError{Path: param, Err: err}
			}
			return nil
		}
	}
	return ctl.Write(sysfs.NodeInterfaces, value)
}

// writeParam writes a module parameter in one write, as `printf > file`.
// O_NONBLOCK: a FIFO in place of the parameter cannot block the open.
func writeParam(path string, value []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC|unix.O_NONBLOCK, 0)
	if err != nil {
		return err
	}
	_, err = f.Write(value)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
