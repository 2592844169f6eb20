package initiator_test

import (
	"bytes"
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/goaoe/aoe/initiator"
	"github.com/goaoe/aoe/initiator/aoetest"
	"github.com/goaoe/aoe/initiator/wire"
)

// aheadClock is a clock an hour ahead of real time that counts its reads:
// a "now" read from time.Now instead of it would be an hour off, and
// timeouts, deadlines and round trips computed across the two would show.
type aheadClock struct{ reads atomic.Int64 }

func (c *aheadClock) now() time.Time {
	c.reads.Add(1)
	return time.Now().Add(time.Hour)
}

func TestInjectedClocks(t *testing.T) {
	nw := &aoetest.Network{}
	tg := diskTarget(1<<20, 1500)
	nw.Serve(t, tg)
	var cc, gc, dc aheadClock
	c := nw.ClientWith(t, "a0", hostA, 1500, &initiator.Config{Now: cc.now})

	r, err := c.QueryConfig(context.Background(), initiator.Target{MAC: tg.MAC, Shelf: tg.Shelf, Slot: tg.Slot}, &wire.ConfigArg{})
	if err != nil {
		t.Fatal(err)
	}
	if cc.reads.Load() == 0 || r.RTT < 0 || r.RTT > time.Minute {
		t.Fatalf("client clock read %d times, RTT %v", cc.reads.Load(), r.RTT)
	}

	g := initiator.NewGroup(c)
	g.Clock = gc.now
	fixed := time.Unix(1e9, 0)
	g.RTTClock = func() time.Time { return fixed }
	answers, err := g.QueryConfig(context.Background(), initiator.EveryTarget, &wire.ConfigArg{},
		initiator.CollectOptions{Timeout: time.Second, Quiet: 50 * time.Millisecond}, nil)
	if err != nil || len(answers) != 1 {
		t.Fatalf("answers %v, err %v", answers, err)
	}
	if gc.reads.Load() == 0 || answers[0].RTT != 0 {
		t.Fatalf("schedule clock read %d times, RTT %v (want 0 from the fixed RTT clock)", gc.reads.Load(), answers[0].RTT)
	}

	d := openDisk(t, tg, initiator.DiskOptions{Now: dc.now, Deadline: 5 * time.Second}, c)
	want := bytes.Repeat([]byte{0x5a}, 64<<10)
	if _, err := d.WriteAt(want, 4096); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(want))
	if _, err := d.ReadAt(got, 4096); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("read back differs")
	}
	if dc.reads.Load() == 0 {
		t.Fatal("the disk never read its clock")
	}
}
