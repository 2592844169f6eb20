package blockio_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/goaoe/aoe/initiator"
	"github.com/goaoe/aoe/internal/aoelab"
	"github.com/goaoe/aoe/internal/blockio"
)

// TestVbladeDeafPath: two paths to one vblade target, and every reply on
// one of them dropped (its requests still reach the target) from after
// the open: the engine (with rings, waiting on both clients' sockets at
// once; with sockets, handed the replies by the read loops) reads the
// whole disk exactly through the other, the deaf path dead.
func TestVbladeDeafPath(t *testing.T) {
	for _, recv := range receives {
		t.Run(recv, func(t *testing.T) {
			lab := aoelab.NewLab(t)
			tgt, ini := lab.Namespace("tgt"), lab.Namespace("ini")
			lab.Veth(tgt, "t0", ini, "i0", 9000)
			lab.Veth(tgt, "t1", ini, "i1", 9000)
			const size = 64 << 20
			img := randomImage(t, lab, size)
			lab.Vblade(tgt, "t0", 1, 2, img)
			lab.Vblade(tgt, "t1", 1, 2, img)
			want := fileSum(t, img, 0, size)
			d := open(t, lab, ini, recv, 1, 2, initiator.DiskOptions{Deadline: 10 * time.Second, MinRTO: 2 * time.Millisecond}, "i0", "i1")
			// Every AoE frame arriving on i1 (the replies) dropped.
			nft := func(args ...string) { lab.Run(append([]string{"ip", "netns", "exec", ini, "nft"}, args...)...) }
			nft("add", "table", "netdev", "deaf")
			nft("add", "chain", "netdev", "deaf", "in", `{ type filter hook ingress device "i1" priority 0; policy accept; }`)
			nft("add", "rule", "netdev", "deaf", "in", "ether", "type", "0x88a2", "drop")
			got, rate := readSum(t, d, 0, size)
			if got != want {
				t.Fatal("read with one path deaf differs from the image")
			}
			st := map[string]initiator.PathStats{}
			for _, s := range d.PathStats() {
				st[s.Interface] = s
			}
			t.Logf("%d MiB, replies on i1 dropped: %.1f MB/s; paths %+v", size>>20, rate, st)
			if !st["i1"].Dead || st["i0"].Dead || st["i0"].Frames == 0 {
				t.Errorf("expected i1 dead and i0 carrying the read: %+v", st)
			}
			// Once more, the deaf path dead from the start of the read.
			if got, _ := readSum(t, d, size/2, size/2); got != fileSum(t, img, size/2, size/2) {
				t.Fatal("second read with one path deaf differs from the image")
			}
		})
	}
}

// TestVbladeTwoDisks: two disks (e1.2 and e1.3), each over the same two
// clients, read at once: each disk's engine may have the reads of both
// clients while the other's replies come on them, and every reply still
// reaches its disk (both reads exact); then one disk is closed midway
// through a read of the other, which goes on.
func TestVbladeTwoDisks(t *testing.T) {
	for _, recv := range receives {
		t.Run(recv, func(t *testing.T) {
			lab := aoelab.NewLab(t)
			tgt, ini := lab.Namespace("tgt"), lab.Namespace("ini")
			lab.Veth(tgt, "t0", ini, "i0", 1500)
			lab.Veth(tgt, "t1", ini, "i1", 9000)
			const size = 32 << 20
			imgs := []string{randomImage(t, lab, size), randomImage(t, lab, size)}
			for i, img := range imgs {
				lab.Vblade(tgt, "t0", 1, 2+i, img)
				lab.Vblade(tgt, "t1", 1, 2+i, img)
			}
			var clients []*initiator.Client
			lab.Do(ini, func() {
				for _, n := range []string{"i0", "i1"} {
					c, err := initiator.NewClient(n, &initiator.Config{Receive: recv})
					if err != nil {
						t.Fatalf("listen %s: %v", n, err)
					}
					t.Cleanup(func() { c.Close() })
					clients = append(clients, c)
				}
			})
			g := initiator.NewGroup(clients...)
			disks := make([]*blockio.Target, 2)
			for i := range disks {
				d, err := blockio.Open(context.Background(), g, 1, uint8(2+i), blockio.OpenOptions{Timeout: 3 * time.Second,
					Disk: initiator.DiskOptions{Deadline: 10 * time.Second, MinRTO: 2 * time.Millisecond}})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { d.Close() })
				if len(d.PathStats()) != 2 {
					t.Fatalf("e1.%d: paths %+v", 2+i, d.PathStats())
				}
				disks[i] = d
			}
			sums := make([][32]byte, 2)
			var wg sync.WaitGroup
			for i, d := range disks {
				wg.Go(func() {
					for range 2 {
						sums[i], _ = readSum(t, d, 0, size)
					}
				})
			}
			wg.Wait()
			for i, img := range imgs {
				if sums[i] != fileSum(t, img, 0, size) {
					t.Errorf("e1.%d: read beside another disk differs from its image", 2+i)
				}
				t.Logf("e1.%d: paths %+v", 2+i, disks[i].PathStats())
			}
			// e1.3 closed while e1.2 is read.
			done := make(chan [32]byte, 1)
			go func() {
				s, _ := readSum(t, disks[0], 0, size)
				done <- s
			}()
			time.Sleep(20 * time.Millisecond)
			disks[1].Close()
			select {
			case s := <-done:
				if s != fileSum(t, imgs[0], 0, size) {
					t.Error("e1.2: read while e1.3 closed differs from its image")
				}
			case <-time.After(30 * time.Second):
				t.Fatal("e1.2: read while e1.3 closed did not end")
			}
		})
	}
}
