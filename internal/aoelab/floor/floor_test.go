package floor_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/goaoe/aoe/internal/aoelab"
	"github.com/goaoe/aoe/internal/aoelab/floor"
)

// TestFloor: the yardstick reads real vblade's image exactly, with each
// transport (socket, TPACKET_V2 ring, TPACKET_V3 ring), over 1500- and
// 9000-byte links, from the start and from an offset, into one buffer or
// round a small one, and says so when a frame is lost.
func TestFloor(t *testing.T) {
	lab := aoelab.NewLab(t)
	tgt, ini, want := vbladeLab(t, lab)
	for _, tr := range []floor.Transport{floor.Socket, floor.RingV2, floor.RingV3} {
		for _, tc := range []struct {
			tgt, ini       string
			offset, length int64
			window         int
		}{
			{"t0", "i0", 0, labSize - 1000, 16},
			{"t1", "i1", 0, labSize - 1000, 16},
			{"t0", "i0", 3 << 20, 1<<20 + 512, 16},
			{"t1", "i1", 512 * 7, 5 << 20, 4},
		} {
			mac := lab.MAC(tgt, tc.tgt)
			var (
				got []byte
				res floor.Result
				err error
			)
			lab.Do(ini, func() {
				got, res, err = floor.Read(floor.Options{Interface: tc.ini, Target: mac, Shelf: 1, Slot: 2,
					Offset: tc.offset, Length: tc.length, Window: tc.window, Transport: tr})
			})
			if err != nil {
				t.Fatalf("%v on %s: %v", tr, tc.ini, err)
			}
			if !bytes.Equal(got, want[tc.offset:tc.offset+tc.length]) {
				t.Errorf("%v on %s at %d: the floor read other bytes than the image's", tr, tc.ini, tc.offset)
			}
			if res.Transport != tr || (tr != floor.Socket) != (res.RingSlots > 0) {
				t.Errorf("%v: result %+v", tr, res)
			}
			t.Logf("%s: %v", tc.ini, res)
		}
		// Round a 64 KiB buffer (64 frames of 1 KiB at MTU 1500): it
		// ends with the last 64 frames.
		lab.Do(ini, func() {
			got, _, err := floor.Read(floor.Options{Interface: "i0", Target: lab.MAC(tgt, "t0"), Shelf: 1, Slot: 2,
				Offset: 1 << 20, Length: 1 << 20, Buffer: 64 << 10, Transport: tr})
			if err != nil {
				t.Fatalf("%v, buffer: %v", tr, err)
			}
			if !bytes.Equal(got, want[2<<20-64<<10:2<<20]) {
				t.Errorf("%v: the buffer does not hold the last frames", tr)
			}
		})
		// No such target (e7.7): nothing answers.
		mac := lab.MAC(tgt, "t0")
		lab.Do(ini, func() {
			_, _, err := floor.Read(floor.Options{Interface: "i0", Target: mac, Shelf: 7, Slot: 7, Length: 4096,
				Timeout: 200 * time.Millisecond, Transport: tr})
			if !errors.Is(err, floor.ErrLost) {
				t.Errorf("%v, no target: %v, want ErrLost", tr, err)
			}
		})
	}
}

// labSize is the size of vbladeLab's image.
const labSize = 8 << 20

// vbladeLab makes the floors' lab: namespaces tgt and ini joined by veth
// pairs t0-i0 (MTU 1500) and t1-i1 (9000), and vblade exporting an image
// of random bytes (want) as e1.2 on t0 and t1.
func vbladeLab(t *testing.T, lab *aoelab.Lab) (tgt, ini string, want []byte) {
	tgt, ini = lab.Namespace("tgt"), lab.Namespace("ini")
	lab.Veth(tgt, "t0", ini, "i0", 1500)
	lab.Veth(tgt, "t1", ini, "i1", 9000)
	img := lab.Image(labSize)
	want = make([]byte, labSize)
	rand.Read(want)
	if err := os.WriteFile(img, want, 0o644); err != nil {
		t.Fatal(err)
	}
	lab.Vblade(tgt, "t0", 1, 2, img)
	lab.Vblade(tgt, "t1", 1, 2, img)
	return tgt, ini, want
}

func TestParseTransport(t *testing.T) {
	for _, tr := range []floor.Transport{floor.Socket, floor.RingV2, floor.RingV3} {
		got, err := floor.ParseTransport(tr.String())
		if err != nil || got != tr {
			t.Errorf("ParseTransport(%q) = %v, %v", tr.String(), got, err)
		}
	}
	if _, err := floor.ParseTransport("ring"); err == nil {
		t.Error("ParseTransport(ring): no error")
	}
}
