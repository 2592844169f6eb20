package discover_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/goaoe/aoe/discover"
	"github.com/goaoe/aoe/initiator"
	"github.com/goaoe/aoe/initiator/aoetest"
	"github.com/goaoe/aoe/initiator/wire"
)

type segment struct {
	nw     *aoetest.Network
	client *initiator.Client
}

// newSegment makes a segment with a client on interface name.
func newSegment(t *testing.T, name string, hostMAC net.HardwareAddr, mtu int) *segment {
	nw := &aoetest.Network{}
	c := nw.ClientWith(t, name, hostMAC, mtu, &initiator.Config{RTO: 20 * time.Millisecond, Retries: 10})
	return &segment{nw, c}
}

func (s *segment) serve(t *testing.T, tg *aoetest.Target) { s.nw.Serve(t, tg) }

func target(shelf uint16, slot uint8, mac byte, sectors uint64, serial string) *aoetest.Target {
	return &aoetest.Target{Shelf: shelf, Slot: slot, MAC: net.HardwareAddr{2, 0xae, 0, 0, 0, mac},
		BufferCount: 16, Sectors: sectors, Model: "Coraid EtherDrive vblade", Serial: serial}
}

var fast = discover.Options{Timeout: time.Minute, Quiet: 50 * time.Millisecond,
	Resend: []time.Duration{10 * time.Millisecond, 30 * time.Millisecond}}

func TestProbe(t *testing.T) {
	eth0 := newSegment(t, "eth0", net.HardwareAddr{0x52, 0x54, 0, 0, 0, 1}, 1500)
	eth1 := newSegment(t, "eth1", net.HardwareAddr{0x52, 0x54, 0, 0, 0, 2}, 9000)
	a := target(1, 2, 1, 2097152, "1.2:host")
	a.SetConfig([]byte("hello"))
	eth0.serve(t, a)
	eth0.serve(t, target(7, 0, 2, 204800, "7.0:host"))
	// e2.1 on both interfaces, from two ports of the same disk: multipath.
	eth0.serve(t, target(2, 1, 3, 1048576, "2.1:host"))
	mp := target(2, 1, 4, 1048576, "2.1:host")
	mp.MTU = 9000
	eth1.serve(t, mp)
	// e5.5 claimed by two different disks: a conflict.
	eth1.serve(t, target(5, 5, 5, 20480, "5.5:hostA"))
	eth1.serve(t, target(5, 5, 6, 40960, "5.5:hostB"))

	got, err := discover.Probe(context.Background(), initiator.NewGroup(eth0.client, eth1.client), fast)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tg := range got {
		names = append(names, tg.Name())
	}
	if want := "[e1.2 e2.1 e5.5 e7.0]"; sprint(names) != want {
		t.Fatalf("targets %v, want %s", names, want)
	}
	e12, e21, e55 := got[0], got[1], got[2]
	if len(e12.Paths) != 1 || string(e12.Paths[0].Config) != "hello" || e12.Paths[0].Payload != 1024 ||
		e12.Paths[0].BufferCount != 16 || e12.Paths[0].Firmware != 0x4019 || e12.Identity().Sectors() != 2097152 || e12.Conflict {
		t.Errorf("e1.2 %+v", e12)
	}
	if len(e21.Paths) != 2 || e21.Conflict || sprint(e21.Interfaces()) != "[eth0 eth1]" || len(e21.MACs()) != 2 {
		t.Errorf("e2.1 (multipath) %+v", e21)
	}
	if e21.Paths[1].Payload != 8704 || e21.Payload() != 1024 {
		t.Errorf("e2.1 payloads %d %d", e21.Paths[1].Payload, e21.Payload())
	}
	if !e55.Conflict || len(e55.Paths) != 2 {
		t.Errorf("e5.5 (two disks) %+v", e55)
	}
}

func TestProbeLossy(t *testing.T) {
	// 10% loss each way: no target may be lost.
	for round := range 5 {
		s := newSegment(t, "eth0", net.HardwareAddr{0x52, 0x54, 0, 0, 0, 1}, 1500)
		var mu sync.Mutex
		rng := rand.New(rand.NewPCG(uint64(round), 42))
		s.nw.Drop = func([]byte, net.HardwareAddr) bool {
			mu.Lock()
			defer mu.Unlock()
			return rng.Float64() < 0.10
		}
		for i := range 16 {
			s.serve(t, target(uint16(i), 1, byte(i), 2048, "x"))
		}
		opts := discover.Options{Timeout: time.Minute}
		got, err := discover.Probe(context.Background(), initiator.NewGroup(s.client), opts)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 16 {
			t.Errorf("round %d: %d targets of 16", round, len(got))
		}
		for _, tg := range got {
			if tg.Identity() == nil {
				t.Errorf("round %d: %s not identified: %v", round, tg.Name(), tg.Paths[0].IdentifyErr)
			}
		}
	}
}

func TestProbeNothing(t *testing.T) {
	s := newSegment(t, "eth0", net.HardwareAddr{0x52, 0x54, 0, 0, 0, 1}, 1500)
	got, err := discover.Probe(context.Background(), initiator.NewGroup(s.client), fast)
	if err != nil || len(got) != 0 {
		t.Errorf("%v %v", got, err)
	}
	if _, err := discover.Probe(context.Background(), nil, fast); err == nil {
		t.Error("no clients: no error")
	}
}

func TestProbeTimeoutKeepsAnswers(t *testing.T) {
	nw := &aoetest.Network{}
	s := &segment{nw, nw.ClientWith(t, "eth0", net.HardwareAddr{0x52, 0x54, 0, 0, 0, 1}, 1500, &initiator.Config{RTO: time.Hour, Retries: 10})}
	s.serve(t, target(1, 1, 1, 2048, "x"))
	// A target that answers config but never IDENTIFY.
	mute := target(1, 2, 2, 2048, "y")
	s.nw.Drop = func(frame []byte, to net.HardwareAddr) bool {
		return to.String() == mute.MAC.String() && frame[19] == byte(wire.CommandATA)
	}
	s.serve(t, mute)
	got, err := discover.Probe(context.Background(), initiator.NewGroup(s.client), discover.Options{Timeout: 500 * time.Millisecond})
	if err != nil || len(got) != 2 || got[0].Identity() == nil || got[1].Identity() != nil {
		t.Errorf("%+v %v", got, err)
	}
}

func sprint(v any) string { return fmt.Sprint(v) }
