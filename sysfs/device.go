package sysfs

import (
	"errors"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/goaoe/aoe/initiator/aoeaddr"
	"golang.org/x/sys/unix"
)

// DiskPrefix is how the aoe driver's disks appear in /sys/block: the disk
// name "etherd/e1.2" with its slash turned into "!".
const DiskPrefix = "etherd!"

// Device is one AoE disk as the driver shows it in sysfs. The attribute
// fields hold the file's content with trailing newlines removed (as a shell's
// $(cat file) would), or nil when the file is missing or unreadable.
type Device struct {
	// Name is the device name, such as "e1.2": Addr.String().
	Name string
	// Addr is the device's AoE address, shelf.slot.
	Addr aoeaddr.Address
	// Dir is the device's directory, root/block/etherd!eX.Y.
	Dir string

	State    *string // "up", "down", "down,closewait", "up,kickme"...
	MAC      *string // the first path's MAC, 12 hex digits, or "none"
	NetIf    *string // local interfaces, comma separated, or "none"
	Firmware *string // "0x4019"
	Payload  *string // bytes per ATA frame, "1024"
	Size     *string // 512-byte sectors, "2097152"
	Dev      *string // "152:16"

	// Partitions are the disk's partitions, ordered by number.
	Partitions []Partition
	// Holders are the names in the disk's and its partitions' holders
	// directories (device-mapper, md...), which keep the disk busy.
	Holders []string
}

// Partition is a partition of an AoE disk, such as e1.2p1.
type Partition struct {
	Name   string  // "e1.2p1"
	Number int     // 1
	Dev    *string // "152:17"
}

// DeviceNames lists the AoE disks in root/block, as names such as "e1.2",
// in the order of the directory. Entries are symlinks into
// devices/virtual/block and are taken by name, never by file type.
func (fs FS) DeviceNames() ([]string, error) {
	fd, err := openat(unix.AT_FDCWD, fs.Path("block"), openDirFlags)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: fs.Path("block"), Err: err}
	}
	defer unix.Close(fd)
	ents, err := readDirents(fd, make([]byte, 32*1024))
	if err != nil {
		return nil, &os.PathError{Op: "readdirent", Path: fs.Path("block"), Err: err}
	}
	var names []string
	for _, e := range ents {
		name, ok := strings.CutPrefix(e.name, DiskPrefix)
		if !ok {
			continue
		}
		if _, err := aoeaddr.Parse(name); err != nil {
			continue
		}
		names = append(names, name)
	}
	return names, nil
}

// listWorkers bounds how many devices are read at once.
const listWorkers = 8

// Devices reads every AoE disk in the tree, sorted by shelf and then slot,
// reading several devices at once. A device that vanished between the
// listing and the read (flushed, or being rediscovered) is left out. An
// entry that cannot be read is left out too and returned in skipped, as a
// *DeviceError. err is the error of listing root/block itself.
func (fs FS) Devices() (devs []Device, skipped []error, err error) {
	names, err := fs.DeviceNames()
	if err != nil {
		return nil, nil, err
	}
	SortNames(names)
	type result struct {
		d   Device
		err error
	}
	results := make([]result, len(names))
	workers := min(listWorkers, len(names))
	var wg sync.WaitGroup
	var next atomic.Int64
	for range workers {
		wg.Go(func() {
			r := newAttrReader()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(names) {
					return
				}
				results[i].d, results[i].err = fs.readDevice(names[i], r)
			}
		})
	}
	wg.Wait()
	devs = make([]Device, 0, len(names))
	for _, r := range results {
		switch {
		case r.err == nil:
			devs = append(devs, r.d)
		case errors.Is(r.err, os.ErrNotExist):
			// gone since the listing
		default:
			skipped = append(skipped, r.err)
		}
	}
	SortDevices(devs)
	return devs, skipped, nil
}

// SortDevices orders devices by shelf, then slot.
func SortDevices(devs []Device) {
	sort.Slice(devs, func(i, j int) bool {
		a, b := devs[i].Addr, devs[j].Addr
		return a.Shelf < b.Shelf || a.Shelf == b.Shelf && a.Slot < b.Slot
	})
}

// SortNames orders valid device names (DeviceNames gives them in directory
// order) by shelf, then slot.
func SortNames(names []string) {
	sort.Slice(names, func(i, j int) bool {
		a, _ := aoeaddr.Parse(names[i])
		b, _ := aoeaddr.Parse(names[j])
		return a.Shelf < b.Shelf || a.Shelf == b.Shelf && a.Slot < b.Slot
	})
}

// Exists reports whether the disk named name ("e1.2") is in the tree.
func (fs FS) Exists(name string) bool {
	_, err := os.Stat(fs.Path("block", DiskPrefix+name))
	return err == nil
}

// Device reads the disk named name ("e1.2"). It fails with an error wrapping
// aoeaddr.ErrBadName for a name that is not canonical, with an error wrapping
// os.ErrNotExist when there is no such disk, when it vanished while it was
// read (an attribute listed in its directory was gone when opened), or when
// none of its attributes can be read; and with a *DeviceError when its
// entry cannot be read (a symlink loop, no permission).
func (fs FS) Device(name string) (Device, error) {
	if _, err := aoeaddr.Parse(name); err != nil {
		return Device{}, err
	}
	return fs.readDevice(name, newAttrReader())
}

