package cmd

import (
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/goaoe/aoe/initiator"
)

// doctorCases run against the in-memory SAN (fakeSAN) and a sysfs fixture:
// the driver's, the wire's and boot's views joined, without root.
var doctorCases = []struct {
	name string
	argv []string
	// noRaw makes every raw socket fail as without CAP_NET_RAW.
	noRaw bool
}{
	{name: "all", argv: []string{"aoe", "doctor", "--sysfs", "../sysfs/testdata/basic", "-i", "eth0,eth1,eth2,eth3"}},
	{name: "e1.2-json", argv: []string{"aoe", "doctor", "e1.2", "--sysfs", "../sysfs/testdata/basic", "-i", "eth0,eth1", "--json"}},
	{name: "no-reply", argv: []string{"aoe", "doctor", "e9.9", "--sysfs", "../sysfs/testdata/basic", "-i", "eth0"}},
	{name: "no-driver", argv: []string{"aoe", "doctor", "e1.1", "--sysfs", "../sysfs/testdata/nomodule", "-i", "eth0"}},
	{name: "no-sysfs", argv: []string{"aoe", "doctor", "e3.1", "--sysfs", "/nonexistent", "-i", "eth2"}},
	{name: "no-raw", argv: []string{"aoe", "doctor", "e1.2", "--sysfs", "../sysfs/testdata/basic"}, noRaw: true},
	{name: "nothing-seen", argv: []string{"aoe", "doctor", "e1.2", "--sysfs", "/nonexistent"}, noRaw: true},
	{name: "bad-name", argv: []string{"aoe", "doctor", "e01.2"}},
	{name: "no-such-interface", argv: []string{"aoe", "doctor", "e1.2", "--sysfs", "../sysfs/testdata/basic", "-i", "eth0,nosuch"}},
	{name: "loopback", argv: []string{"aoe", "doctor", "--sysfs", "../sysfs/testdata/basic", "-i", "lo"}},
}

// frameCounts are the numbers of frames sent and seen: retransmissions
// after the losses of the fake SAN's eth2 vary from run to run.
var frameCounts = regexp.MustCompile(`(\d+ frames sent, \d+ replies seen|"sent": \d+|"seen": \d+)`)

// TestGoldenDoctor keeps the transcripts of aoe doctor (checklist and
// JSON) in testdata/golden/doctor, the frame counts masked.
func TestGoldenDoctor(t *testing.T) {
	for _, c := range doctorCases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeSAN(t)
			setup := func(env *Env) {
				f.setup(env)
				// The fake links have a carrier when up.
				for i := range f.ifaces {
					if f.ifaces[i].Flags&net.FlagUp != 0 {
						f.ifaces[i].Flags |= net.FlagRunning
					}
				}
				if c.noRaw {
					env.OpenClient = func(string) (*initiator.Client, error) { return nil, initiator.ErrPermission }
				}
			}
			argv := append([]string{}, c.argv...)
			argv = append(argv, "--devdir", testDevDir, "--config", "testdata/doctor/aoe.conf", "--legacy-config", "/nonexistent", "--fstab", "/nonexistent")
			r := execute(t, argv, runOpts{setup: setup, env: map[string]string{"LANG": "C.UTF-8"}})
			got := frameCounts.ReplaceAllStringFunc(r.transcript(argv, nil), func(s string) string {
				return regexp.MustCompile(`\d+`).ReplaceAllString(s, "N")
			})
			checkGolden(t, "doctor/"+c.name, got)
		})
	}
}

// TestUpCheckDoctor: aoe up --check reports the doctor's findings for the
// devices boot waits for, from the driver's view (no frame sent).
func TestUpCheckDoctor(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "aoe.conf")
	if err := os.WriteFile(conf, []byte("AOE_BOOT=yes\nAOE_INTERFACES=eth0,eth3\nAOE_WAIT='e1.2p1 e9.9'\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f := newFakeSAN(t)
	r := execute(t, []string{"aoe", "up", "--check", "--config", conf, "--legacy-config", "/nonexistent", "--fstab", "/nonexistent",
		"--sysfs", "../sysfs/testdata/basic", "--devdir", testDevDir}, runOpts{setup: func(env *Env) {
		env.Interfaces = func() ([]net.Interface, error) { return f.ifaces, nil }
		env.OpenClient = func(string) (*initiator.Client, error) {
			t.Error("up --check opened a socket")
			return nil, initiator.ErrPermission
		}
	}})
	for _, want := range []string{
		"wait for: e1.2p1 e9.9\n",
		"doctor: e1.2: no-node: e1.2 is in sysfs but /nonexistent/etherd/e1.2 is not a block device node",
		"(next: mknod -m 0660 /nonexistent/etherd/e1.2 b 152 32)\n",
		"doctor: e9.9: link-down: eth3 is down (named by AOE_INTERFACES) (next: ip link set eth3 up)\n",
	} {
		if r.code != 0 || !strings.Contains(r.stdout, want) {
			t.Errorf("exit %d, no %q in:\n%s%s", r.code, want, r.stdout, r.stderr)
		}
	}
}
