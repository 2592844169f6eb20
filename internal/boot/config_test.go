package boot

import (
	"errors"
	"io/fs"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseValues(t *testing.T) {
	cfg, set, err := Parse("aoe.conf", []byte(`# comment
AOE_BOOT=yes
export AOE_INTERFACES="eth0, eth1"   # trailing comment
AOE_WAIT='e1.2 e1.2p1',e7.0
AOE_TIMEOUT=90
AOE_FSTAB=no
`))
	if err != nil || !set {
		t.Fatalf("Parse: %v set=%v", err, set)
	}
	want := Config{Boot: true, Interfaces: []string{"eth0", "eth1"}, Wait: []string{"e1.2", "e1.2p1", "e7.0"},
		Fstab: false, Timeout: 90 * time.Second, Source: "aoe.conf"}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("got %+v\nwant %+v", cfg, want)
	}
}

func TestParseDefaultsOff(t *testing.T) {
	for _, in := range []string{"", "# AOE_BOOT=yes\n\n", "AOE_BOOT=no\n"} {
		cfg, _, err := Parse("f", []byte(in))
		if err != nil || cfg.Boot || cfg.Timeout != DefaultTimeout || !cfg.Fstab {
			t.Errorf("%q: %+v %v", in, cfg, err)
		}
	}
	cfg, _, err := Parse("f", []byte("AOE_BOOT=on\nAOE_INTERFACES=all\nAOE_TIMEOUT=2m\n"))
	if err != nil || !cfg.AllInterfaces || cfg.Interfaces != nil || cfg.Timeout != 2*time.Minute {
		t.Errorf("all: %+v %v", cfg, err)
	}
}

func TestParseErrorsNameFileAndLine(t *testing.T) {
	cases := []struct{ in, want string }{
		{"AOE_BOOT=yes\nAOE_INTERFACES=eth0\nAOE_BOGUS=1\n", "f:3: AOE_BOGUS: unknown key"},
		{"AOE_BOOT=maybe\n", `f:1: AOE_BOOT: want yes or no, got "maybe"`},
		{"\nAOE_BOOT=yes\n", "f:2: AOE_BOOT=yes needs AOE_INTERFACES"},
		{"AOE_INTERFACES=eth0 eth1\n", "f:1: AOE_INTERFACES: unquoted blank"},
		{`AOE_INTERFACES="eth0`, "f:1: AOE_INTERFACES: unterminated double quote"},
		{`AOE_INTERFACES='eth0`, "f:1: AOE_INTERFACES: unterminated single quote"},
		{`AOE_INTERFACES=$IF`, `f:1: AOE_INTERFACES: '$' is not allowed unquoted`},
		{`AOE_INTERFACES="$IF"`, `f:1: AOE_INTERFACES: '$' in double quotes`},
		{"AOE_INTERFACES=eth0;reboot", `f:1: AOE_INTERFACES: ';' is not allowed`},
		{"AOE_WAIT=e1.2 \nAOE_WAIT=e1.3\n", "f:2: AOE_WAIT: already set on line 1"},
		{"AOE_WAIT=sda1\n", `f:1: AOE_WAIT: "sda1": not an AoE device name`},
		{"AOE_WAIT=e1.2p0\n", `f:1: AOE_WAIT: "e1.2p0": not an AoE device name`},
		{"AOE_WAIT=e65535.1\n", `not an AoE device name`},
		{"AOE_TIMEOUT=0\n", `f:1: AOE_TIMEOUT: "0" is out of range: want from 1 to 3600 seconds`},
		{"AOE_TIMEOUT=soon\n", "f:1: AOE_TIMEOUT: want seconds"},
		{"AOE_INTERFACES=all,eth0\n", `"all" cannot be combined`},
		{"AOE_INTERFACES=a/b\n", `"a/b" is not a valid interface name`},
		{"AOE_INTERFACES=''\n", "empty"},
		{"AOE BOOT=yes\n", `f:1: bad key "AOE BOOT"`},
		{"just words\n", `f:1: want KEY=VALUE, got "just words"`},
		{"AOE_INTERFACES=\x1b[2J\n", `control byte "\x1b"`},
	}
	for _, c := range cases {
		_, _, err := Parse("f", []byte(c.in))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: got %v, want %q", c.in, err, c.want)
			continue
		}
		var pe *ParseError
		if !errors.Is(err, ErrSyntax) || !errors.As(err, &pe) || pe.File != "f" {
			t.Errorf("%q: %v is not a *ParseError wrapping ErrSyntax", c.in, err)
		}
	}
}

