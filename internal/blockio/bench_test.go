package blockio_test

import (
	"bytes"
	"os"
	"testing"
	"time"

	"github.com/goaoe/aoe/initiator"
	"github.com/goaoe/aoe/internal/aoelab"
	"github.com/goaoe/aoe/internal/aoelab/floor"
)

// BenchmarkVbladeRead reads 64 MiB from real vblade in a namespace into
// one buffer, over a 1500-byte path (2 sectors per frame), a jumbo path
// (17 sectors), and both (multipath); and, side by side on the same links,
// the floor (package floor: one thread, raw calls, no retransmission, the
// least a userspace reader can do). It reports MB/s; vblade and the reader
// share the CPUs. Each run's bytes are checked against the image, outside
// the timing.
func BenchmarkVbladeRead(b *testing.B) {
	lab := aoelab.NewLab(b)
	tgt, ini := lab.Namespace("tgt"), lab.Namespace("ini")
	lab.Veth(tgt, "t0", ini, "i0", 1500)
	lab.Veth(tgt, "t1", ini, "i1", 9000)
	lab.Veth(tgt, "t2", ini, "i2", 9000)
	const size = 64 << 20
	img := randomImage(b, lab, size)
	want, err := os.ReadFile(img)
	if err != nil {
		b.Fatal(err)
	}
	for _, t := range []string{"t0", "t1", "t2"} {
		lab.Vblade(tgt, t, 1, 2, img)
	}
	buf := make([]byte, size)
	report := func(b *testing.B, elapsed time.Duration, got []byte) {
		if !bytes.Equal(got, want) {
			b.Fatal("read differs from the image")
		}
		b.ReportMetric(float64(size)*float64(b.N)/elapsed.Seconds()/1e6, "MB/s")
	}
	for _, tc := range []struct {
		name   string
		ifaces []string
	}{{"mtu1500", []string{"i0"}}, {"mtu9000", []string{"i1"}}, {"mtu9000x2", []string{"i1", "i2"}}} {
		b.Run(tc.name, func(b *testing.B) {
			d := open(b, lab, ini, 1, 2, initiator.DiskOptions{}, tc.ifaces...)
			b.SetBytes(size)
			var elapsed time.Duration
			for range b.N {
				clear(buf)
				start := time.Now()
				if _, err := d.ReadAt(buf, 0); err != nil {
					b.Fatal(err)
				}
				elapsed += time.Since(start)
				report(b, elapsed, buf)
			}
			var retrans uint64
			for _, p := range d.PathStats() {
				retrans += p.Retransmits
			}
			b.ReportMetric(float64(retrans)/float64(b.N), "retransmits/op")
			b.Logf("%+v", d.PathStats())
		})
	}
	for _, tc := range []struct{ name, tgt, ini string }{{"floor-mtu1500", "t0", "i0"}, {"floor-mtu9000", "t1", "i1"}} {
		b.Run(tc.name, func(b *testing.B) {
			mac := lab.MAC(tgt, tc.tgt)
			b.SetBytes(size)
			var elapsed time.Duration
			var last floor.Result
			for range b.N {
				var (
					got []byte
					err error
				)
				lab.Do(ini, func() {
					got, last, err = floor.Read(floor.Options{Interface: tc.ini, Target: mac, Shelf: 1, Slot: 2, Length: size})
				})
				if err != nil {
					b.Fatal(err)
				}
				elapsed += last.Elapsed
				report(b, elapsed, got)
			}
			b.Log(last)
		})
	}
}
