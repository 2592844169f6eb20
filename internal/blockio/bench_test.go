package blockio_test

import (
	"fmt"
	"testing"

	"github.com/goaoe/aoe/initiator"
	"github.com/goaoe/aoe/internal/aoelab"
)

// BenchmarkVbladeRead reads 64 MiB from real vblade in a namespace over a
// 1500-byte path (2 sectors per frame), a jumbo path (17 sectors), and
// both (multipath); it reports MB/s. vblade and the reader share the CPUs.
func BenchmarkVbladeRead(b *testing.B) {
	lab := aoelab.NewLab(b)
	tgt, ini := lab.Namespace("tgt"), lab.Namespace("ini")
	lab.Veth(tgt, "t0", ini, "i0", 1500)
	lab.Veth(tgt, "t1", ini, "i1", 9000)
	lab.Veth(tgt, "t2", ini, "i2", 9000)
	const size = 64 << 20
	img := randomImage(b, lab, size)
	for _, t := range []string{"t0", "t1", "t2"} {
		lab.Vblade(tgt, t, 1, 2, img)
	}
	want := fileSum(b, img, 0, size)
	for _, tc := range []struct {
		name   string
		ifaces []string
	}{{"mtu1500", []string{"i0"}}, {"mtu9000", []string{"i1"}}, {"mtu9000x2", []string{"i1", "i2"}}} {
		b.Run(tc.name, func(b *testing.B) {
			d := open(b, lab, ini, 1, 2, initiator.DiskOptions{}, tc.ifaces...)
			b.SetBytes(size)
			var total float64
			for range b.N {
				got, rate := readSum(b, d, 0, size)
				if got != want {
					b.Fatal("read differs")
				}
				total += rate
			}
			b.ReportMetric(total/float64(b.N), "MB/s")
			var retrans uint64
			for _, p := range d.PathStats() {
				retrans += p.Retransmits
			}
			b.ReportMetric(float64(retrans)/float64(b.N), "retransmits/op")
			b.Log(fmt.Sprintf("%+v", d.PathStats()))
		})
	}
}
