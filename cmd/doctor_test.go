package cmd

import (
	"net"
	"regexp"
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
	{name: "bad-name", argv: []string{"aoe", "doctor", "e01.2"}},
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
