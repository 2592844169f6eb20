package initiator

import (
	"encoding/binary"
	"fmt"

	"github.com/goaoe/aoe/internal/ata"
)

// A Disk trusts no reply and no path: every ATA reply is checked against
// its request before its data is used (ataWant.good, in the client's read
// loop, before the data is copied into the caller's buffer), and every
// path proves with IDENTIFY that the disk behind it is the disk before it
// carries data (OpenDisk, and the engine's probes of paths that were
// dead).

// maxBad is how many sends of one frame answered badly (and none well)
// fail its I/O with a *ReplyError, when the path gave no good reply to any
// frame since the first of them (a target that answers everything
// wrong); else (a few replies spoiled on the way) the frame is sent again
// until the deadline, whose error then tells of the bad replies. Each of
// the first maxBad bad replies has the frame sent again at once.
const maxBad = 3

// commandName names an ATA opcode in errors.
func commandName(cmd uint8) string {
	switch cmd {
	case ata.ReadSectors, ata.ReadSectorsExt:
		return "read"
	case ata.WriteSectors, ata.WriteSectorsExt:
		return "write"
	case ata.Identify:
		return "IDENTIFY"
	case ata.FlushCache, ata.FlushCacheExt:
		return "FLUSH CACHE"
	}
	return fmt.Sprintf("ATA command %#02x", cmd)
}

// ataWant is what a reply to a Disk's ATA send must say, given to its
// call at registration so that the read loop checks it before using the
// data.
type ataWant struct {
	// rw: a READ or WRITE: the LBA is echoed and nothing remains.
	rw      bool
	ext     bool   // LBA48: the echo is compared on 48 bits, else 28
	lba     uint64 // the frame's first sector
	sectors uint8
	// data is the payload length the reply must carry at least (reads:
	// sectors*512; IDENTIFY: 512; else 0).
	data int
}

// good reports whether an ATA reply's argument (the 12 bytes at offset
// 24) and payload answer w: for a READ or WRITE, the LBA echoed as the
// addressing mode decodes it (LBA28: the low 28 bits, the device
// register's high nibble ignored) and the sectors remaining (0); for
// every command the payload length. A reply whose status says the command
// failed is not checked here: it is an ATA error, its data unused. It is
// the verdict alone, small enough to be inlined where every reply is
// checked (takeReply); why says what is wrong with a reply it refuses.
//
//	arg: 0 AFlags, 1 error, 2 sectors remaining, 3 status, 4-9 LBA
func (w *ataWant) good(arg, data []byte) bool {
	if len(data) < w.data || len(arg) < 10 {
		return false
	}
	if !w.rw {
		return true
	}
	mask := uint64(1)<<48 - 1
	if !w.ext {
		mask = 0x0fffffff
	}
	lba := uint64(binary.LittleEndian.Uint32(arg[4:8])) | uint64(binary.LittleEndian.Uint16(arg[8:10]))<<32
	return arg[2] == 0 && (lba^w.lba)&mask == 0
}

// why makes good's checks one by one and says what is wrong with a reply
// it refuses; true (nothing) for one it passes.
func (w *ataWant) why(arg, data []byte) (badInfo, bool) {
	if w.rw {
		var lba uint64
		var b [8]byte
		copy(b[:6], arg[4:10])
		lba = binary.LittleEndian.Uint64(b[:])
		want := w.lba
		if !w.ext {
			lba &= 0x0fffffff
			want &= 0x0fffffff
		}
		if lba != want {
			return badInfo{kind: badReplyLBA, want: w.lba, got: lba}, false
		}
		if arg[2] != 0 {
			return badInfo{kind: badReplyRemaining, want: uint64(w.sectors), got: uint64(arg[2])}, false
		}
	}
	if len(data) < w.data {
		return badInfo{kind: badReplyShort, want: uint64(w.data), got: uint64(len(data))}, false
	}
	return badInfo{}, true
}
