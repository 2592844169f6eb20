package initiator

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"net"
	"os"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/goaoe/aoe/initiator/wire"
)

// datagramPair returns the two ends of a datagram socket pair: recvmmsg(2)
// reads it as it reads a packet socket, with no privilege. The reader's
// end is a net.PacketConn, its descriptor non-blocking in the poller.
func datagramPair(t *testing.T) (send int, recv net.PacketConn) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_DGRAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fds[1]), "recv")
	pc, err := net.FilePacketConn(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fds[0]); pc.Close() })
	return fds[0], pc
}

// replyFrame is an ATA reply with tag and data, as a target sends it.
func replyFrame(hdr [wire.HeaderLen]byte, tag uint32, data []byte) []byte {
	b := append([]byte(nil), hdr[:]...)
	binary.BigEndian.PutUint32(b[wire.HeaderLen-4:], tag)
	b = append(b, make([]byte, ataArgLen)...)
	return append(b, data...)
}

// TestPlacement: frames read with placements come out as they were sent,
// byte for byte, whether they landed in their placement (then the data
// is there and the frame is its header) or not (another tag, another
// length, another header, no data, more than a placement's room, and
// frames past the placements), in any order and any mix.
func TestPlacement(t *testing.T) {
	sendFD, pc := datagramPair(t)
	raw, err := pc.(syscall.Conn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	r := newMmsgReader(raw)
	var hdr [wire.HeaderLen]byte
	f := wire.Frame{Destination: net.HardwareAddr{2, 0, 0, 0, 0, 1}, Source: net.HardwareAddr{2, 0, 0, 0, 0, 2}, Response: true, Shelf: 7, Slot: 3, Command: wire.CommandATA}
	b, _ := f.AppendBinary(nil)
	copy(hdr[:], b)
	rng := rand.New(rand.NewPCG(1, 2))
	randBytes := func(n int) []byte {
		p := make([]byte, n)
		for i := range p {
			p[i] = byte(rng.Uint32())
		}
		return p
	}
	for round := range 300 {
		nplace := rng.IntN(recvBatch + 1)
		nframes := 1 + rng.IntN(recvBatch)
		place := make([]placement, nplace)
		dests := make([][]byte, nplace)
		for i := range place {
			dests[i] = make([]byte, 512*(1+rng.IntN(4)))
			place[i] = placement{hdr: hdr, data: dests[i]}
			binary.BigEndian.PutUint32(place[i].hdr[wire.HeaderLen-4:], uint32(1000+i))
		}
		sent := make([][]byte, nframes)
		wantPlaced := make([]bool, nframes)
		for i := range sent {
			tag := uint32(1000 + i)
			size := 1024
			if i < nplace {
				size = len(dests[i])
			}
			h := hdr
			switch k := rng.IntN(8); {
			case k < 4 && i < nplace: // the reply foreseen
				wantPlaced[i] = true
			case k == 4:
				tag += 1 + uint32(rng.IntN(3)) // another's
			case k == 5:
				size = rng.IntN(size + 2048) // shorter or longer
				if i < nplace && size == len(dests[i]) {
					size++
				}
			case k == 6:
				h[6] ^= 0x80 // from elsewhere
			default:
				size = -ataArgLen - wire.HeaderLen + rng.IntN(wire.HeaderLen+ataArgLen) // a stub
				if size < 0 {
					size = 0
				}
			}
			fr := replyFrame(h, tag, randBytes(max(size, 0)))
			if size == 0 && rng.IntN(2) == 0 {
				fr = fr[:rng.IntN(len(fr))+1]
			}
			sent[i] = fr
			if _, err := unix.Write(sendFD, fr); err != nil {
				t.Fatal(err)
			}
		}
		r.place = place
		got, err := r.read()
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != nframes {
			t.Fatalf("round %d: %d frames read, %d sent", round, len(got), nframes)
		}
		for i, g := range got {
			pl := r.placed[i]
			if (pl != nil) != wantPlaced[i] {
				t.Fatalf("round %d frame %d: placed %v, want %v", round, i, pl != nil, wantPlaced[i])
			}
			whole := g
			if pl != nil {
				if len(g) != placedHdrLen || &pl[0] != &dests[i][0] {
					t.Fatalf("round %d frame %d: placed, but %d header bytes, data elsewhere", round, i, len(g))
				}
				whole = append(append([]byte(nil), g...), pl...)
			}
			if !bytes.Equal(whole, sent[i]) {
				t.Fatalf("round %d frame %d: read %d bytes, not the %d sent", round, i, len(whole), len(sent[i]))
			}
		}
		if r.place != nil {
			t.Fatal("placements kept after the read")
		}
		for i := range recvBatch {
			if r.hdrs[i].Hdr.Iov != &r.iovs[i] || r.hdrs[i].Hdr.Iovlen != 1 {
				t.Fatalf("message %d still points at a placement", i)
			}
		}
	}
}
