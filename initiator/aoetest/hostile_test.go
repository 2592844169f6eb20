package aoetest

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/goaoe/aoe/initiator"
)

var (
	iniMAC = net.HardwareAddr{0x02, 0, 0, 0, 0, 1}
	tgtMAC = net.HardwareAddr{0x02, 0, 0, 0, 0, 2}
)

func queryConfig(t *testing.T, c *initiator.Client, d time.Duration) []*initiator.Frame {
	t.Helper()
	ch, _, stop, err := c.Broadcast(&initiator.Frame{Shelf: initiator.BroadcastShelf, Slot: initiator.BroadcastSlot, Command: initiator.CommandQueryConfig, Arg: &initiator.ConfigArg{}})
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	var got []*initiator.Frame
	deadline := time.After(d)
	for {
		select {
		case f := <-ch:
			got = append(got, f)
		case <-deadline:
			return got
		}
	}
}

func TestHostileFloodAndDrops(t *testing.T) {
	var nw Network
	c := nw.Client(t, "eth0", iniMAC, 1500)
	h := &Hostile{MAC: tgtMAC, Flood: 10000}
	nw.ServeHostile(t, h)
	ch, _, stop, err := c.Broadcast(&initiator.Frame{Shelf: initiator.BroadcastShelf, Slot: initiator.BroadcastSlot, Command: initiator.CommandQueryConfig, Arg: &initiator.ConfigArg{}})
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	// Nothing is read until the whole flood is out: the port's queue and
	// the broadcast's channel (4096 each) must overflow, however fast the
	// machine.
	for deadline := time.Now().Add(10 * time.Second); h.Sent() < 10000; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("sent %d of 10000 in 10s", h.Sent())
		}
	}
	time.Sleep(50 * time.Millisecond) // the read loop drains the port
	seen := map[string]bool{}
	for len(ch) > 0 {
		seen[(<-ch).Name()] = true
	}
	n, err := c.Dropped()
	if err != nil || n == 0 {
		t.Fatalf("Dropped() = %d, %v: want the frames the full queues lost", n, err)
	}
	// Every reply is either delivered (once, distinct) or counted lost.
	if len(seen)+int(n) != 10000 {
		t.Fatalf("%d delivered + %d counted lost = %d, want 10000", len(seen), n, len(seen)+int(n))
	}
}

func TestHostileSources(t *testing.T) {
	for _, tc := range []struct {
		mode SourceMode
		want net.HardwareAddr
	}{
		{SourceBroadcast, initiator.BroadcastMAC},
		{SourceZero, make(net.HardwareAddr, 6)},
		{SourceMulticast, net.HardwareAddr{0x01, 0x00, 0x5e, 0, 0, 1}},
		{SourceRequester, iniMAC},
	} {
		var nw Network
		c := nw.Client(t, "eth0", iniMAC, 1500)
		nw.ServeHostile(t, &Hostile{Target: &Target{Shelf: 1, Slot: 2, MAC: tgtMAC, BufferCount: 16, Sectors: 8}, Source: tc.mode})
		// The client drops replies from impossible sources: none is
		// delivered, and each is counted as forged.
		got := queryConfig(t, c, 100*time.Millisecond)
		if len(got) != 0 || c.Stats().Forged != 1 {
			t.Fatalf("source %v: delivered %v, forged %d; want none delivered, 1 forged", tc.want, got, c.Stats().Forged)
		}
	}
}

func TestHostileErrorDelayAndImpostor(t *testing.T) {
	var nw Network
	c := nw.Client(t, "eth0", iniMAC, 1500)
	tgt := &Target{Shelf: 1, Slot: 2, MAC: tgtMAC, BufferCount: 16, Sectors: 8}
	nw.ServeHostile(t, &Hostile{Target: tgt, NoATA: true, Delay: 150 * time.Millisecond})

	got := queryConfig(t, c, 400*time.Millisecond)
	if len(got) != 1 {
		t.Fatalf("%d replies, want 1", len(got))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := c.Request(ctx, &initiator.Frame{Destination: tgtMAC, Shelf: 1, Slot: 2, Command: initiator.CommandATA, Arg: initiator.NewIdentify()})
	if err == nil {
		t.Fatal("the impostor answered IDENTIFY")
	}

	var nw2 Network
	c2 := nw2.Client(t, "eth0", iniMAC, 1500)
	nw2.ServeHostile(t, &Hostile{Target: &Target{Shelf: 1, Slot: 2, MAC: tgtMAC, BufferCount: 16, Sectors: 8}, ErrorCode: initiator.ErrDeviceUnavailable})
	ctx2, cancel2 := context.WithTimeout(context.Background(), time.Second)
	defer cancel2()
	_, err = c2.Request(ctx2, &initiator.Frame{Destination: tgtMAC, Shelf: 1, Slot: 2, Command: initiator.CommandQueryConfig, Arg: &initiator.ConfigArg{}})
	if !errors.Is(err, initiator.ErrDeviceUnavailable) {
		t.Fatalf("error flag: got %v, want %v", err, initiator.ErrDeviceUnavailable)
	}
}
