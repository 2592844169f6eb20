package initiator_test

import (
	"context"
	"errors"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/goaoe/aoe/initiator"
	"github.com/goaoe/aoe/initiator/aoeaddr"
	"github.com/goaoe/aoe/initiator/aoetest"
	"github.com/goaoe/aoe/initiator/wire"
	"github.com/goaoe/aoe/internal/ata"
	"golang.org/x/net/bpf"
)

var (
	hostMAC   = net.HardwareAddr{0x52, 0x54, 0x00, 0xae, 0x00, 0x01}
	targetMAC = net.HardwareAddr{0x02, 0xae, 0x00, 0x00, 0x01, 0x02}
)

// setup returns a client on a fresh segment with the given targets serving.
func setup(t *testing.T, targets ...*aoetest.Target) (*initiator.Client, *aoetest.Network) {
	t.Helper()
	nw := &aoetest.Network{}
	c := nw.Client(t, "test0", hostMAC, 1500)
	for _, tg := range targets {
		nw.Serve(t, tg)
	}
	return c, nw
}

func newTarget(shelf uint16, slot uint8, mac net.HardwareAddr) *aoetest.Target {
	return &aoetest.Target{Shelf: shelf, Slot: slot, MAC: mac, BufferCount: 16, Sectors: 2097152,
		Model: "Coraid EtherDrive vblade", Serial: aoeaddr.Address{Shelf: shelf, Slot: slot}.String()[1:] + ":test"}
}

func identify(shelf uint16, slot uint8, mac net.HardwareAddr) *wire.Frame {
	return &wire.Frame{Destination: mac, Shelf: shelf, Slot: slot, Command: wire.CommandATA, Arg: wire.NewIdentify()}
}

func TestRequestIdentify(t *testing.T) {
	c, _ := setup(t, newTarget(1, 2, targetMAC))
	f, err := initiator.RoundTrip(c, context.Background(), identify(1, 2, targetMAC))
	if err != nil {
		t.Fatal(err)
	}
	if f.Tag&initiator.TagUserspace == 0 {
		t.Errorf("tag %#x lacks bit 31", f.Tag)
	}
	id, err := wire.ParseIdentify(f.Arg.(*wire.ATAArg).Data)
	if err != nil || id.Sectors() != 2097152 || id.Serial != "1.2:test" {
		t.Errorf("identity %+v %v", id, err)
	}
}

func TestBroadcastCollectsEveryTarget(t *testing.T) {
	var targets []*aoetest.Target
	for i := range 5 {
		targets = append(targets, newTarget(uint16(i), 0, net.HardwareAddr{2, 0, 0, 0, 0, byte(i)}))
	}
	c, _ := setup(t, targets...)
	replies, resend, stop, err := initiator.Broadcast(c, &wire.Frame{Shelf: aoeaddr.BroadcastShelf, Slot: aoeaddr.BroadcastSlot,
		Command: wire.CommandQueryConfig, Arg: &wire.ConfigArg{}})
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if err := resend(); err != nil {
		t.Fatal(err)
	}
	seen := map[uint16]int{}
	for len(seen) < 5 || total(seen) < 10 {
		select {
		case f := <-replies:
			seen[f.Shelf]++
		case <-time.After(5 * time.Second):
			t.Fatalf("replies %v", seen)
		}
	}
	for shelf, n := range seen {
		if n != 2 {
			t.Errorf("shelf %d answered %d times, want 2 (one per copy)", shelf, n)
		}
	}
}

func total(m map[uint16]int) (n int) {
	for _, v := range m {
		n += v
	}
	return n
}

func TestRetransmitAfterLoss(t *testing.T) {
	c, nw := setup(t, newTarget(1, 2, targetMAC))
	var lost atomic.Int32
	nw.Drop = func(frame []byte, to net.HardwareAddr) bool {
		// lose the first two requests to the target
		return to.String() == targetMAC.String() && lost.Add(1) <= 2
	}
	if _, err := initiator.RoundTrip(c, context.Background(), identify(1, 2, targetMAC)); err != nil {
		t.Fatal(err)
	}
	if s := c.Stats(); s.Retransmits != 2 || s.Sent != 3 {
		t.Errorf("stats %+v", s)
	}
}

func TestTimeout(t *testing.T) {
	tg := newTarget(1, 2, targetMAC)
	tg.Silent = true
	c, _ := setup(t, tg)
	initiator.Tune(c, func(k *initiator.Config) { k.RTO, k.Retries = time.Millisecond, 3 })
	_, err := initiator.RoundTrip(c, context.Background(), identify(1, 2, targetMAC))
	if !errors.Is(err, initiator.ErrTimeout) {
		t.Fatalf("err %v", err)
	}
	if s := c.Stats(); s.Sent != 4 {
		t.Errorf("sent %d, want 4", s.Sent)
	}
}

