package initiator_test

import (
	"bytes"
	"errors"
	"fmt"
	"math/bits"
	"net"
	"testing"
	"time"

	"github.com/goaoe/aoe/initiator"
	"github.com/goaoe/aoe/initiator/aoetest"
	"github.com/goaoe/aoe/initiator/wire"
	"github.com/mdlayher/packet"
)

// initialWindow is the engine's first congestion window (diskpath.go).
const initialWindow = 4

// TestWindowOpens: on a loss-free link the congestion window opens to the
// target's buffer count (16, 64) within log2(count/4) round trips, that
// is, after count-4 replies (slow start: one more frame per reply, the
// window doubles per round trip), and no loss is seen on the way. The
// target answers one frame at a time and waits for the engine to take
// each reply before the next, so the window is read after every reply:
// the test counts replies, not time. Over two paths to the target, the
// paths' windows together reach its buffer count as fast.
func TestWindowOpens(t *testing.T) {
	for _, tc := range []struct{ window, paths int }{{16, 1}, {64, 1}, {16, 2}, {64, 2}} {
		t.Run(fmt.Sprintf("window%d-paths%d", tc.window, tc.paths), func(t *testing.T) {
			testWindowOpens(t, tc.window, tc.paths)
		})
	}
}

func testWindowOpens(t *testing.T, window, npaths int) {
	const size = 16 << 20
	nw := &aoetest.Network{}
	tg := diskTarget(size, 9000)
	tg.BufferCount = uint16(window)
	port := nw.Port(tg.MAC)
	t.Cleanup(func() { port.Close() })
	var clients []*initiator.Client
	for i := range npaths {
		clients = append(clients, nw.Client(t, fmt.Sprintf("p%d", i), net.HardwareAddr{0x02, 0, 0, 0, 1, byte(i)}, 9000))
	}

	// The target: answers at once until gated is set; then, after each
	// reply to a READ, waits until the engine has taken it and records
	// the paths' windows.
	var (
		d      *initiator.Disk
		gated  = make(chan struct{})
		trace  [][]int // per reply: each path's congestion window
		cuts   uint64
		served = make(chan error, 1)
		// What the paths counted before the gate (opening the disk):
		// set before gated is closed, read after.
		baseFrames, baseCuts uint64
	)
	go func() {
		buf := make([]byte, 1<<16)
		on := false
		replies := uint64(0)
		for {
			n, _, err := port.ReadFrom(buf)
			if err != nil {
				if errors.Is(err, net.ErrClosed) {
					err = nil
				}
				served <- err
				return
			}
			reply := tg.Handle(buf[:n])
			if reply == nil {
				continue
			}
			if !on {
				select {
				case <-gated:
					on = true
				default:
				}
			}
			if _, err := port.WriteTo(reply, &packet.Addr{HardwareAddr: reply[0:6]}); err != nil {
				served <- err
				return
			}
			if !on {
				continue
			}
			replies++
			for start := time.Now(); ; {
				st := d.PathStats()
				var frames uint64
				w := make([]int, len(st))
				cuts = 0
				for i, s := range st {
					frames += s.Frames
					w[i] = s.CongestionWindow
					cuts += s.WindowCuts
				}
				frames, cuts = frames-baseFrames, cuts-baseCuts
				if frames >= replies {
					trace = append(trace, w)
					break
				}
				if time.Since(start) > 10*time.Second {
					// Only so that a reply the engine dropped
					// fails the test instead of hanging it.
					served <- fmt.Errorf("reply %d not taken: %d frames answered", replies, frames)
					return
				}
			}
		}
	}()
	// The target's pace (a reply, then the engine's stats) is no loss:
	// no send times out.
	slow := 10 * time.Second
	d = openDisk(t, tg, initiator.DiskOptions{MinRTO: slow, InitialRTO: slow, MaxRTO: slow}, clients...)
	for _, s := range d.PathStats() {
		if s.Window != window || s.CongestionWindow != initialWindow {
			t.Fatalf("path %s: window %d, congestion window %d: want %d and %d", s.Interface, s.Window, s.CongestionWindow, window, initialWindow)
		}
		baseFrames += s.Frames
		baseCuts += s.WindowCuts
	}
	close(gated)
	// Enough frames to open the window and keep it full a while.
	p := make([]byte, 4*window*17*wire.SectorSize)
	if _, err := d.ReadAt(p, 0); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(p, tg.Read(0, len(p))) {
		t.Fatal("read differs")
	}
	d.Close()
	port.Close()
	if err := <-served; err != nil {
		t.Fatal(err)
	}
	if cuts != 0 {
		t.Errorf("%d window cuts on a loss-free link", cuts)
	}
	// Slow start: round trip r (from 0) carries initialWindow<<r
	// frames, so the window reaches window after log2(window/4) round
	// trips, that is after window-initialWindow replies.
	rounds := bits.Len(uint(window/initialWindow)) - 1
	within := initialWindow * (1<<rounds - 1)
	at := -1
	for k, w := range trace {
		sum := 0
		for _, x := range w {
			sum += x
		}
		if sum >= window {
			at = k + 1
			break
		}
	}
	switch {
	case at < 0:
		t.Errorf("the windows never reached %d in %d replies: %v", window, len(trace), trace)
	case at > within:
		t.Errorf("the windows reached %d after %d replies, want at most %d (%d round trips): %v", window, at, within, rounds, trace[:at])
	default:
		t.Logf("windows %v after %d replies (%d round trips allow %d), %v at the end", trace[at-1], at, rounds, within, trace[len(trace)-1])
	}
}
