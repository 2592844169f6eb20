package events

import (
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/goaoe/aoe/initiator/aoeaddr"
	"github.com/goaoe/aoe/sysfs"
	"golang.org/x/sys/unix"
)

var (
	reUnknown    = regexp.MustCompile(`^aoecmd_ata_rsp: ata response for unknown device (\d+)\.(\d+)`)
	reTagged     = regexp.MustCompile(`^\s*(unexpected rsp|retransmit) e(\d+)\.(\d+)\s`)
	errNodeKinds = map[string]string{"unexpected rsp": KindUnexpectedResponse, "retransmit": KindRetransmit}
)

// ParseErrMessage makes an event of a message of /dev/etherd/err (aoe-spec
// §2.3): a retransmission, a reply with an unexpected tag, an ATA reply for
// an unknown device, or any other message. The message, without its
// newline, is kept in Message.
func ParseErrMessage(msg string) Event {
	msg = strings.TrimRight(msg, "\n\x00")
	e := Event{Kind: KindDriverMessage, Message: strings.TrimSpace(msg), Source: SourceErr}
	if m := reUnknown.FindStringSubmatch(msg); m != nil {
		e.Kind, e.Device = KindUnknownDevice, "e"+m[1]+"."+m[2]
	} else if m := reTagged.FindStringSubmatch(msg); m != nil {
		e.Kind, e.Device = errNodeKinds[m[1]], "e"+m[2]+"."+m[3]
	}
	if e.Device != "" {
		if _, err := aoeaddr.Parse(e.Device); err != nil {
			e.Device = "" // out of range: keep it in the message only
		}
	}
	return e
}

// readErrNode reads the driver's queued messages from the err node at path,
// one per read, and sends them to fn until ctx is done. The node is opened
// non-blocking and polled every 200ms, so that shutdown never waits on a
// read. Reads are destructive: another reader gets other messages.
func readErrNode(ctx context.Context, path string, fn func(string)) error {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFCHR || unix.Major(uint64(st.Rdev)) != sysfs.Major || unix.Minor(uint64(st.Rdev)) != sysfs.NodeMinor[sysfs.NodeErr] {
		return fmt.Errorf("%s %w", path, ErrNotErrNode)
	}
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	buf := make([]byte, 4096) // larger than any message: a short buffer gets EAGAIN
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		n, err := unix.Read(fd, buf)
		switch {
		case err == nil && n > 0:
			fn(string(buf[:n]))
			continue
		case err == nil, errors.Is(err, unix.EAGAIN), errors.Is(err, unix.EINTR):
		default:
			return &os.PathError{Op: "read", Path: path, Err: err}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
