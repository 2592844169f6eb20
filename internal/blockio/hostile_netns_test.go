package blockio_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/mdlayher/packet"

	"github.com/goaoe/aoe/initiator"
	"github.com/goaoe/aoe/initiator/aoetest"
	"github.com/goaoe/aoe/initiator/wire"
	"github.com/goaoe/aoe/internal/aoelab"
	"github.com/goaoe/aoe/internal/blockio"
)

// serveHostile serves h on a packet socket on ifname in namespace ns,
// its target's MAC the interface's, until the test ends.
func serveHostile(t *testing.T, lab *aoelab.Lab, ns, ifname string, h *aoetest.Hostile) {
	t.Helper()
	var conn *packet.Conn
	lab.Do(ns, func() {
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			t.Fatal(err)
		}
		h.Target.MAC = ifi.HardwareAddr
		if conn, err = packet.Listen(ifi, packet.Raw, wire.EtherType, nil); err != nil {
			t.Fatal(err)
		}
	})
	done := make(chan struct{})
	go func() { defer close(done); h.Serve(conn) }()
	t.Cleanup(func() { conn.Close(); <-done })
}

// TestHostileSocket: the hostile kit's target over real packet sockets,
// where the replies' data lands straight in the reads' buffers
// (placement) before any check: a target that sends, before a fifth of
// its replies, a decoy under the same tag (the next LBA's reply, its data
// and its LBA) while it loses, duplicates and reorders others is read
// exactly at MTU 1500 and 9000, on one path and on two; one that always
// echoes a wrong LBA fails the read, and the bytes read before the
// failure are the disk's.
func TestHostileSocket(t *testing.T) {
	lab := aoelab.NewLab(t)
	tgt, ini := lab.Namespace("tgt"), lab.Namespace("ini")
	lab.Veth(tgt, "t0", ini, "i0", 1500)
	lab.Veth(tgt, "t1", ini, "i1", 9000)
	const sectors = 16 << 11 // 16 MiB
	disk := make([]byte, sectors*512)
	rand.Read(disk)
	for _, tc := range []struct {
		name   string
		ifaces []string
		wrong  bool
	}{
		{"1500", []string{"i0"}, false},
		{"9000", []string{"i1"}, false},
		{"two paths", []string{"i0", "i1"}, false},
		{"wrong LBA", []string{"i1"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for i, name := range []string{"t0", "t1"} {
				tg := &aoetest.Target{Shelf: 5, Slot: 5, BufferCount: 16, MTU: []int{1500, 9000}[i], Sectors: sectors,
					Model: "hostile", Serial: "h-1", MaxMasks: 4, Disk: disk}
				h := &aoetest.Hostile{Target: tg, Seed: uint64(i + 1), DecoyRate: 0.2, DropRate: 0.01, DupRate: 0.02, ReorderRate: 0.05}
				if tc.wrong {
					h = &aoetest.Hostile{Target: tg, WrongLBA: 8}
				}
				serveHostile(t, lab, tgt, name, h)
			}
			d, clients := openClients(t, lab, ini, "socket", 5, 5, initiator.DiskOptions{}, tc.ifaces...)
			var got bytes.Buffer
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			_, err := blockio.ReadTo(ctx, d, 0, int64(len(disk)), &got, nil)
			if !bytes.Equal(got.Bytes(), disk[:got.Len()]) {
				t.Fatalf("%d bytes read, not all the disk's", got.Len())
			}
			if tc.wrong {
				if err == nil || !strings.Contains(err.Error(), "wrong LBA") {
					t.Fatalf("read: %v, want a wrong LBA", err)
				}
				return
			}
			if err != nil || got.Len() != len(disk) {
				t.Fatalf("read %d bytes: %v", got.Len(), err)
			}
			for _, c := range clients {
				st := c.Stats()
				t.Logf("%s: %d replies' data read into place, %d refused", c.Interface().Name, st.Placed, st.BadATA)
				if st.Placed == 0 || st.BadATA == 0 {
					t.Errorf("%s: %d replies placed, %d refused: the test did not test", c.Interface().Name, st.Placed, st.BadATA)
				}
			}
		})
	}
}
