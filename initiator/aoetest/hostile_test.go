package aoetest

import (
	"bytes"
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/goaoe/aoe/initiator"
	"github.com/goaoe/aoe/initiator/aoeaddr"
	"github.com/goaoe/aoe/initiator/wire"
	"github.com/goaoe/aoe/internal/ata"
)

var (
	iniMAC = net.HardwareAddr{0x02, 0, 0, 0, 0, 1}
	tgtMAC = net.HardwareAddr{0x02, 0, 0, 0, 0, 2}
)

// queryConfig broadcasts one Query Config read (no copy sent again) and
// returns the answers that came within d.
func queryConfig(t *testing.T, c *initiator.Client, d time.Duration) []initiator.ConfigReply {
	t.Helper()
	all := initiator.Target{Shelf: aoeaddr.BroadcastShelf, Slot: aoeaddr.BroadcastSlot}
	got, err := initiator.NewGroup(c).QueryConfig(context.Background(), all, &wire.ConfigArg{},
		initiator.CollectOptions{Timeout: d, Quiet: d, Resend: []time.Duration{}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestHostileSources(t *testing.T) {
	for _, tc := range []struct {
		mode SourceMode
		want net.HardwareAddr
	}{
		{SourceBroadcast, wire.BroadcastMAC},
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
	_, _, err := c.Identify(ctx, initiator.Target{MAC: tgtMAC, Shelf: 1, Slot: 2}, 0)
	if err == nil {
		t.Fatal("the impostor answered IDENTIFY")
	}

	var nw2 Network
	c2 := nw2.Client(t, "eth0", iniMAC, 1500)
	unavailable := wire.ErrorCode(3) // device unavailable
	nw2.ServeHostile(t, &Hostile{Target: &Target{Shelf: 1, Slot: 2, MAC: tgtMAC, BufferCount: 16, Sectors: 8}, ErrorCode: unavailable})
	ctx2, cancel2 := context.WithTimeout(context.Background(), time.Second)
	defer cancel2()
	_, err = c2.QueryConfig(ctx2, initiator.Target{MAC: tgtMAC, Shelf: 1, Slot: 2}, &wire.ConfigArg{})
	if !errors.Is(err, unavailable) {
		t.Fatalf("error flag: got %v, want %v", err, unavailable)
	}
}

// TestHostileATA: each ATA misbehaviour, seen on the wire by a client
// that checks nothing (Client.ATA), and Hold's drops.
func TestHostileATA(t *testing.T) {
	disk := make([]byte, 64*512)
	for i := range disk {
		disk[i] = byte(i / 512)
	}
	read := func(h *Hostile) *wire.ATAArg {
		t.Helper()
		var nw Network
		c := nw.Client(t, "eth0", iniMAC, 1500)
		h.Target = &Target{Shelf: 1, Slot: 2, MAC: tgtMAC, BufferCount: 16, Sectors: 64, Disk: bytes.Clone(disk)}
		nw.ServeHostile(t, h)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		rep, err := c.ATA(ctx, initiator.Target{MAC: tgtMAC, Shelf: 1, Slot: 2}, wire.NewRead(4, 2, true))
		if err != nil && rep == nil {
			t.Fatal(err)
		}
		return rep
	}
	if r := read(&Hostile{}); r.LBA != 4 || len(r.Data) != 1024 || r.Data[0] != 4 || r.SectorCount != 0 {
		t.Errorf("honest: %+v", r)
	}
	if r := read(&Hostile{WrongLBA: 3}); r.LBA != 7 || r.Data[0] != 7 {
		t.Errorf("wrong LBA: lba %d, data of sector %d", r.LBA, r.Data[0])
	}
	if r := read(&Hostile{Short: true}); len(r.Data) != 512 {
		t.Errorf("short: %d bytes", len(r.Data))
	}
	if r := read(&Hostile{Remaining: 2}); r.SectorCount != 2 || len(r.Data) != 1024 {
		t.Errorf("remaining: %+v", r)
	}
	if r := read(&Hostile{Status: ata.StatusDF}); r.CmdStatus != ata.StatusDRDY|ata.StatusDF {
		t.Errorf("status %#x", r.CmdStatus)
	}

	// A write that says sectors remain wrote nothing.
	var nw Network
	c := nw.Client(t, "eth0", iniMAC, 1500)
	tg := &Target{Shelf: 1, Slot: 2, MAC: tgtMAC, BufferCount: 16, Sectors: 64, Disk: make([]byte, 64*512)}
	nw.ServeHostile(t, &Hostile{Target: tg, Remaining: 1})
	rep, err := c.ATA(context.Background(), initiator.Target{MAC: tgtMAC, Shelf: 1, Slot: 2}, newWrite(0, bytes.Repeat([]byte{9}, 512), true))
	if err != nil || rep.SectorCount != 1 || tg.Read(0, 1)[0] != 0 {
		t.Errorf("remaining write: %+v %v, disk %d", rep, err, tg.Read(0, 1)[0])
	}

	// Hold 2 with a delay: of 4 requests at once, 2 are dropped.
	var nw2 Network
	port := nw2.Port(iniMAC)
	defer port.Close()
	h := &Hostile{Target: &Target{Shelf: 1, Slot: 2, MAC: tgtMAC, BufferCount: 64, Sectors: 64}, Hold: 2, Delay: 100 * time.Millisecond}
	nw2.ServeHostile(t, h)
	for i := range 4 {
		b, _ := (&wire.Frame{Destination: tgtMAC, Source: iniMAC, Shelf: 1, Slot: 2, Command: wire.CommandATA, Tag: uint32(i),
			Arg: wire.NewRead(uint64(i), 1, true)}).MarshalBinary()
		port.WriteTo(b, nil)
	}
	for deadline := time.Now().Add(5 * time.Second); h.Sent() < 2 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	if h.Sent() != 2 || h.Dropped() != 2 {
		t.Errorf("hold 2: %d sent, %d dropped", h.Sent(), h.Dropped())
	}
}

// newWrite returns the argument of a WRITE SECTORS (EXT) request carrying
// data, whose length must be a multiple of 512.
func newWrite(lba uint64, data []byte, extended bool) *wire.ATAArg {
	a := &wire.ATAArg{Extended: extended, Write: true, SectorCount: uint8(len(data) / 512), CmdStatus: ata.WriteSectors, Data: data, LBA: lba}
	if extended {
		a.CmdStatus = ata.WriteSectorsExt
	}
	return a
}
