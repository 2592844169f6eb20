package cmd

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/goaoe/aoe/internal/aoelab"
	"github.com/goaoe/aoe/internal/doctor"
)

// doctorLab is a SAN of real vblades in a target namespace, seen from an
// initiator namespace without the aoe driver (the wire's view only):
//
//	ini i0, i1 ── b0, b1 ports of bridge br (MTU 1500); each target on its
//	              own veth whose peer is a port of br:
//	              e1.1 vblade -b 1; e1.2 vblade -m <i1's MAC>;
//	              e1.3 reserved by i1; e1.5 two vblades, two disks;
//	              e1.6 healthy; e1.7 two vblades, files of one size
//	              (one IDENTIFY), different data
//	ini i2 ────── j0 port of bridge brj (MTU 9000 both ends); e1.4 on a
//	              9000-byte veth whose peer, the port of brj, has MTU 1500
type doctorLab struct {
	t        *testing.T
	lab      *aoelab.Lab
	tgt, ini string
	n        int
}

func (d *doctorLab) bridge(name string) {
	d.lab.Run("ip", "-n", d.tgt, "link", "add", name, "type", "bridge")
	d.lab.Run("ip", "-n", d.tgt, "link", "set", name, "up")
}

// target starts vblade exporting a new image of size MiB as e1.slot on a
// new veth of bridge, whose port has MTU portMTU.
func (d *doctorLab) target(bridge string, slot, size, mtu, portMTU int, opts ...string) *exec.Cmd {
	d.n++
	v, p := "v"+strconv.Itoa(d.n), "p"+strconv.Itoa(d.n)
	d.lab.Veth(d.tgt, v, d.tgt, p, mtu)
	if portMTU != mtu {
		d.lab.Run("ip", "-n", d.tgt, "link", "set", p, "mtu", strconv.Itoa(portMTU))
	}
	d.lab.Run("ip", "-n", d.tgt, "link", "set", p, "master", bridge)
	img := d.lab.Image(int64(size) << 20)
	if len(opts) == 2 && opts[0] == "-data" {
		// Not a vblade option: the image's bytes, one repeated byte.
		if err := os.WriteFile(img, bytes.Repeat([]byte(opts[1]), size<<20), 0o600); err != nil {
			d.t.Fatal(err)
		}
		opts = nil
	}
	return d.lab.Vblade(d.tgt, v, 1, slot, img, opts...)
}

func (d *doctorLab) doctor(t *testing.T, args ...string) (run, doctorJSON) {
	t.Helper()
	var r run
	argv := append([]string{"aoe", "doctor", "--sysfs", "/nonexistent", "--config", "/nonexistent", "--legacy-config", "/nonexistent", "--fstab", "/nonexistent", "--json"}, args...)
	d.lab.Do(d.ini, func() { r = execute(t, argv, runOpts{}) })
	var out doctorJSON
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("%v: %v\n%s%s", args, err, r.stdout, r.stderr)
	}
	return r, out
}

type doctorJSON struct {
	Wire    doctor.WireView `json:"wire"`
	Devices []struct {
		Device   string           `json:"device"`
		Findings []doctor.Finding `json:"findings"`
	} `json:"devices"`
	Healthy bool `json:"healthy"`
}

// has returns the device's first cause (the verdict, "" when healthy) and
// whether the findings hold want with next containing nextPart.
func (o doctorJSON) has(dev string, want doctor.Cause, nextPart string) (first doctor.Cause, ok bool) {
	for _, d := range o.Devices {
		if d.Device != dev {
			continue
		}
		for _, f := range d.Findings {
			if first == "" && f.Severity == doctor.SeverityCause {
				first = f.Cause
			}
			if f.Cause == want && strings.Contains(string(f.Next), nextPart) {
				ok = true
			}
		}
	}
	return first, ok
}

