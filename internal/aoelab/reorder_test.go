package aoelab

import (
	"encoding/binary"
	"errors"
	"net"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/goaoe/aoe/initiator/wire"
	"github.com/mdlayher/packet"
	"golang.org/x/sys/unix"
)

// TestReorder sends numbered frames both ways through the relay, jumbo and
// small, and checks on the far ends that each arrived exactly once, none
// came back to its sender, and the frames that arrived out of order are
// exactly those the relay counts as reordered. The relay leaves no
// goroutine behind.
func TestReorder(t *testing.T) {
	if os.Geteuid() != 0 && os.Getenv("CI") == "" {
		t.Skip("network namespace tests need root")
	}
	before := runtime.NumGoroutine()
	t.Run("relay", testReorder)
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<20)
		t.Errorf("%d goroutines before, %d after the relay stopped:\n%s", before, n, buf[:runtime.Stack(buf, true)])
	}
}

func testReorder(t *testing.T) {
	lab := NewLab(t)
	a, mid, b := lab.Namespace("a"), lab.Namespace("mid"), lab.Namespace("b")
	lab.Veth(a, "a0", mid, "r0", 9000)
	lab.Veth(mid, "r1", b, "b0", 9000)
	relay := lab.Reorder(mid, "r0", "r1", ReorderOptions{})
	var ca, cb *packet.Conn
	lab.Do(a, func() { ca = testSocket(t, "a0") })
	lab.Do(b, func() { cb = testSocket(t, "b0") })
	const n = 2000
	type result struct {
		got, outOfOrder int
		err             error
	}
	results := make(chan result, 2)
	for _, c := range []*packet.Conn{ca, cb} {
		go func() {
			r := result{}
			r.got, r.outOfOrder, r.err = receive(c, n)
			results <- r
		}()
	}
	done := make(chan struct{})
	go func() { defer close(done); send(t, ca, cb, 'A', n) }()
	send(t, cb, ca, 'B', n)
	<-done
	outOfOrder := 0
	for range 2 {
		r := <-results
		if r.err != nil {
			t.Fatal(r.err)
		}
		if r.got != n {
			t.Errorf("%d of %d frames arrived", r.got, n)
		}
		outOfOrder += r.outOfOrder
	}
	// Every frame has arrived: the counts are final.
	toB, toA := relay.Stats()
	t.Logf("relay (seed %d): a to b %+v, b to a %+v", relay.Seed(), toB, toA)
	if toB.Forwarded != n || toA.Forwarded != n || toB.Reordered == 0 || toA.Reordered == 0 {
		t.Errorf("relay counts: %+v %+v", toB, toA)
	}
	if uint64(outOfOrder) != toB.Reordered+toA.Reordered {
		t.Errorf("%d frames arrived out of order; the relay reordered %d", outOfOrder, toB.Reordered+toA.Reordered)
	}
}

// testSocket opens a raw AoE socket on ifname with a large receive buffer.
func testSocket(t *testing.T, ifname string) *packet.Conn {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		t.Fatal(err)
	}
	c, err := packet.Listen(ifi, packet.Raw, wire.EtherType, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	rc.Control(func(fd uintptr) {
		err = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 8<<20)
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// send writes n numbered frames from c to peer's MAC, alternating jumbo
// and minimal ones, in short bursts: byte 14 is from, 15-18 the number.
func send(t *testing.T, c, peer *packet.Conn, from byte, n int) {
	dst := peer.LocalAddr().(*packet.Addr).HardwareAddr
	for i := range n {
		size := 64
		if i%2 == 0 {
			size = 9014
		}
		f := make([]byte, size)
		copy(f, dst)
		copy(f[6:], c.LocalAddr().(*packet.Addr).HardwareAddr)
		binary.BigEndian.PutUint16(f[12:], wire.EtherType)
		f[14] = from
		binary.BigEndian.PutUint32(f[15:], uint32(i))
		if _, err := c.WriteTo(f, &packet.Addr{HardwareAddr: dst}); err != nil {
			t.Error(err)
			return
		}
		if i%20 == 19 {
			time.Sleep(500 * time.Microsecond)
		}
	}
}

// receive reads frames on c until n have arrived or none came for a
// second. It counts the frames that arrived after a higher-numbered one,
// and fails on a duplicate or on a frame c itself sent (a reflection).
func receive(c *packet.Conn, n int) (got, outOfOrder int, err error) {
	seen := make([]bool, n)
	own := c.LocalAddr().(*packet.Addr).HardwareAddr
	buf := make([]byte, 1<<16)
	highest := -1
	for got < n {
		c.SetReadDeadline(time.Now().Add(time.Second))
		m, _, err := c.ReadFrom(buf)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return got, outOfOrder, nil
		}
		if err != nil {
			return got, outOfOrder, err
		}
		if m < 19 {
			continue
		}
		if string(buf[6:12]) == string(own) {
			return got, outOfOrder, errors.New("a frame came back to its sender")
		}
		i := int(binary.BigEndian.Uint32(buf[15:]))
		if i >= n || seen[i] {
			return got, outOfOrder, errors.New("duplicate or unknown frame")
		}
		seen[i] = true
		got++
		if i < highest {
			outOfOrder++
		}
		highest = max(highest, i)
	}
	return got, outOfOrder, nil
}
