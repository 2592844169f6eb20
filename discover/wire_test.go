package discover_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/goaoe/aoe/discover"
	"github.com/goaoe/aoe/initiator"
	"github.com/goaoe/aoe/initiator/aoeaddr"
	"github.com/goaoe/aoe/initiator/aoetest"
	"github.com/goaoe/aoe/initiator/wire"
)

func TestPing(t *testing.T) {
	s := newSegment(t, "eth0", net.HardwareAddr{0x52, 0x54, 0, 0, 0, 1}, 1500)
	s.serve(t, target(1, 2, 1, 2048, "a"))
	s.serve(t, target(1, 2, 2, 2048, "a")) // a second path to e1.2
	s.serve(t, target(1, 3, 3, 2048, "b"))
	g := initiator.NewGroup(s.client)
	ctx := context.Background()
	var rounds []int
	res, err := discover.Ping(ctx, g, aoeaddr.Address{Shelf: 1, Slot: 2}, discover.PingOptions{Count: 3, Timeout: 300 * time.Millisecond, Identify: true},
		func(seq int, replies []discover.PingReply) { rounds = append(rounds, len(replies)) })
	if err != nil || res.Sent != 3 || res.Answered != 3 || len(res.Replies) != 6 || res.Paths != 2 || len(res.Identities) != 2 {
		t.Fatalf("%+v %v", res, err)
	}
	if len(rounds) != 3 || rounds[2] != 2 {
		t.Errorf("rounds %v", rounds)
	}
	if id := res.Identities[0]; id.Err != nil || id.Identity.Sectors() != 2048 || id.Interface != "eth0" {
		t.Errorf("identify: %+v", id)
	}
	res, _ = discover.Ping(ctx, g, aoeaddr.Address{Shelf: 9, Slot: 9}, discover.PingOptions{Count: 1, Timeout: 100 * time.Millisecond}, nil)
	if res.Answered != 0 || len(res.Replies) != 0 {
		t.Errorf("e9.9 answered: %+v", res)
	}
}

func TestCheck(t *testing.T) {
	nw := &aoetest.Network{}
	host := net.HardwareAddr{0x52, 0x54, 0, 0, 0, 1}
	c := nw.ClientWith(t, "eth0", host, 9000, &initiator.Config{RTO: 20 * time.Millisecond, Retries: 2})
	tg := target(1, 2, 1, 2048, "x")
	tg.MTU = 9000
	nw.Serve(t, tg)
	nw.Drop = func(frame []byte, to net.HardwareAddr) bool { return len(frame) > 1514 } // a 1500-byte hop
	ifaces := []discover.Interface{{Name: "eth0", Up: true, MTU: 9000}, {Name: "eth1", Up: true, MTU: 1500}}
	rep, err := discover.Check(context.Background(), initiator.NewGroup(c), ifaces, discover.CheckOptions{Timeout: 10 * time.Second})
	if err != nil || len(rep.Paths) != 1 || rep.Paths[0].MaxSectors != 2 || rep.Paths[0].Sectors != 17 || rep.Paths[0].Identity == nil {
		t.Fatalf("%+v %v", rep, err)
	}
	if len(rep.Devices) != 1 || rep.Devices[0].Tested() != 1024 {
		t.Errorf("%+v", rep.Devices)
	}
	// A second path on eth1, checked offline.
	second := rep.Paths[0]
	second.Interface, second.MTU, second.MaxSectors = "eth1", 1500, 2
	second.Target.MAC = net.HardwareAddr{2, 0xae, 0, 0, 0, 9}
	rep, _ = discover.Check(context.Background(), nil, ifaces, discover.CheckOptions{})
	if len(rep.Devices) != 0 {
		t.Errorf("nil group: %+v", rep)
	}
	devs := discover.Devices([]discover.CheckedPath{rep0(), second}, ifaces)
	want := []string{
		"The path eth0->02ae00000001 is only capable of 1024 byte payloads",
		"eth1: MTU (1500) not set optimally for device's capable payload",
		"eth1: MTU different from other interfaces (1500 vs. 9000)",
	}
	if len(devs) != 1 || devs[0].MACs != 2 || devs[0].Payload != 8704 || warnings(devs[0]) != strings.Join(want, "\n") {
		t.Errorf("%+v", devs)
	}
	// One MAC seen on two interfaces: a mismatch of local and remote counts.
	second.Target.MAC = tg.MAC
	if devs = discover.Devices([]discover.CheckedPath{rep0(), second}, ifaces); devs[0].Warnings[0].Kind != discover.WarnMACCount {
		t.Errorf("%q", warnings(devs[0]))
	}
}

