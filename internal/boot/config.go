// Package boot brings AoE storage up at boot and down at shutdown: it reads
// /etc/aoe/aoe.conf (and what it can honour of aoetools'
// /etc/default/aoetools), loads the aoe driver restricted to the configured
// interfaces, asks it to discover targets, and waits until the configured
// devices and partitions exist. The environment (sysfs and /dev roots, the
// modprobe runner, the clock) is injected so that tests run on fixture trees.
package boot

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/goaoe/aoe/initiator/aoeaddr"
	"github.com/goaoe/aoe/sysfs"
)

// Default paths of the configuration files.
const (
	DefaultConfigPath = "/etc/aoe/aoe.conf"
	LegacyConfigPath  = "/etc/default/aoetools"
	DefaultFstabPath  = "/etc/fstab"
)

// DefaultTimeout is how long Up waits for the configured devices when
// AOE_TIMEOUT is not set.
const DefaultTimeout = 60 * time.Second

// MinTimeout and MaxTimeout bound AOE_TIMEOUT (and aoe up --timeout): less
// than a second cannot bring a disk up, and a boot that waits more than an
// hour for its disks is stuck, not slow.
const (
	MinTimeout = time.Second
	MaxTimeout = time.Hour
)

// Config is the boot configuration.
type Config struct {
	// Boot is AOE_BOOT: load the driver and discover at boot. Off unless
	// the configuration turns it on.
	Boot bool
	// Interfaces is AOE_INTERFACES: the interfaces AoE may use. Nil with
	// AllInterfaces false means not configured.
	Interfaces []string
	// AllInterfaces is AOE_INTERFACES=all: no restriction.
	AllInterfaces bool
	// Wait is AOE_WAIT: the devices and partitions to wait for ("e1.2",
	// "e1.2p1").
	Wait []string
	// Fstab is AOE_FSTAB (default yes): also wait for the /dev/etherd
	// devices that /etc/fstab mounts (entries without noauto).
	Fstab bool
	// Initramfs is AOE_INITRAMFS: put aoe and the driver in the
	// initramfs even when the root file system is not on AoE yet.
	Initramfs bool
	// Timeout is AOE_TIMEOUT: how long to wait for the devices.
	Timeout time.Duration
	// Source is the file the configuration came from, for messages.
	Source string
	// Notes are what the configuration's reader has to say once (values
	// of /etc/default/aoetools it migrated or ignores).
	Notes []string
}

// Default returns the configuration when no file sets anything: off.
func Default() Config {
	return Config{Fstab: true, Timeout: DefaultTimeout}
}

// Assignment is one KEY=VALUE line of a configuration file.
type Assignment struct {
	Key, Value string
	Line       int
}

// ParseAssignments parses a shell-like KEY=VALUE file: blank lines and
// lines starting with # are skipped, "export " before a key is allowed,
// values may be bare words, 'single quoted' (literal) or "double quoted"
// (with \" \\ \$ \` escapes), and a # after a value starts a comment.
// Nothing is expanded: $, `, unquoted blanks and shell operators in a value
// are errors. It returns a *ParseError naming file and line.
//
// A NUL byte anywhere is an error naming its line, in a value (quoted or
// not) with the key: the driver and C programs would take it as the end of
// the string and silently drop what follows. So are the other control
// bytes in a value, except a tab inside quotes.
func ParseAssignments(file string, data []byte) ([]Assignment, error) {
	var out []Assignment
	for i, raw := range strings.Split(string(data), "\n") {
		perr := func(format string, args ...any) error {
			return &ParseError{File: file, Line: i + 1, Msg: fmt.Sprintf(format, args...)}
		}
		line := strings.TrimSpace(strings.TrimSuffix(raw, "\r"))
		if line == "" || line[0] == '#' {
			if strings.IndexByte(line, 0) >= 0 {
				return nil, perr("NUL byte in a comment (is the file corrupt?)")
			}
			continue
		}
		if w, ok := strings.CutPrefix(line, "export"); ok && w != "" && (w[0] == ' ' || w[0] == '\t') {
			line = strings.TrimLeft(w, " \t")
		}
		key, rest, ok := strings.Cut(line, "=")
		if !ok {
			return nil, perr("want KEY=VALUE, got %s", quoteForMsg(line))
		}
		if !validKey(key) {
			return nil, perr("bad key %s (letters, digits and _; no blanks around =)", quoteForMsg(key))
		}
		val, err := parseValue(rest)
		if err != nil {
			return nil, perr("%s: %v", key, err)
		}
		if strings.IndexByte(rest, 0) >= 0 {
			// In the comment after the value.
			return nil, perr("%s: NUL byte after the value (is the file corrupt?)", key)
		}
		out = append(out, Assignment{Key: key, Value: val, Line: i + 1})
	}
	return out, nil
}

