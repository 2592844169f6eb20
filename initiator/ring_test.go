package initiator_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/goaoe/aoe/initiator"
	"github.com/goaoe/aoe/initiator/aoetest"
	"github.com/goaoe/aoe/initiator/wire"
	"github.com/goaoe/aoe/internal/aoelab"
)

// The receive ring (Config.Receive "ring") and the socket reader get the
// same tests, over real packet sockets in network namespaces (root): the
// fake network of the other tests is no socket, and reads one frame at a
// time whatever Receive says.

// receives are the two ways a client reads a packet socket.
var receives = []string{"ring", "socket"}

// labSegment makes a lab with an initiator namespace (interface a0) and a
// target namespace (t0) joined at mtu; it returns the lab and the two
// namespaces.
func labSegment(t *testing.T, mtu int) (lab *aoelab.Lab, ini, tgt string) {
	t.Helper()
	lab = aoelab.NewLab(t)
	tgt, ini = lab.Namespace("tgt"), lab.Namespace("ini")
	lab.Veth(tgt, "t0", ini, "a0", mtu)
	return lab, ini, tgt
}

// labClient opens a client on a0 in ns, reading its socket as recv says,
// and checks that it does.
func labClient(t *testing.T, lab *aoelab.Lab, ns, recv string) *initiator.Client {
	t.Helper()
	var c *initiator.Client
	lab.Do(ns, func() {
		var err error
		if c, err = initiator.NewClient("a0", &initiator.Config{Receive: recv}); err != nil {
			t.Fatal(err)
		}
	})
	t.Cleanup(func() { c.Close() })
	if got := c.Stats().Receive; got != recv {
		t.Fatalf("the client reads by %q, want %q", got, recv)
	}
	if rs := initiator.RingSlots(c); (rs > 0) != (recv == "ring") {
		t.Fatalf("%s: ring of %d slots", recv, rs)
	}
	return c
}

// TestReceiveHostile is TestDiskHostile over a real packet socket, read
// from its ring and from the socket.
func TestReceiveHostile(t *testing.T) {
	for _, recv := range receives {
		t.Run(recv, func(t *testing.T) {
			testDiskHostile(t, func(t *testing.T, h *aoetest.Hostile) (*initiator.Disk, *initiator.Client, string) {
				lab, ini, tgt := labSegment(t, h.Target.MTU)
				lab.ServeHostile(tgt, "t0", h)
				c := labClient(t, lab, ini, recv)
				d := openDisk(t, h.Target, initiator.DiskOptions{MinRTO: time.Millisecond, Deadline: 3 * time.Second}, c)
				return d, c, h.Target.MAC.String()
			})
		})
	}
}