// rep0 is the eth0 path of TestCheck, as measured.
func rep0() discover.CheckedPath {
	return discover.CheckedPath{Target: initiator.Target{MAC: net.HardwareAddr{2, 0xae, 0, 0, 0, 1}, Shelf: 1, Slot: 2},
		Interface: "eth0", MTU: 9000, Sectors: 17, MaxSectors: 2}
}

func warnings(d discover.Device) string {
	var s []string
	for _, w := range d.Warnings {
		s = append(s, w.String())
	}
	return strings.Join(s, "\n")
}

func TestMaskAndReserve(t *testing.T) {
	s := newSegment(t, "eth0", net.HardwareAddr{0x52, 0x54, 0, 0, 0, 1}, 1500)
	tg := target(4, 2, 1, 2048, "x")
	tg.MaxMasks = 3
	s.serve(t, tg)
	g := initiator.NewGroup(s.client)
	ctx := context.Background()
	a := aoeaddr.Address{Shelf: 4, Slot: 2}
	mac := func(s string) discover.MAC {
		m, err := discover.ParseMAC(s)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	other := mac("02000000000a")
	var lock *discover.LockoutError
	if _, err := discover.Mask(ctx, g, a, discover.MaskChange{Add: []discover.MAC{other}}, fast); !errors.As(err, &lock) || len(tg.Masks()) != 0 {
		t.Errorf("lockout: %v", err)
	}
	paths, err := discover.Mask(ctx, g, a, discover.MaskChange{Add: []discover.MAC{mac("self"), other}}, fast)
	if err != nil || len(paths) != 1 || paths[0].Err != nil || len(paths[0].List) != 2 {
		t.Errorf("add: %+v %v", paths, err)
	}
	paths, _ = discover.Mask(ctx, g, a, discover.MaskChange{Add: []discover.MAC{mac("02:00:00:00:00:0b"), mac("02:00:00:00:00:0c")}}, fast)
	if de := (*wire.DirectiveError)(nil); !errors.As(paths[0].Err, &de) || de.Code != wire.MaskListFull {
		t.Errorf("full: %+v", paths)
	}
	if _, err := discover.Reserve(ctx, g, a, discover.ReserveChange{Set: []discover.MAC{other}, Force: true}, fast); err != nil {
		t.Fatal(err)
	}
	paths, _ = discover.Reserve(ctx, g, a, discover.ReserveChange{Release: true}, fast)
	var re *discover.ReservedError
	if !errors.As(paths[0].Err, &re) || !errors.Is(paths[0].Err, wire.ErrTargetReserved) {
		t.Errorf("release of another's: %+v", paths)
	}
	if _, err := discover.Mask(ctx, g, aoeaddr.Address{Shelf: 9, Slot: 9}, discover.MaskChange{}, discover.Options{Timeout: 200 * time.Millisecond}); !errors.Is(err, discover.ErrNotFound) {
		t.Errorf("unknown device: %v", err)
	}
	if _, err := discover.ParseMAC("bogus"); !errors.Is(err, discover.ErrBadMAC) {
		t.Errorf("bad MAC: %v", err)
	}
}