func TestErrorReply(t *testing.T) {
	c, _ := setup(t, newTarget(1, 2, targetMAC))
	req := &wire.Frame{Destination: targetMAC, Shelf: 1, Slot: 2, Command: 5}
	f, err := initiator.RoundTrip(c, context.Background(), req)
	if !errors.Is(err, wire.ErrUnrecognizedCommand) || f == nil || !f.Error {
		t.Errorf("reply %+v, err %v", f, err)
	}
}

// manualTarget is a port the test answers by hand.
func manualTarget(t *testing.T, nw *aoetest.Network) (<-chan wire.Frame, func(wire.Frame, ...func([]byte) []byte)) {
	p := nw.Port(targetMAC)
	t.Cleanup(func() { p.Close() })
	reqs := make(chan wire.Frame, 100)
	go func() {
		buf := make([]byte, 1<<16)
		for {
			n, _, err := p.ReadFrom(buf)
			if err != nil {
				return
			}
			var f wire.Frame
			if f.UnmarshalBinary(buf[:n]) == nil {
				reqs <- f
			}
		}
	}()
	reply := func(req wire.Frame, mangle ...func([]byte) []byte) {
		rep := req
		rep.Destination, rep.Source, rep.Response = req.Source, targetMAC, true
		if a, ok := rep.Arg.(*wire.ATAArg); ok {
			a.CmdStatus = ata.StatusDRDY
		}
		b, err := rep.MarshalBinary()
		if err != nil {
			t.Error(err)
			return
		}
		for _, m := range mangle {
			b = m(b)
		}
		p.WriteTo(b, nil)
	}
	return reqs, reply
}

func TestMatchingRejectsWrongReplies(t *testing.T) {
	nw := &aoetest.Network{}
	c := initiator.New(initiator.Interface{Name: "test0", MAC: hostMAC, MTU: 1500}, nw.Port(hostMAC), &initiator.Config{RTO: time.Second})
	defer c.Close()
	reqs, reply := manualTarget(t, nw)
	done := make(chan error, 1)
	go func() {
		_, err := initiator.RoundTrip(c, context.Background(), identify(1, 2, targetMAC))
		done <- err
	}()
	req := <-reqs
	reply(req, func(b []byte) []byte { b[20] ^= 0x01; return b })                           // wrong tag
	reply(req, func(b []byte) []byte { b[18] = 3; return b })                               // wrong slot
	reply(req, func(b []byte) []byte { b[19] = 1; return b })                               // wrong command
	reply(req, func(b []byte) []byte { copy(b[6:12], []byte{2, 9, 9, 9, 9, 9}); return b }) // wrong source
	reply(req, func(b []byte) []byte { return b[:20] })                                     // malformed
	reply(req, func(b []byte) []byte { b[14] = 0x10; return b })                            // a request, not a reply
	select {
	case err := <-done:
		t.Fatalf("a wrong reply completed the request: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	reply(req)
	reply(req) // duplicate
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	reply(req) // late
	time.Sleep(50 * time.Millisecond)
	s := c.Stats()
	if s.Matched != 1 || s.Malformed != 2 || s.Unmatched != 5 {
		t.Errorf("stats %+v", s)
	}
}

func TestWindow(t *testing.T) {
	nw := &aoetest.Network{}
	c := initiator.New(initiator.Interface{Name: "test0", MAC: hostMAC, MTU: 1500}, nw.Port(hostMAC), &initiator.Config{RTO: 10 * time.Second})
	defer c.Close()
	initiator.SetWindow(c, targetMAC, 2)
	reqs, reply := manualTarget(t, nw)
	var wg sync.WaitGroup
	for range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := initiator.RoundTrip(c, context.Background(), identify(1, 2, targetMAC)); err != nil {
				t.Error(err)
			}
		}()
	}
	var held []wire.Frame
	for len(held) < 2 {
		held = append(held, <-reqs)
	}
	select {
	case f := <-reqs:
		t.Fatalf("a third request (tag %#x) went out with a window of 2", f.Tag)
	case <-time.After(100 * time.Millisecond):
	}
	answered := 0
	for answered < 5 {
		reply(held[0])
		held = held[1:]
		answered++
		if answered <= 3 {
			held = append(held, <-reqs)
		}
	}
	wg.Wait()
}

func TestCancelAndClose(t *testing.T) {
	tg := newTarget(1, 2, targetMAC)
	tg.Silent = true
	c, _ := setup(t, tg)
	initiator.Tune(c, func(k *initiator.Config) { k.RTO = time.Hour })
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(20 * time.Millisecond); cancel() }()
	if _, err := initiator.RoundTrip(c, ctx, identify(1, 2, targetMAC)); !errors.Is(err, context.Canceled) {
		t.Errorf("cancel: %v", err)
	}
	done := make(chan error)
	go func() {
		_, err := initiator.RoundTrip(c, context.Background(), identify(1, 2, targetMAC))
		done <- err
	}()
	time.Sleep(20 * time.Millisecond)
	c.Close()
	if err := <-done; !errors.Is(err, net.ErrClosed) {
		t.Errorf("close: %v", err)
	}
	if _, err := initiator.RoundTrip(c, context.Background(), identify(1, 2, targetMAC)); !errors.Is(err, net.ErrClosed) {
		t.Errorf("after close: %v", err)
	}
}

