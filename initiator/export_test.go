package initiator

import (
	"fmt"
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

// Every engine of the package's tests checks, at the top of each pass,
// what its bookkeeping keeps by hand: a wrong count or index would lose
// a frame or time it out late, not fail at once.
func init() { checkPass = checkEngine }

// checkEngine panics when e's bookkeeping is wrong: an op in flight not
// at its index (op.at), an op's count of live sends (op.live) other than
// its active attempts, a recycled op still counted, or a frame whose
// expiry is earlier than the timer and than every expiry noted since it
// was set (arm would sleep past it).
func checkEngine(e *engine) {
	live := func(o *op) int {
		n := 0
		for i := range o.attempts {
			if o.attempts[i].active {
				n++
			}
		}
		return n
	}
	for i, o := range e.inflight {
		if !o.inFlight || o.at != i {
			panic(fmt.Sprintf("aoe engine: op in flight at %d says inFlight %v, at %d", i, o.inFlight, o.at))
		}
		if n := live(o); n != o.live {
			panic(fmt.Sprintf("aoe engine: op at %d has %d active sends, counts %d", i, n, o.live))
		}
		if o.path != nil && e.armed != never && o.expire < min(e.armed, e.soonest) {
			panic(fmt.Sprintf("aoe engine: op at %d expires at %d, before the timer (%d) and every expiry noted since (%d)", i, o.expire, e.armed, e.soonest))
		}
	}
	for _, o := range e.retry {
		if n := live(o); n != o.live {
			panic(fmt.Sprintf("aoe engine: op waiting for a path has %d active sends, counts %d", n, o.live))
		}
	}
	for _, o := range e.free {
		if o.inFlight || o.live != 0 || live(o) != 0 {
			panic("aoe engine: a recycled op is in flight or has live sends")
		}
	}
}
