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

// TestFloor: the yardstick reads real vblade's image exactly, over 1500-
// and 9000-byte links, and says so when a frame is lost.
func TestFloor(t *testing.T) {
	lab := aoelab.NewLab(t)
	tgt, ini := lab.Namespace("tgt"), lab.Namespace("ini")
	lab.Veth(tgt, "t0", ini, "i0", 1500)
	lab.Veth(tgt, "t1", ini, "i1", 9000)
	const size = 8 << 20
	img := lab.Image(size)
	want := make([]byte, size)
	rand.Read(want)
	if err := os.WriteFile(img, want, 0o644); err != nil {
		t.Fatal(err)
	}
	lab.Vblade(tgt, "t0", 1, 2, img)
	lab.Vblade(tgt, "t1", 1, 2, img)
	for _, tc := range []struct{ tgt, ini string }{{"t0", "i0"}, {"t1", "i1"}} {
		mac := lab.MAC(tgt, tc.tgt)
		var (
			got []byte
			res floor.Result
			err error
		)
		lab.Do(ini, func() {
			got, res, err = floor.Read(floor.Options{Interface: tc.ini, Target: mac, Shelf: 1, Slot: 2, Length: size - 1000})
		})
		if err != nil {
			t.Fatalf("%s: %v", tc.ini, err)
		}
		if !bytes.Equal(got, want[:size-1000]) {
			t.Errorf("%s: the floor read other bytes than the image's", tc.ini)
		}
		t.Logf("%s: %v", tc.ini, res)
	}
	// No such target (e7.7): nothing answers.
	mac := lab.MAC(tgt, "t0")
	lab.Do(ini, func() {
		_, _, err := floor.Read(floor.Options{Interface: "i0", Target: mac, Shelf: 7, Slot: 7, Length: 4096, Timeout: 200 * time.Millisecond})
		if !errors.Is(err, floor.ErrLost) {
			t.Errorf("no target: %v, want ErrLost", err)
		}
	})
}
