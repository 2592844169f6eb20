package initiator_test

import (
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

var fastCollect = initiator.CollectOptions{Timeout: 10 * time.Second, Quiet: 50 * time.Millisecond, Resend: []time.Duration{20 * time.Millisecond}}

func TestGroupQueryConfig(t *testing.T) {
	a, b := newTarget(1, 2, net.HardwareAddr{2, 0xae, 0, 0, 0, 1}), newTarget(1, 3, net.HardwareAddr{2, 0xae, 0, 0, 0, 2})
	b.SetConfig([]byte("rack-3"))
	c, _ := setup(t, a, b)
	g := initiator.NewGroup(c)
	ctx := context.Background()
	q := func(shelf uint16, slot uint8, ccmd uint8, s string) []initiator.ConfigReply {
		t.Helper()
		got, err := g.QueryConfig(ctx, initiator.Target{Shelf: shelf, Slot: slot}, &wire.ConfigArg{Command: ccmd, String: []byte(s)}, fastCollect, nil)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	every := initiator.Target{Shelf: aoeaddr.BroadcastShelf, Slot: aoeaddr.BroadcastSlot}
	all := q(aoeaddr.BroadcastShelf, aoeaddr.BroadcastSlot, wire.ConfigRead, "")
	if len(all) != 2 || all[0].Interface.Name != "test0" || all[0].Config.BufferCount != 16 {
		t.Errorf("read all: %+v", all)
	}
	// An answer sets the target's window to its buffer count.
	if w := initiator.Window(c, all[0].Target.MAC); w != 16 {
		t.Errorf("window after the answer: %d, want 16", w)
	}
	if got := q(1, 2, wire.ConfigSet, "new"); len(got) != 1 || got[0].Err != nil || string(a.Config()) != "new" {
		t.Errorf("set on an empty string: %+v", got)
	}
	got := q(1, 3, wire.ConfigSet, "other")
	if len(got) != 1 || !errors.Is(got[0].Err, wire.ErrConfigStringPresent) || string(got[0].Config.String) != "rack-3" {
		t.Errorf("set on a set string: %+v", got)
	}
	if got := q(1, 3, wire.ConfigTest, "rack"); len(got) != 0 {
		t.Errorf("test mismatch answered: %+v", got)
	}
	if got := q(aoeaddr.BroadcastShelf, aoeaddr.BroadcastSlot, wire.ConfigTestPrefix, "rack"); len(got) != 1 || got[0].Target.Address().String() != "e1.3" {
		t.Errorf("prefix: %+v", got)
	}
	stopped := 0
	if _, err := g.QueryConfig(ctx, every, &wire.ConfigArg{}, initiator.CollectOptions{Timeout: time.Minute, Quiet: time.Minute}, func(initiator.ConfigReply) bool {
		stopped++
		return true
	}); err != nil || stopped != 1 {
		t.Errorf("stop after the first answer: %d answers, %v", stopped, err)
	}
	if _, err := initiator.NewGroup().QueryConfig(ctx, every, &wire.ConfigArg{}, fastCollect, nil); !errors.Is(err, initiator.ErrNoClients) {
		t.Errorf("no clients: %v", err)
	}
}

func TestOperations(t *testing.T) {
	tg := newTarget(1, 2, targetMAC)
	tg.MaxMasks = 2
	c, _ := setup(t, tg)
	ctx := context.Background()
	to := initiator.Target{MAC: targetMAC, Shelf: 1, Slot: 2}

	if r, err := c.QueryConfig(ctx, to, &wire.ConfigArg{}); err != nil || r.Config.BufferCount != 16 || r.Target.Address().String() != "e1.2" {
		t.Errorf("QueryConfig: %+v %v", r, err)
	}
	set := func(s string) *wire.ConfigArg { return &wire.ConfigArg{Command: wire.ConfigSet, String: []byte(s)} }
	if _, err := c.QueryConfig(ctx, to, set("a")); err != nil || string(tg.Config()) != "a" {
		t.Errorf("set: %v", err)
	}
	if r, err := c.QueryConfig(ctx, to, set("b")); !errors.Is(err, wire.ErrConfigStringPresent) || string(r.Config.String) != "a" {
		t.Errorf("set on a set string: %+v %v", r, err)
	}
	if _, err := c.QueryConfig(ctx, to, &wire.ConfigArg{Command: wire.ConfigTest, String: []byte("a")}); err != nil {
		t.Errorf("test match: %v", err)
	}
	initiator.Tune(c, func(k *initiator.Config) { k.RTO, k.Retries = time.Millisecond, 1 })
	if _, err := c.QueryConfig(ctx, to, &wire.ConfigArg{Command: wire.ConfigTestPrefix, String: []byte("zz")}); !errors.Is(err, initiator.ErrTimeout) {
		t.Errorf("prefix mismatch: %v", err)
	}
	initiator.Tune(c, func(k *initiator.Config) { k.RTO, k.Retries = 20*time.Millisecond, 5 })

	id, data, err := c.Identify(ctx, to, 0)
	if err != nil || id.Sectors() != 2097152 || len(data) != 512 {
		t.Errorf("Identify: %+v, %d bytes, %v", id, len(data), err)
	}
	if id, _, err := c.Identify(ctx, to, 2); err != nil || id.Model != "Coraid EtherDrive vblade" {
		t.Errorf("Identify padded: %v", err)
	}

	other, third := net.HardwareAddr{2, 0, 0, 0, 0, 0xa}, net.HardwareAddr{2, 0, 0, 0, 0, 0xb}
	if l, err := c.Mask(ctx, to, nil); err != nil || len(l) != 0 {
		t.Errorf("Mask read: %v %v", l, err)
	}
	add := func(m net.HardwareAddr) wire.Directive {
		return wire.Directive{Command: wire.DirectiveAdd, MAC: m}
	}
	if l, err := c.Mask(ctx, to, []wire.Directive{add(hostMAC), add(other)}); err != nil || len(l) != 2 {
		t.Errorf("Mask edit: %v %v", l, err)
	}
	var de *wire.DirectiveError
	if _, err := c.Mask(ctx, to, []wire.Directive{add(third)}); !errors.As(err, &de) || de.Index != 0 || de.Code != wire.MaskListFull {
		t.Errorf("Mask edit on a full list: %v", err)
	}

	if l, err := c.Reserve(ctx, to, wire.ReserveForceSet, []net.HardwareAddr{other}); err != nil || len(l) != 1 {
		t.Errorf("Reserve: %v %v", l, err)
	}
	if l, err := c.Reserve(ctx, to, wire.ReserveSet, nil); !errors.Is(err, wire.ErrTargetReserved) || len(l) != 1 || l[0].String() != other.String() {
		t.Errorf("Release of another's reservation: %v %v", l, err)
	}
	if l, err := c.Reserve(ctx, to, wire.ReserveForceSet, nil); err != nil || len(l) != 0 {
		t.Errorf("forced Release: %v %v", l, err)
	}
	if l, err := c.Reserve(ctx, to, wire.ReserveRead, []net.HardwareAddr{other}); err != nil || len(l) != 0 {
		t.Errorf("Reserve read: %v %v", l, err)
	}
}

func TestATAError(t *testing.T) {
	tg := newTarget(1, 2, targetMAC)
	c, _ := setup(t, tg)
	to := initiator.Target{MAC: targetMAC, Shelf: 1, Slot: 2}
	// SMART on a target without it: aborted.
	arg := &wire.ATAArg{FeatureErr: 0xda, CmdStatus: ata.Smart}
	rep, err := c.ATA(context.Background(), to, arg)
	var ae *wire.ATAError
	if !errors.As(err, &ae) || rep == nil || ae.Err&ata.ErrAbort == 0 {
		t.Errorf("%+v %v", rep, err)
	}
}
