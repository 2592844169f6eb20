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
		{"AOE_TIMEOUT=0\n", "f:1: AOE_TIMEOUT: want more than 0"},
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
	cfg, err := ParseLegacy("/etc/default/aoetools", []byte(debianDefault), nil)
	if err != nil || cfg.Boot || len(cfg.Notes) != 0 {
		t.Fatalf("Debian's default must leave boot off, silently: %+v %v", cfg, err)
	}
	fstab := []byte("/dev/etherd/e1.2p1 /srv ext4 defaults,_netdev 0 2\n/dev/sdb1 /data ext4 defaults 0 2\n")
	cfg, err = ParseLegacy("/etc/default/aoetools", []byte("INTERFACES='eth1 eth2'\nLVMGROUPS='vg0'\nRAID_ARRAYS='md0'\nAOEMOUNTS='/srv /data /nowhere'\nif true; then :; fi_x=1\n"), fstab)
	if err == nil {
		t.Fatalf("a shell statement must be an error: %+v", cfg)
	}
	cfg, err = ParseLegacy("/etc/default/aoetools", []byte("INTERFACES='eth1 eth2'\nLVMGROUPS='vg0'\nRAID_ARRAYS='md0'\nAOEMOUNTS='/srv /data /nowhere'\n"), fstab)
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.Boot || !reflect.DeepEqual(cfg.Interfaces, []string{"eth1", "eth2"}) || !reflect.DeepEqual(cfg.Wait, []string{"e1.2p1"}) {
		t.Errorf("got %+v", cfg)
	}
	notes := strings.Join(cfg.Notes, "\n")
	for _, w := range []string{"using INTERFACES (eth1 eth2)", `"/nowhere" is not in /etc/fstab`, "LVMGROUPS ignored", "RAID_ARRAYS ignored"} {
		if !strings.Contains(notes, w) {
			t.Errorf("notes lack %q:\n%s", w, notes)
		}
	}
	cfg, err = ParseLegacy("d", []byte("INTERFACES=''\n"), nil)
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
