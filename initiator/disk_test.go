package initiator_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	mrand "math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/goaoe/aoe/initiator"
	"github.com/goaoe/aoe/initiator/aoetest"
	"github.com/goaoe/aoe/initiator/wire"
)

var (
	tgtMAC = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x10}
	hostA  = net.HardwareAddr{0x02, 0, 0, 0, 0, 0xa1}
	hostB  = net.HardwareAddr{0x02, 0, 0, 0, 0, 0xb1}
)

// diskTarget returns a fake target with size bytes of random content.
func diskTarget(size int, mtu int) *aoetest.Target {
	b := make([]byte, size)
	rand.Read(b)
	return &aoetest.Target{Shelf: 3, Slot: 4, MAC: tgtMAC, BufferCount: 8, MTU: mtu, Sectors: uint64(size / 512),
		Model: "fake", Serial: "s1", Disk: b}
}

// paths asks each client for the target's config and returns the paths.
func paths(t *testing.T, tg *aoetest.Target, clients ...*initiator.Client) []initiator.DiskPath {
	t.Helper()
	var out []initiator.DiskPath
	for _, c := range clients {
		f, err := initiator.RoundTrip(c, context.Background(), &wire.Frame{Destination: tg.MAC, Shelf: tg.Shelf, Slot: tg.Slot,
			Command: wire.CommandQueryConfig, Arg: &wire.ConfigArg{}})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, initiator.DiskPath{Client: c, MAC: tg.MAC, Config: f.Arg.(*wire.ConfigArg)})
	}
	return out
}