// readDevice reads the disk named name, a valid name, with r's buffers.
func (fs FS) readDevice(name string, r *attrReader) (Device, error) {
	a, _ := aoeaddr.Parse(name)
	dir := fs.Path("block", DiskPrefix+name)
	dirfd, err := openat(unix.AT_FDCWD, dir, openDirFlags)
	if err == unix.ENOENT {
		return Device{}, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	if err != nil {
		return Device{}, &DeviceError{Name: name, Path: dir, Err: err}
	}
	defer unix.Close(dirfd)
	ents, err := readDirents(dirfd, r.dbuf)
	if err != nil {
		return Device{}, &DeviceError{Name: name, Path: dir, Err: err}
	}
	d := Device{Name: name, Addr: a, Dir: dir}
	attrs := map[string]**string{
		"state": &d.State, "mac": &d.MAC, "netif": &d.NetIf, "firmware-version": &d.Firmware,
		"payload": &d.Payload, "size": &d.Size, "dev": &d.Dev,
	}
	prefix := DiskPrefix + name + "p"
	for _, e := range ents {
		if field, ok := attrs[e.name]; ok {
			if e.typ != unix.DT_REG {
				continue // a FIFO or a symlink is not an attribute: unreadable
			}
			v, gone := r.readAt(dirfd, e.name)
			if gone {
				return Device{}, &os.PathError{Op: "open", Path: dir + "/" + e.name, Err: os.ErrNotExist}
			}
			*field = v
			continue
		}
		if e.name == "holders" {
			d.Holders = append(listDirAt(dirfd, "holders", r.dbuf), d.Holders...)
			continue
		}
		num, ok := strings.CutPrefix(e.name, prefix)
		if !ok || e.typ != unix.DT_DIR {
			continue
		}
		n, err := aoeaddr.ParseNumber(num, 1<<16)
		if err != nil {
			continue
		}
		p := Partition{Name: name + "p" + num, Number: n}
		if pfd, err := openat(dirfd, e.name, openDirFlags); err == nil {
			p.Dev, _ = r.readAt(pfd, "dev")
			d.Holders = append(d.Holders, listDirAt(pfd, "holders", r.dbuf)...)
			unix.Close(pfd)
		}
		d.Partitions = append(d.Partitions, p)
	}
	if d.State == nil && d.MAC == nil && d.NetIf == nil && d.Firmware == nil && d.Payload == nil && d.Size == nil && d.Dev == nil && len(d.Partitions) == 0 {
		// kernfs empties a directory it removes: the device is going
		// away, and a device with nothing to show is not listed.
		return Device{}, &os.PathError{Op: "read", Path: dir, Err: os.ErrNotExist}
	}
	sort.Slice(d.Partitions, func(i, j int) bool { return d.Partitions[i].Number < d.Partitions[j].Number })
	return d, nil
}

// Sectors returns the size in 512-byte sectors.
func (d Device) Sectors() (uint64, bool) {
	if d.Size == nil {
		return 0, false
	}
	n, err := strconv.ParseUint(strings.TrimSpace(*d.Size), 10, 64)
	return n, err == nil
}

// Bytes returns the size in bytes, or false when it is unknown or does not
// fit in 64 bits.
func (d Device) Bytes() (uint64, bool) {
	n, ok := d.Sectors()
	if !ok || n > (1<<64-1)/512 {
		return 0, false
	}
	return n * 512, true
}

// PayloadBytes returns the data bytes per ATA frame.
func (d Device) PayloadBytes() (int64, bool) {
	if d.Payload == nil {
		return 0, false
	}
	n, err := strconv.ParseInt(strings.TrimSpace(*d.Payload), 10, 64)
	return n, err == nil
}

// NetIfs returns the local interfaces of all paths, in the driver's order.
// The driver writes "none" when there is none.
func (d Device) NetIfs() []string {
	if d.NetIf == nil {
		return nil
	}
	s := strings.TrimSpace(*d.NetIf)
	if s == "none" || s == "" {
		return []string{}
	}
	return strings.Split(s, ",")
}

// MACAddr returns the first path's MAC in colon form ("02:ae:00:00:01:02").
// It returns false when the file is missing or says "none"; a value that is
// not 12 hex digits is returned as it is.
func (d Device) MACAddr() (string, bool) {
	if d.MAC == nil {
		return "", false
	}
	return FormatMAC(strings.TrimSpace(*d.MAC))
}

// FormatMAC turns the driver's 12-hex-digit MAC ("02ae00000102") into colon
// form. "none" and "" give false; anything else that is not 12 hex digits is
// returned unchanged.
func FormatMAC(s string) (string, bool) {
	if s == "" || s == "none" {
		return "", false
	}
	if len(s) != 12 {
		return s, true
	}
	for _, c := range s {
		if !strings.ContainsRune("0123456789abcdefABCDEF", c) {
			return s, true
		}
	}
	s = strings.ToLower(s)
	var b strings.Builder
	for i := 0; i < 12; i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(s[i : i+2])
	}
	return b.String(), true
}

// StateWords splits the state attribute into its words ("down,closewait" →
// ["down", "closewait"]).
func (d Device) StateWords() []string {
	if d.State == nil {
		return nil
	}
	return strings.Split(strings.TrimSpace(*d.State), ",")
}

// Up reports whether the driver says the device is up.
func (d Device) Up() bool {
	w := d.StateWords()
	return len(w) > 0 && w[0] == "up"
}

// Open reports whether the driver says the device is held open while down
// ("closewait"), the only open indicator it exports.
func (d Device) Open() bool {
	for _, w := range d.StateWords() {
		if w == "closewait" {
			return true
		}
	}
	return false
}

// DevNumbers returns the device's and its partitions' "major:minor" numbers.
func (d Device) DevNumbers() []string {
	var out []string
	if d.Dev != nil {
		out = append(out, strings.TrimSpace(*d.Dev))
	}
	for _, p := range d.Partitions {
		if p.Dev != nil {
			out = append(out, strings.TrimSpace(*p.Dev))
		}
	}
	return out
}