func validKey(k string) bool {
	if k == "" || (k[0] >= '0' && k[0] <= '9') {
		return false
	}
	for _, c := range k {
		if !(c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// parseValue parses the right-hand side of an assignment.
func parseValue(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\'':
			end := strings.IndexByte(s[i+1:], '\'')
			if end < 0 {
				return "", errors.New("unterminated single quote")
			}
			body := s[i+1 : i+1+end]
			if err := checkQuoted(body); err != nil {
				return "", err
			}
			b.WriteString(body)
			i += end + 2
		case c == '"':
			n, err := parseDouble(s[i+1:], &b)
			if err != nil {
				return "", err
			}
			i += n + 2
		case c == ' ' || c == '\t':
			rest := strings.TrimLeft(s[i:], " \t")
			if rest != "" && rest[0] != '#' {
				return "", errors.New("unquoted blank in value (quote it: KEY=\"a b\")")
			}
			return b.String(), nil
		case c == '#' && i == 0:
			return "", nil
		case c == '\\':
			if i+1 >= len(s) {
				return "", errors.New("backslash at end of line (continuation lines are not supported)")
			}
			if e := s[i+1]; (e < 0x20 && e != '\t') || e == 0x7f {
				return "", controlByteError(e)
			}
			b.WriteByte(s[i+1])
			i += 2
		case strings.IndexByte("$`;&|<>()", c) >= 0:
			return "", fmt.Errorf("%q is not allowed unquoted (nothing is expanded)", c)
		case c < 0x20 || c == 0x7f:
			return "", controlByteError(c)
		default:
			b.WriteByte(c)
			i++
		}
	}
	return b.String(), nil
}

// controlByteError is the error for control byte c in a value.
func controlByteError(c byte) error {
	if c == 0 {
		return errors.New("NUL byte in value (it would end the value there; is the file corrupt?)")
	}
	return fmt.Errorf("control byte %s in value", quoteForMsg(string(c)))
}

// checkQuoted rejects the control bytes of a quoted value but tab.
func checkQuoted(s string) error {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			return controlByteError(c)
		}
	}
	return nil
}

// parseDouble reads a double-quoted string's body from s (after the opening
// quote) into b and returns the length of the body.
func parseDouble(s string, b *strings.Builder) (int, error) {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"':
			return i, nil
		case '\\':
			if i+1 < len(s) && strings.IndexByte("\"\\$`", s[i+1]) >= 0 {
				b.WriteByte(s[i+1])
				i++
				continue
			}
			b.WriteByte(c)
		case '$', '`':
			return 0, fmt.Errorf("%q in double quotes (nothing is expanded; use single quotes)", c)
		case '\t':
			b.WriteByte(c)
		default:
			if c < 0x20 || c == 0x7f {
				return 0, controlByteError(c)
			}
			b.WriteByte(c)
		}
	}
	return 0, errors.New("unterminated double quote")
}

// quoteForMsg quotes s for an error message, escaping control bytes.
func quoteForMsg(s string) string {
	if len(s) > 60 {
		s = s[:60] + "..."
	}
	return strconv.QuoteToASCII(s)
}

// Keys of /etc/aoe/aoe.conf.
const (
	KeyBoot       = "AOE_BOOT"
	KeyInterfaces = "AOE_INTERFACES"
	KeyWait       = "AOE_WAIT"
	KeyTimeout    = "AOE_TIMEOUT"
	KeyFstab      = "AOE_FSTAB"
	KeyInitramfs  = "AOE_INITRAMFS"
)