func openDisk(t *testing.T, tg *aoetest.Target, opts initiator.DiskOptions, clients ...*initiator.Client) *initiator.Disk {
	t.Helper()
	d, err := initiator.OpenDisk(context.Background(), tg.Shelf, tg.Slot, paths(t, tg, clients...), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func lossy(percent int) func([]byte, net.HardwareAddr) bool {
	var mu sync.Mutex
	r := mrand.New(mrand.NewPCG(1, 2))
	return func([]byte, net.HardwareAddr) bool {
		mu.Lock()
		defer mu.Unlock()
		return r.IntN(100) < percent
	}
}

func TestDiskReadWrite(t *testing.T) {
	for _, loss := range []int{0, 10} {
		nw := &aoetest.Network{}
		tg := diskTarget(4<<20, 9000)
		nw.Serve(t, tg)
		a := nw.Client(t, "a0", hostA, 9000)
		b := nw.Client(t, "b0", hostB, 1500)
		d := openDisk(t, tg, initiator.DiskOptions{MinRTO: time.Millisecond}, a, b)
		nw.Drop = lossy(loss)
		if d.Size() != 4<<20 {
			t.Fatalf("size %d", d.Size())
		}
		got := make([]byte, d.Size())
		if n, err := d.ReadAt(got, 0); n != len(got) || err != nil {
			t.Fatalf("read: %d, %v", n, err)
		}
		if !bytes.Equal(got, tg.Disk) {
			t.Fatal("read differs from the disk")
		}
		// Unaligned reads and writes.
		want := bytes.Clone(tg.Disk)
		for i := range 50 {
			off := int64(mrand.IntN(int(d.Size()) - 70000))
			n := mrand.IntN(70000) + 1
			if i%2 == 0 {
				p := make([]byte, n)
				rand.Read(p)
				if _, err := d.WriteAt(p, off); err != nil {
					t.Fatal(err)
				}
				copy(want[off:], p)
				continue
			}
			p := make([]byte, n)
			if _, err := d.ReadAt(p, off); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(p, want[off:off+int64(n)]) {
				t.Fatalf("loss %d%%: read of %d at %d differs", loss, n, off)
			}
		}
		if err := d.Sync(); err != nil {
			t.Fatal(err)
		}
		nw.Drop = nil
		st := d.PathStats()
		if len(st) != 2 || st[0].Sectors != 17 || st[1].Sectors != 2 || st[0].Frames == 0 || st[1].Frames == 0 {
			t.Errorf("paths %+v", st)
		}
		if loss > 0 && st[0].Retransmits+st[1].Retransmits == 0 {
			t.Errorf("no retransmissions under loss: %+v", st)
		}
		// EOF at the end.
		p := make([]byte, 1000)
		if n, err := d.ReadAt(p, d.Size()-500); n != 500 || err != io.EOF {
			t.Errorf("read across the end: %d, %v", n, err)
		}
		if _, err := d.WriteAt(p, d.Size()-500); !errors.Is(err, io.ErrShortWrite) {
			t.Errorf("write across the end: %v", err)
		}
	}
}

// TestDiskPathDies: one of two paths goes silent mid-transfer; the
// transfer finishes on the other.
func TestDiskPathDies(t *testing.T) {
	nw1, nw2 := &aoetest.Network{}, &aoetest.Network{}
	tg := diskTarget(8<<20, 1500)
	nw1.Serve(t, tg)
	nw2.Serve(t, tg)
	a := nw1.Client(t, "a0", hostA, 1500)
	b := nw2.Client(t, "b0", hostB, 1500)
	d := openDisk(t, tg, initiator.DiskOptions{MinRTO: time.Millisecond}, a, b)
	count := 0
	var mu sync.Mutex
	nw2.Drop = func([]byte, net.HardwareAddr) bool {
		mu.Lock()
		defer mu.Unlock()
		count++
		return count > 500
	}
	got := make([]byte, d.Size())
	if _, err := d.ReadAt(got, 0); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, tg.Disk) {
		t.Fatal("read differs")
	}
	st := d.PathStats()
	if !st[1].Dead || st[1].Timeouts == 0 {
		t.Errorf("path b not marked dead: %+v", st[1])
	}
}

// TestDiskDeadline: a target that stops answering fails the I/O with
// ErrDeadline, after about the deadline.
func TestDiskDeadline(t *testing.T) {
	nw := &aoetest.Network{}
	tg := diskTarget(1<<20, 1500)
	nw.Serve(t, tg)
	a := nw.Client(t, "a0", hostA, 1500)
	d := openDisk(t, tg, initiator.DiskOptions{Deadline: 300 * time.Millisecond, MinRTO: time.Millisecond}, a)
	nw.Drop = func([]byte, net.HardwareAddr) bool { return true }
	start := time.Now()
	_, err := d.ReadAt(make([]byte, 65536), 0)
	if !errors.Is(err, initiator.ErrDeadline) {
		t.Fatalf("err %v", err)
	}
	if el := time.Since(start); el < 300*time.Millisecond || el > 5*time.Second {
		t.Errorf("failed after %v", el)
	}
}

func TestDiskReadOnly(t *testing.T) {
	nw := &aoetest.Network{}
	tg := diskTarget(1<<20, 1500)
	tg.ReadOnly = true
	nw.Serve(t, tg)
	d := openDisk(t, tg, initiator.DiskOptions{}, nw.Client(t, "a0", hostA, 1500))
	_, err := d.WriteAt(make([]byte, 4096), 0)
	var ae *wire.ATAError
	if !errors.As(err, &ae) || !ae.Aborted() {
		t.Fatalf("err %v", err)
	}
	t.Log(err)
}

// TestDiskWrongReplies: replies with the wrong data length, from the wrong
// MAC, or late duplicates never fill a buffer.
func TestDiskWrongReplies(t *testing.T) {
	nw := &aoetest.Network{}
	tg := diskTarget(1<<20, 1500)
	evil := net.HardwareAddr{0x02, 0, 0, 0, 0, 0x66}
	port := nw.Port(tgtMAC)
	evilPort := nw.Port(evil)
	t.Cleanup(func() { port.Close(); evilPort.Close() })
	go func() {
		buf := make([]byte, 1<<16)
		n := 0
		for {
			k, _, err := port.ReadFrom(buf)
			if err != nil {
				return
			}
			rep := tg.Handle(buf[:k])
			if rep == nil {
				continue
			}
			n++
			// A forged reply with garbage from another MAC, first.
			forged := bytes.Clone(rep)
			copy(forged[6:12], evil)
			for i := 36; i < len(forged); i++ {
				forged[i] = 0xee
			}
			evilPort.WriteTo(forged, nil)
			switch n % 3 {
			case 0: // a short reply: the data cut
				if len(rep) > 100 {
					port.WriteTo(rep[:100], nil)
					continue
				}
			case 1: // duplicated
				port.WriteTo(rep, nil)
			}
			port.WriteTo(rep, nil)
		}
	}()
	d := openDisk(t, tg, initiator.DiskOptions{MinRTO: time.Millisecond}, nw.Client(t, "a0", hostA, 1500))
	got := make([]byte, d.Size())
	if _, err := d.ReadAt(got, 0); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, tg.Disk) {
		t.Fatal("read differs")
	}
}

