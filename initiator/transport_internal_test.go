package initiator

import (
	"bytes"
	"context"
	"encoding/binary"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/goaoe/aoe/initiator/wire"
	"github.com/goaoe/aoe/internal/ata"
)

// memTransport is a transport with no socket and no Client: a disk in
// memory that answers every frame as it is sent. The engine runs over it
// as over a Client, since it knows the transport only by its interface.
type memTransport struct {
	ifi   Interface
	mu    sync.Mutex // the read loop's lock: calls, disk
	calls map[uint32]*call
	tag   uint32
	disk  []byte
	id    [512]byte
	done  chan struct{}
	sends int
}

func newMemTransport(sectors int) *memTransport {
	m := &memTransport{
		ifi:   Interface{Name: "mem0", MAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, MTU: 1500},
		calls: map[uint32]*call{},
		disk:  make([]byte, sectors*wire.SectorSize),
		done:  make(chan struct{}),
	}
	// IDENTIFY: LBA48 (word 83 bit 10) with the capacity in words 100-103.
	binary.LittleEndian.PutUint16(m.id[2*83:], 1<<10)
	binary.LittleEndian.PutUint64(m.id[2*100:], uint64(sectors))
	return m
}

func (m *memTransport) Interface() Interface           { return m.ifi }
func (m *memTransport) Err() error                     { return nil }
func (m *memTransport) stopped() <-chan struct{}       { return m.done }
func (m *memTransport) countRetransmit()               {}
func (m *memTransport) setReadBuffer(int) error        { return nil }
func (m *memTransport) borrowReads(func()) replyReader { return nil }
func (m *memTransport) fitRing(int)                    {}

func (m *memTransport) expect(cl *call) (uint32, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.tag++
	m.calls[m.tag|tagUserspace] = cl
	return m.tag | tagUserspace, nil
}

func (m *memTransport) forget(tag uint32) {
	m.mu.Lock()
	delete(m.calls, tag)
	m.mu.Unlock()
}

func (m *memTransport) newBatchSender() batchSender { return m }

// send answers each frame at once, as a target would: the ATA argument
// echoed with DRDY status and no sectors remaining, the data of a read or
// IDENTIFY after it.
func (m *memTransport) send(frames []outFrame, _ func(int, error)) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, f := range frames {
		m.sends++
		tag := binary.BigEndian.Uint32(f.hdr[20:24])
		cl, ok := m.calls[tag]
		if !ok {
			continue
		}
		var h replyHeader
		h.ata = true
		copy(h.arg[:], f.hdr[wire.HeaderLen:wire.HeaderLen+ataArgLen])
		var lba [8]byte
		copy(lba[:6], h.arg[4:10])
		off := int(binary.LittleEndian.Uint64(lba[:])) * wire.SectorSize
		n := int(h.arg[2]) * wire.SectorSize
		var data []byte
		switch h.arg[3] {
		case ata.Identify:
			data = m.id[:]
		case ata.ReadSectorsExt:
			data = m.disk[off : off+n]
		case ata.WriteSectorsExt:
			copy(m.disk[off:off+n], f.data)
		}
		h.arg[2], h.arg[3] = 0, ata.StatusDRDY
		if answered, _ := cl.ata.takeReply(tag, h, data, nil); answered {
			delete(m.calls, tag)
		}
	}
	return len(frames)
}

// TestEngineOverTransport: a Disk opened over a transport that is not a
// Client reads back what it wrote, through the transport interface only.
func TestEngineOverTransport(t *testing.T) {
	m := newMemTransport(2048)
	defer close(m.done)
	cfg := &wire.ConfigArg{BufferCount: 16, SectorCount: 2}
	d, err := openDisk(context.Background(), 1, 2, []pathSpec{{tr: m, mac: net.HardwareAddr{2, 0, 0, 0, 0, 2}, config: cfg}},
		DiskOptions{Deadline: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if d.Size() != 2048*wire.SectorSize {
		t.Fatalf("size %d", d.Size())
	}
	want := make([]byte, 300*1024+100)
	for i := range want {
		want[i] = byte(rand.N(256))
	}
	if _, err := d.WriteAt(want, 777); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(want))
	if _, err := d.ReadAt(got, 777); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("read back differs from what was written")
	}
	if st := d.PathStats(); len(st) != 1 || st[0].Frames == 0 || st[0].Interface != "mem0" {
		t.Errorf("path stats %+v", st)
	}
}

// TestCopyPieces: copyPieces copies what copy does, at the sizes around
// its pieces (and a jumbo frame's), into a longer or a shorter dst.
func TestCopyPieces(t *testing.T) {
	for _, n := range []int{0, 1, copyPiece - 1, copyPiece, copyPiece + 1, 3*copyPiece + 7, 17 * wire.SectorSize} {
		src := make([]byte, n)
		for i := range src {
			src[i] = byte(rand.IntN(256))
		}
		for _, d := range []int{n, n + 100, n / 2} {
			want, got := bytes.Repeat([]byte{0xee}, d), bytes.Repeat([]byte{0xee}, d)
			copy(want, src)
			copyPieces(got, src)
			if !bytes.Equal(got, want) {
				t.Fatalf("%d bytes into %d: not what copy makes", n, d)
			}
		}
	}
}
