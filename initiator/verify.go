package initiator

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/goaoe/aoe/initiator/wire"
)

// A Disk trusts no reply and no path: every ATA reply is checked against
// its request before its data is used (checkATA, in the client's read
// loop, before the data is copied into the caller's buffer), and every
// path proves with IDENTIFY that the disk behind it is the disk before it
// carries data (OpenDisk, and the engine's probes of paths that were
// dead).

// ErrConflict is matched (errors.Is) by a *ConflictError.
var ErrConflict = errors.New("aoe: different disks answer for one address")

// PathIdentity is what one path's IDENTIFY answered.
type PathIdentity struct {
	Interface string
	MAC       net.HardwareAddr
	Identity  wire.Identity
}

// ConflictError is returned by OpenDisk when two of its paths answer
// IDENTIFY with different disks (Identity.Differs): two targets claim one
// address, and their data must not be mixed as multipath. Pass only the
// paths of one MAC to open that target's disk.
type ConflictError struct {
	Device string
	// Answers are the paths that answered, in the order given to
	// OpenDisk.
	Answers []PathIdentity
	// First and Other index the first two answers that differ, and
	// Differs says how (Answers[First].Identity.Differs(Other's)).
	First, Other int
	Differs      []string
}

func (e *ConflictError) Error() string {
	a, b := e.Answers[e.First], e.Answers[e.Other]
	var macs []string
	seen := map[string]bool{}
	for _, p := range e.Answers {
		if !seen[p.MAC.String()] {
			seen[p.MAC.String()] = true
			macs = append(macs, p.MAC.String())
		}
	}
	return fmt.Sprintf("%s: %v: %s on %s and %s on %s: %s (answering MACs: %s; use one target MAC)",
		e.Device, ErrConflict, a.MAC, a.Interface, b.MAC, b.Interface, strings.Join(e.Differs, ", "), strings.Join(macs, ", "))
}

// Is matches ErrConflict.
func (e *ConflictError) Is(target error) bool { return target == ErrConflict }

// BadReply is what was wrong with an ATA reply that a Disk dropped.
type BadReply uint8

// Kinds of bad replies.
const (
	// BadReplyShort: less data than asked (reads: n*512 bytes;
	// IDENTIFY: 512).
	BadReplyShort BadReply = iota + 1
	// BadReplyLBA: a READ or WRITE reply echoing another LBA than asked
	// (compared as the addressing mode decodes it: 48 bits, or the low
	// 28 for LBA28).
	BadReplyLBA
	// BadReplyRemaining: a READ or WRITE reply whose sector count says
	// sectors remain (not 0): not done.
	BadReplyRemaining
)

func (k BadReply) String() string {
	switch k {
	case BadReplyShort:
		return "short"
	case BadReplyLBA:
		return "wrong LBA"
	case BadReplyRemaining:
		return "sectors remaining"
	}
	return fmt.Sprintf("bad reply %d", uint8(k))
}

// badInfo is a bad reply's kind with what was asked and what came.
type badInfo struct {
	kind      BadReply
	want, got uint64
}

func (b badInfo) String() string {
	switch b.kind {
	case BadReplyShort:
		return fmt.Sprintf("short: got %d of %d bytes", b.got, b.want)
	case BadReplyLBA:
		return fmt.Sprintf("wrong LBA: asked %d, echoed %d", b.want, b.got)
	case BadReplyRemaining:
		return fmt.Sprintf("sectors remaining: %d of %d", b.got, b.want)
	}
	return b.kind.String()
}

// ReplyError is returned by a Disk's I/O when a target kept answering a
// frame with replies that do not answer it (short, another LBA, sectors
// remaining): maxBad sends in a row answered so and none well. It says
// what the last one was, and from which MAC on which interface.
type ReplyError struct {
	Device    string
	Interface string
	MAC       net.HardwareAddr
	Command   uint8  // the ATA opcode asked
	LBA       uint64 // the frame's first sector
	Kind      BadReply
	// Want and Got are, by Kind, the bytes asked and received (short),
	// the LBA asked and echoed, or the sectors asked and said remaining.
	Want, Got uint64
	// Count is how many bad replies the frame had.
	Count int
}

func (e *ReplyError) Error() string {
	what := commandName(e.Command)
	at := ""
	if e.Command != wire.ATAIdentify {
		at = fmt.Sprintf(" at sector %d", e.LBA)
	}
	return fmt.Sprintf("%s: %s%s: %d bad replies from %s on %s, the last %s", e.Device, what, at, e.Count, e.MAC, e.Interface,
		badInfo{kind: e.Kind, want: e.Want, got: e.Got})
}

// Is matches ErrBadReply.
func (e *ReplyError) Is(target error) bool { return target == ErrBadReply }

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
	case wire.ATAReadSectors, wire.ATAReadSectorsExt:
		return "read"
	case wire.ATAWriteSectors, wire.ATAWriteSectorsExt:
		return "write"
	case wire.ATAIdentify:
		return "IDENTIFY"
	case wire.ATAFlushCache, wire.ATAFlushCacheExt:
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

// checkATA checks an ATA reply's argument (the 12 bytes at offset 24) and
// payload against w: for a READ or WRITE, the LBA echoed as the
// addressing mode decodes it (LBA28: the low 28 bits, the device
// register's high nibble ignored) and the sectors remaining (0); for
// every command the payload length. A reply whose status says the command
// failed is not checked here: it is an ATA error, its data unused.
//
//	arg: 0 AFlags, 1 error, 2 sectors remaining, 3 status, 4-9 LBA
func (w *ataWant) check(arg, data []byte) (badInfo, bool) {
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
			return badInfo{kind: BadReplyLBA, want: w.lba, got: lba}, false
		}
		if arg[2] != 0 {
			return badInfo{kind: BadReplyRemaining, want: uint64(w.sectors), got: uint64(arg[2])}, false
		}
	}
	if len(data) < w.data {
		return badInfo{kind: BadReplyShort, want: uint64(w.data), got: uint64(len(data))}, false
	}
	return badInfo{}, true
}