func TestUniqueTags(t *testing.T) {
	c, _ := setup(t, newTarget(1, 2, targetMAC))
	initiator.SetWindow(c, targetMAC, 16)
	var mu sync.Mutex
	tags := map[uint32]bool{}
	var wg sync.WaitGroup
	for range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f, err := initiator.RoundTrip(c, context.Background(), identify(1, 2, targetMAC))
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			if tags[f.Tag] {
				t.Errorf("tag %#x used twice", f.Tag)
			}
			tags[f.Tag] = true
			mu.Unlock()
		}()
	}
	wg.Wait()
}

func TestResponseFilter(t *testing.T) {
	vm, err := bpf.NewVM(initiator.ResponseFilter(-1))
	if err != nil {
		t.Fatal(err)
	}
	read := func(name string) []byte {
		b, err := os.ReadFile("wire/testdata/frames/" + name)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	resp := read("eth0--qc-response-e1.2.bin")
	kernel := append([]byte(nil), resp...)
	kernel[20] = 0x00 // a reply to the kernel driver (tag bit 31 clear)
	ipv4 := append([]byte(nil), resp...)
	ipv4[12], ipv4[13] = 0x08, 0x00
	for _, tt := range []struct {
		name  string
		frame []byte
		pass  bool
	}{
		{"our reply", resp, true},
		{"identify reply", read("eth0--ata-identify-response-e1.2.bin"), true},
		{"a request", read("eth0--qc-request.bin"), false},
		{"the kernel's reply", kernel, false},
		{"not AoE", ipv4, false},
		{"truncated", resp[:13], false},
	} {
		n, err := vm.Run(tt.frame)
		if err != nil {
			t.Fatal(err)
		}
		if (n > 0) != tt.pass {
			t.Errorf("%s: filter returned %d", tt.name, n)
		}
	}
	// A client's own filter: its owner byte only.
	owner := int(resp[20] & 0x7f)
	for _, tt := range []struct {
		owner int
		frame []byte
		pass  bool
	}{
		{owner, resp, true},
		{owner ^ 1, resp, false},
		{owner, kernel, false},
		{owner, read("eth0--qc-request.bin"), false},
	} {
		vm, err := bpf.NewVM(initiator.ResponseFilter(tt.owner))
		if err != nil {
			t.Fatal(err)
		}
		if n, err := vm.Run(tt.frame); err != nil || (n > 0) != tt.pass {
			t.Errorf("owner %#x, tag %#x: filter returned %d, %v", tt.owner, tt.frame[20:24], n, err)
		}
	}
}

func TestChosenTag(t *testing.T) {
	c, _ := setup(t, newTarget(1, 2, targetMAC))
	req := identify(1, 2, targetMAC)
	req.Tag = initiator.TagUserspace | 41
	f, err := initiator.RoundTrip(c, context.Background(), req)
	if err != nil || f.Tag != initiator.TagUserspace|41 {
		t.Fatalf("%v %v", f, err)
	}
	_, _, stop, err := initiator.Broadcast(c, &wire.Frame{Shelf: 1, Slot: 2, Tag: initiator.TagUserspace | 7, Command: wire.CommandQueryConfig, Arg: &wire.ConfigArg{}})
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if _, _, _, err := initiator.Broadcast(c, &wire.Frame{Shelf: 1, Slot: 2, Tag: initiator.TagUserspace | 7, Command: wire.CommandQueryConfig, Arg: &wire.ConfigArg{}}); !errors.Is(err, initiator.ErrTagInUse) {
		t.Errorf("second use of a pending tag: %v", err)
	}
}

func TestBackoffCapped(t *testing.T) {
	tg := newTarget(1, 2, targetMAC)
	tg.Silent = true
	c, _ := setup(t, tg)
	initiator.Tune(c, func(k *initiator.Config) { k.RTO, k.MaxRTO, k.Retries = 10*time.Millisecond, 20*time.Millisecond, 6 })
	// Capped, the 7 tries take 10+6*20 = 130 ms and end in ErrTimeout
	// within the budget; uncapped (10+20+...+640 = 1270 ms) the budget
	// would run out first.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if _, err := initiator.RoundTrip(c, ctx, identify(1, 2, targetMAC)); !errors.Is(err, initiator.ErrTimeout) {
		t.Fatalf("err %v, want ErrTimeout (all tries within the budget)", err)
	}
	if s := c.Stats(); s.Sent != 7 {
		t.Errorf("sent %d, want 7", s.Sent)
	}
}
