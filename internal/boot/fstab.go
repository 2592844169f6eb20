package boot

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
)

// Resolver returns the device node an fstab source names now
// ("UUID=0f3c..." -> "/dev/etherd/e1.2p1"), and false when there is none
// (yet): the disk may be an AoE disk not discovered.
type Resolver func(source string) (dev string, ok bool)

// byLink are fstab's tags and the /dev/disk directories of their udev
// links.
var byLink = map[string]string{
	"UUID":      "by-uuid",
	"LABEL":     "by-label",
	"PARTUUID":  "by-partuuid",
	"PARTLABEL": "by-partlabel",
}

// SourcePath returns the path of the udev link an fstab source names
// ("LABEL=my data" -> "/dev/disk/by-label/my\x20data", encoded as udev
// and systemd do), the source itself when it is a /dev path, and "" for
// what is not a block device (host:/export, tmpfs, proc...).
func SourcePath(source string) string {
	if strings.HasPrefix(source, "/dev/") {
		return filepath.Clean(source)
	}
	tag, v, ok := strings.Cut(source, "=")
	dir, known := byLink[tag]
	if !ok || !known || v == "" {
		return ""
	}
	v = strings.Trim(v, `"`)
	return "/dev/disk/" + dir + "/" + encodeLink(v)
}

// encodeLink escapes a tag's value as udev's link names do: bytes other
// than letters, digits, "#+-.:=@_" and UTF-8 sequences become \xHH.
func encodeLink(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', strings.IndexByte("#+-.:=@_", c) >= 0, c >= 0x80:
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, `\x%02x`, c)
		}
	}
	return b.String()
}

// DevResolver resolves fstab sources through the links udev makes under
// devRoot (/dev; another root for tests): the result is in /dev terms.
func DevResolver(devRoot string) Resolver {
	return func(source string) (string, bool) {
		p := SourcePath(source)
		if p == "" {
			return "", false
		}
		real, err := filepath.EvalSymlinks(filepath.Join(devRoot, strings.TrimPrefix(p, "/dev/")))
		if err != nil {
			return "", false
		}
		rel, err := filepath.Rel(devRoot, real)
		if err != nil || strings.HasPrefix(rel, "..") {
			return "", false
		}
		return "/dev/" + rel, true
	}
}

// AoEName returns the AoE device ("e1.2p1") a device path names:
// /dev/etherd/e1.2p1, or the links our udev rules make for AoE disks,
// /dev/disk/by-id/aoe-e1.2-part1 and /dev/disk/by-path/aoe-e1.2-part1.
func AoEName(path string) (string, bool) {
	name, ok := strings.CutPrefix(path, "/dev/etherd/")
	if !ok {
		for _, dir := range []string{"/dev/disk/by-id/aoe-", "/dev/disk/by-path/aoe-"} {
			if n, found := strings.CutPrefix(path, dir); found {
				disk, part, _ := strings.Cut(n, "-part")
				name, ok = disk, true
				if part != "" {
					if _, err := strconv.Atoi(part); err != nil {
						return "", false
					}
					name += "p" + part
				}
			}
		}
	}
	if !ok {
		return "", false
	}
	if _, _, err := parseDevice(name); err != nil {
		return "", false
	}
	return name, true
}

// IsFstabSource reports whether a wait item is an fstab source (UUID=...,
// LABEL=..., /dev/disk/...) rather than an AoE device name: one that did
// not exist when the configuration was read and may be on an AoE disk.
func IsFstabSource(item string) bool {
	return strings.Contains(item, "=") || strings.HasPrefix(item, "/")
}

// fstabMount is an fstab entry mounted at boot that is, or may be, on an
// AoE disk.
type fstabMount struct {
	e fstabEntry
	// name is the AoE device ("e1.2p1"); "" when the source does not
	// exist yet and may be on an AoE disk (a _netdev tag).
	name string
}

// aoeMounts returns fstab's entries (without noauto) on AoE disks: named
// by /dev/etherd or our by-id/by-path links, or resolving through resolve
// to /dev/etherd; and the _netdev entries by UUID=, LABEL=, PARTUUID=,
// PARTLABEL= or /dev/disk/... that do not resolve yet (resolve may be nil:
// then only the names count).
func aoeMounts(data []byte, resolve Resolver) []fstabMount {
	var out []fstabMount
	for _, e := range parseFstab(data) {
		if hasOpt(e.opts, "noauto") {
			continue
		}
		p := SourcePath(e.source)
		if p == "" {
			continue
		}
		if name, ok := AoEName(p); ok {
			out = append(out, fstabMount{e: e, name: name})
			continue
		}
		if strings.HasPrefix(e.source, "/dev/") && !strings.HasPrefix(e.source, "/dev/disk/") {
			continue // /dev/sda1, /dev/mapper/...: not a link to wait for
		}
		if resolve == nil {
			continue
		}
		dev, ok := resolve(e.source)
		switch {
		case ok:
			if name, isAoE := AoEName(dev); isAoE {
				out = append(out, fstabMount{e: e, name: name})
			}
		case hasOpt(e.opts, "_netdev"):
			out = append(out, fstabMount{e: e})
		}
	}
	return out
}

// FstabWait returns what boot waits for so that fstab's AoE file systems
// can be mounted: AoE device names ("e1.2p1") and, for the _netdev entries
// by UUID=, LABEL=... that do not resolve yet, their sources (see
// IsFstabSource); and a note for each AoE entry without _netdev, which
// systemd would mount before the network is up.
func FstabWait(file string, data []byte, resolve Resolver) (wait, notes []string) {
	for _, m := range aoeMounts(data, resolve) {
		if m.name == "" {
			wait = appendNew(wait, m.e.source)
			continue
		}
		wait = appendNew(wait, m.name)
		if !hasOpt(m.e.opts, "_netdev") {
			notes = append(notes, fmt.Sprintf("%s:%d: %s has no _netdev option: it may be mounted before the network and the AoE disk are up; add _netdev", file, m.e.line, quoteForMsg(m.e.source)))
		}
	}
	return wait, notes
}

// unwaitedNotes says which of fstab's AoE mounts boot will not wait for
// under cfg: all of them when boot discovery is off (the mount then fails
// after systemd's 90 s), those not in AOE_WAIT with AOE_FSTAB=no.
func unwaitedNotes(cfg Config, file string, data []byte, resolve Resolver) []string {
	var notes []string
	for _, m := range aoeMounts(data, resolve) {
		what := quoteForMsg(m.e.source)
		if m.name != "" && "/dev/etherd/"+m.name != m.e.source {
			what += " (" + m.name + ")"
		}
		switch {
		case !cfg.Boot && m.name != "":
			notes = append(notes, fmt.Sprintf("%s:%d: %s is on an AoE disk, but AoE boot discovery is off: it will not be mounted at boot (set AOE_BOOT=yes and AOE_INTERFACES in %s)", file, m.e.line, what, DefaultConfigPath))
		case cfg.Boot && !cfg.Fstab && m.name != "" && !hasOpt(cfg.Wait, m.name):
			notes = append(notes, fmt.Sprintf("%s:%d: %s is on an AoE disk that boot does not wait for (AOE_FSTAB=no and not in AOE_WAIT)", file, m.e.line, what))
		}
	}
	return notes
}
