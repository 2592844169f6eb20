package sysfs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// DiskPrefix is how the aoe driver's disks appear in /sys/block: the disk
// name "etherd/e1.2" with its slash turned into "!".
const DiskPrefix = "etherd!"

// Address limits of AoE (AoEr11 section 2): shelf 0xffff and slot 0xff are
// the broadcast values and never name a device.
const (
	MaxShelf = 65534
	MaxSlot  = 254
)

// ErrBadName reports a device name that is not of the form eX.Y.
var ErrBadName = errors.New("not an AoE device name (want eSHELF.SLOT, shelf 0-65534, slot 0-254)")

// ParseName parses an AoE device name such as "e1.2" into its shelf and slot.
// It is strict: decimal digits only, no sign, no leading "/dev/etherd/", and
// the address must not be a broadcast one.
func ParseName(name string) (shelf, slot int, err error) {
	rest, ok := strings.CutPrefix(name, "e")
	if !ok {
		return 0, 0, fmt.Errorf("%q: %w", name, ErrBadName)
	}
	sh, sl, ok := strings.Cut(rest, ".")
	if !ok {
		return 0, 0, fmt.Errorf("%q: %w", name, ErrBadName)
	}
	shelf, ok1 := parseDecimal(sh, MaxShelf)
	slot, ok2 := parseDecimal(sl, MaxSlot)
	if !ok1 || !ok2 {
		return 0, 0, fmt.Errorf("%q: %w", name, ErrBadName)
	}
	return shelf, slot, nil
}

// parseDecimal parses a non-empty string of at most 5 decimal digits no
// larger than max.
func parseDecimal(s string, max int) (int, bool) {
	if s == "" || len(s) > 5 {
		return 0, false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil || n > max {
		return 0, false
	}
	return n, true
}

// Device is one AoE disk as the driver shows it in sysfs. The attribute
// fields hold the file's content with trailing newlines removed (as a shell's
// $(cat file) would), or nil when the file is missing or unreadable.
type Device struct {
	// Name is the device name, such as "e1.2".
	Name  string
	Shelf int
	Slot  int
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
	entries, err := os.ReadDir(fs.Path("block"))
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		name, ok := strings.CutPrefix(e.Name(), DiskPrefix)
		if !ok {
			continue
		}
		if _, _, err := ParseName(name); err != nil {
			continue
		}
		names = append(names, name)
	}
	return names, nil
}

// Devices reads every AoE disk in the tree, sorted by shelf and then slot.
func (fs FS) Devices() ([]Device, error) {
	names, err := fs.DeviceNames()
	if err != nil {
		return nil, err
	}
	devs := make([]Device, 0, len(names))
	for _, name := range names {
		d, err := fs.Device(name)
		if err != nil {
			// The device went away between the listing and the read.
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			return nil, err
		}
		devs = append(devs, d)
	}
	SortDevices(devs)
	return devs, nil
}

// SortDevices orders devices by shelf, then slot.
func SortDevices(devs []Device) {
	sort.Slice(devs, func(i, j int) bool {
		if devs[i].Shelf != devs[j].Shelf {
			return devs[i].Shelf < devs[j].Shelf
		}
		return devs[i].Slot < devs[j].Slot
	})
}

// Exists reports whether the disk named name ("e1.2") is in the tree.
func (fs FS) Exists(name string) bool {
	_, err := os.Stat(fs.Path("block", DiskPrefix+name))
	return err == nil
}

// Device reads the disk named name ("e1.2"). It fails with an error wrapping
// os.ErrNotExist when there is no such disk.
func (fs FS) Device(name string) (Device, error) {
	shelf, slot, err := ParseName(name)
	if err != nil {
		return Device{}, err
	}
	dir := fs.Path("block", DiskPrefix+name)
	if _, err := os.Stat(dir); err != nil {
		return Device{}, err
	}
	d := Device{Name: name, Shelf: shelf, Slot: slot, Dir: dir}
	d.State = readString(dir, "state")
	d.MAC = readString(dir, "mac")
	d.NetIf = readString(dir, "netif")
	d.Firmware = readString(dir, "firmware-version")
	d.Payload = readString(dir, "payload")
	d.Size = readString(dir, "size")
	d.Dev = readString(dir, "dev")
	d.Holders = listDir(filepath.Join(dir, "holders"))

	entries, _ := os.ReadDir(dir)
	prefix := DiskPrefix + name + "p"
	for _, e := range entries {
		num, ok := strings.CutPrefix(e.Name(), prefix)
		if !ok {
			continue
		}
		n, ok := parseDecimal(num, 1<<16)
		if !ok {
			continue
		}
		pdir := filepath.Join(dir, e.Name())
		d.Partitions = append(d.Partitions, Partition{
			Name:   name + "p" + num,
			Number: n,
			Dev:    readString(pdir, "dev"),
		})
		d.Holders = append(d.Holders, listDir(filepath.Join(pdir, "holders"))...)
	}
	sort.Slice(d.Partitions, func(i, j int) bool { return d.Partitions[i].Number < d.Partitions[j].Number })
	return d, nil
}

// readString returns dir/name with trailing newlines removed, or nil when it
// cannot be read.
func readString(dir, name string) *string {
	b, err := readAttr(filepath.Join(dir, name))
	if err != nil {
		return nil
	}
	s := strings.TrimRight(string(b), "\n")
	return &s
}

// listDir returns the names in dir, or nil when it is missing or empty.
func listDir(dir string) []string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
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