func TestParseQuoting(t *testing.T) {
	as, err := ParseAssignments("f", []byte(`A="a \"b\" \$c \\ d"
B='x "y" \z'
C=a\ b
D=
E=""
`))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, a := range as {
		got[a.Key] = a.Value
	}
	want := map[string]string{"A": `a "b" $c \ d`, "B": `x "y" \z`, "C": "a b", "D": "", "E": ""}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q want %q", got, want)
	}
}

const debianDefault = `# Configuration file for aoetools.
INTERFACES='none'
RAID_ARRAYS=''
LVMGROUPS=''
AOEMOUNTS=''
`

func TestLegacy(t *testing.T) {
	cfg, err := ParseLegacy("/etc/default/aoetools", []byte(debianDefault), "/etc/fstab", nil)
	if err != nil || cfg.Boot || len(cfg.Notes) != 0 {
		t.Fatalf("Debian's default must leave boot off, silently: %+v %v", cfg, err)
	}
	fstab := []byte("/dev/etherd/e1.2p1 /srv ext4 defaults,_netdev 0 2\n/dev/sdb1 /data ext4 defaults 0 2\n")
	cfg, err = ParseLegacy("/etc/default/aoetools", []byte("INTERFACES='eth1 eth2'\nLVMGROUPS='vg0'\nRAID_ARRAYS='md0'\nAOEMOUNTS='/srv /data /nowhere'\nif true; then :; fi_x=1\n"), "/srv/fstab.test", fstab)
	if err == nil {
		t.Fatalf("a shell statement must be an error: %+v", cfg)
	}
	cfg, err = ParseLegacy("/etc/default/aoetools", []byte("INTERFACES='eth1 eth2'\nLVMGROUPS='vg0'\nRAID_ARRAYS='md0'\nAOEMOUNTS='/srv /data /nowhere'\n"), "/srv/fstab.test", fstab)
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.Boot || !reflect.DeepEqual(cfg.Interfaces, []string{"eth1", "eth2"}) || !reflect.DeepEqual(cfg.Wait, []string{"e1.2p1"}) {
		t.Errorf("got %+v", cfg)
	}
	notes := strings.Join(cfg.Notes, "\n")
	for _, w := range []string{"using INTERFACES (eth1 eth2)", `"/nowhere" is not in /srv/fstab.test;`, "LVMGROUPS ignored", "RAID_ARRAYS ignored"} {
		if !strings.Contains(notes, w) {
			t.Errorf("notes lack %q:\n%s", w, notes)
		}
	}
	cfg, err = ParseLegacy("d", []byte("INTERFACES=''\n"), "", nil)
	if err != nil || !cfg.Boot || !cfg.AllInterfaces {
		t.Errorf("blank INTERFACES means every interface, as aoetools' init script: %+v %v", cfg, err)
	}
}