// TestReceiveRingSlotsReused: every frame's bytes are overwritten as its
// slot goes back to the kernel (ScribbleRing), so a reply still
// referenced after that would show 0xa5 where the disk's bytes should be:
// reads of every size at both MTUs, writes read back, a Query Config
// reply kept across later reads, a broadcast's replies and IDENTIFY are
// all exact.
func TestReceiveRingSlotsReused(t *testing.T) {
	defer initiator.ScribbleRing()()
	for _, mtu := range []int{1500, 9000} {
		t.Run(fmt.Sprint(mtu), func(t *testing.T) {
			lab, ini, tgt := labSegment(t, mtu)
			tg := diskTarget(4<<20, mtu)
			tg.BufferCount = 16
			lab.ServeTarget(tgt, "t0", tg)
			c := labClient(t, lab, ini, "ring")
			ctx := context.Background()
			at := initiator.Target{MAC: tg.MAC, Shelf: tg.Shelf, Slot: tg.Slot}
			cfg, err := c.QueryConfig(ctx, at, &wire.ConfigArg{})
			if err != nil {
				t.Fatal(err)
			}
			kept := *cfg
			kept.Config.String = bytes.Clone(cfg.Config.String)
			d := openDisk(t, tg, initiator.DiskOptions{MinRTO: time.Millisecond}, c)
			for i, n := range []int{512, 4096, 65536, 1<<20 + 512, 4 << 20} {
				off := int64(i*4096+512) % (4<<20 - int64(n) + 1)
				if err := checkRead(t, d, tg, off, n); err != nil {
					t.Fatal(err)
				}
				if err := checkWrite(t, d, tg, off, min(n, 1<<20)); err != nil {
					t.Fatal(err)
				}
			}
			if cfg.Config.BufferCount != kept.Config.BufferCount || !bytes.Equal(cfg.Config.String, kept.Config.String) ||
				!bytes.Equal(cfg.Target.MAC, tg.MAC) || cfg.Config.BufferCount != 16 {
				t.Errorf("a Query Config reply changed after its slot was reused: %+v, was %+v", cfg, kept)
			}
			g := initiator.NewGroup(c)
			replies, err := g.QueryConfig(ctx, initiator.Target{Shelf: tg.Shelf, Slot: tg.Slot}, &wire.ConfigArg{}, initiator.CollectOptions{Quiet: 50 * time.Millisecond}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(replies) != 1 || !bytes.Equal(replies[0].Target.MAC, tg.MAC) || replies[0].Config.BufferCount != 16 {
				t.Errorf("broadcast replies: %+v", replies)
			}
			id, _, err := c.Identify(ctx, at, 1)
			if err != nil || id.Serial != "s1" || id.Model != "fake" {
				t.Errorf("IDENTIFY: %+v, %v", id, err)
			}
			if st := c.Stats(); st.Malformed != 0 || st.BadATA != 0 {
				t.Errorf("client stats: %+v", st)
			}
		})
	}
}

// TestReceiveFallback: when the kernel refuses the ring, auto reads the
// socket, exactly; ring asked for fails NewClient with the reason; an
// unknown Receive fails it too.
func TestReceiveFallback(t *testing.T) {
	lab, ini, tgt := labSegment(t, 1500)
	tg := diskTarget(1<<20, 1500)
	lab.ServeTarget(tgt, "t0", tg)
	for _, bad := range []string{"rings", "Ring", "recvmmsg"} {
		lab.Do(ini, func() {
			if c, err := initiator.NewClient("a0", &initiator.Config{Receive: bad}); err == nil || !strings.Contains(err.Error(), bad) {
				if c != nil {
					c.Close()
				}
				t.Errorf("Receive %q: %v", bad, err)
			}
		})
	}
	undo := initiator.FailRing(errors.New("no ring here"))
	defer undo()
	lab.Do(ini, func() {
		c, err := initiator.NewClient("a0", &initiator.Config{Receive: "ring"})
		if err == nil || !strings.Contains(err.Error(), "no ring here") {
			if c != nil {
				c.Close()
			}
			t.Errorf("ring refused: NewClient: %v", err)
		}
	})
	for _, recv := range []string{"", "auto"} {
		var c *initiator.Client
		lab.Do(ini, func() {
			var err error
			if c, err = initiator.NewClient("a0", &initiator.Config{Receive: recv}); err != nil {
				t.Fatal(err)
			}
		})
		if st := c.Stats(); st.Receive != "socket" || initiator.RingSlots(c) != 0 {
			t.Errorf("%q with the ring refused: %+v", recv, st)
		}
		d := openDisk(t, tg, initiator.DiskOptions{MinRTO: time.Millisecond}, c)
		if err := checkRead(t, d, tg, 512, 1<<20-512); err != nil {
			t.Fatal(err)
		}
		if err := checkWrite(t, d, tg, 4096, 65536); err != nil {
			t.Fatal(err)
		}
		d.Close()
		c.Close()
	}
	undo()
	// Given again, auto takes it when a disk opens.
	var c *initiator.Client
	lab.Do(ini, func() {
		var err error
		if c, err = initiator.NewClient("a0", &initiator.Config{Receive: "auto"}); err != nil {
			t.Fatal(err)
		}
	})
	defer c.Close()
	if c.Stats().Receive != "socket" {
		t.Errorf("auto before a disk opens: %+v", c.Stats())
	}
	d := openDisk(t, tg, initiator.DiskOptions{MinRTO: time.Millisecond}, c)
	if c.Stats().Receive != "ring" || initiator.RingSlots(c) == 0 {
		t.Errorf("auto with a ring to have, a disk open: %+v", c.Stats())
	}
	if err := checkRead(t, d, tg, 0, 1<<20); err != nil {
		t.Fatal(err)
	}
}

// TestReceiveRingSized: the ring holds twice the windows of the disks
// open on the client (at least 64 frames, at most 1024); until a disk
// opens, auto reads the socket (a broadcast's burst goes to its large
// buffer); a ring asked for is there from the start. Reads stay exact
// as the ring grows under a disk in use.
func TestReceiveRingSized(t *testing.T) {
	lab, ini, tgt := labSegment(t, 9000)
	tg := diskTarget(4<<20, 9000)
	tg.BufferCount = 100
	lab.ServeTarget(tgt, "t0", tg)
	slots := func(c *initiator.Client, lo, hi int) {
		t.Helper()
		if n := initiator.RingSlots(c); n < lo || n > hi {
			t.Errorf("ring of %d slots, want %d to %d", n, lo, hi)
		}
	}
	var auto, ring *initiator.Client
	lab.Do(ini, func() {
		var err error
		if auto, err = initiator.NewClient("a0", &initiator.Config{Receive: "auto"}); err != nil {
			t.Fatal(err)
		}
		if ring, err = initiator.NewClient("a0", &initiator.Config{Receive: "ring"}); err != nil {
			t.Fatal(err)
		}
	})
	defer auto.Close()
	defer ring.Close()
	slots(auto, 0, 0)
	slots(ring, 64, 64+4)
	d1 := openDisk(t, tg, initiator.DiskOptions{MinRTO: time.Millisecond}, auto, ring)
	slots(auto, 200, 200+4)
	slots(ring, 200, 200+4)
	if err := checkRead(t, d1, tg, 0, 4<<20); err != nil {
		t.Fatal(err)
	}
	// A second disk on the same clients: the ring grows to both windows;
	// the first disk reads on, exactly.
	d2 := openDisk(t, tg, initiator.DiskOptions{MinRTO: time.Millisecond, Window: 400}, auto)
	slots(auto, 1000, 1024)
	for _, d := range []*initiator.Disk{d1, d2} {
		if err := checkRead(t, d, tg, 512, 4<<20-512); err != nil {
			t.Fatal(err)
		}
	}
	if st := auto.Stats(); st.Receive != "ring" {
		t.Errorf("auto with disks open: %+v", st)
	}
}

// TestReceiveClose: with either reader, a read cancelled midway returns
// at once and the next is exact; Close of the client from two goroutines
// while reads are under way (the engine holding the client's reads, and
// not) returns, fails the reads, and Err says net.ErrClosed; the disk's Close
// at the same time returns too.
func TestReceiveClose(t *testing.T) {
	for _, recv := range receives {
		for _, paths := range []int{1, 2} {
			t.Run(fmt.Sprint(recv, "/", paths), func(t *testing.T) {
				lab, ini, tgt := labSegment(t, 9000)
				tg := diskTarget(16<<20, 9000)
				tg.BufferCount = 16
				lab.ServeTarget(tgt, "t0", tg)
				var clients []*initiator.Client
				for range paths {
					clients = append(clients, labClient(t, lab, ini, recv))
				}
				d := openDisk(t, tg, initiator.DiskOptions{MinRTO: time.Millisecond, Deadline: 5 * time.Second}, clients...)

				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
				start := time.Now()
				_, err := d.ReadAtContext(ctx, make([]byte, 16<<20), 0)
				cancel()
				if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 2*time.Second {
					t.Fatalf("cancelled read: %v after %v", err, time.Since(start))
				}
				if err := checkRead(t, d, tg, 0, 16<<20); err != nil {
					t.Fatal(err)
				}

				var wg sync.WaitGroup
				for range 2 {
					wg.Go(func() {
						for {
							if _, err := d.ReadAt(make([]byte, 4<<20), 0); err != nil {
								return
							}
						}
					})
				}
				time.Sleep(30 * time.Millisecond)
				closed := make(chan struct{})
				go func() {
					defer close(closed)
					var cw sync.WaitGroup
					for _, c := range clients {
						cw.Go(func() { c.Close() })
						cw.Go(func() { c.Close() })
					}
					cw.Go(func() { d.Close() })
					cw.Wait()
					wg.Wait()
				}()
				select {
				case <-closed:
				case <-time.After(10 * time.Second):
					t.Fatal("Close with reads under way did not return")
				}
				for _, c := range clients {
					if !errors.Is(c.Err(), net.ErrClosed) {
						t.Errorf("Err after Close: %v", c.Err())
					}
				}
				if _, err := d.ReadAt(make([]byte, 4096), 0); err == nil {
					t.Error("a read after Close succeeded")
				}
			})
		}
	}
}

// TestReceiveDefaultSocket: with no Receive, a client reads its socket,
// a disk open on it too (the ring is asked for, never taken by default).
func TestReceiveDefaultSocket(t *testing.T) {
	lab, ini, tgt := labSegment(t, 1500)
	tg := diskTarget(1<<20, 1500)
	lab.ServeTarget(tgt, "t0", tg)
	var c *initiator.Client
	lab.Do(ini, func() {
		var err error
		if c, err = initiator.NewClient("a0", nil); err != nil {
			t.Fatal(err)
		}
	})
	defer c.Close()
	d := openDisk(t, tg, initiator.DiskOptions{MinRTO: time.Millisecond}, c)
	if err := checkRead(t, d, tg, 0, 1<<20); err != nil {
		t.Fatal(err)
	}
	if c.Stats().Receive != "socket" || initiator.RingSlots(c) != 0 {
		t.Errorf("default with a disk open: %+v, %d ring slots", c.Stats(), initiator.RingSlots(c))
	}
}

// TestClientsOwnReplies: two clients on one interface (two processes: an
// `aoe nbd` beside an `aoe read`) each read only the replies to their own
// tags, on a socket and on a ring: a disk read through one leaves the
// other's socket empty. A tag the caller chooses (aoeping -t) still gets
// its reply: of two with different high bytes, at most one is the
// client's own.
func TestClientsOwnReplies(t *testing.T) {
	for _, recv := range []string{"socket", "ring"} {
		t.Run(recv, func(t *testing.T) {
			lab, ini, tgt := labSegment(t, 1500)
			tg := diskTarget(1<<20, 1500)
			lab.ServeTarget(tgt, "t0", tg)
			a := labClient(t, lab, ini, recv)
			b := labClient(t, lab, ini, recv)
			d := openDisk(t, tg, initiator.DiskOptions{}, a)
			if err := checkRead(t, d, tg, 0, 1<<20); err != nil {
				t.Fatal(err)
			}
			if sa, sb := a.Stats(), b.Stats(); sa.Received == 0 || sb.Received != 0 {
				t.Errorf("after a read through the first client: it read %d replies, the other %d (want 0)", sa.Received, sb.Received)
			}
			for _, tag := range []uint32{0x80000001, 0xff000001} {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				_, err := b.QueryConfig(ctx, initiator.Target{MAC: tg.MAC, Shelf: tg.Shelf, Slot: tg.Slot, Tag: tag}, &wire.ConfigArg{})
				cancel()
				if err != nil {
					t.Errorf("Query Config with tag %#08x: %v", tag, err)
				}
			}
		})
	}
}
