package nbd

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/goaoe/aoe/internal/aoelab"
)

// BenchmarkServerVsQemuNBD: nbdcopy reads 256 MiB from memory through
// this server (a memory backend) and through qemu-nbd (a file the page
// cache holds), alternated, one connection, 16 requests at once, of
// 128 KiB (what the kernel's nbd driver sends) and of 1 MiB. No AoE, no
// network: the server against the NBD server most systems have, and the
// share of a read through NBD that is the client's and the socket's.
func BenchmarkServerVsQemuNBD(b *testing.B) {
	if _, err := exec.LookPath("nbdcopy"); err != nil {
		b.Fatal("nbdcopy is needed (apt-get install libnbd-bin)")
	}
	const size = 256 << 20
	s := &Server{Exports: []*Export{{Name: "m", Size: size, Backend: newMem(size), ReadOnly: true}}}
	ours := "nbd+unix:///m?socket=" + serveOn(b, s)
	dir := b.TempDir()
	img := filepath.Join(dir, "img")
	if err := os.WriteFile(img, s.Exports[0].Backend.(*memDisk).b, 0o600); err != nil {
		b.Fatal(err)
	}
	qsock := aoelab.QemuNBD(b, img, "m")
	qemu := "nbd+unix:///m?socket=" + qsock
	copyAll := func(b *testing.B, uri string, reqSize int) time.Duration {
		start := time.Now()
		out, err := exec.Command("nbdcopy", "--connections=1", "--requests=16", fmt.Sprintf("--request-size=%d", reqSize), uri, "null:").CombinedOutput()
		if err != nil {
			b.Fatalf("nbdcopy %s: %v\n%s", uri, err, out)
		}
		return time.Since(start)
	}
	for _, reqSize := range []int{128 << 10, 1 << 20} {
		b.Run(fmt.Sprintf("req%dk", reqSize>>10), func(b *testing.B) {
			var o, qn time.Duration
			for i := range b.N {
				// Alternated, each first in turn.
				if i%2 == 0 {
					o += copyAll(b, ours, reqSize)
					qn += copyAll(b, qemu, reqSize)
				} else {
					qn += copyAll(b, qemu, reqSize)
					o += copyAll(b, ours, reqSize)
				}
			}
			mbs := func(d time.Duration) float64 { return float64(size) * float64(b.N) / d.Seconds() / 1e6 }
			b.ReportMetric(mbs(o), "ours-MB/s")
			b.ReportMetric(mbs(qn), "qemu-nbd-MB/s")
			b.ReportMetric(qn.Seconds()/o.Seconds(), "ours/qemu-nbd")
		})
	}
}
