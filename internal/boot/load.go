package boot

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// Files are the configuration files Load reads.
type Files struct {
	Config string // /etc/aoe/aoe.conf
	Legacy string // /etc/default/aoetools
	Fstab  string // /etc/fstab
	// ReadFile reads a file (os.ReadFile when nil).
	ReadFile func(string) ([]byte, error)
	// Resolve finds the device of fstab's UUID=, LABEL= and /dev/disk
	// sources (nil: only /dev/etherd and our by-id/by-path names count).
	Resolve Resolver
}

// DefaultFiles returns the system's files.
func DefaultFiles() Files {
	return Files{Config: DefaultConfigPath, Legacy: LegacyConfigPath, Fstab: DefaultFstabPath, Resolve: DevResolver("/dev")}
}

// Load reads the configuration: Config when it sets AOE_BOOT; else the
// values of aoetools' Legacy file that can be honoured (INTERFACES,
// AOEMOUNTS), with a note for each value it migrates or ignores; then, with
// AOE_FSTAB on, what Fstab mounts from AoE disks (see FstabWait); and a note
// for each fstab entry on an AoE disk that boot will not wait for. A
// missing file counts as empty. Errors: a *ParseError (wrapping ErrSyntax) for a bad line, or
// the error reading a file that exists.
func Load(f Files) (Config, error) {
	read := f.ReadFile
	if read == nil {
		read = os.ReadFile
	}
	readOpt := func(path string) ([]byte, bool, error) {
		if path == "" {
			return nil, false, nil
		}
		b, err := read(path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, false, nil
		}
		return b, err == nil, err
	}
	data, _, err := readOpt(f.Config)
	if err != nil {
		return Config{}, err
	}
	cfg, set, err := Parse(f.Config, data)
	if err != nil {
		return cfg, err
	}
	var fstab []byte
	if fstab, _, err = readOpt(f.Fstab); err != nil {
		return cfg, err
	}
	if !set {
		ldata, ok, err := readOpt(f.Legacy)
		if err != nil {
			return cfg, err
		}
		if ok {
			l, err := ParseLegacy(f.Legacy, ldata, f.Fstab, fstab)
			if err != nil {
				return l, err
			}
			cfg = cfg.withLegacy(l)
		}
	}
	if cfg.Boot && cfg.Fstab {
		devs, notes := FstabWait(f.Fstab, fstab, f.Resolve)
		cfg.Wait = appendNew(cfg.Wait, devs...)
		cfg.Notes = append(cfg.Notes, notes...)
	}
	cfg.Notes = append(cfg.Notes, unwaitedNotes(cfg, f.Fstab, fstab, f.Resolve)...)
	return cfg, nil
}

// ParseLegacy reads aoetools' /etc/default/aoetools: INTERFACES 'none' (its
// default) leaves boot discovery off; a list turns it on restricted to
// those interfaces; blank means every interface, as aoetools' init script
// did. AOEMOUNTS' mount points are looked up in fstab and their AoE devices
// waited for. LVMGROUPS and RAID_ARRAYS are ignored with a note: LVM and md
// activate volumes on AoE disks through their own udev rules. Other keys
// (it is a shell file) are skipped. Errors: a *ParseError for a line that
// is not a plain assignment.
func ParseLegacy(file string, data []byte, fstabFile string, fstab []byte) (Config, error) {
	cfg := Default()
	cfg.Source = file
	if fstabFile == "" {
		fstabFile = "fstab (none was read)"
	}
	as, err := ParseAssignments(file, data)
	if err != nil {
		return cfg, err
	}
	vals := map[string]string{}
	for _, a := range as {
		vals[a.Key] = a.Value
	}
	ifaces, ok := vals["INTERFACES"]
	if !ok || strings.TrimSpace(ifaces) == "none" {
		return cfg, nil
	}
	cfg.Boot = true
	if cfg.Interfaces, cfg.AllInterfaces, err = parseInterfaces(ifaces); err != nil {
		if strings.TrimSpace(ifaces) != "" {
			return cfg, &ParseError{File: file, Line: lineOf(as, "INTERFACES"), Msg: "INTERFACES: " + err.Error()}
		}
		cfg.Interfaces, cfg.AllInterfaces = nil, true
	}
	which := "every interface"
	if !cfg.AllInterfaces {
		which = strings.Join(cfg.Interfaces, " ")
	}
	cfg.Notes = append(cfg.Notes, fmt.Sprintf("%s: using INTERFACES (%s); move the settings to %s (AOE_BOOT=yes, AOE_INTERFACES)", file, which, DefaultConfigPath))
	for _, mp := range strings.Fields(vals["AOEMOUNTS"]) {
		dev, found := fstabSourceOf(fstab, mp)
		name, isAoE := strings.CutPrefix(dev, "/dev/etherd/")
		switch {
		case !found:
			cfg.Notes = append(cfg.Notes, fmt.Sprintf("%s: AOEMOUNTS: %s is not in %s; it is not mounted (add it to fstab with _netdev)", file, quoteForMsg(mp), fstabFile))
		case isAoE:
			if _, _, err := parseDevice(name); err == nil {
				cfg.Wait = appendNew(cfg.Wait, name)
			}
		}
	}
	for _, k := range []string{"LVMGROUPS", "RAID_ARRAYS"} {
		if strings.TrimSpace(vals[k]) != "" {
			cfg.Notes = append(cfg.Notes, fmt.Sprintf("%s: %s ignored: LVM and md activate volumes on AoE disks through their own udev rules", file, k))
		}
	}
	return cfg, nil
}

func lineOf(as []Assignment, key string) int {
	for _, a := range as {
		if a.Key == key {
			return a.Line
		}
	}
	return 0
}

// fstabEntry is one line of fstab.
type fstabEntry struct {
	line                int
	source, dir, fstype string
	opts                []string
}

func parseFstab(data []byte) []fstabEntry {
	var out []fstabEntry
	for i, l := range strings.Split(string(data), "\n") {
		f := strings.Fields(l)
		if len(f) < 3 || strings.HasPrefix(f[0], "#") {
			continue
		}
		e := fstabEntry{line: i + 1, source: unoctal(f[0]), dir: unoctal(f[1]), fstype: f[2]}
		if len(f) > 3 {
			e.opts = strings.Split(f[3], ",")
		}
		out = append(out, e)
	}
	return out
}

// unoctal decodes fstab's \040-style escapes.
func unoctal(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if o := s[i+1 : i+4]; o[0] >= '0' && o[0] <= '3' && o[1] >= '0' && o[1] <= '7' && o[2] >= '0' && o[2] <= '7' {
				b.WriteByte((o[0]-'0')<<6 | (o[1]-'0')<<3 | (o[2] - '0'))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func hasOpt(opts []string, o string) bool {
	for _, x := range opts {
		if x == o {
			return true
		}
	}
	return false
}

// fstabSourceOf returns the source of the fstab entry mounted on dir.
func fstabSourceOf(data []byte, dir string) (string, bool) {
	for _, e := range parseFstab(data) {
		if e.dir == dir {
			return e.source, true
		}
	}
	return "", false
}

func appendNew(list []string, items ...string) []string {
	for _, it := range items {
		if !hasOpt(list, it) {
			list = append(list, it)
		}
	}
	return list
}