// TestDiskReorder: frames delivered out of order (a quarter held back and
// delivered after later ones) and duplicated still give exact data.
func TestDiskReorder(t *testing.T) {
	nw := &aoetest.Network{}
	tg := diskTarget(4<<20, 9000)
	nw.Serve(t, tg)
	c := nw.Client(t, "a0", hostA, 9000)
	d := openDisk(t, tg, initiator.DiskOptions{MinRTO: 20 * time.Millisecond}, c)
	inj := nw.Port(net.HardwareAddr{0x02, 0, 0, 0, 0, 0x77})
	t.Cleanup(func() { inj.Close() })
	var mu sync.Mutex
	reinjecting := map[string]bool{}
	r := mrand.New(mrand.NewPCG(3, 4))
	nw.Drop = func(b []byte, to net.HardwareAddr) bool {
		mu.Lock()
		defer mu.Unlock()
		if reinjecting[string(b)] {
			delete(reinjecting, string(b))
			return false
		}
		switch r.IntN(8) {
		case 0, 1: // held back, delivered a little later (after others)
			f := bytes.Clone(b)
			reinjecting[string(f)] = true
			time.AfterFunc(time.Duration(r.IntN(3000))*time.Microsecond, func() { inj.WriteTo(f, nil) })
			return true
		case 2: // duplicated later
			f := bytes.Clone(b)
			reinjecting[string(f)] = true
			time.AfterFunc(time.Millisecond, func() { inj.WriteTo(f, nil) })
		}
		return false
	}
	want := bytes.Clone(tg.Disk)
	p := make([]byte, 1<<20+3)
	rand.Read(p)
	if _, err := d.WriteAt(p, 12345); err != nil {
		t.Fatal(err)
	}
	copy(want[12345:], p)
	got := make([]byte, d.Size())
	if _, err := d.ReadAt(got, 0); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("read under reordering differs")
	}
}

// TestDiskJumboPathDies: the jumbo path (17 sectors a frame) goes silent
// mid-transfer; its frames are split onto the 1500-byte path (2 sectors).
func TestDiskJumboPathDies(t *testing.T) {
	nw1, nw2 := &aoetest.Network{}, &aoetest.Network{}
	tg := diskTarget(4<<20, 9000)
	nw1.Serve(t, tg)
	nw2.Serve(t, tg)
	a := nw1.Client(t, "j0", hostA, 9000)
	b := nw2.Client(t, "s0", hostB, 1500)
	d := openDisk(t, tg, initiator.DiskOptions{MinRTO: time.Millisecond, Deadline: 20 * time.Second}, a, b)
	var mu sync.Mutex
	count := 0
	nw1.Drop = func([]byte, net.HardwareAddr) bool {
		mu.Lock()
		defer mu.Unlock()
		count++
		return count > 200
	}
	got := make([]byte, d.Size())
	if _, err := d.ReadAt(got, 0); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, tg.Disk) {
		t.Fatal("read differs")
	}
	for _, s := range d.PathStats() {
		if s.Interface == "j0" && !s.Dead || s.Interface == "s0" && s.Frames < 1000 {
			t.Errorf("%+v", s)
		}
	}
}
