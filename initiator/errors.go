package initiator

import (
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/goaoe/aoe/initiator/wire"
	"github.com/goaoe/aoe/internal/ata"
)

// The errors of the transport and of the disk engine. One naming rule:
// sentinel values are ErrX (match them with errors.Is); error types are
// XError (errors.As), with no sentinel beside them. The wire format's
// errors (ErrorCode, ATAError, DirectiveError) are in package
// wire.

// Errors of the engine.
var (
	// ErrTimeout: no reply came after every retransmission.
	ErrTimeout = errors.New("aoe: no reply")
	// ErrSend: the frame could not be sent (interface down, frame larger
	// than the link takes...).
	ErrSend = errors.New("aoe: send failed")
)

// errTagInUse: a request asked for a tag that a pending request has.
var errTagInUse = errors.New("aoe: tag in use")

// Operation errors.
var (
	// errBadReply is returned when a reply lacks the argument its command
	// must carry. (A Disk's reply that does not answer its request is a
	// *ReplyError.)
	errBadReply = errors.New("aoe: bad reply")
	// ErrShortIdentify is returned when IDENTIFY data is shorter than 512
	// bytes.
	ErrShortIdentify = errors.New("aoe: short IDENTIFY data")
)

// Errors of the data path.
var (
	// ErrDeadline is returned when a request got no reply on any path
	// within DiskOptions.Deadline (the driver's aoe_deadsecs): the target
	// is gone or unreachable.
	ErrDeadline = errors.New("aoe: target did not answer before the deadline")
	// errNoPaths is returned by OpenDisk when it is given no path.
	errNoPaths = errors.New("aoe: no path to the target")
	// errDiskClosed is returned by I/O on a closed Disk, errClientClosed
	// by the operations of a closed Client; both match net.ErrClosed.
	errDiskClosed   error = &matching{text: "aoe: disk closed", is: net.ErrClosed}
	errClientClosed error = &matching{text: "aoe: client closed", is: net.ErrClosed}
)

// matching is an error with its own text that matches another (errors.Is).
type matching struct {
	text string
	is   error
}

func (e *matching) Error() string        { return e.text }
func (e *matching) Is(target error) bool { return target == e.is }

// ErrPermission: raw AoE frames need CAP_NET_RAW.
var ErrPermission = errors.New("sending raw AoE frames needs root or the CAP_NET_RAW capability (setcap cap_net_raw+ep on the aoe binary)")

// errRecv is joined with the errno of a failed recvmmsg(2) (Client.Err
// then says it); errSendmmsg with the errno of a failed sendmmsg(2) (the
// send's error, which wraps ErrSend).
var (
	errRecv     = errors.New("aoe: recvmmsg")
	errSendmmsg = errors.New("aoe: sendmmsg")
)

// errNoClients is returned by a Group's QueryConfig when it has no client.
var errNoClients = errors.New("aoe: no interface to send on")

// errConflict is the text of a *ConflictError.
var errConflict = errors.New("aoe: different disks answer for one address")

// IncompleteError is returned by a Group's QueryConfig, together with
// the replies that were read, when the answer is known to be incomplete:
// more than MaxReplies distinct responders answered (Truncated; the rest
// were ignored), or frames addressed to us were lost before they could be
// read (Dropped: a full socket receive buffer or reply queue).
type IncompleteError struct {
	Truncated bool
	Max       int // the cap, when Truncated
	Dropped   uint64
}

func (e *IncompleteError) Error() string {
	var parts []string
	if e.Truncated {
		parts = append(parts, fmt.Sprintf("truncated: more than %d answered", e.Max))
	}
	if e.Dropped > 0 {
		parts = append(parts, fmt.Sprintf("%d replies were lost before they could be read (receive buffer full)", e.Dropped))
	}
	return "incomplete answer: " + strings.Join(parts, "; ")
}

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
		e.Device, errConflict, a.MAC, a.Interface, b.MAC, b.Interface, strings.Join(e.Differs, ", "), strings.Join(macs, ", "))
}

// badReply is what was wrong with an ATA reply that a Disk dropped.
type badReply uint8

// Kinds of bad replies.
const (
	// badReplyShort: less data than asked (reads: n*512 bytes;
	// IDENTIFY: 512).
	badReplyShort badReply = iota + 1
	// badReplyLBA: a READ or WRITE reply echoing another LBA than asked
	// (compared as the addressing mode decodes it: 48 bits, or the low
	// 28 for LBA28).
	badReplyLBA
	// badReplyRemaining: a READ or WRITE reply whose sector count says
	// sectors remain (not 0): not done.
	badReplyRemaining
)

// The kinds as ReplyError.Kind names them.
var badReplyNames = map[badReply]string{
	badReplyShort:     "short",
	badReplyLBA:       "wrong LBA",
	badReplyRemaining: "sectors remaining",
}

func (k badReply) String() string {
	if s, ok := badReplyNames[k]; ok {
		return s
	}
	return fmt.Sprintf("bad reply %d", uint8(k))
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
	// Kind is what was wrong: "short", "wrong LBA" or "sectors
	// remaining".
	Kind string
	// Want and Got are, by Kind, the bytes asked and received (short),
	// the LBA asked and echoed, or the sectors asked and said remaining.
	Want, Got uint64
	// Count is how many bad replies the frame had.
	Count int
}

func (e *ReplyError) Error() string {
	what := commandName(e.Command)
	at := ""
	if e.Command != ata.Identify {
		at = fmt.Sprintf(" at sector %d", e.LBA)
	}
	return fmt.Sprintf("%s: %s%s: %d bad replies from %s on %s, the last %s", e.Device, what, at, e.Count, e.MAC, e.Interface,
		badInfo{kind: kindNamed(e.Kind), want: e.Want, got: e.Got})
}

// kindNamed returns the kind ReplyError.Kind names (0 for none).
func kindNamed(s string) badReply {
	for k, name := range badReplyNames {
		if name == s {
			return k
		}
	}
	return 0
}

// badInfo is a bad reply's kind with what was asked and what came.
type badInfo struct {
	kind      badReply
	want, got uint64
}

func (b badInfo) String() string {
	switch b.kind {
	case badReplyShort:
		return fmt.Sprintf("short: got %d of %d bytes", b.got, b.want)
	case badReplyLBA:
		return fmt.Sprintf("wrong LBA: asked %d, echoed %d", b.want, b.got)
	case badReplyRemaining:
		return fmt.Sprintf("sectors remaining: %d of %d", b.got, b.want)
	}
	return b.kind.String()
}
