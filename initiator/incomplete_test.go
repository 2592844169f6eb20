package initiator_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/goaoe/aoe/initiator"
	"github.com/goaoe/aoe/initiator/aoetest"
	"github.com/goaoe/aoe/initiator/wire"
	"github.com/mdlayher/packet"
)

// TestCollectCap: a flood of answers from new addresses ends the exchange
// at MaxReplies, with the replies kept and an *IncompleteError.
func TestCollectCap(t *testing.T) {
	var nw aoetest.Network
	nw.ServeHostile(t, &aoetest.Hostile{Flood: 500})
	c := nw.Client(t, "test0", net.HardwareAddr{0x52, 0x54, 0, 0, 0, 1}, 1500)
	g := initiator.NewGroup(c)
	opts := fastCollect
	opts.MaxReplies = 100
	got, err := g.QueryConfig(context.Background(), initiator.EveryTarget, &wire.ConfigArg{}, opts, nil)
	var ie *initiator.IncompleteError
	if !errors.As(err, &ie) || !ie.Truncated || ie.Max != 100 || len(got) != 100 {
		t.Fatalf("got %d replies, %v", len(got), err)
	}
	// Under the cap: complete. (The flood answers each copy of the
	// broadcast from new addresses: one copy.)
	opts.MaxReplies, opts.Resend = 100000, []time.Duration{}
	var nw2 aoetest.Network
	nw2.ServeHostile(t, &aoetest.Hostile{Flood: 300})
	got, err = initiator.NewGroup(nw2.Client(t, "test0", net.HardwareAddr{0x52, 0x54, 0, 0, 0, 1}, 1500)).QueryConfig(context.Background(), initiator.EveryTarget, &wire.ConfigArg{}, opts, nil)
	if err != nil || len(got) != 300 {
		t.Fatalf("got %d replies, %v", len(got), err)
	}
}

// lossyConn is a port whose receive buffer reports lost frames.
type lossyConn struct {
	*aoetest.Port
	drops uint32
}

func (c *lossyConn) Stats() (*packet.Stats, error) {
	d := c.drops
	c.drops = 0
	return &packet.Stats{Drops: d}, nil
}

// TestCollectDropped: frames lost in the receive buffer during the
// exchange make it incomplete; those lost before do not.
func TestCollectDropped(t *testing.T) {
	var nw aoetest.Network
	nw.Serve(t, newTarget(1, 2, net.HardwareAddr{2, 0xae, 0, 0, 0, 1}))
	mac := net.HardwareAddr{0x52, 0x54, 0, 0, 0, 1}
	conn := &lossyConn{Port: nw.Port(mac), drops: 7} // lost before the exchange
	c := initiator.New(initiator.Interface{Name: "test0", MAC: mac, MTU: 1500}, conn, nil)
	t.Cleanup(func() { c.Close() })
	g := initiator.NewGroup(c)
	got, err := g.QueryConfig(context.Background(), initiator.EveryTarget, &wire.ConfigArg{}, fastCollect, func(initiator.ConfigReply) bool {
		conn.drops = 3 // lost during it
		return false
	})
	var ie *initiator.IncompleteError
	if !errors.As(err, &ie) || ie.Truncated || ie.Dropped != 3 || len(got) != 1 {
		t.Fatalf("got %d replies, %v", len(got), err)
	}
	if got, err := g.QueryConfig(context.Background(), initiator.EveryTarget, &wire.ConfigArg{}, fastCollect, nil); err != nil || len(got) != 1 {
		t.Fatalf("a clean exchange: %d, %v", len(got), err)
	}
}
