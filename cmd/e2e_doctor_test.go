//go:build e2e

package cmd

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/goaoe/aoe/internal/aoelab"
	"github.com/goaoe/aoe/internal/doctor"
)

// startWith is san.start with vblade options, on a port of MTU mtu.
func (s *san) startWith(bridge string, shelf, slot int, image string, mtu int, opts ...string) *target {
	s.t.Helper()
	s.port++
	tg := &target{name: fmt.Sprintf("e%d.%d", shelf, slot), bridge: bridge, port: fmt.Sprintf("v%d", s.port),
		image: image, shelf: shelf, slot: slot}
	mac := net.HardwareAddr{0x02, 0xae, byte(shelf >> 8), byte(shelf), byte(slot), byte(s.port)}
	s.lab.Port(s.ns, tg.port, bridge, mac)
	if mtu != 1500 {
		s.lab.Run("ip", "-n", s.ns, "link", "set", tg.port+"b", "mtu", fmt.Sprint(mtu))
		s.lab.Run("ip", "-n", s.ns, "link", "set", tg.port, "mtu", fmt.Sprint(mtu))
	}
	tg.cmd = s.lab.Vblade(s.ns, tg.port, shelf, slot, image, opts...)
	s.tgts[tg.name+"@"+bridge+tg.port] = tg
	return tg
}

// doctor runs aoe doctor --json in the guest and checks that the
// device's verdict is want with a next command containing next.
func (s *san) doctor(dev string, want doctor.Cause, next string, args ...string) doctorJSON {
	s.t.Helper()
	r := s.run("aoe doctor --json " + dev + " " + strings.Join(args, " "))
	var out doctorJSON
	if err := json.Unmarshal([]byte(r.Stdout), &out); err != nil {
		s.t.Fatalf("aoe doctor %s: exit %d: %v\n%s%s", dev, r.Status, err, r.Stdout, r.Stderr)
	}
	first, ok := out.has(dev, want, next)
	wantCode := ExitFailure
	if want == "" {
		wantCode, ok = ExitOK, true
	}
	if r.Status != wantCode || first != want || !ok {
		s.t.Errorf("aoe doctor %s %v: exit %d, verdict %q, want %q with next %q:\n%s%s", dev, args, r.Status, first, want, next, r.Stdout, r.Stderr)
	}
	return out
}

