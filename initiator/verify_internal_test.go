package initiator

import (
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/goaoe/aoe/initiator/wire"
	"github.com/goaoe/aoe/internal/ata"
)

// TestCheckATA: the echoed LBA is compared as the addressing mode decodes
// it (LBA28: the low 28 bits, whatever the device register's high nibble
// and the two bytes LBA28 does not use), sectors remaining must be 0, and
// the payload must hold what was asked.
func TestCheckATA(t *testing.T) {
	arg := func(lba uint64, ext bool, remaining uint8) []byte {
		a := wire.ATAArg{Extended: ext, SectorCount: remaining, CmdStatus: ata.StatusDRDY, LBA: lba}
		f := wire.Frame{Destination: make([]byte, 6), Source: make([]byte, 6), Arg: &a, Unpadded: true}
		b, _ := f.MarshalBinary()
		return b[wire.HeaderLen:]
	}
	data := make([]byte, 1024)
	for _, tc := range []struct {
		name string
		want ataWant
		arg  []byte
		data []byte
		kind badReply
	}{
		{"lba48", ataWant{rw: true, ext: true, lba: 1 << 40, sectors: 2, data: 1024}, arg(1<<40, true, 0), data, 0},
		{"lba48-other", ataWant{rw: true, ext: true, lba: 1 << 40, sectors: 2, data: 1024}, arg(0, true, 0), data, badReplyLBA},
		{"lba48-bit47", ataWant{rw: true, ext: true, lba: 1, sectors: 2}, arg(1|1<<47, true, 0), nil, badReplyLBA},
		{"lba28", ataWant{rw: true, lba: 0x0abcdef, sectors: 2, data: 1024}, arg(0x0abcdef, false, 0), data, 0},
		{"lba28-other", ataWant{rw: true, lba: 0x0abcdef, sectors: 2, data: 1024}, arg(0x0abcdee, false, 0), data, badReplyLBA},
		{"lba28-bits24-27", ataWant{rw: true, lba: 0x1abcdef, sectors: 2}, arg(0x0abcdef, false, 0), nil, badReplyLBA},
		{"remaining", ataWant{rw: true, lba: 5, sectors: 2, data: 1024}, arg(5, false, 1), data, badReplyRemaining},
		{"short", ataWant{rw: true, lba: 5, sectors: 2, data: 1024}, arg(5, false, 0), data[:1023], badReplyShort},
		{"padded", ataWant{rw: true, lba: 5, sectors: 1, data: 512}, arg(5, false, 0), data, 0},
		{"write-no-data", ataWant{rw: true, lba: 5, sectors: 2}, arg(5, false, 0), nil, 0},
		{"identify-short", ataWant{data: 512}, arg(0, false, 0), data[:100], badReplyShort},
		{"identify-any-lba", ataWant{data: 512}, arg(77, false, 3), data, 0},
	} {
		a := tc.arg
		switch tc.name {
		case "lba28", "lba28-other":
			// Another device register nibble (0x40, not 0xe0) and
			// junk where LBA28 has nothing: ignored.
			// arg: 4-9 LBA bytes 0-5; byte 3 (arg 7) is the device
			// register for LBA28.
			a[7] = a[7]&0x0f | 0x40
			a[8], a[9] = 0x12, 0x34
		}
		ok := tc.want.good(a, tc.data)
		bad, _ := tc.want.why(a, tc.data)
		if ok != (tc.kind == 0) || bad.kind != tc.kind {
			t.Errorf("%s: got %v %v, want kind %v", tc.name, bad, ok, tc.kind)
		}
	}
}

// TestGoodIsWhy: the inlined verdict (good) is that of the checks one by
// one (why) on every argument: random ones, and ones that differ from the wanted
// LBA in one bit, or in sectors remaining, or in payload length.
func TestGoodIsWhy(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	data := make([]byte, 2048)
	for i := range 200000 {
		w := ataWant{rw: rng.IntN(4) > 0, ext: rng.IntN(2) == 0, sectors: uint8(rng.IntN(17)), data: rng.IntN(3) * 512}
		w.lba = rng.Uint64() & (1<<48 - 1)
		if !w.ext {
			w.lba &= 1<<28 - 1
		}
		var arg [ataArgLen]byte
		for j := range arg {
			arg[j] = uint8(rng.Uint32())
		}
		if i%2 == 0 { // mostly right: the wanted LBA echoed, one bit off at times
			lba := w.lba
			if rng.IntN(3) == 0 {
				lba ^= 1 << rng.IntN(48)
			}
			binary.LittleEndian.PutUint32(arg[4:8], uint32(lba))
			binary.LittleEndian.PutUint16(arg[8:10], uint16(lba>>32))
			if rng.IntN(4) > 0 {
				arg[2] = 0
			}
		}
		d := data[:rng.IntN(len(data)+1)]
		_, want := w.why(arg[:], d)
		if got := w.good(arg[:], d); got != want {
			t.Fatalf("%+v arg % x data %d: good %v, why %v", w, arg, len(d), got, want)
		}
	}
}

func TestReplyErrorText(t *testing.T) {
	err := error(&ReplyError{Device: "e1.2", Interface: "eth0", MAC: []byte{2, 0, 0, 0, 0, 1}, Command: ata.ReadSectorsExt, LBA: 8,
		Kind: "wrong LBA", Want: 8, Got: 0, Count: 3})
	if err.Error() != "e1.2: read at sector 8: 3 bad replies from 02:00:00:00:00:01 on eth0, the last wrong LBA: asked 8, echoed 0" {
		t.Errorf("%v", err)
	}
	id := wire.Identity{Serial: "A", Model: "m", LBA48: true, LBA48Sectors: 100}
	other := id
	other.Serial, other.LBA48Sectors = "B", 200
	if d := id.Differs(other); strings.Join(d, "; ") != `serial "A" vs "B"; capacity 100 vs 200 sectors` || len(id.Differs(id)) != 0 {
		t.Errorf("%v", d)
	}
}

// TestDeadlineErrTellsBadReplies: a frame that reached its deadline after
// bad replies says so, and wraps the *ReplyError besides ErrDeadline.
func TestDeadlineErrTellsBadReplies(t *testing.T) {
	c := New(Interface{Name: "eth7", MAC: []byte{2, 0, 0, 0, 0, 1}, MTU: 1500}, newRecConn(), nil)
	defer c.Close()
	d := &Disk{name: "e1.2"}
	d.id.LBA48 = true
	p := &diskPath{tr: c, mac: []byte{2, 0, 0, 0, 0, 2}}
	o := &op{cmd: ata.ReadSectors, lba: 40, buf: make([]byte, 1024), bad: 2, badPath: p,
		lastBad: badInfo{kind: badReplyShort, want: 1024, got: 512}}
	err := d.deadlineErr(o, p, 60e9, 9, nil)
	if !errors.Is(err, ErrDeadline) || !errors.As(err, new(*ReplyError)) ||
		!strings.Contains(err.Error(), "2 bad replies from 02:00:00:00:00:02 on eth7, the last short: got 512 of 1024 bytes") {
		t.Errorf("%v", err)
	}
	var re *ReplyError
	if !errors.As(err, &re) || re.LBA != 40 || re.Command != ata.ReadSectorsExt {
		t.Errorf("%+v", re)
	}
}
