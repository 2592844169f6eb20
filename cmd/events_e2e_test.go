//go:build e2e

package cmd

import (
	"encoding/binary"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/goaoe/aoe/initiator/wire"
	"github.com/goaoe/aoe/internal/aoelab"
	"github.com/mdlayher/packet"
)

// TestE2EEvents runs `aoe events --json` in a VM with the real aoe driver
// while a target is stopped and restarted (its device goes down, then up)
// and the device is flushed (removed), and checks the stream against sysfs.
func TestE2EEvents(t *testing.T) {
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
	ns := lab.Namespace("events")
	lab.Bridge(ns, "br0")
	lab.Tap(ns, "tap0", "br0")
	s := &san{t: t, lab: lab, ns: ns, tgts: map[string]*target{}}
	e12 := s.start("br0", 1, 2, lab.Image(64<<20))
	s.vm = lab.BootVM(ns, aoelab.VMConfig{
		Kernel:  k,
		Modules: []string{"drivers/block/aoe/aoe.ko"},
		Files:   map[string]string{"/usr/local/sbin/aoe": bin},
		Taps:    []string{"tap0"},
	})
	s.must("insmod /lib/modules/aoe.ko && echo 8 > /sys/module/aoe/parameters/aoe_deadsecs")
	s.must("aoe discover --wait e1.2 --timeout 90s")
	s.waitState("e1.2", "up", time.Second)

	// The stream runs in the background; its exit status is kept.
	s.must(`sh -c 'aoe events --json >/tmp/ev.json 2>/tmp/ev.err & echo $! >/tmp/ev.pid; wait $!; echo $? >/tmp/ev.rc' >/dev/null 2>&1 &
sleep 1`)

	s.stop(e12)
	s.must("(dd if=/dev/etherd/e1.2 of=/dev/null bs=512 count=1 skip=4242 2>/dev/null &)")
	s.waitState("e1.2", "down", 90*time.Second)
	time.Sleep(2 * time.Second) // more than one poll interval
	s.restart(e12)
	s.must("aoe discover --wait e1.2 --timeout 90s")
	s.waitState("e1.2", "up", 30*time.Second)
	time.Sleep(2 * time.Second)
	s.must("aoe flush e1.2")
	if devs := s.devices(); len(devs) != 0 {
		t.Fatalf("after the flush sysfs still has %v", devs)
	}
	time.Sleep(2 * time.Second)

	// An ATA reply for a device the driver does not know: the driver queues
	// "aoecmd_ata_rsp: ata response for unknown device 9.9" on its err node.
	injectUnknownATAReply(t, lab, ns)
	time.Sleep(2 * time.Second)

	// SIGTERM ends it cleanly (exit 143, as every command), even with
	// /dev/etherd/err open.
	s.must(`kill -TERM "$(cat /tmp/ev.pid)"; i=0; while [ ! -s /tmp/ev.rc ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done`)
	if rc := strings.TrimSpace(s.must("cat /tmp/ev.rc")); rc != "143" {
		t.Errorf("aoe events exit status %q after SIGTERM (stderr %q)", rc, s.must("cat /tmp/ev.err"))
	}
	if e := s.must("cat /tmp/ev.err"); e != "" {
		t.Errorf("aoe events stderr: %q", e)
	}
	out := s.must("cat /tmp/ev.json")
	t.Logf("aoe events --json:\n%s", out)
	var seq []string
	errEvents, unknown := 0, false
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		var e struct{ Time, Event, Device, Old, New, Source string }
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("not JSON: %q: %v", line, err)
		}
		if _, err := time.Parse(time.RFC3339Nano, e.Time); err != nil {
			t.Errorf("time %q: %v", e.Time, err)
		}
		if e.Source == "err" {
			errEvents++
			unknown = unknown || (e.Event == "unknown-device" && e.Device == "e9.9")
			continue
		}
		if e.Device == "e1.2" && (e.Event == "state" || e.Event == "removed" || e.Event == "appeared") {
			seq = append(seq, e.Event+":"+e.Old+">"+e.New)
		}
	}
	// A flush marks the device down before it removes it: a poll that
	// falls in between sees that state too, and the removal is from down.
	want := "state:up>down state:down>up removed:up>"
	alsoRight := "state:up>down state:down>up state:up>down removed:down>"
	if got := strings.Join(seq, " "); got != want && got != alsoRight {
		t.Errorf("e1.2 events %v, want %q or %q (as sysfs went)", seq, want, alsoRight)
	}
	t.Logf("%d messages of /dev/etherd/err in the stream", errEvents)
	if !unknown {
		t.Error("the driver's err message for the reply from unknown e9.9 is not in the stream")
	}
}

// injectUnknownATAReply sends, on a new port of br0 inside the lab's
// namespace, an ATA reply from e9.9 to the VM's eth0.
func injectUnknownATAReply(t *testing.T, lab *aoelab.Lab, ns string) {
	t.Helper()
	src := net.HardwareAddr{0x02, 0xae, 0xee, 0, 9, 9}
	lab.Port(ns, "inj", "br0", src)
	// Ethernet (14 bytes): destination, source, EtherType. AoE header (10):
	// version 1 with the response flag (0x18), error 0, major 9, minor 9,
	// command 0 (ATA), tag 0x00000001 (bit 31 clear: a kernel tag). ATA
	// argument (12 bytes of zeros), padded to the 60-byte minimum.
	frame := make([]byte, 60)
	copy(frame[0:6], net.HardwareAddr{0x52, 0x54, 0x00, 0xae, 0x00, 0x01})
	copy(frame[6:12], src)
	binary.BigEndian.PutUint16(frame[12:14], wire.EtherType)
	frame[14], frame[15] = 0x18, 0
	binary.BigEndian.PutUint16(frame[16:18], 9)
	frame[18], frame[19] = 9, byte(wire.CommandATA)
	binary.BigEndian.PutUint32(frame[20:24], 1)
	lab.Do(ns, func() {
		ifi, err := net.InterfaceByName("inj")
		if err != nil {
			t.Fatal(err)
		}
		conn, err := packet.Listen(ifi, packet.Raw, wire.EtherType, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := conn.WriteTo(frame, &packet.Addr{HardwareAddr: frame[0:6]}); err != nil {
			t.Fatal(err)
		}
	})
}