// TestE2EDoctor: aoe doctor on the real aoe driver, one VM, one scenario
// per cause, each asserting the cause named and the next command given.
func TestE2EDoctor(t *testing.T) {
	lab := aoelab.NewLab(t)
	cache := os.Getenv("AOE_E2E_CACHE")
	if cache == "" {
		cache = "/var/tmp/aoe-e2e-cache"
	}
	k := aoelab.FetchKernel(t, cache)
	bin, _ := filepath.Abs("../bin/aoe")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("%s is missing: run make first (make e2e does)", bin)
	}
	ns := lab.Namespace("dsan")
	lab.Bridge(ns, "br0")
	lab.Bridge(ns, "br1")
	lab.Tap(ns, "tap0", "br0")
	lab.Tap(ns, "tap1", "br1")
	s := &san{t: t, lab: lab, ns: ns, tgts: map[string]*target{}}
	img := func(size int64) string { return lab.Image(size) }
	s.start("br0", 1, 1, img(64<<20))

	start := time.Now()
	s.vm = lab.BootVM(ns, aoelab.VMConfig{
		Kernel:  k,
		Modules: []string{"drivers/block/aoe/aoe.ko"},
		Files:   map[string]string{"/usr/local/sbin/aoe": bin},
		Taps:    []string{"tap0", "tap1"},
	})
	t.Logf("VM booted in %v", time.Since(start).Round(time.Millisecond))
	mac := func(iface string) string {
		m, err := net.ParseMAC(strings.TrimSpace(s.must("cat /sys/class/net/" + iface + "/address")))
		if err != nil {
			t.Fatal(err)
		}
		return m.String()
	}
	eth0, eth1 := mac("eth0"), mac("eth1")

	t.Run("driver-not-loaded", func(t *testing.T) {
		s.t = t
		s.doctor("e1.1", doctor.CauseDriverNotLoaded, "modprobe aoe")
		s.must("insmod /lib/modules/aoe.ko && echo 8 > /sys/module/aoe/parameters/aoe_deadsecs")
		s.must("aoe discover --wait e1.1 --timeout 90s")
		s.doctor("e1.1", "", "")
	})

	t.Run("node-removed", func(t *testing.T) {
		s.t = t
		s.must("rm /dev/etherd/e1.1")
		out := s.doctor("e1.1", doctor.CauseNoNode, "mknod -m 0660 /dev/etherd/e1.1 b 152 ")
		s.must(string(out.Devices[0].Findings[0].Next)) // the command given
		s.doctor("e1.1", "", "")
	})

	t.Run("interface-not-allowed", func(t *testing.T) {
		s.t = t
		s.must("aoe interfaces eth0")
		s.start("br1", 8, 1, img(64<<20)) // reachable on eth1 only
		s.doctor("e8.1", doctor.CauseIflist, "aoe interfaces eth0,eth1", "-i", "eth0,eth1")
		// Without -i the doctor probes aoe_iflist's eth0 only, and says
		// where to look.
		s.doctor("e8.1", doctor.CauseNoReply, "aoe doctor e8.1 -i eth0,eth1")
		s.must("aoe interfaces -c")
	})

	t.Run("buffer-count", func(t *testing.T) {
		s.t = t
		s.startWith("br0", 2, 1, img(64<<20), 1500, "-b", "1")
		s.doctor("e2.1", doctor.CauseBuffers, "vblade -b 16")
	})

	t.Run("reserved", func(t *testing.T) {
		s.t = t
		s.start("br0", 5, 1, img(64<<20))
		other := net.HardwareAddr{0x02, 0, 0, 0, 0, 0x0a}
		lab.Port(ns, "other", "br0", other)
		var r run
		lab.Do(ns, func() {
			r = execute(t, []string{"aoe", "reserve", "e5.1", "-i", "other", "--set", "self", "--sysfs", "/nonexistent"}, runOpts{})
		})
		if r.code != 0 {
			t.Fatalf("aoe reserve from %s: %+v", other, r)
		}
		out := s.doctor("e5.1", doctor.CauseReserved, "aoe reserve e5.1 -i eth0 --release --force")
		if d := out.Devices[0].Findings[0].Detail; !strings.Contains(d, "reserved by "+other.String()) {
			t.Errorf("detail %q", d)
		}
	})

	t.Run("conflict", func(t *testing.T) {
		s.t = t
		s.start("br0", 6, 1, img(64<<20))
		s.startWith("br0", 6, 1, img(96<<20), 1500)
		s.doctor("e6.1", doctor.CauseConflict, "aoe ping e6.1 --identify")
	})

	t.Run("target-stopped", func(t *testing.T) {
		s.t = t
		tg := s.start("br1", 7, 0, img(64<<20))
		s.must("aoe discover --wait e7.0 --timeout 90s")
		s.must("sleep 600 3</dev/etherd/e7.0 >/dev/null 2>&1 & echo $! > /tmp/holder")
		defer s.run("kill $(cat /tmp/holder)")
		s.stop(tg)
		s.must("(dd if=/dev/etherd/e7.0 of=/dev/null bs=512 count=1 skip=4343 2>/dev/null &)")
		s.waitState("e7.0", "down,closewait", 90*time.Second)
		out := s.doctor("e7.0", doctor.CauseNoReply, "aoe discover --probe")
		if _, ok := out.has("e7.0", doctor.CauseDeviceDown, "aoe revalidate e7.0"); !ok {
			t.Errorf("no device-down with aoe revalidate: %+v", out.Devices)
		}
		s.restart(tg)
		s.doctor("e7.0", doctor.CauseDeviceDown, "aoe revalidate e7.0")
		s.must("aoe revalidate e7.0")
		s.waitState("e7.0", "up", 60*time.Second)
		s.doctor("e7.0", "", "")
	})

	t.Run("mtu", func(t *testing.T) {
		// A jumbo target and a jumbo NIC with a 1500-byte link between
		// (the host's tap): the driver's frames do not get through.
		s.t = t
		// An MTU change resets the NIC: its carrier comes back later.
		carrier := "; for i in $(seq 1 300); do [ \"$(cat /sys/class/net/eth0/operstate)\" = up ] && exit 0; sleep 0.1; done; exit 1"
		s.must("ip link set eth0 mtu 9000" + carrier)
		defer s.must("ip link set eth0 mtu 1500" + carrier)
		s.startWith("br0", 4, 1, img(64<<20), 9000)
		s.doctor("e4.1", doctor.CauseMTU, "ip link set eth0 mtu 1500", "-i", "eth0")
	})

	t.Run("masked", func(t *testing.T) {
		// One segment for both NICs; the target's mask list holds eth1's
		// MAC only.
		s.t = t
		lab.Run("ip", "-n", ns, "link", "add", "join0", "type", "veth", "peer", "name", "join1")
		lab.Run("ip", "-n", ns, "link", "set", "join0", "master", "br0", "up")
		lab.Run("ip", "-n", ns, "link", "set", "join1", "master", "br1", "up")
		lab.WaitUp(ns, "join0")
		s.startWith("br0", 3, 1, img(64<<20), 1500, "-m", eth1)
		s.doctor("e3.1", doctor.CauseMasked, "aoe mask e3.1 -i eth1 --add "+eth0, "-i", "eth0,eth1")
	})
}