// TestDoctorNetns: each cause the wire shows, against real vblade, without
// the driver.
func TestDoctorNetns(t *testing.T) {
	lab := aoelab.NewLab(t)
	d := &doctorLab{t: t, lab: lab, tgt: lab.Namespace("tgt"), ini: lab.Namespace("ini")}
	d.bridge("sw")
	d.bridge("swj")
	lab.Veth(d.ini, "i0", d.tgt, "b0", 1500)
	lab.Veth(d.ini, "i1", d.tgt, "b1", 1500)
	lab.Veth(d.ini, "i2", d.tgt, "j0", 9000)
	for _, p := range []string{"b0", "b1"} {
		lab.Run("ip", "-n", d.tgt, "link", "set", p, "master", "sw")
	}
	lab.Run("ip", "-n", d.tgt, "link", "set", "j0", "master", "swj")
	i0, i1 := lab.MAC(d.ini, "i0").String(), lab.MAC(d.ini, "i1").String()

	d.target("sw", 1, 8, 1500, 1500, "-b", "1")
	d.target("sw", 2, 8, 1500, 1500, "-m", i1)
	d.target("sw", 3, 8, 1500, 1500)
	d.target("swj", 4, 8, 9000, 1500)
	d.target("sw", 5, 8, 1500, 1500)
	d.target("sw", 5, 9, 1500, 1500) // another disk on the same address
	e16 := d.target("sw", 6, 8, 1500, 1500)
	// e1.7: two vblades exporting files of one size from one host: the
	// same IDENTIFY (serial 1.7:HOSTNAME, size), different data.
	d.target("sw", 7, 8, 1500, 1500, "-data", "A")
	d.target("sw", 7, 8, 1500, 1500, "-data", "B")

	// e1.3 reserved by i1's MAC, with the project's own aoe reserve.
	var r run
	lab.Do(d.ini, func() {
		r = execute(t, []string{"aoe", "reserve", "e1.3", "-i", "i1", "--set", "self", "--sysfs", "/nonexistent"}, runOpts{})
	})
	if r.code != 0 {
		t.Fatalf("aoe reserve: %+v", r)
	}

	r, out := d.doctor(t, "-i", "i0,i1,i2")
	if r.code != ExitFailure || out.Healthy {
		t.Errorf("exit %d: %s", r.code, r.stderr)
	}
	for _, c := range []struct {
		dev  string
		want doctor.Cause
		next string
	}{
		{"e1.1", doctor.CauseBuffers, "vblade -b 16"},
		{"e1.2", doctor.CauseMasked, "aoe mask e1.2 -i i1 --add " + i0},
		{"e1.3", doctor.CauseReserved, "aoe reserve e1.3 -i i0 --release --force"},
		{"e1.4", doctor.CauseMTU, "ip link set i2 mtu 1500"},
		{"e1.5", doctor.CauseConflict, "aoe ping e1.5 --identify"},
		{"e1.7", doctor.CauseConflict, "aoe ping e1.7 --identify"},
	} {
		if first, ok := out.has(c.dev, c.want, c.next); !ok || first != c.want {
			t.Errorf("%s: first cause %s, want %s with next %q: %s", c.dev, first, c.want, c.next, r.stdout)
		}
	}
	if first, _ := out.has("e1.6", "", ""); first != "" {
		t.Errorf("e1.6 is not healthy: %s", r.stdout)
	}
	// Measuring the frame sizes leaves the target running: a read whose
	// reply its veth's peer refuses (ENOBUFS) makes vblade exit, so the
	// second run would find nothing answering.
	r, out = d.doctor(t, "e1.4", "-i", "i2")
	if first, ok := out.has("e1.4", doctor.CauseMTU, "ip link set i2 mtu"); !ok || first != doctor.CauseMTU {
		t.Errorf("e1.4 again: first cause %s: %s", first, r.stdout)
	}
	// A reservation by this host's other interface is no cause on it.
	if _, ok := out.has("e1.3", doctor.CauseReserved, "-i i1"); ok {
		t.Errorf("e1.3 reserved by i1 reported on i1: %s", r.stdout)
	}

	// A healthy device: exit 0.
	if r, out := d.doctor(t, "e1.6", "-i", "i0,i1"); r.code != 0 || !out.Healthy {
		t.Errorf("e1.6: exit %d %s", r.code, r.stdout)
	}

	// The target stopped, nothing answers: frames sent, replies seen
	// (from the other targets).
	e16.Process.Kill()
	e16.Wait()
	r, out = d.doctor(t, "e1.6", "-i", "i0")
	if first, _ := out.has("e1.6", doctor.CauseNoReply, "aoe discover --probe"); r.code != ExitFailure || first != doctor.CauseNoReply ||
		len(out.Wire.Frames) != 1 || out.Wire.Frames[0].Sent == 0 || out.Wire.Frames[0].Seen == 0 {
		t.Errorf("e1.6 stopped: exit %d %+v %s", r.code, out.Wire, r.stdout)
	}
	if !strings.Contains(out.Devices[0].Findings[0].Detail, " frames sent, ") {
		t.Errorf("no frame counts: %s", out.Devices[0].Findings[0].Detail)
	}

	// Interface down.
	lab.Run("ip", "-n", d.ini, "link", "set", "i1", "down")
	r, out = d.doctor(t, "e1.6", "-i", "i1")
	if first, ok := out.has("e1.6", doctor.CauseLinkDown, "ip link set i1 up"); r.code != ExitFailure || first != doctor.CauseLinkDown || !ok {
		t.Errorf("i1 down: exit %d %s", r.code, r.stdout)
	}
	if out.Wire.Seen {
		t.Errorf("wire seen without an up interface: %+v", out.Wire)
	}
}