func TestLoad(t *testing.T) {
	files := map[string]string{
		"/etc/default/aoetools": "INTERFACES=eth0\n",
		"/etc/fstab":            "# x\n/dev/etherd/e1.2p1 /srv ext4 _netdev 0 2\n/dev/etherd/e1.3 /x ext4 defaults 0 2\n/dev/etherd/e1.4 /y ext4 noauto 0 0\n",
	}
	read := func(p string) ([]byte, error) {
		if s, ok := files[p]; ok {
			return []byte(s), nil
		}
		return nil, &os.PathError{Op: "open", Path: p, Err: fs.ErrNotExist}
	}
	f := DefaultFiles()
	f.ReadFile = read
	// No aoe.conf: aoetools' file is honoured, fstab added.
	cfg, err := Load(f)
	if err != nil || !cfg.Boot || !reflect.DeepEqual(cfg.Wait, []string{"e1.2p1", "e1.3"}) {
		t.Fatalf("%+v %v", cfg, err)
	}
	if n := strings.Join(cfg.Notes, "\n"); !strings.Contains(n, "/etc/fstab:3: \"/dev/etherd/e1.3\" has no _netdev") {
		t.Errorf("notes: %s", n)
	}
	// aoe.conf setting AOE_BOOT wins over aoetools' file.
	files["/etc/aoe/aoe.conf"] = "AOE_BOOT=no\n"
	if cfg, err = Load(f); err != nil || cfg.Boot || cfg.Source != "/etc/aoe/aoe.conf" {
		t.Errorf("%+v %v", cfg, err)
	}
	// The shipped example (all commented) leaves aoetools' file in charge.
	files["/etc/aoe/aoe.conf"] = "# AOE_BOOT=no\n"
	if cfg, err = Load(f); err != nil || !cfg.Boot {
		t.Errorf("%+v %v", cfg, err)
	}
	// Nothing at all: off.
	delete(files, "/etc/default/aoetools")
	if cfg, err = Load(f); err != nil || cfg.Boot {
		t.Errorf("%+v %v", cfg, err)
	}
}

func TestShippedExampleIsOff(t *testing.T) {
	data, err := os.ReadFile("../../dist/aoe.conf")
	if err != nil {
		t.Fatal(err)
	}
	cfg, set, err := Parse("dist/aoe.conf", data)
	if err != nil || set || cfg.Boot {
		t.Fatalf("the shipped aoe.conf must parse and turn nothing on: %+v set=%v %v", cfg, set, err)
	}
	// Its commented example, uncommented, must parse too.
	var lines []string
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, "#AOE_"); ok {
			lines = append(lines, "AOE_"+v)
		}
	}
	cfg, _, err = Parse("example", []byte(strings.Join(lines, "\n")))
	if err != nil || !cfg.Boot {
		t.Errorf("the example, uncommented: %+v %v", cfg, err)
	}
}

