package blockio_test

import (
	"testing"

	"github.com/goaoe/aoe/initiator"
)

// reportWindows reports each path's congestion window at the end of a
// benchmark ("window-i0") beside the target's buffer count: on a loss-free
// link the two are equal (TestWindowOpens: within log2(count/4) round
// trips), and a window left lower says the engine took losses for it. Over
// two paths to one target the paths share its buffer count.
func reportWindows(b *testing.B, paths []initiator.PathStats) {
	for _, p := range paths {
		b.ReportMetric(float64(p.CongestionWindow), "window-"+p.Interface)
	}
	if len(paths) > 0 {
		b.ReportMetric(float64(paths[0].Window), "target-window")
	}
}
