//go:build e2e

// End-to-end tests against the real Linux aoe driver: Debian 12's kernel in
// qemu, real vblade targets on bridges in a network namespace, and Debian's
// aoetools in the same VM for comparison. Run with `make e2e` (root).

package cmd

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/goaoe/aoe/internal/aoelab"
)

// san is the test network: a VM with eth0 on br0 and eth1 on br1, and
// vblade targets each on its own port (own MAC) of a bridge.
type san struct {
	t    *testing.T
	lab  *aoelab.Lab
	ns   string
	vm   *aoelab.VM
	port int
	tgts map[string]*target
}

type target struct {
	name, bridge, port, image string
	shelf, slot               int
	cmd                       *exec.Cmd
}

// start exports image as shelf.slot on a new port of bridge.
func (s *san) start(bridge string, shelf, slot int, image string) *target {
	s.t.Helper()
	s.port++
	tg := &target{name: fmt.Sprintf("e%d.%d", shelf, slot), bridge: bridge, port: fmt.Sprintf("v%d", s.port),
		image: image, shelf: shelf, slot: slot}
	mac := net.HardwareAddr{0x02, 0xae, byte(shelf >> 8), byte(shelf), byte(slot), byte(s.port)}
	s.lab.Port(s.ns, tg.port, bridge, mac)
	tg.cmd = s.lab.Vblade(s.ns, tg.port, shelf, slot, image)
	s.tgts[tg.name+"@"+bridge] = tg
	return tg
}

// stop kills a target's vblade (by PID).
func (s *san) stop(tg *target) {
	tg.cmd.Process.Kill()
	tg.cmd.Wait()
}

// restart starts a stopped target again on its port (same MAC).
func (s *san) restart(tg *target) {
	s.t.Helper()
	tg.cmd = s.lab.Vblade(s.ns, tg.port, tg.shelf, tg.slot, tg.image)
}

// run runs a guest script and returns the result.
func (s *san) run(script string) aoelab.Result {
	s.t.Helper()
	return s.vm.Run(script, 3*time.Minute)
}

// must runs a guest script that must exit 0.
func (s *san) must(script string) string {
	s.t.Helper()
	r := s.run(script)
	if r.Status != 0 {
		s.t.Fatalf("guest: %s: exit %d\n%s%s", script, r.Status, r.Stdout, r.Stderr)
	}
	return r.Stdout
}

// devices returns the AoE devices in the guest's sysfs.
func (s *san) devices() []string {
	s.t.Helper()
	out := s.must("ls /sys/block | sed -n 's/^etherd!//p'")
	devs := strings.Fields(out)
	sort.Strings(devs)
	return devs
}

// waitState polls a device's sysfs state until it is want.
func (s *san) waitState(dev, want string, timeout time.Duration) {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		r := s.run("cat '/sys/block/etherd!" + dev + "/state'")
		if strings.TrimSpace(r.Stdout) == want {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("%s: state %q (exit %d), want %q after %v", dev, strings.TrimSpace(r.Stdout), r.Status, want, timeout)
		}
		time.Sleep(time.Second)
	}
}