func TestUnoctal(t *testing.T) {
	if got := unoctal(`/mnt/a\040b\`); got != `/mnt/a b\` {
		t.Errorf("%q", got)
	}
}

// TestParseRejectsWhatWouldBeMisread: values that overflow, NUL bytes
// anywhere (which the driver and C would take as the end of the string),
// and junk after a value are errors naming file, line and key, never a
// different value.
func TestParseRejectsWhatWouldBeMisread(t *testing.T) {
	cases := []struct{ in, want string }{
		// 18446744074 s overflows int64 nanoseconds to 290 ms.
		{"AOE_TIMEOUT=18446744074\n", `f:1: AOE_TIMEOUT: "18446744074" seconds is too long: want from 1 to 3600 seconds`},
		{"AOE_TIMEOUT=99999999999999999999999\n", `f:1: AOE_TIMEOUT: "99999999999999999999999" seconds is too long`},
		{"AOE_TIMEOUT=3601\n", `f:1: AOE_TIMEOUT: "3601" seconds is too long`},
		{"AOE_TIMEOUT=2562048h\n", `f:1: AOE_TIMEOUT: want seconds or a duration`},
		{"AOE_TIMEOUT=25h\n", `f:1: AOE_TIMEOUT: "25h" is out of range: want from 1 to 3600 seconds`},
		{"AOE_TIMEOUT=1ns\n", `f:1: AOE_TIMEOUT: "1ns" is out of range`},
		{"AOE_TIMEOUT=-5s\n", `f:1: AOE_TIMEOUT: "-5s" is out of range`},
		{"AOE_TIMEOUT=+90\n", `f:1: AOE_TIMEOUT: want seconds or a duration`},
		{"AOE_TIMEOUT=' 90'\n", `f:1: AOE_TIMEOUT: want seconds or a duration`},
		{"AOE_TIMEOUT=1.5\n", `f:1: AOE_TIMEOUT: want seconds or a duration`},
		{"AOE_TIMEOUT=90sx\n", `f:1: AOE_TIMEOUT: want seconds or a duration`},
		{"AOE_TIMEOUT=90 s\n", `f:1: AOE_TIMEOUT: unquoted blank`},
		{"AOE_TIMEOUT=\"90\"x\n", `f:1: AOE_TIMEOUT: want seconds or a duration`},
		// NUL bytes: quoted, unquoted, escaped, in a comment, in a key.
		{"AOE_INTERFACES=\"eth0\x00eth1\"\n", `f:1: AOE_INTERFACES: NUL byte in value`},
		{"\nAOE_INTERFACES='eth0\x00eth1'\n", `f:2: AOE_INTERFACES: NUL byte in value`},
		{"AOE_INTERFACES=eth0\x00eth1\n", `f:1: AOE_INTERFACES: NUL byte in value`},
		{"AOE_INTERFACES=eth0\\\x00\n", `f:1: AOE_INTERFACES: NUL byte in value`},
		{"AOE_WAIT=\"e1.2\x00e1.3\"\n", `f:1: AOE_WAIT: NUL byte in value`},
		{"AOE_BOOT=no # x\x00\n", `f:1: AOE_BOOT: NUL byte after the value`},
		{"AOE_BOOT=no\n# \x00\n", `f:2: NUL byte in a comment`},
		{"AOE_BOOT=no\n\x00\x00\x00\n", `f:2: want KEY=VALUE, got "\x00\x00\x00"`},
		{"AOE_BOOT\x00=no\n", `f:1: bad key "AOE_BOOT\x00"`},
		{"AOE_INTERFACES=\"eth0\neth1\"\n", `f:1: AOE_INTERFACES: unterminated double quote`},
		{"AOE_INTERFACES=\"eth0\x1beth1\"\n", `f:1: AOE_INTERFACES: control byte "\x1b" in value`},
		{"AOE_INTERFACES='eth0\reth1'\n", `f:1: AOE_INTERFACES: control byte "\r" in value`},
		// Junk after a value.
		{"AOE_BOOT=yes junk\n", `f:1: AOE_BOOT: unquoted blank`},
		{"AOE_BOOT='yes'junk\n", `f:1: AOE_BOOT: want yes or no, got "yesjunk"`},
		{"AOE_BOOT=yes#junk\n", `f:1: AOE_BOOT: want yes or no, got "yes#junk"`},
		{"AOE_BOOT=yesplease\n", `f:1: AOE_BOOT: want yes or no, got "yesplease"`},
		{"AOE_INITRAMFS=yesplease\n", `f:1: AOE_INITRAMFS: want yes or no, got "yesplease"`},
		{"AOE_FSTAB=\"no\" ;reboot\n", `f:1: AOE_FSTAB: unquoted blank`},
		{"AOE_WAIT=e1.2p1x\n", `f:1: AOE_WAIT: "e1.2p1x": not an AoE device name`},
		{"AOE_WAIT=e1.2p256\n", `f:1: AOE_WAIT: "e1.2p256": not an AoE device name`},
		{"AOE_WAIT=e1.99999999999999999999\n", `f:1: AOE_WAIT: "e1.99999999999999999999": not an AoE device name`},
		{"AOE_WAIT=e1.2p99999999999999999999\n", `f:1: AOE_WAIT: "e1.2p99999999999999999999": not an AoE device name`},
		{"AOE_INTERFACES=eth0123456789abc\n", `f:1: AOE_INTERFACES: "eth0123456789abc" is not a valid interface name`},
	}
	for _, c := range cases {
		_, _, err := Parse("f", []byte(c.in))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: got %v, want %q", c.in, err, c.want)
			continue
		}
		var pe *ParseError
		if !errors.As(err, &pe) || pe.File != "f" || pe.Line < 1 {
			t.Errorf("%q: %v is not a *ParseError naming the file and a line", c.in, err)
		}
	}
}

// TestParseAccepts: what a shell reads the same way parses.
func TestParseAccepts(t *testing.T) {
	cases := []struct {
		in   string
		want func(Config) bool
	}{
		{"AOE_TIMEOUT=3600\n", func(c Config) bool { return c.Timeout == time.Hour }},
		{"AOE_TIMEOUT=1\n", func(c Config) bool { return c.Timeout == time.Second }},
		{"AOE_TIMEOUT=1h\n", func(c Config) bool { return c.Timeout == time.Hour }},
		{"AOE_TIMEOUT=1m30s\n", func(c Config) bool { return c.Timeout == 90*time.Second }},
		{"AOE_TIMEOUT=0090\n", func(c Config) bool { return c.Timeout == 90*time.Second }},
		{"AOE_TIMEOUT=\"90\"s\n", func(c Config) bool { return c.Timeout == 90*time.Second }},
		{"AOE_INITRAMFS=YES\n", func(c Config) bool { return c.Initramfs }},
		{"AOE_INITRAMFS=On\n", func(c Config) bool { return c.Initramfs }},
		{"export AOE_INITRAMFS=yes\n", func(c Config) bool { return c.Initramfs }},
		{"export\tAOE_INITRAMFS=yes\n", func(c Config) bool { return c.Initramfs }},
		{"  export   AOE_INITRAMFS='true' # on\n", func(c Config) bool { return c.Initramfs }},
		{"AOE_INTERFACES=\"eth0\teth1\"\n", func(c Config) bool { return reflect.DeepEqual(c.Interfaces, []string{"eth0", "eth1"}) }},
		{"AOE_BOOT=yes\r\nAOE_INTERFACES=eth0\r\n", func(c Config) bool { return c.Boot }},
	}
	for _, c := range cases {
		cfg, _, err := Parse("f", []byte(c.in))
		if err != nil || !c.want(cfg) {
			t.Errorf("%q: %+v %v", c.in, cfg, err)
		}
	}
	// "export" alone is a key of a shell assignment too.
	if as, err := ParseAssignments("f", []byte("export=1\nexportX=2\n")); err != nil || len(as) != 2 || as[0].Key != "export" || as[1].Key != "exportX" {
		t.Errorf("%+v %v", as, err)
	}
}

func TestConfigValue(t *testing.T) {
	cfg, _, err := Parse("f", []byte("AOE_BOOT=On\nAOE_INTERFACES='eth0,eth1'\nAOE_WAIT=\"e1.2\te1.2p1\"\nAOE_TIMEOUT=1500ms\nAOE_FSTAB=FALSE\nexport AOE_INITRAMFS=YES\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{KeyBoot: "yes", KeyInterfaces: "eth0 eth1", KeyWait: "e1.2 e1.2p1", KeyTimeout: "2", KeyFstab: "no", KeyInitramfs: "yes"}
	for _, k := range Keys {
		if got, err := cfg.Value(k); err != nil || got != want[k] {
			t.Errorf("%s: %q %v, want %q", k, got, err, want[k])
		}
	}
	def := Default()
	want = map[string]string{KeyBoot: "no", KeyInterfaces: "", KeyWait: "", KeyTimeout: "60", KeyFstab: "yes", KeyInitramfs: "no"}
	for _, k := range Keys {
		if got, err := def.Value(k); err != nil || got != want[k] {
			t.Errorf("default %s: %q %v, want %q", k, got, err, want[k])
		}
	}
	def.AllInterfaces = true
	if got, _ := def.Value(KeyInterfaces); got != "all" {
		t.Errorf("all: %q", got)
	}
	for _, k := range []string{"AOE_BOGUS", "aoe_boot", "INTERFACES", ""} {
		if _, err := def.Value(k); !errors.Is(err, ErrUnknownKey) || !strings.Contains(err.Error(), "known: AOE_BOOT, AOE_INTERFACES") {
			t.Errorf("%q: %v", k, err)
		}
	}
}

// TestLoadKeepsConfWithLegacy: while aoe.conf does not set AOE_BOOT,
// aoetools' file supplies the interfaces and devices, but aoe.conf's other
// settings (AOE_INITRAMFS, AOE_TIMEOUT, AOE_FSTAB, AOE_WAIT) still apply;
// messages name the fstab that was read.
func TestLoadKeepsConfWithLegacy(t *testing.T) {
	files := map[string]string{
		"/e/aoe.conf": "AOE_INITRAMFS=yes\nAOE_TIMEOUT=90\nAOE_WAIT=e7.0\n",
		"/e/aoetools": "INTERFACES='none'\n",
		"/e/fstab":    "/dev/etherd/e1.2p1 /srv ext4 _netdev 0 2\n",
	}
	f := Files{Config: "/e/aoe.conf", Legacy: "/e/aoetools", Fstab: "/e/fstab", ReadFile: func(p string) ([]byte, error) {
		if s, ok := files[p]; ok {
			return []byte(s), nil
		}
		return nil, &os.PathError{Op: "open", Path: p, Err: fs.ErrNotExist}
	}}
	cfg, err := Load(f)
	if err != nil || cfg.Boot || !cfg.Initramfs || cfg.Timeout != 90*time.Second || cfg.Source != "/e/aoe.conf" {
		t.Errorf("INTERFACES='none': %+v %v", cfg, err)
	}
	files["/e/aoetools"] = "INTERFACES=eth1\nAOEMOUNTS='/srv /gone'\n"
	cfg, err = Load(f)
	if err != nil || !cfg.Boot || !cfg.Initramfs || cfg.Timeout != 90*time.Second || cfg.Source != "/e/aoetools" ||
		!reflect.DeepEqual(cfg.Interfaces, []string{"eth1"}) || !reflect.DeepEqual(cfg.Wait, []string{"e1.2p1", "e7.0"}) {
		t.Errorf("INTERFACES=eth1: %+v %v", cfg, err)
	}
	if n := strings.Join(cfg.Notes, "\n"); !strings.Contains(n, `/e/aoetools: AOEMOUNTS: "/gone" is not in /e/fstab;`) || strings.Contains(n, "/etc/fstab") {
		t.Errorf("notes must name the fstab read:\n%s", n)
	}
	files["/e/aoe.conf"] = "AOE_INTERFACES=eth9\n"
	if cfg, err = Load(f); err != nil || !strings.Contains(strings.Join(cfg.Notes, "\n"), "/e/aoe.conf: AOE_INTERFACES is not used while AOE_BOOT is not set; /e/aoetools's INTERFACES is") {
		t.Errorf("%+v %v", cfg, err)
	}
	// A bad value of aoetools' file names it and its line; so does a NUL.
	files["/e/aoetools"] = "# x\nINTERFACES='eth1\x00eth2'\n"
	if _, err = Load(f); err == nil || !strings.Contains(err.Error(), "/e/aoetools:2: INTERFACES: NUL byte in value") {
		t.Errorf("NUL in aoetools: %v", err)
	}
	files["/e/aoetools"] = "INTERFACES='eth1 a/b'\n"
	if _, err = Load(f); err == nil || !strings.Contains(err.Error(), `/e/aoetools:1: INTERFACES: "a/b" is not a valid interface name`) {
		t.Errorf("bad INTERFACES: %v", err)
	}
}