// Keys are the keys of /etc/aoe/aoe.conf.
var Keys = []string{KeyBoot, KeyInterfaces, KeyWait, KeyTimeout, KeyFstab, KeyInitramfs}

// Value returns the effective setting of key, normalized for shell
// scripts: yes or no for AOE_BOOT, AOE_FSTAB and AOE_INITRAMFS; names
// separated by one space for AOE_INTERFACES ("all" for every interface,
// empty when none is configured) and AOE_WAIT; whole seconds, rounded up,
// for AOE_TIMEOUT. Errors: ErrUnknownKey.
func (c Config) Value(key string) (string, error) {
	yesNo := func(b bool) string {
		if b {
			return "yes"
		}
		return "no"
	}
	switch key {
	case KeyBoot:
		return yesNo(c.Boot), nil
	case KeyFstab:
		return yesNo(c.Fstab), nil
	case KeyInitramfs:
		return yesNo(c.Initramfs), nil
	case KeyInterfaces:
		if c.AllInterfaces {
			return "all", nil
		}
		return strings.Join(c.Interfaces, " "), nil
	case KeyWait:
		return strings.Join(c.Wait, " "), nil
	case KeyTimeout:
		return strconv.FormatInt(int64((c.Timeout+time.Second-1)/time.Second), 10), nil
	}
	return "", fmt.Errorf("%s: %w (known: %s)", quoteForMsg(key), ErrUnknownKey, strings.Join(Keys, ", "))
}

// withLegacy returns c, read from an aoe.conf that does not set AOE_BOOT,
// with what aoetools' file l turns on: when l turns boot discovery on, its
// interfaces and its devices (before c's) are used, and it is the source.
// c's AOE_TIMEOUT, AOE_FSTAB and AOE_INITRAMFS stay. l's notes are kept.
func (c Config) withLegacy(l Config) Config {
	c.Notes = append(c.Notes, l.Notes...)
	if !l.Boot {
		return c
	}
	if c.Interfaces != nil || c.AllInterfaces {
		c.Notes = append(c.Notes, fmt.Sprintf("%s: %s is not used while %s is not set; %s's INTERFACES is", c.Source, KeyInterfaces, KeyBoot, l.Source))
	}
	c.Boot, c.Interfaces, c.AllInterfaces, c.Source = true, l.Interfaces, l.AllInterfaces, l.Source
	c.Wait = appendNew(append([]string(nil), l.Wait...), c.Wait...)
	return c
}

// Parse parses /etc/aoe/aoe.conf. Unknown keys, repeated keys and bad
// values are errors (*ParseError wrapping ErrSyntax). set reports whether
// the file sets AOE_BOOT (when it does not, aoetools' file may be honoured).
func Parse(file string, data []byte) (cfg Config, set bool, err error) {
	cfg = Default()
	cfg.Source = file
	as, err := ParseAssignments(file, data)
	if err != nil {
		return cfg, false, err
	}
	seen := map[string]int{}
	for _, a := range as {
		perr := func(format string, args ...any) error {
			return &ParseError{File: file, Line: a.Line, Msg: a.Key + ": " + fmt.Sprintf(format, args...)}
		}
		if prev, ok := seen[a.Key]; ok {
			return cfg, false, perr("already set on line %d", prev)
		}
		seen[a.Key] = a.Line
		switch a.Key {
		case KeyBoot:
			if cfg.Boot, err = parseBool(a.Value); err != nil {
				return cfg, false, perr("%v", err)
			}
			set = true
		case KeyFstab:
			if cfg.Fstab, err = parseBool(a.Value); err != nil {
				return cfg, false, perr("%v", err)
			}
		case KeyInitramfs:
			if cfg.Initramfs, err = parseBool(a.Value); err != nil {
				return cfg, false, perr("%v", err)
			}
		case KeyInterfaces:
			if cfg.Interfaces, cfg.AllInterfaces, err = parseInterfaces(a.Value); err != nil {
				return cfg, false, perr("%v", err)
			}
		case KeyWait:
			if cfg.Wait, err = parseWait(a.Value); err != nil {
				return cfg, false, perr("%v", err)
			}
		case KeyTimeout:
			if cfg.Timeout, err = parseTimeout(a.Value); err != nil {
				return cfg, false, perr("%v", err)
			}
		default:
			return cfg, false, perr("unknown key (known: %s)", strings.Join(Keys, ", "))
		}
	}
	if cfg.Boot && cfg.Interfaces == nil && !cfg.AllInterfaces {
		line := seen[KeyBoot]
		return cfg, false, &ParseError{File: file, Line: line, Msg: KeyBoot + "=yes needs " + KeyInterfaces + " (the interfaces AoE may use, or \"all\")"}
	}
	return cfg, set, nil
}

