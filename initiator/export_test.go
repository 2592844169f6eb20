package initiator

import (
	"net"

	"github.com/goaoe/aoe/initiator/aoeaddr"
)

// Exported for the tests of package initiator_test only.
var (
	ResponseFilter = responseFilter
	ErrTagInUse    = errTagInUse
	ErrNoClients   = errNoClients
)

// RoundTrip and Broadcast are the client's request primitives, under its
// operations.
var (
	RoundTrip = (*Client).roundTrip
	Broadcast = (*Client).broadcast
	SetWindow = (*Client).setWindow
)

// Window returns the requests c lets be outstanding to mac at once.
func Window(c *Client, mac net.HardwareAddr) int { return cap(c.window(mac)) }

// EveryTarget is the broadcast address: every target answers.
var EveryTarget = Target{Shelf: aoeaddr.BroadcastShelf, Slot: aoeaddr.BroadcastSlot}

// TagUserspace is tag bit 31 (Target.Tag).
const TagUserspace = tagUserspace

// Tune changes c's Config after New: tests that change the timing of one
// client half-way.
func Tune(c *Client, f func(*Config)) { f(&c.cfg) }

// FailRing makes the receive rings set up from now on fail with err
// (nil: set up again); it returns the undo.
func FailRing(err error) (undo func()) {
	old := ringSetup
	if err != nil {
		ringSetup = func(int, int, int) ([]byte, int, int, int, error) { return nil, 0, 0, 0, err }
	}
	return func() { ringSetup = old }
}

// ScribbleRing makes the receive rings set up from now on overwrite each
// frame's bytes with 0xa5 just before the slot goes back to the kernel:
// a frame still referenced then would show it. It returns the undo.
func ScribbleRing() (undo func()) {
	old := ringScribble
	ringScribble = func(b []byte) {
		for i := range b {
			b[i] = 0xa5
		}
	}
	return func() { ringScribble = old }
}

// RingSlots returns the slots of c's receive ring, 0 without one.
func RingSlots(c *Client) int {
	if r, ok := c.reader.(*ringReader); ok {
		return r.slots
	}
	return 0
}
