package initiator_test

import (
	"testing"
	"time"

	"github.com/goaoe/aoe/initiator"
	"github.com/goaoe/aoe/initiator/aoeaddr"
	"github.com/goaoe/aoe/initiator/aoetest"
	"github.com/goaoe/aoe/initiator/wire"
)

// TestHostileFloodAndDrops: a flood of replies to one broadcast overflows
// the port's queue and the broadcast's channel; every reply ends either
// delivered or counted in Stats.Dropped.
func TestHostileFloodAndDrops(t *testing.T) {
	var nw aoetest.Network
	c := nw.Client(t, "eth0", hostA, 1500)
	h := &aoetest.Hostile{MAC: targetMAC, Flood: 10000}
	nw.ServeHostile(t, h)
	ch, _, stop, err := initiator.Broadcast(c, &wire.Frame{Shelf: aoeaddr.BroadcastShelf, Slot: aoeaddr.BroadcastSlot, Command: wire.CommandQueryConfig, Arg: &wire.ConfigArg{}})
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
	// The read loop drains the port (under -race on a busy machine it
	// takes longer than any fixed pause): every reply ends either
	// delivered (once, distinct) or counted lost.
	seen := map[string]bool{}
	var n uint64
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		for len(ch) > 0 {
			f := <-ch
			seen[aoeaddr.Address{Shelf: f.Shelf, Slot: f.Slot}.String()] = true
		}
		n = c.Stats().Dropped
		if len(seen)+int(n) >= 10000 || time.Now().After(deadline) {
			break
		}
	}
	if n == 0 {
		t.Fatalf("Stats().Dropped = 0: want the frames the full queues lost")
	}
	if len(seen)+int(n) != 10000 {
		t.Fatalf("%d delivered + %d counted lost = %d, want 10000", len(seen), n, len(seen)+int(n))
	}
}