func parseBool(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "yes", "true", "on", "1":
		return true, nil
	case "no", "false", "off", "0", "":
		return false, nil
	}
	return false, fmt.Errorf("want yes or no, got %s", quoteForMsg(v))
}

// splitList splits on blanks and commas, as the driver does aoe_iflist.
func splitList(v string) []string { return sysfs.ParseInterfaceList(v) }

func parseInterfaces(v string) ([]string, bool, error) {
	names := splitList(v)
	if len(names) == 1 && names[0] == "all" {
		return nil, true, nil
	}
	if len(names) == 0 {
		return nil, false, errors.New(`empty: name the interfaces (or "all")`)
	}
	for _, n := range names {
		if !ValidInterfaceName(n) {
			return nil, false, fmt.Errorf("%s is not a valid interface name", quoteForMsg(n))
		}
		if n == "all" {
			return nil, false, errors.New(`"all" cannot be combined with interface names`)
		}
	}
	return names, false, nil
}

// ValidInterfaceName reports whether n can be a Linux interface name (at
// most 15 bytes, no '/', blank, ':' or control byte, not . or ..).
func ValidInterfaceName(n string) bool {
	if n == "" || len(n) > 15 || n == "." || n == ".." {
		return false
	}
	for i := 0; i < len(n); i++ {
		if c := n[i]; c <= ' ' || c == '/' || c == ':' || c >= 0x7f {
			return false
		}
	}
	return true
}

func parseWait(v string) ([]string, error) {
	var out []string
	for _, n := range splitList(v) {
		if _, _, err := parseDevice(n); err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, nil
}

// parseDevice parses "e1.2" (partition 0) or "e1.2p1" with
// aoeaddr.ParseDevice and returns the disk's name and the partition
// number; the error quotes n as boot's messages do and wraps
// aoeaddr.ErrBadName.
func parseDevice(n string) (disk string, part int, err error) {
	a, part, err := aoeaddr.ParseDevice(n)
	if err != nil {
		return "", 0, fmt.Errorf("%s: %w", quoteForMsg(n), aoeaddr.ErrBadName)
	}
	return a.String(), part, nil
}

// parseTimeout parses AOE_TIMEOUT: whole seconds (digits only) or a Go
// duration (90s, 2m, 1m30s), from MinTimeout to MaxTimeout. Overflow is an
// error, never a wrapped-around value.
func parseTimeout(v string) (time.Duration, error) {
	bounds := fmt.Sprintf("from %d to %d seconds", MinTimeout/time.Second, MaxTimeout/time.Second)
	var d time.Duration
	if isDigits(v) {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil || n > uint64(MaxTimeout/time.Second) {
			return 0, fmt.Errorf("%s seconds is too long: want %s", quoteForMsg(v), bounds)
		}
		d = time.Duration(n) * time.Second
	} else {
		var err error
		if d, err = time.ParseDuration(v); err != nil {
			return 0, fmt.Errorf("want seconds or a duration such as 90s or 2m (%s), got %s", bounds, quoteForMsg(v))
		}
	}
	if d < MinTimeout || d > MaxTimeout {
		return 0, fmt.Errorf("%s is out of range: want %s", quoteForMsg(v), bounds)
	}
	return d, nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
