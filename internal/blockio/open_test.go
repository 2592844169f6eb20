package blockio_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/goaoe/aoe/initiator"
	"github.com/goaoe/aoe/initiator/aoetest"
	"github.com/goaoe/aoe/internal/blockio"
)

// TestOpenSettle: once every interface has an answer, Open waits
// Settle for the other ports, not the broadcast's quiet time: a second
// port of the disk that answers long after the first (a delay far
// beyond the default settle time, within the quiet time) is used
// only with Settle < 0; with Target set, only that port is waited for.
func TestOpenSettle(t *testing.T) {
	const late = 300 * time.Millisecond
	fast := net.HardwareAddr{0x02, 0, 0, 0, 0, 1}
	slow := net.HardwareAddr{0x02, 0, 0, 0, 0, 2}
	for _, tc := range []struct {
		name   string
		settle time.Duration
		target net.HardwareAddr
		want   int
	}{
		{"default", 0, nil, 1},
		{"quiet time", -1, nil, 2},
		{"target", 0, fast, 1},
		{"late target", 0, slow, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			disk := make([]byte, 64*512)
			nw := &aoetest.Network{}
			nw.Serve(t, &aoetest.Target{Shelf: 1, Slot: 2, MAC: fast, BufferCount: 16, MTU: 1500, Sectors: 64, Model: "m", Serial: "s", Disk: disk})
			nw.ServeHostile(t, &aoetest.Hostile{Target: &aoetest.Target{Shelf: 1, Slot: 2, MAC: slow, BufferCount: 16, MTU: 1500, Sectors: 64, Model: "m", Serial: "s", Disk: disk}, Delay: late})
			g := initiator.NewGroup(nw.Client(t, "eth0", net.HardwareAddr{0x02, 0, 0, 0, 1, 1}, 1500))
			tg, err := blockio.Open(context.Background(), g, 1, 2, blockio.OpenOptions{Timeout: 5 * time.Second, Settle: tc.settle, Target: tc.target})
			if err != nil {
				t.Fatal(err)
			}
			defer tg.Close()
			if len(tg.Paths) != tc.want {
				t.Fatalf("%d paths, want %d: %v", len(tg.Paths), tc.want, tg.Paths)
			}
			if tc.target != nil && tg.Paths[0].MAC.String() != tc.target.String() {
				t.Errorf("path to %s, want %s", tg.Paths[0].MAC, tc.target)
			}
		})
	}
}