func TestE2E(t *testing.T) {
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
	ns := lab.Namespace("san")
	lab.Bridge(ns, "br0")
	lab.Bridge(ns, "br1")
	lab.Tap(ns, "tap0", "br0")
	lab.Tap(ns, "tap1", "br1")

	files := map[string]string{"/usr/local/sbin/aoe": bin}
	links := map[string]string{}
	for _, n := range ClassicNames() {
		links["/usr/local/sbin/"+n] = "aoe"
		files["/opt/aoetools/sbin/"+n] = "/usr/sbin/" + n
	}
	if _, err := os.Stat("/usr/sbin/aoe-stat"); err != nil {
		t.Fatal("Debian's aoetools is needed for the comparison: apt-get install aoetools")
	}
	// aoetools' aoe-stat starts with #! /bin/bash; busybox sh runs it alike.
	bash := filepath.Join(t.TempDir(), "bash")
	if err := os.WriteFile(bash, []byte("#!/bin/sh\nexec /bin/sh \"$@\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	files["/usr/bin/bash"] = bash
	links["/bin/bash"] = "/usr/bin/bash"

	s := &san{t: t, lab: lab, ns: ns, tgts: map[string]*target{}}
	img := func(size int64) string { return lab.Image(size) }
	e12 := s.start("br0", 1, 2, img(1<<30))
	e13 := s.start("br0", 1, 3, img(10<<30))
	e70 := s.start("br1", 7, 0, img(100<<20))
	e21img := img(512 << 20)
	s.start("br0", 2, 1, e21img) // multipath: one disk on both NICs
	s.start("br1", 2, 1, e21img)
	_ = e12

	start := time.Now()
	s.vm = lab.BootVM(ns, aoelab.VMConfig{
		Kernel:  k,
		Modules: []string{"drivers/block/aoe/aoe.ko", "fs/fat/fat.ko", "fs/fat/vfat.ko", "fs/nls/nls_cp437.ko", "fs/nls/nls_ascii.ko", "fs/nls/nls_utf8.ko"},
		Files:   files, Links: links,
		Taps: []string{"tap0", "tap1"},
	})
	t.Logf("VM booted in %v", time.Since(start).Round(time.Millisecond))
	aoetools := "LC_ALL=C PATH=/opt/aoetools/sbin:/bin "

	t.Run("no-driver", func(t *testing.T) {
		s.t = t
		r := s.run("aoe stat")
		if r.Status != ExitNoDriver || r.Stderr != "aoe stat: the aoe driver is not loaded (no /sys/module/aoe); load it with: modprobe aoe\n" {
			t.Errorf("aoe stat: %d %q", r.Status, r.Stderr)
		}
		r = s.run("aoe discover")
		if r.Status != ExitNoDriver || !strings.Contains(r.Stderr, "load it with: modprobe aoe") {
			t.Errorf("aoe discover: %d %q", r.Status, r.Stderr)
		}
		for _, c := range []string{"aoe-stat", "aoe-discover", "aoe-flush", "aoe-revalidate e1.2", "aoe-interfaces", "aoe-interfaces eth0"} {
			ours, theirs := s.run(c), s.run(aoetools+c)
			if ours != theirs {
				t.Errorf("%s without the driver: ours %+v, aoetools %+v", c, ours, theirs)
			}
		}
		s.must("insmod /lib/modules/aoe.ko")
	})

	t.Run("stat", func(t *testing.T) {
		s.t = t
		s.must("aoe discover --wait e1.2,e1.3,e7.0,e2.1 --timeout 90s")
		out := s.must("aoe stat")
		want := regexp.MustCompile(`^DEVICE +SIZE +IFACES +PAYLOAD +STATE
e1\.2 +1\.07 GB +eth0 +1024 +up
e1\.3 +10\.7 GB +eth0 +1024 +up
e2\.1 +537 MB +eth[01],eth[01] +1024 +up
e7\.0 +105 MB +eth1 +1024 +up
$`)
		if !want.MatchString(out) {
			t.Errorf("aoe stat:\n%s", out)
		}
		var devs []statJSON
		if err := json.Unmarshal([]byte(s.must("aoe stat --json")), &devs); err != nil || len(devs) != 4 {
			t.Fatalf("aoe stat --json: %v %+v", err, devs)
		}
		for _, d := range devs {
			sys := strings.Fields(s.must(fmt.Sprintf("cd '/sys/block/etherd!%s' && cat size dev mac", d.Device)))
			mac, _ := net.ParseMAC(*d.MAC)
			if fmt.Sprint(*d.Sectors) != sys[0] || *d.Dev != sys[1] || strings.ReplaceAll(mac.String(), ":", "") != sys[2] ||
				*d.State != "up" || *d.Payload != 1024 || *d.Firmware != "0x4019" || *d.Bytes != *d.Sectors*512 {
				t.Errorf("%s: json %+v, sysfs %q", d.Device, d, sys)
			}
		}
		if strings.Join(devs[2].Interfaces, "+") != "eth0+eth1" && strings.Join(devs[2].Interfaces, "+") != "eth1+eth0" {
			t.Errorf("e2.1 (multipath) interfaces %q", devs[2].Interfaces)
		}
		wide := s.must("aoe stat --wide '^e1[.]2$'")
		if !regexp.MustCompile(`e1\.2 .* up +02:ae:00:01:02:01 +0x4019 +152:\d+ +-\n$`).MatchString(wide) {
			t.Errorf("aoe stat --wide:\n%s", wide)
		}
		for _, re := range []string{"", "e1.2", "1.2", "eth1", "e7", "e9.9", "up", `e1\.[23]`} {
			arg := ""
			if re != "" {
				arg = " '" + re + "'"
			}
			ours, theirs := s.run("aoe-stat"+arg), s.run(aoetools+"aoe-stat"+arg)
			if ours != theirs {
				t.Errorf("aoe-stat%s: ours %+v\naoetools %+v", arg, ours, theirs)
			}
		}
		if r := s.run("aoe stat --classic"); r != s.run(aoetools+"aoe-stat") {
			t.Errorf("aoe stat --classic differs from aoetools: %+v", r)
		}
	})

	t.Run("discover", func(t *testing.T) {
		s.t = t
		s.start("br0", 3, 1, img(64<<20)) // started after boot
		r := s.run("aoe discover --wait e3.1 --timeout 60s")
		if r.Status != 0 {
			t.Fatalf("--wait e3.1: %+v", r)
		}
		s.waitState("e3.1", "up", time.Second)
		r = s.run("aoe discover --wait e1.2,e9.9 --timeout 3s")
		if r.Status != ExitTimeout || r.Stderr != "aoe discover: timed out after 3s waiting for e9.9 (not found)\n" {
			t.Errorf("--wait e9.9: %+v", r)
		}
		if ours, theirs := s.run("aoe-discover"), s.run(aoetools+"aoe-discover"); ours != theirs || ours.Status != 0 {
			t.Errorf("aoe-discover: ours %+v, aoetools %+v", ours, theirs)
		}
	})

	t.Run("interfaces", func(t *testing.T) {
		s.t = t
		s.must("aoe interfaces eth0")
		if out := s.must("aoe interfaces"); out != "eth0\n" {
			t.Errorf("aoe interfaces: %q", out)
		}
		if ours, theirs := s.run("aoe-interfaces"), s.run(aoetools+"aoe-interfaces"); ours != theirs {
			t.Errorf("aoe-interfaces: ours %+v, aoetools %+v", ours, theirs)
		}
		s.start("br1", 8, 1, img(64<<20)) // reachable on eth1 only
		s.must("aoe discover")
		time.Sleep(3 * time.Second)
		if devs := s.devices(); strings.Contains(strings.Join(devs, " "), "e8.1") {
			t.Errorf("e8.1 found although only eth0 is allowed: %v", devs)
		}
		s.must("aoe interfaces -c")
		r := s.run("aoe interfaces")
		if r.Stdout != "" || r.Status != 0 || !strings.Contains(r.Stderr, "every interface") {
			t.Errorf("after -c: %+v", r)
		}
		s.must("aoe discover --wait e8.1 --timeout 60s")
		s.must("aoe interfaces eth0,eth1")
		if out := s.must("cat /sys/module/aoe/parameters/aoe_iflist"); out != "eth0 eth1\n" {
			t.Errorf("after eth0,eth1: aoe_iflist %q", out)
		}
		s.must("aoe interfaces -c")
		r = s.run("aoe interfaces bogus0")
		if r.Status != 1 || r.Stderr != "aoe interfaces: \"bogus0\" is not a network interface (see 'ip link')\n" {
			t.Errorf("bogus0: %+v", r)
		}
		if ours, theirs := s.run("aoe-interfaces bogus0"), s.run(aoetools+"aoe-interfaces bogus0"); ours != theirs {
			t.Errorf("aoe-interfaces bogus0: ours %+v, aoetools %+v", ours, theirs)
		}
	})

	t.Run("revalidate", func(t *testing.T) {
		s.t = t
		if out := strings.TrimSpace(s.must("cat '/sys/block/etherd!e1.3/size'")); out != "20971520" {
			t.Fatalf("e1.3 size %s", out)
		}
		s.stop(e13)
		if err := os.Truncate(e13.image, 12<<30); err != nil {
			t.Fatal(err)
		}
		s.restart(e13)
		s.must("aoe revalidate e1.3")
		deadline := time.Now().Add(30 * time.Second)
		for {
			out := strings.TrimSpace(s.must("cat '/sys/block/etherd!e1.3/size'"))
			if out == "25165824" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("e1.3 size %s after revalidate, want 25165824", out)
			}
			time.Sleep(500 * time.Millisecond)
		}
		if out := s.must("aoe stat '^e1[.]3$'"); !strings.Contains(out, "12.9 GB") {
			t.Errorf("aoe stat after growing e1.3:\n%s", out)
		}
		r := s.run("aoe revalidate e9.9")
		if r.Status != 1 || !strings.Contains(r.Stderr, "no such AoE device: e9.9") {
			t.Errorf("revalidate e9.9: %+v", r)
		}
	})

	t.Run("probe", func(t *testing.T) {
		s.t = t
		var found []struct {
			Device  string `json:"device"`
			Sectors uint64 `json:"sectors"`
			Paths   []struct{ Interface string }
		}
		if err := json.Unmarshal([]byte(s.must("aoe discover --probe --json")), &found); err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, f := range found {
			names = append(names, f.Device)
			size := strings.TrimSpace(s.must("cat '/sys/block/etherd!" + f.Device + "/size'"))
			if fmt.Sprint(f.Sectors) != size {
				t.Errorf("%s: probe says %d sectors, the driver %s", f.Device, f.Sectors, size)
			}
			if f.Device == "e2.1" && len(f.Paths) != 2 {
				t.Errorf("e2.1: %d paths", len(f.Paths))
			}
		}
		sort.Strings(names)
		if got, want := strings.Join(names, " "), strings.Join(s.devices(), " "); got != want {
			t.Errorf("probe found %s; the driver knows %s", got, want)
		}
	})

	t.Run("down-and-up", func(t *testing.T) {
		s.t = t
		s.must("echo 8 > /sys/module/aoe/parameters/aoe_deadsecs")
		s.stop(e70)
		s.must("(dd if=/dev/etherd/e7.0 of=/dev/null bs=512 count=1 skip=4242 2>/dev/null &)")
		s.waitState("e7.0", "down", 90*time.Second)
		out := s.must("aoe stat '^e7'")
		if !regexp.MustCompile(`e7\.0 +0 B +eth1 +1024 +down\n$`).MatchString(out) {
			t.Errorf("aoe stat of a down device:\n%s", out)
		}
		if ours, theirs := s.run("aoe-stat"), s.run(aoetools+"aoe-stat"); ours != theirs {
			t.Errorf("aoe-stat with a down device: ours %+v, aoetools %+v", ours, theirs)
		}
		s.restart(e70)
		s.must("aoe discover --wait e7.0 --timeout 90s")
		s.waitState("e7.0", "up", time.Second)
	})

	t.Run("closewait", func(t *testing.T) {
		// A device held open while its target is away stays
		// down,closewait after the target is back: the driver revives an
		// open device only on revalidate, which --wait writes for it.
		s.t = t
		s.must("echo 8 > /sys/module/aoe/parameters/aoe_deadsecs")
		s.must("sleep 600 3</dev/etherd/e7.0 >/dev/null 2>&1 & echo $! > /tmp/holder")
		defer s.run("kill $(cat /tmp/holder)")
		s.stop(e70)
		s.must("(dd if=/dev/etherd/e7.0 of=/dev/null bs=512 count=1 skip=4343 2>/dev/null &)")
		s.waitState("e7.0", "down,closewait", 90*time.Second)
		r := s.run("aoe discover --wait e7.0 --timeout 2s")
		if r.Status != ExitTimeout || !strings.Contains(r.Stderr, "'aoe revalidate e7.0' may be needed") {
			t.Errorf("--wait with the target away: %+v", r)
		}
		s.restart(e70)
		s.must("aoe discover --wait e7.0 --timeout 90s")
		s.waitState("e7.0", "up", time.Second)
	})

	t.Run("flush", func(t *testing.T) {
		s.t = t
		small := img(64 << 20)
		for _, a := range [][2]int{{1, 1}, {1, 10}, {1, 11}, {11, 1}} {
			s.start("br0", a[0], a[1], small)
		}
		s.must("aoe discover --wait e1.1,e1.10,e1.11,e11.1 --timeout 90s")
		has := func(dev string) bool {
			for _, d := range s.devices() {
				if d == dev {
					return true
				}
			}
			return false
		}

		// A named flush removes exactly the named device.
		s.must("aoe flush e1.1")
		if has("e1.1") || !has("e1.10") || !has("e1.11") || !has("e11.1") {
			t.Errorf("after aoe flush e1.1: %v", s.devices())
		}
		s.must("aoe discover --wait e1.1 --timeout 90s")
		// aoetools removes e1.10 and e1.11 too (the driver's prefix match).
		s.must(aoetools + "aoe-flush e1.1")
		if has("e1.1") || has("e1.10") || has("e1.11") || !has("e11.1") {
			t.Errorf("after aoetools' aoe-flush e1.1: %v (expected e1.1, e1.10, e1.11 gone)", s.devices())
		}
		s.must("aoe discover --wait e1.1,e1.10,e1.11 --timeout 90s")

		// In use: open by a process, swap, mounted. Refused without --force.
		s.must("(sh -c 'exec 3</dev/etherd/e1.10; exec sleep 3600' &); sleep 1")
		r := s.run("aoe flush e1.10")
		if r.Status != 1 || !strings.Contains(r.Stderr, "e1.10 is in use (open by pid ") || !strings.Contains(r.Stderr, "(sleep)") {
			t.Errorf("flush of an open device: %+v", r)
		}
		r = s.run("aoe-flush e1.10")
		if r.Status != 1 || !strings.Contains(r.Stdout, "aoe-flush Error: e1.10 is in use (open by pid ") {
			t.Errorf("aoe-flush of an open device: %+v", r)
		}
		s.must("mkswap /dev/etherd/e1.11 >/dev/null && swapon /dev/etherd/e1.11")
		r = s.run("aoe flush e1.11")
		if r.Status != 1 || !strings.Contains(r.Stderr, "is open exclusively (mounted or swap)") {
			t.Errorf("flush of a swap device: %+v", r)
		}
		s.must("for m in fat vfat nls_cp437 nls_ascii nls_utf8; do insmod /lib/modules/$m.ko; done; mkdosfs /dev/etherd/e11.1 >/dev/null && mount -t vfat /dev/etherd/e11.1 /mnt")
		r = s.run("aoe flush e11.1")
		if r.Status != 1 || !strings.Contains(r.Stderr, "e11.1 is in use (mounted on /mnt)") {
			t.Errorf("flush of a mounted device: %+v", r)
		}
		if !has("e1.10") || !has("e1.11") || !has("e11.1") {
			t.Errorf("a refused flush removed devices: %v", s.devices())
		}
		s.must("umount /mnt; swapoff /dev/etherd/e1.11; pkill -f 'sleep 3600' || killall sleep")
		time.Sleep(time.Second)

		// No argument: only devices that are down.
		s.stop(s.tgts["e11.1@br0"])
		s.must("(dd if=/dev/etherd/e11.1 of=/dev/null bs=512 count=1 skip=777 2>/dev/null &)")
		s.waitState("e11.1", "down", 90*time.Second)
		before := s.devices()
		s.must("aoe flush")
		after := s.devices()
		if has("e11.1") || len(after) != len(before)-1 {
			t.Errorf("aoe flush: before %v, after %v (want only e11.1 gone)", before, after)
		}

		// -a: every device not open, up or down.
		s.must("aoe flush -a")
		r = s.run("aoe stat")
		if r.Status != 1 || r.Stdout != "" || len(s.devices()) != 0 {
			t.Errorf("after aoe flush -a: %+v, %v", r, s.devices())
		}
	})
}
