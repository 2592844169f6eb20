package initiator_test

import (
	"bytes"
	"encoding/binary"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/goaoe/aoe/initiator"
	"github.com/goaoe/aoe/initiator/aoetest"
	"github.com/goaoe/aoe/initiator/wire"
	"github.com/goaoe/aoe/internal/ata"
)

// FuzzDiskReplies feeds attacker frames into a Disk's client during a
// read: for each READ request the disk sends, an attacker port on the
// segment answers first with a frame built from the next record of the
// input. The read must not panic, and must return the disk's bytes or
// fail.
//
// A record is [mode][sel][n][n bytes]. The n bytes are laid over the
// honest reply from offset 14 (after the MACs); then, by mode:
//
//	0  the request's tag, a source MAC that is not the target's (sel
//	   picks: another host, broadcast, zero, multicast, ours)
//	1  the target's source MAC, the tag the bytes say (never the
//	   request's: tags cannot be guessed)
//	2  the request's tag and the target's MAC, header and ATA argument
//	   as the bytes say, and the data the disk holds at the LBA the reply
//	   echoes (a target answering another LBA), cut to sel*512 bytes
//	3  the bytes as a whole frame from offset 6 (source MAC included;
//	   the target's MAC only with a tag that is not the request's)
//
// A frame with the target's MAC, the request's tag and arbitrary data is
// not tried: it is the target's own reply, for all the initiator can
// tell (AoE has no authentication).
func FuzzDiskReplies(f *testing.F) {
	files, _ := filepath.Glob("wire/testdata/frames/*ata-*-response-*.bin")
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		if len(b) < 14 {
			continue
		}
		body := b[14:min(len(b), 14+255)]
		for mode := range byte(4) {
			rec := append([]byte{mode, 2, byte(len(body))}, body...)
			f.Add(append(rec, rec...))
		}
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		recs := parseRecords(in)
		if len(recs) == 0 {
			return
		}

		nw := &aoetest.Network{}
		tg := diskTarget(256<<10, 1500)
		nw.Serve(t, tg)
		c := nw.Client(t, "a0", hostA, 1500)
		d := openDisk(t, tg, initiator.DiskOptions{MinRTO: time.Millisecond, Deadline: time.Second}, c)
		evil := net.HardwareAddr{0x02, 0, 0, 0, 0, 0x99}
		inj := nw.Port(evil)
		t.Cleanup(func() { inj.Close() })
		var mu sync.Mutex
		next := 0
		nw.Drop = func(b []byte, to net.HardwareAddr) bool {
			if !bytes.Equal(to, tg.MAC) || len(b) < 36 || b[14]&0x08 != 0 || b[19] != 0 ||
				(b[27] != ata.ReadSectors && b[27] != ata.ReadSectorsExt) {
				return false
			}
			mu.Lock()
			if next >= len(recs) {
				mu.Unlock()
				return false
			}
			r := recs[next]
			next++
			mu.Unlock()
			if fr := craft(r, b, tg); fr != nil {
				inj.WriteTo(fr, nil)
			}
			return false
		}
		p := make([]byte, 64<<10)
		if _, err := d.ReadAt(p, 4096); err == nil && !bytes.Equal(p, tg.Read(4096, len(p))) {
			t.Fatalf("read returned bytes that are not the disk's (input %x)", in)
		}
	})
}

type record struct {
	mode, sel byte
	b         []byte
}

func parseRecords(in []byte) []record {
	var out []record
	for len(in) >= 3 {
		n := int(in[2])
		r := record{mode: in[0] % 4, sel: in[1]}
		in = in[3:]
		n = min(n, len(in))
		r.b, in = in[:n], in[n:]
		out = append(out, r)
	}
	return out
}

// craft builds the attacker's frame for record r, in answer to req.
//
//	0-5 dst, 6-11 src, 14 ver|flags, 16-17 shelf, 18 slot, 19 cmd,
//	20-23 tag, 24 AFlags, 25 err, 26 remaining, 27 status, 28-33 LBA
func craft(r record, req []byte, tg *aoetest.Target) []byte {
	honest := tg.Handle(req)
	if honest == nil {
		return nil
	}
	tag := binary.BigEndian.Uint32(req[20:24])
	fr := bytes.Clone(honest)
	switch r.mode {
	case 0, 1, 2:
		if need := 14 + len(r.b); need > len(fr) {
			fr = append(fr, make([]byte, need-len(fr))...)
		}
		copy(fr[14:], r.b)
	case 3:
		fr = append(fr[:6], r.b...)
		if len(fr) < 24 {
			return fr
		}
	}
	switch r.mode {
	case 0:
		srcs := []net.HardwareAddr{{0x02, 0, 0, 0, 0, 0x99}, wire.BroadcastMAC, make(net.HardwareAddr, 6),
			{0x01, 0, 0x5e, 0, 0, 1}, hostA}
		copy(fr[6:12], srcs[int(r.sel)%len(srcs)])
		binary.BigEndian.PutUint32(fr[20:24], tag)
	case 1:
		copy(fr[6:12], tg.MAC)
		if binary.BigEndian.Uint32(fr[20:24]) == tag {
			binary.BigEndian.PutUint32(fr[20:24], ^tag)
		}
	case 2:
		copy(fr[6:12], tg.MAC)
		binary.BigEndian.PutUint32(fr[20:24], tag)
		if len(fr) < 36 {
			return fr
		}
		fr = fr[:36]
		// The data at the LBA the reply echoes, decoded as the request
		// asked (LBA48 when its opcode is the EXT one).
		var lb [8]byte
		copy(lb[:6], fr[28:34])
		lba := binary.LittleEndian.Uint64(lb[:])
		if req[27] != ata.ReadSectorsExt {
			lba &= 0x0fffffff
		}
		data := make([]byte, int(r.sel)*512)
		if off := lba * 512; off < uint64(len(tg.Disk)) {
			copy(data, tg.Read(int(off), min(len(data), len(tg.Disk)-int(off))))
		}
		fr = append(fr, data...)
	case 3:
		if bytes.Equal(fr[6:12], tg.MAC) && binary.BigEndian.Uint32(fr[20:24]) == tag {
			binary.BigEndian.PutUint32(fr[20:24], ^tag)
		}
	}
	return fr
}
