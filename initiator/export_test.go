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
